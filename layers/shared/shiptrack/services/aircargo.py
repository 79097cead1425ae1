"""Air-waybill tracking (``POST /aircargo``), cached per waybill because each one costs 20 TrackingMore quota.

An air waybill (AWB) number is a 3-digit airline prefix and an 8-digit serial whose last digit is the first
seven modulo 7 (IATA Resolution 600a). We take ``NNN-NNNNNNNN`` or ``NNNNNNNNNNN``, answer in the form
``NNN-NNNNNNNN``, collapse duplicates, and refuse a wrong check digit ourselves: asking TrackingMore about it
would cost 20 quota for a certain failure (reference §3.16, §8).

Cache (``CACHE#AWB#{awb}``): answers for ``AIRCARGO_CACHE_SECONDS`` (default 30 min); a per-waybill upstream
error (unknown airline prefix, no tracking) for at most :data:`ERROR_TTL_SECONDS`, because a freshly issued
waybill reaches the airline's system within minutes. A waybill the answer leaves out is not cached.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Final, Literal, Protocol

from pydantic import AfterValidator, BaseModel, Field

from shiptrack.data.cache import CachedError
from shiptrack.errors import Problem
from shiptrack.services import lookups
from shiptrack.services.lookups import (
    LOOKUP_REQUEST,
    FetchedAt,
    ItemFailure,
    LookupKind,
    LookupOutcome,
    LookupSource,
    LookupSummary,
    Source,
)

__all__ = [
    "ERROR_TTL_SECONDS",
    "MAX_AWBS",
    "AirCargoClient",
    "AirCargoEvent",
    "AirCargoRequest",
    "AirCargoResponse",
    "AirCargoResult",
    "AirWaybill",
    "Airline",
    "Flight",
    "awb_check_digit_ok",
    "normalize_awb",
    "track_air_cargo",
]

#: Most air waybills in one request (each costs 20 upstream quota; reference §8).
MAX_AWBS: Final = 50
#: How long a per-waybill upstream error ("unknown airline", "not found") is cached, at most.
ERROR_TTL_SECONDS: Final = 300

_AWB = re.compile(r"^([0-9]{3})-?([0-9]{8})$")
_UPSTREAM_TIME = re.compile(r"^([0-9]{4}-[0-9]{2}-[0-9]{2})[ T]([0-9]{2}:[0-9]{2})(:[0-9]{2})?$")


def normalize_awb(value: str) -> str:
    """``NNN-NNNNNNNN`` from ``NNN-NNNNNNNN`` or ``NNNNNNNNNNN`` (spaces around ignored); ``ValueError`` else."""
    match = _AWB.match(value.strip(" "))
    if match is None:
        msg = "an air waybill number is 3 digits, an optional '-', then 8 digits (NNN-NNNNNNNN)"
        raise ValueError(msg)
    return f"{match.group(1)}-{match.group(2)}"


def awb_check_digit_ok(awb: str) -> bool:
    """Whether the serial's last digit is its first seven digits modulo 7 (``awb`` normalised)."""
    serial = awb[4:]
    return int(serial[:7]) % 7 == int(serial[7])


AwbNumber = Annotated[
    str,
    Field(
        pattern=r"^ *[0-9]{3}-?[0-9]{8} *$",
        examples=["172-28891936"],
        description="Air waybill number: airline prefix, optional '-', 8-digit serial",
    ),
    AfterValidator(normalize_awb),
]


class AirCargoRequest(BaseModel):
    """Body of ``POST /aircargo``."""

    model_config = LOOKUP_REQUEST

    awb_numbers: list[AwbNumber] = lookups.distinct_items(
        MAX_AWBS, "air waybill numbers", examples=[["172-28891936", "02012345675"]]
    )


# -- answer models ----------------------------------------------------------------------------------------------


class Airline(BaseModel):
    name: str | None = None
    url: str | None = None
    track_url: str | None = None


class AirCargoEvent(BaseModel):
    """One status event of a waybill. Times are airport-local (no offset), as the airline reports them."""

    time: str | None = Field(default=None, description="When it happened, local ISO date-time without offset")
    planned_time: str | None = Field(default=None, description="When it was planned, local ISO date-time")
    description: str | None = None
    station: str | None = Field(default=None, description="IATA airport code")
    flight_number: str | None = None
    status_code: str | None = Field(default=None, description="Cargo status code, e.g. RCS, DEP, ARR, DLV")
    pieces: str | None = None
    weight: str | None = None


class Flight(BaseModel):
    """One flight leg. Times are airport-local (no offset)."""

    flight_number: str
    departure_station: str | None = None
    arrival_station: str | None = None
    planned_departure: str | None = None
    departure: str | None = None
    planned_arrival: str | None = None
    arrival: str | None = None


class AirWaybill(BaseModel):
    """What TrackingMore knows about one air waybill (the value cached per waybill)."""

    awb_number: str
    airline: Airline | None = None
    origin: str | None = Field(default=None, description="IATA code of the departure airport")
    destination: str | None = Field(default=None, description="IATA code of the destination airport")
    pieces: int | None = None
    weight: str | None = Field(default=None, description="Total weight as the airline prints it, e.g. '1981K'")
    status_number: int | None = Field(default=None, description="TrackingMore's numeric status of the waybill")
    route: list[str] = Field(default_factory=list, description="Airports on the way, in order")
    last_event: str | None = None
    events: list[AirCargoEvent] = Field(default_factory=list, description="Newest first")
    flights: list[Flight] = Field(default_factory=list)


class AirCargoResult(BaseModel):
    """The result for one distinct waybill."""

    awb_number: str
    outcome: Literal["found", "failed"]
    source: Source = Field(
        description="`cache`: served from our cache, no quota spent; `upstream`: asked TrackingMore now; "
        "`validation`: refused by our own checks (check digit) before any lookup"
    )
    fetched_at: FetchedAt
    waybill: AirWaybill | None = None
    problem: Problem | None = None


class AirCargoResponse(BaseModel):
    """Answer of ``POST /aircargo``: one result per distinct waybill, in request order."""

    results: list[AirCargoResult]
    summary: LookupSummary


# -- behaviour --------------------------------------------------------------------------------------------------


class AirCargoClient(Protocol):
    """The part of ``trackingmore.TrackingMoreClient`` this service uses."""

    def track_air_cargo(self, awb_numbers: Sequence[str], *, lang: str | None = None) -> Sequence[Any]: ...


def _local_time(value: str | None) -> str | None:
    """``YYYY-MM-DD HH:MM[:SS]`` (airport-local) as ISO ``YYYY-MM-DDTHH:MM:SS``, still without an offset."""
    if not value:
        return None
    match = _UPSTREAM_TIME.match(value.strip())
    if match is None:
        return value.strip() or None
    return f"{match.group(1)}T{match.group(2)}{match.group(3) or ':00'}"


def _waybill(awb: str, cargo: Any) -> AirWaybill:
    """Our model of one upstream ``AirCargo`` (seed 001 shape)."""
    events = [
        AirCargoEvent(
            time=_local_time(event.actual_date),
            planned_time=_local_time(event.plan_date),
            description=event.event,
            station=event.station,
            flight_number=event.flight_number,
            status_code=event.status,
            pieces=event.piece or None,
            weight=event.weight or None,
        )
        for event in cargo.track_info
    ]
    # Newest first, like tracking checkpoints; events without a time keep their upstream order at the end.
    events.sort(key=lambda event: event.time or event.planned_time or "", reverse=True)
    flights = [
        Flight(
            flight_number=number,
            departure_station=info.depart_station,
            arrival_station=info.arrival_station,
            planned_departure=_local_time(info.plan_depart_time),
            departure=_local_time(info.depart_time),
            planned_arrival=_local_time(info.plan_arrival_time),
            arrival=_local_time(info.arrival_time),
        )
        for number, info in cargo.flight_info.items()
    ]
    flights.sort(key=lambda flight: flight.departure or flight.planned_departure or "")
    airline = cargo.airline_info
    return AirWaybill(
        awb_number=awb,
        airline=Airline(name=airline.name, url=airline.url, track_url=airline.track_url) if airline else None,
        origin=cargo.origin,
        destination=cargo.destination,
        pieces=cargo.piece,
        weight=cargo.weight,
        status_number=cargo.status_number,
        route=list(cargo.flight_way_station),
        last_event=cargo.last_event,
        events=events,
        flights=flights,
    )


def _empty(awb: str) -> ItemFailure:
    return ItemFailure(
        code="awb_not_found",
        title="Air waybill not found",
        detail=f"TrackingMore has no tracking for air waybill {awb}.",
        definitive=True,
    )


# Per-waybill error codes TrackingMore puts in an item instead of ``return_data`` (reference §4.1).
_ITEM_ERRORS: Final[dict[int, tuple[str, str]]] = {
    4014: ("invalid_awb", "Invalid air waybill number"),
    4015: ("awb_unknown_airline", "Unknown airline prefix"),
    4031: ("awb_not_found", "Air waybill not found"),
}
_OTHER_ERROR: Final = ("awb_lookup_failed", "Air waybill lookup failed")


def _has_data(cargo: Any) -> bool:
    return bool(cargo.track_info or cargo.flight_info or cargo.origin or cargo.status_number is not None)


def _fetch(client: AirCargoClient, awbs: Sequence[str]) -> Mapping[str, AirWaybill | ItemFailure]:
    """One upstream call for ``awbs``: each waybill's answer, or its per-item error."""
    answers: dict[str, AirWaybill | ItemFailure] = {}
    for cargo in client.track_air_cargo(list(awbs)):
        try:
            awb = normalize_awb(str(getattr(cargo, "track_number", None) or ""))
        except ValueError:
            continue  # not one we asked about: ignore rather than guess
        if awb not in awbs:
            continue
        extra = getattr(cargo, "model_extra", None) or {}
        if _has_data(cargo):
            answers[awb] = _waybill(awb, cargo)
        elif extra.get("code") is not None:
            code, message = extra.get("code"), extra.get("message")
            answers[awb] = lookups.item_error(code, message, subject=awb, known=_ITEM_ERRORS, otherwise=_OTHER_ERROR)
        else:
            answers[awb] = _empty(awb)
    return answers


def _key_parts(awb: str) -> tuple[str]:
    return (awb,)


def _named(awb: str) -> str:
    return f"air waybill {awb}"


AIRCARGO: Final = LookupKind(
    endpoint="aircargo", key_parts=_key_parts, fetch=_fetch, named=_named, error_ttl_seconds=ERROR_TTL_SECONDS
)


def track_air_cargo(request: AirCargoRequest, source: LookupSource[AirWaybill, AirCargoClient]) -> AirCargoResponse:
    """Results for the request's distinct waybills, in order: from the cache, else from one upstream call."""
    awbs = list(dict.fromkeys(request.awb_numbers))
    valid = [awb for awb in awbs if awb_check_digit_ok(awb)]
    found = lookups.cached_lookup(valid, AIRCARGO, source)
    looked_up = {outcome.item: outcome for outcome in found}
    outcomes = [looked_up.get(awb) or _bad_check_digit(awb) for awb in awbs]
    results = [AirCargoResult(awb_number=o.item, waybill=o.value, **lookups.result_fields(o)) for o in outcomes]
    return AirCargoResponse(results=results, summary=lookups.summarize(outcomes))


def _bad_check_digit(awb: str) -> LookupOutcome[str, AirWaybill]:
    failure = CachedError(
        code="invalid_awb_check_digit",
        title="Invalid air waybill number",
        detail=f"{awb}: the last digit must be the first seven digits of the serial modulo 7.",
    )
    return LookupOutcome(awb, None, failure, "validation", None)
