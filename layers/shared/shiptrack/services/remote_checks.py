"""Remote delivery areas (``POST /remote-checks``) and transit-time statistics (``POST /transit-times``).

Both are cached per item, because they change slowly and remote checks cost quota (0.2 each; reference §8):

- ``CACHE#REMOTE#{country}#{postcode}#{carrier}`` for ``REMOTE_CACHE_SECONDS`` (default 7 days); ``carrier`` is
  ``ALL`` when the caller asked about every carrier;
- ``CACHE#TRANSIT#{carrier}#{origin}#{destination}`` for ``TRANSIT_CACHE_SECONDS`` (default 1 day).

Countries are accepted as ISO 3166-1 alpha-2 codes or names (``shiptrack.countries``) and always sent, cached
and answered as codes. TrackingMore knows remote areas for DHL, UPS, FedEx and TNT only (reference §3.14).
Per-item errors TrackingMore gives (a country it does not know, an unknown carrier) are definitive for a while and
cached for at most :data:`ERROR_TTL_SECONDS`; an item the answer leaves out is reported and not cached.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Final, Literal, Protocol

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from shiptrack.countries import CODE_PATTERN, COUNTRIES, country_code
from shiptrack.errors import Problem
from shiptrack.services import lookups
from shiptrack.services.lookups import (
    LOOKUP_REQUEST,
    FetchedAt,
    ItemFailure,
    LookupKind,
    LookupSource,
    LookupSummary,
    Source,
)

__all__ = [
    "ERROR_TTL_SECONDS",
    "MAX_REMOTE_CHECKS",
    "MAX_TRANSIT_ROUTES",
    "REMOTE_CARRIERS",
    "RemoteAnswer",
    "RemoteCheckItem",
    "RemoteCheckResult",
    "RemoteChecksClient",
    "RemoteChecksRequest",
    "RemoteChecksResponse",
    "TransitBand",
    "TransitRoute",
    "TransitTimeResult",
    "TransitTimeStats",
    "TransitTimesRequest",
    "TransitTimesResponse",
    "check_remote_areas",
    "get_transit_times",
    "normalize_country",
    "normalize_postcode",
]

MAX_REMOTE_CHECKS: Final = 100
MAX_TRANSIT_ROUTES: Final = 50
#: Carriers TrackingMore has remote-area data for (reference §3.14).
REMOTE_CARRIERS: Final = ("dhl", "ups", "fedex", "tnt")
# ``company`` as TrackingMore spells it in its documentation (reference §3.14); it answers in lower case.
_UPSTREAM_COMPANY: Final = {"dhl": "DHL", "ups": "UPS", "fedex": "FedEx", "tnt": "TNT"}
#: How long a definitive per-item upstream error is cached, at most.
ERROR_TTL_SECONDS: Final = 3600
#: Cache-key part standing for "every carrier" in remote checks.
ALL_CARRIERS: Final = "ALL"

# The day bands of ``costtime``'s range1 … range6 as documented (reference §3.15), in order of days. TrackingMore
# does not document range2 and range6: they are passed on with unknown bounds rather than guessed ones.
TRANSIT_BANDS: Final[dict[str, tuple[int | None, int | None]]] = {
    "range1": (0, 7),
    "range3": (7, 15),
    "range4": (16, 30),
    "range5": (31, 60),
    "range2": (None, None),
    "range6": (None, None),
}

_SPACES = re.compile(r"\s+")
# Latin letters (with accents), digits, and . ' / - inside; spaces around are ignored. No \w or \s: regex engines
# disagree on them (pydantic's, Python's, JSON Schema's), and the document must say exactly what is accepted.
_POSTCODE_PATTERN = r"^ *[0-9A-Za-zÀ-ɏ][0-9A-Za-zÀ-ɏ .'/-]{0,39} *$"


def normalize_country(value: str) -> str:
    """The ISO 3166-1 alpha-2 code of a code or country name; ``ValueError`` when unknown."""
    code = country_code(value)
    if code is None:
        msg = "unknown country: give an ISO 3166-1 alpha-2 code (e.g. 'JP') or an English country name"
        raise ValueError(msg)
    return code


def normalize_postcode(value: str) -> str:
    """Upper case, surrounding spaces removed, inner runs of spaces collapsed (``"sw1a  1aa"`` → ``"SW1A 1AA"``)."""
    return _SPACES.sub(" ", value.strip()).upper()


def _match_key(postcode: str) -> str:
    # TrackingMore echoes postcodes re-cased ("Papaaroha" → "papaaroha", seed 003): compare without case or spaces.
    return _SPACES.sub("", postcode).casefold()


# The schema lists what is certainly accepted: every code in any case, and every English short name. The validator
# is more lenient still (any case, accents optional, everyday names such as "UK" or "South Korea").
Country = Annotated[
    str,
    AfterValidator(normalize_country),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": CODE_PATTERN},
                {"type": "string", "enum": sorted(COUNTRIES.values())},
            ],
            "description": "ISO 3166-1 alpha-2 code (any case) or English country name; answered as the code",
            "examples": ["JP", "Japan"],
        }
    ),
]
Postcode = Annotated[
    str,
    Field(
        pattern=_POSTCODE_PATTERN,
        max_length=48,
        examples=["7621094"],
        description="Postcode, or the city name where the country has no postcodes",
    ),
    AfterValidator(normalize_postcode),
]
RemoteCarrier = Annotated[
    Literal["dhl", "ups", "fedex", "tnt"],
    BeforeValidator(lambda value: value.strip().lower() if isinstance(value, str) else value),
]
CarrierCode = Annotated[
    str,
    Field(pattern=r"^ *[0-9A-Za-z_-]{1,40} *$", examples=["dhl"], description="TrackingMore carrier code"),
    AfterValidator(lambda value: value.strip().lower()),
]


# -- remote checks ----------------------------------------------------------------------------------------------


class RemoteCheckItem(BaseModel):
    """One question: is (country, postcode) a remote delivery area, optionally for one carrier."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    country: Country
    postcode: Postcode
    carrier: RemoteCarrier | None = Field(
        default=None, description="Ask about one carrier only; by default every carrier TrackingMore covers"
    )


class RemoteChecksRequest(BaseModel):
    """Body of ``POST /remote-checks``."""

    model_config = LOOKUP_REQUEST

    checks: list[RemoteCheckItem] = lookups.distinct_items(MAX_REMOTE_CHECKS, "checks")


class RemoteAnswer(BaseModel):
    """The cached answer for one check: the carriers for which the place is remote."""

    carriers: list[str]


class RemoteCheckResult(BaseModel):
    """The result for one distinct check."""

    country_code: str = Field(description="ISO 3166-1 alpha-2")
    postcode: str = Field(description="As normalised: upper case, single spaces")
    carrier: str | None = Field(description="The carrier asked about, or null for all")
    outcome: Literal["found", "failed"]
    remote: bool | None = Field(description="Remote for at least one of the carriers asked about; null on failure")
    carriers: list[str] = Field(description="Carriers (dhl, ups, fedex, tnt) for which it is a remote area")
    source: Source = Field(description="`cache`: from our cache; `upstream`: asked TrackingMore now")
    fetched_at: FetchedAt
    problem: Problem | None = None


class RemoteChecksResponse(BaseModel):
    """Answer of ``POST /remote-checks``: one result per distinct check, in request order."""

    results: list[RemoteCheckResult]
    summary: LookupSummary


# -- transit times ----------------------------------------------------------------------------------------------


class TransitRoute(BaseModel):
    """One question: how long does ``carrier_code`` take from ``origin`` to ``destination``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    carrier_code: CarrierCode
    origin: Country
    destination: Country


class TransitTimesRequest(BaseModel):
    """Body of ``POST /transit-times``."""

    model_config = LOOKUP_REQUEST

    routes: list[TransitRoute] = lookups.distinct_items(MAX_TRANSIT_ROUTES, "routes")


class TransitBand(BaseModel):
    """The share of delivered parcels that took between ``min_days`` and ``max_days`` days."""

    band: str = Field(description="TrackingMore's name for the band (range1 … range6)")
    min_days: int | None = Field(description="null when TrackingMore does not document the band (range2, range6)")
    max_days: int | None = Field(description="null when TrackingMore does not document the band (range2, range6)")
    percent: float = Field(description="Share of the delivered parcels in this band, in percent, as TrackingMore says")


class TransitTimeStats(BaseModel):
    """Transit-time statistics of one lane (the value cached per route)."""

    samples: int | None = Field(default=None, description="Parcels in the statistics")
    delivered: int | None = Field(default=None, description="Of those, delivered")
    bands: list[TransitBand] = Field(default_factory=list)


class TransitTimeResult(BaseModel):
    """The result for one distinct route."""

    carrier_code: str
    origin: str
    destination: str
    outcome: Literal["found", "failed"]
    stats: TransitTimeStats | None = None
    source: Source = Field(description="`cache`: from our cache; `upstream`: asked TrackingMore now")
    fetched_at: FetchedAt
    problem: Problem | None = None


class TransitTimesResponse(BaseModel):
    """Answer of ``POST /transit-times``: one result per distinct route, in request order."""

    results: list[TransitTimeResult]
    summary: LookupSummary


# -- behaviour --------------------------------------------------------------------------------------------------


class RemoteChecksClient(Protocol):
    """The part of ``trackingmore.TrackingMoreClient`` this service uses."""

    def check_remote_areas(self, checks: Sequence[Any]) -> Any: ...

    def get_transit_times(self, queries: Sequence[Any]) -> Sequence[Any]: ...


def _remote_key(item: RemoteCheckItem) -> tuple[str, str, str]:
    return (item.country, item.postcode, (item.carrier or ALL_CARRIERS).upper())


def _fetch_remote(
    client: RemoteChecksClient, items: Sequence[RemoteCheckItem]
) -> Mapping[RemoteCheckItem, RemoteAnswer | ItemFailure]:
    from trackingmore.models import RemoteCheck

    result = client.check_remote_areas(
        [
            RemoteCheck(country=item.country, postcode=item.postcode, company=_UPSTREAM_COMPANY.get(item.carrier or ""))
            for item in items
        ]
    )
    remote: dict[tuple[str, str], set[str]] = {}
    for area in result.remote:
        if area.two_code and area.far_city_postcode and area.far_express_company:
            place = (area.two_code.upper(), _match_key(area.far_city_postcode))
            remote.setdefault(place, set()).add(area.far_express_company.lower())
    not_remote = {_place_of(entry) for entry in result.other} - {None}
    failed = {place: failure for place, failure in map(_remote_error, result.errors) if place is not None}
    # seed 003 lists non-remote places in neither list (``other`` stays empty): then absence from ``remote`` means
    # "not remote" as long as every item was taken. When ``other`` lists places, a place in no list is unanswered.
    absent_means_not_remote = not not_remote and result.submitted == len(items)
    answers: dict[RemoteCheckItem, RemoteAnswer | ItemFailure] = {}
    for item in items:
        place = (item.country, _match_key(item.postcode))
        if place in failed:
            answers[item] = failed[place]
            continue
        if place not in remote and place not in not_remote and not absent_means_not_remote:
            continue  # unanswered: reported as upstream_incomplete and not cached
        carriers = set(remote.get(place, set()))
        if item.carrier is not None:
            carriers &= {item.carrier}
        answers[item] = RemoteAnswer(
            carriers=[c for c in REMOTE_CARRIERS if c in carriers] + sorted(carriers - set(REMOTE_CARRIERS))
        )
    return answers


def _place_of(entry: Any) -> tuple[str, str] | None:
    """The place an ``other[]`` entry (a place that is not remote) or an ``errors[]`` entry names, if it names one."""
    if not isinstance(entry, Mapping):
        return None
    country = country_code(str(entry.get("two_code") or entry.get("country") or ""))
    postcode = entry.get("far_city_postcode") or entry.get("postcode")
    return (country, _match_key(str(postcode))) if country and postcode else None


def _remote_error(error: Any) -> tuple[tuple[str, str] | None, ItemFailure]:
    """The place and failure of one ``errors[]`` entry (shape not documented: a mapping naming the item)."""
    message = "TrackingMore could not check this place."
    if isinstance(error, Mapping):
        message = str(error.get("message") or error.get("msg") or message)
        code = error.get("code")
        if code is not None:
            message = f"TrackingMore answered {code}: {message}"
    failure = ItemFailure(code="remote_check_failed", title="Remote check failed", detail=message, definitive=True)
    return _place_of(error), failure


def _place_named(item: RemoteCheckItem) -> str:
    return f"{item.country} {item.postcode}" + (f" for {item.carrier}" if item.carrier else "")


REMOTE: Final = LookupKind(
    endpoint="remote",
    key_parts=_remote_key,
    fetch=_fetch_remote,
    named=_place_named,
    error_ttl_seconds=ERROR_TTL_SECONDS,
)


def check_remote_areas(
    request: RemoteChecksRequest, source: LookupSource[RemoteAnswer, RemoteChecksClient]
) -> RemoteChecksResponse:
    """Results for the request's distinct checks, in order: from the cache, else from one upstream call."""
    items = list(dict.fromkeys(request.checks))
    outcomes = lookups.cached_lookup(items, REMOTE, source)
    results = [
        RemoteCheckResult(
            country_code=outcome.item.country,
            postcode=outcome.item.postcode,
            carrier=outcome.item.carrier,
            remote=bool(outcome.value.carriers) if outcome.value is not None else None,
            carriers=list(outcome.value.carriers) if outcome.value is not None else [],
            **lookups.result_fields(outcome),
        )
        for outcome in outcomes
    ]
    return RemoteChecksResponse(results=results, summary=lookups.summarize(outcomes))


def _transit_key(route: TransitRoute) -> tuple[str, str, str]:
    return (route.carrier_code, route.origin, route.destination)


def _lane(route: TransitRoute) -> str:
    return f"{route.carrier_code} {route.origin}→{route.destination}"


def _stats(entry: Any) -> TransitTimeStats:
    bands = []
    for band, (min_days, max_days) in TRANSIT_BANDS.items():
        share = getattr(entry, band, None)
        if share is not None:
            bands.append(TransitBand(band=band, min_days=min_days, max_days=max_days, percent=float(share)))
    return TransitTimeStats(samples=entry.total, delivered=entry.delivered, bands=bands)


def _fetch_transit(
    client: RemoteChecksClient, routes: Sequence[TransitRoute]
) -> Mapping[TransitRoute, TransitTimeStats | ItemFailure]:
    from trackingmore.models import TransitTimeQuery

    entries = client.get_transit_times(
        [
            TransitTimeQuery(carrier_code=route.carrier_code, original=route.origin, destination=route.destination)
            for route in routes
        ]
    )
    by_lane = {
        ((e.carrier_code or "").lower(), (e.original or "").upper(), (e.destination or "").upper()): e for e in entries
    }
    answers: dict[TransitRoute, TransitTimeStats | ItemFailure] = {}
    for route in routes:
        entry = by_lane.get((route.carrier_code, route.origin, route.destination))
        if entry is None:
            continue
        extra = getattr(entry, "model_extra", None) or {}
        if extra.get("code") is not None and entry.total is None:
            code, message = extra.get("code"), extra.get("message")
            answers[route] = lookups.item_error(
                code, message, subject=_lane(route), known=_TRANSIT_ERRORS, otherwise=_OTHER_TRANSIT_ERROR
            )
        else:
            answers[route] = _stats(entry)
    return answers


# Per-route error codes TrackingMore puts in an entry instead of statistics (reference §4.1).
_TRANSIT_ERRORS: Final[dict[int, tuple[str, str]]] = {
    4015: ("unknown_carrier", "Unknown carrier"),
    4012: ("transit_route_rejected", "Route rejected"),
}
_OTHER_TRANSIT_ERROR: Final = ("transit_time_failed", "Transit-time lookup failed")


TRANSIT: Final = LookupKind(
    endpoint="transit",
    key_parts=_transit_key,
    fetch=_fetch_transit,
    named=_lane,
    error_ttl_seconds=ERROR_TTL_SECONDS,
)


def get_transit_times(
    request: TransitTimesRequest, source: LookupSource[TransitTimeStats, RemoteChecksClient]
) -> TransitTimesResponse:
    """Results for the request's distinct routes, in order: from the cache, else from one upstream call."""
    routes = list(dict.fromkeys(request.routes))
    outcomes = lookups.cached_lookup(routes, TRANSIT, source)
    results = [
        TransitTimeResult(
            carrier_code=outcome.item.carrier_code,
            origin=outcome.item.origin,
            destination=outcome.item.destination,
            stats=outcome.value,
            **lookups.result_fields(outcome),
        )
        for outcome in outcomes
    ]
    return TransitTimesResponse(results=results, summary=lookups.summarize(outcomes))
