"""Models of the TrackingMore v2 API.

Response models are tolerant: TrackingMore's v2 payloads vary between endpoints and over time (reference §6),
so every field is optional, the literal string ``"null"`` means ``None``, unknown fields are kept
(``model_extra``) and a value of the wrong shape degrades to the field's default instead of failing the
whole response. Request models are strict: unknown fields are refused and values are checked before anything
is sent, with the official SDK's rules for tracking numbers and carrier codes (reference §1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Annotated, Any, Final, Literal, TypedDict, get_args

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

__all__ = [
    "TRACKING_STATUSES",
    "AirCargo",
    "AirCargoEvent",
    "AirlineInfo",
    "BatchCreateItem",
    "BatchCreateResult",
    "BatchResult",
    "BatchResultItem",
    "Carrier",
    "CarrierInfo",
    "CarrierMatch",
    "Checkpoint",
    "CreateTrackingRequest",
    "FlightInfo",
    "ListTrackingsQuery",
    "RealtimeRequest",
    "RemoteArea",
    "RemoteCheck",
    "RemoteCheckResult",
    "StatusCounts",
    "StatusCountsFilters",
    "StatusCountsQuery",
    "Tracking",
    "TrackingListFilters",
    "TrackingPage",
    "TrackingRef",
    "TransitTime",
    "TransitTimeQuery",
    "UpdateTrackingRequest",
    "UpdateTrackingsItem",
    "UserInfo",
    "WebhookMeta",
    "WebhookPush",
]

#: The eight v2 shipment statuses (reference §5.1).
StatusName = Literal["pending", "notfound", "transit", "pickup", "delivered", "undelivered", "exception", "expired"]
TRACKING_STATUSES: Final[frozenset[str]] = frozenset(get_args(StatusName))

# ---------------------------------------------------------------------------------------------------------------------
# Lenient conversions for response fields (they never raise).


def _is_null_text(value: object) -> bool:
    return isinstance(value, str) and value.strip().lower() == "null"


def _to_instant(value: object) -> datetime | None:
    """ISO-8601 with an offset, or unix seconds, to an aware datetime; anything else to ``None``.

    TrackingMore sends ``created_at``/``updated_at`` with an offset (``+08:00`` live, ``+00:00`` in docs,
    reference §1). A value without one is not guessed: its zone is unknown, so it becomes ``None``; so does one
    that has no UTC equivalent (outside ``datetime``'s range once converted).
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    try:
        if isinstance(value, datetime):
            parsed = value
        elif isinstance(value, int | float):
            return datetime.fromtimestamp(value, UTC) if value > 0 else None
        elif isinstance(value, str):
            parsed = datetime.fromisoformat(value.strip())
        else:
            return None
        if parsed.tzinfo is None:
            return None
        # An offset time at the edge of datetime's range (0001-01-01T00:00+01:00) has no UTC equivalent: it is no
        # usable instant, and every consumer converts to UTC.
        parsed.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return parsed


def _to_optional_text(value: object) -> object:
    """``0``, ``""``, ``null`` and ``"null"`` mean "not set" (``order_create_time``, reference §3.1)."""
    if value is None or isinstance(value, bool) or value in (0, "0"):
        return None
    if isinstance(value, str) and (not value.strip() or _is_null_text(value)):
        return None
    return value


def _to_email_list(value: object) -> list[str]:
    """``customer_email`` is a string in live data and a list in docs (reference §3.4): always a list."""
    raw: list[object] = list(value) if isinstance(value, list | tuple) else [value]
    emails: list[str] = []
    for item in raw:
        if isinstance(item, str):
            emails.extend(part.strip() for part in item.split(",") if part.strip() and not _is_null_text(part))
    return emails


def _to_loose_bool(value: object) -> bool | None:
    """``true``/``false`` as JSON booleans, strings (``"true"``) or 0/1 (``archived``, reference §3.5)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
    return None


def _to_number_text(value: object) -> object:
    """Percentages may come as ``"35.2%"``; keep the number."""
    if isinstance(value, str):
        text = value.strip().rstrip("%").strip()
        return text or None
    return value


def _only_mappings(value: object) -> object:
    """Drop list entries that are not JSON objects so one bad entry cannot blank the whole list."""
    if isinstance(value, list):
        return [item for item in value if isinstance(item, Mapping)]
    return value


Instant = Annotated[datetime | None, BeforeValidator(_to_instant)]
OptionalText = Annotated[str | None, BeforeValidator(_to_optional_text)]
LooseBool = Annotated[bool | None, BeforeValidator(_to_loose_bool)]
EmailList = Annotated[list[str], BeforeValidator(_to_email_list)]
Ratio = Annotated[float | None, BeforeValidator(_to_number_text)]


class _ResponseModel(BaseModel):
    """Base of everything parsed from TrackingMore: accepts what it gets, keeps what it does not know."""

    model_config = ConfigDict(
        extra="allow",
        validate_by_name=True,
        validate_by_alias=True,
        coerce_numbers_to_str=True,
    )

    @model_validator(mode="before")
    @classmethod
    def _literal_null_is_none(cls, data: Any) -> Any:
        # Older v2 responses send the string "null" for unset fields (reference §3.1).
        if isinstance(data, Mapping):
            return {key: None if _is_null_text(value) else value for key, value in data.items()}
        return data

    @field_validator("*", mode="wrap")
    @classmethod
    def _wrong_shape_is_default(cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        # A field of an unexpected shape must not fail the whole tracking: fall back to the field's default.
        try:
            return handler(value)
        except ValidationError:
            if info.field_name is None:
                raise
            return cls.model_fields[info.field_name].get_default(call_default_factory=True)


# ---------------------------------------------------------------------------------------------------------------------
# Trackings


class Checkpoint(_ResponseModel):
    """One carrier event (``trackinfo[]`` item, reference §6).

    ``date`` is the carrier-local time exactly as sent (``YYYY-MM-DD HH:MM[:SS]``): v2 gives no zone, so none
    is invented and the text is not converted.
    """

    date: str | None = Field(default=None, validation_alias=AliasChoices("Date", "date"))
    status_description: str | None = Field(
        default=None, validation_alias=AliasChoices("StatusDescription", "status_description")
    )
    details: str | None = Field(default=None, validation_alias=AliasChoices("Details", "details"))
    checkpoint_status: str | None = None
    substatus: str | None = None
    item_node: str | None = Field(default=None, validation_alias=AliasChoices("ItemNode", "item_node"))


class CarrierInfo(_ResponseModel):
    """``origin_info`` / ``destination_info``: the courier, its milestones and its events (newest first)."""

    carrier_code: str | None = None
    weblink: str | None = None
    phone: str | None = None
    reference_number: str | None = Field(
        default=None, validation_alias=AliasChoices("ReferenceNumber", "reference_number")
    )
    item_received: str | None = Field(default=None, validation_alias=AliasChoices("ItemReceived", "item_received"))
    item_dispatched: str | None = Field(
        default=None, validation_alias=AliasChoices("ItemDispatched", "item_dispatched")
    )
    depart_from_airport: str | None = Field(
        default=None, validation_alias=AliasChoices("DepartfromAirport", "DepartFromAirport", "depart_from_airport")
    )
    arrival_from_abroad: str | None = Field(
        default=None, validation_alias=AliasChoices("ArrivalfromAbroad", "ArrivalFromAbroad", "arrival_from_abroad")
    )
    customs_clearance: str | None = Field(
        default=None, validation_alias=AliasChoices("CustomsClearance", "customs_clearance")
    )
    destination_arrived: str | None = Field(
        default=None, validation_alias=AliasChoices("DestinationArrived", "destination_arrived")
    )
    trackinfo: Annotated[list[Checkpoint], BeforeValidator(_only_mappings)] = Field(default_factory=list)


class Tracking(_ResponseModel):
    """A tracking as TrackingMore returns it (reference §6), with its quirks smoothed out.

    * ``created_at``/``updated_at`` are aware datetimes (``None`` when missing or without an offset);
    * ``order_create_time`` is the text as sent, ``None`` for ``0``, ``""``, ``null`` or ``"null"``;
    * ``customer_email`` is always a list;
    * ``archived``/``track_update`` accept booleans and ``"true"``/``"false"``;
    * ``status`` is kept as sent, even when it is not one of ``TRACKING_STATUSES`` (see ``has_known_status``);
    * fields this model does not name (``service_code``, ``packageStatus`` …) stay in ``model_extra``.
    """

    id: str | None = None
    tracking_number: str | None = None
    carrier_code: str | None = None
    status: str | None = None
    substatus: str | None = None
    track_update: LooseBool = None
    created_at: Instant = None
    updated_at: Instant = None
    order_create_time: OptionalText = None
    title: str | None = None
    order_id: str | None = None
    comment: str | None = None
    customer_name: str | None = None
    customer_email: EmailList = Field(default_factory=list)
    customer_phone: str | None = None
    logistics_channel: str | None = None
    destination: str | None = None
    destination_code: str | None = None
    archived: LooseBool = None
    original_country: str | None = None
    destination_country: str | None = None
    item_time_length: int | None = Field(
        default=None, validation_alias=AliasChoices("itemTimeLength", "item_time_length")
    )
    stay_time_length: int | None = Field(
        default=None, validation_alias=AliasChoices("stayTimeLength", "stay_time_length")
    )
    origin_info: CarrierInfo | None = None
    destination_info: CarrierInfo | None = None
    last_event: str | None = Field(default=None, validation_alias=AliasChoices("lastEvent", "last_event"))
    last_update_time: str | None = Field(
        default=None, validation_alias=AliasChoices("lastUpdateTime", "last_update_time")
    )

    @property
    def has_known_status(self) -> bool:
        """Whether ``status`` is one of the eight documented v2 statuses."""
        return self.status in TRACKING_STATUSES


class TrackingPage(_ResponseModel):
    """One page of ``GET /trackings/get``. ``total`` arrives as a string upstream (reference §3.3)."""

    page: int = 1
    limit: int = 0
    total: int = 0
    count: int = 0
    items: Annotated[list[Tracking], BeforeValidator(_only_mappings)] = Field(default_factory=list)

    @model_validator(mode="after")
    def _count_defaults_to_items(self) -> TrackingPage:
        if "count" not in self.model_fields_set:
            self.count = len(self.items)
        return self

    @property
    def has_more(self) -> bool:
        """Whether a later page holds more trackings."""
        if not self.items:
            return False
        if "total" in self.model_fields_set:
            return self.page * max(self.limit, len(self.items)) < self.total
        return self.limit > 0 and len(self.items) >= self.limit


# ---------------------------------------------------------------------------------------------------------------------
# Batch results


class BatchCreateItem(BaseModel):
    """The outcome of one requested tracking in ``batch_create_trackings``.

    ``outcome`` is ``"created"``, ``"exists"`` (upstream 4016) or ``"failed"``. ``tracking`` is present when
    the client holds it: always for ``"created"``; for ``"exists"`` only when it was learnt while reconciling an
    ambiguous failure. A tracking found by that reconciliation is reported ``"created"``: the lost request is
    by far the likeliest author, and upstream offers no way to tell. ``retryable`` says whether sending the
    item again later may succeed (the chunk failed in transit, was rate-limited or hit a server error).
    """

    model_config = ConfigDict(extra="forbid")

    tracking_number: str
    carrier_code: str
    outcome: Literal["created", "exists", "failed"]
    tracking: Tracking | None = None
    error_code: int | None = None
    error_message: str | None = None
    retryable: bool = False


class BatchCreateResult(BaseModel):
    """All outcomes of ``batch_create_trackings``, one per requested item, in input order."""

    model_config = ConfigDict(extra="forbid")

    items: list[BatchCreateItem] = Field(default_factory=list)

    @property
    def submitted(self) -> int:
        """How many trackings were asked for."""
        return len(self.items)

    @property
    def added(self) -> int:
        """How many were created."""
        return len(self.created)

    @property
    def created(self) -> list[BatchCreateItem]:
        """Items created by this call."""
        return [item for item in self.items if item.outcome == "created"]

    @property
    def existing(self) -> list[BatchCreateItem]:
        """Items that already existed upstream (4016)."""
        return [item for item in self.items if item.outcome == "exists"]

    @property
    def failed(self) -> list[BatchCreateItem]:
        """Items not created; see ``retryable``."""
        return [item for item in self.items if item.outcome == "failed"]

    @property
    def retryable(self) -> list[BatchCreateItem]:
        """Failed items worth sending again later."""
        return [item for item in self.failed if item.retryable]


class BatchResultItem(_ResponseModel):
    """One per-item entry of ``updatemore``/``delete``/``notupdate`` (shapes undocumented, reference §3.7–3.13)."""

    tracking_number: str | None = None
    carrier_code: str | None = None
    code: int | None = None
    message: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _unwrap_meta(cls, data: Any) -> Any:
        # POST /trackings/delete wraps each item in its own "meta" object (reference §3.8).
        if isinstance(data, Mapping) and isinstance(data.get("meta"), Mapping):
            merged = {key: value for key, value in data.items() if key != "meta"}
            merged.update(data["meta"])
            return merged
        return data

    @property
    def ok(self) -> bool:
        """No error code, or a success code."""
        return self.code is None or self.code in (200, 201)


class BatchResult(_ResponseModel):
    """The answer to ``updatemore``, ``delete`` (many) or ``notupdate``.

    ``succeeded`` comes from the count upstream gives (``change`` for notupdate, ``delete`` for delete …);
    ``items`` merges upstream's ``trackings`` and ``errors`` lists. See ``TrackingMoreClient.update_trackings``.
    """

    submitted: int = 0
    succeeded: int = 0
    items: Annotated[list[BatchResultItem], BeforeValidator(_only_mappings)] = Field(default_factory=list)

    @property
    def failed(self) -> list[BatchResultItem]:
        """Items upstream reported with an error code."""
        return [item for item in self.items if not item.ok]


# ---------------------------------------------------------------------------------------------------------------------
# Carriers, account, statistics


class Carrier(_ResponseModel):
    """A courier from ``GET /carriers`` (reference §3.17)."""

    name: str | None = None
    code: str | None = None
    phone: str | None = None
    homepage: str | None = None
    type: str | None = None
    picture: str | None = None


class CarrierMatch(_ResponseModel):
    """A courier candidate from ``POST /carriers/detect`` (reference §3.18)."""

    name: str | None = None
    code: str | None = None


class UserInfo(_ResponseModel):
    """Account information (reference §3.11). ``regtime`` is unix seconds as text."""

    email: str | None = None
    regtime: str | None = None
    phone: str | None = None
    money: float | None = None
    track_number: int | None = None

    @property
    def registered_at(self) -> datetime | None:
        """``regtime`` as an aware datetime."""
        return _to_instant(self.regtime)


class StatusCounts(_ResponseModel):
    """Number of trackings per status (``getstatusnumber``; shape inferred, reference §3.12)."""

    pending: int = 0
    notfound: int = 0
    transit: int = 0
    pickup: int = 0
    delivered: int = 0
    undelivered: int = 0
    exception: int = 0
    expired: int = 0

    @property
    def total(self) -> int:
        """All trackings counted."""
        return sum(getattr(self, status) for status in sorted(TRACKING_STATUSES))


class RemoteArea(_ResponseModel):
    """One remote-area match: the courier for which (country, postcode) is remote (seed 003)."""

    far_express_company: str | None = None
    two_code: str | None = None
    far_country: str | None = None
    far_city_postcode: str | None = None


class RemoteCheckResult(_ResponseModel):
    """The answer of ``POST /trackings/remote`` (seed 003)."""

    submitted: int = 0
    remote: Annotated[list[RemoteArea], BeforeValidator(_only_mappings)] = Field(default_factory=list)
    other: list[Any] = Field(default_factory=list)
    errors: list[Any] = Field(default_factory=list)


class TransitTime(_ResponseModel):
    """Transit-time statistics for a courier between two countries (``costtime``, reference §3.15).

    ``range1`` … ``range6`` are the shares delivered within each documented band (only some are documented).
    """

    carrier_code: str | None = None
    original: str | None = None
    destination: str | None = None
    total: int | None = None
    delivered: int | None = None
    range1: Ratio = None
    range2: Ratio = None
    range3: Ratio = None
    range4: Ratio = None
    range5: Ratio = None
    range6: Ratio = None


# ---------------------------------------------------------------------------------------------------------------------
# Air cargo (seed 001)


class AirCargoEvent(_ResponseModel):
    """One ``track_info[]`` event of an air waybill."""

    plan_date: str | None = None
    actual_date: str | None = None
    event: str | None = None
    station: str | None = None
    flight_number: str | None = None
    status: str | None = None
    piece: str | None = None
    weight: str | None = None


class FlightInfo(_ResponseModel):
    """One flight of an air waybill (``flight_info`` is keyed by flight number)."""

    plan_depart_time: str | None = None
    depart_time: str | None = None
    depart_station: str | None = None
    plan_arrival_time: str | None = None
    arrival_time: str | None = None
    arrival_station: str | None = None


class AirlineInfo(_ResponseModel):
    """The airline carrying an air waybill."""

    name: str | None = None
    url: str | None = None
    track_url: str | None = None


class AirCargo(_ResponseModel):
    """The tracking of one air waybill, with upstream's ``return_data`` wrapper flattened (seed 001)."""

    track_number: str | None = None
    weight: str | None = None
    piece: int | None = None
    origin: str | None = None
    destination: str | None = None
    status_number: int | None = None
    track_info: Annotated[list[AirCargoEvent], BeforeValidator(_only_mappings)] = Field(default_factory=list)
    flight_info: dict[str, FlightInfo] = Field(default_factory=dict)
    flight_way_station: list[str] = Field(default_factory=list)
    last_event: str | None = None
    airline_info: AirlineInfo | None = None

    @model_validator(mode="before")
    @classmethod
    def _flatten_return_data(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and isinstance(data.get("return_data"), Mapping):
            flat = {key: value for key, value in data.items() if key != "return_data"}
            for key, value in data["return_data"].items():
                flat.setdefault(key, value)
            return flat
        return data


# ---------------------------------------------------------------------------------------------------------------------
# Webhooks


class WebhookMeta(_ResponseModel):
    """The ``meta`` object of a webhook push, when present."""

    code: int | None = None
    type: str | None = None
    message: str | None = None


class WebhookPush(BaseModel):
    """A parsed v2 webhook push (reference §7.1): the tracking and the signature fields."""

    tracking: Tracking
    time_str: str
    signature: str
    meta: WebhookMeta | None = None


# ---------------------------------------------------------------------------------------------------------------------
# Requests (strict)

# Official v2 SDK validation (reference §1): tracking number ^[0-9a-z-_]{5,}$, carrier code ^[0-9a-z-_]+$ (ci).
TrackingNumber = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z_-]{5,}$")]
CarrierCode = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z_-]+$")]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$")]
Lang = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]
ShipDate = (
    Annotated[str, StringConstraints(pattern=r"^\d{8}$")]
    | Annotated[date, PlainSerializer(lambda value: value.strftime("%Y%m%d"), return_type=str)]
)
# v2 takes archived as the strings "true"/"false" (reference §3.5, seed 004).
ArchivedFlag = Annotated[bool, PlainSerializer(lambda value: "true" if value else "false", return_type=str)]
NonEmptyText = Annotated[str, StringConstraints(min_length=1)]


class _RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    def to_payload(self) -> dict[str, Any]:
        """The JSON object sent upstream: upstream field names, unset (``None``) fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class _ExtraFields(_RequestModel):
    title: str | None = None
    logistics_channel: str | None = None
    customer_name: str | None = None
    customer_email: str | None = None
    order_id: str | None = None
    destination_code: CountryCode | None = None


class CreateTrackingRequest(_ExtraFields):
    """Body of ``POST /trackings/post`` and one item of ``POST /trackings/batch`` (reference §3.1)."""

    tracking_number: TrackingNumber
    carrier_code: CarrierCode
    customer_phone: str | None = None
    order_create_time: str | None = None
    tracking_ship_date: ShipDate | None = None
    tracking_postal_code: str | None = None
    tracking_account_number: str | None = None
    special_number_destination: str | None = Field(default=None, serialization_alias="specialNumberDestination")
    lang: Lang | None = None
    comment: str | None = None


class UpdateTrackingRequest(_ExtraFields):
    """Body of ``PUT /trackings/{carrier_code}/{tracking_number}`` (reference §3.5, seed 004).

    ``status`` may only be 4 (delivered), 7 (exception) or 8 (back to the computed status).
    """

    customer_phone: str | None = None
    status: Literal[4, 7, 8] | None = None
    archived: ArchivedFlag | None = None


class UpdateTrackingsItem(_ExtraFields):
    """One item of ``POST /trackings/updatemore`` (reference §3.7)."""

    tracking_number: TrackingNumber
    carrier_code: CarrierCode
    status: Literal[4, 7, 8] | None = None
    archived: ArchivedFlag | None = None


class TrackingRef(_RequestModel):
    """Identifies a tracking: ``(carrier_code, tracking_number)``."""

    carrier_code: CarrierCode
    tracking_number: TrackingNumber


class RealtimeRequest(_RequestModel):
    """Body of ``POST /trackings/realtime`` (reference §3.9). The order id field is ``order`` upstream."""

    tracking_number: TrackingNumber
    carrier_code: CarrierCode
    destination_code: CountryCode | None = None
    tracking_ship_date: ShipDate | None = None
    tracking_postal_code: str | None = None
    tracking_account_number: str | None = None
    special_number_destination: str | None = Field(default=None, serialization_alias="specialNumberDestination")
    order: str | None = None
    order_create_time: str | None = None
    lang: Lang | None = None


class RemoteCheck(_RequestModel):
    """One remote-area question (reference §3.14): country name or 2-letter code, postcode (or city)."""

    country: NonEmptyText
    postcode: NonEmptyText
    company: str | None = None


class TransitTimeQuery(_RequestModel):
    """One transit-time question (reference §3.15): courier, origin and destination 2-letter codes."""

    carrier_code: CarrierCode
    original: CountryCode
    destination: CountryCode


# ---------------------------------------------------------------------------------------------------------------------
# Query filters

TimeFilter = datetime | int

#: Most tracking numbers / order ids one list call takes (reference §3.3).
MAX_FILTER_VALUES: Final = 40
#: Largest page of ``GET /trackings/get`` (reference §3.3).
MAX_PAGE_LIMIT: Final = 2000


class TrackingListFilters(TypedDict, total=False):
    """Keyword arguments of ``list_trackings``/``iter_trackings`` (reference §3.3)."""

    page: int
    limit: int
    status: StatusName
    created_at_min: TimeFilter
    created_at_max: TimeFilter
    update_time_min: TimeFilter
    update_time_max: TimeFilter
    order_created_time_min: TimeFilter
    order_created_time_max: TimeFilter
    lang: str
    numbers: Sequence[str]
    orders: Sequence[str]
    archived: bool | None


class StatusCountsFilters(TypedDict, total=False):
    """Keyword arguments of ``get_status_counts`` (reference §3.12)."""

    created_at_min: TimeFilter
    created_at_max: TimeFilter
    order_created_time_min: TimeFilter
    order_created_time_max: TimeFilter


def _unix_seconds(value: TimeFilter) -> int:
    if isinstance(value, datetime):
        return int(value.timestamp())
    return value


def _aware_or_int(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("a time filter must be a datetime or unix seconds, not a bool")
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValueError("a naive datetime has no zone; pass an aware datetime or unix seconds")
    return value


TimeFilterValue = Annotated[TimeFilter, BeforeValidator(_aware_or_int)]
OrderId = Annotated[str, StringConstraints(pattern=r"^[^,]+$")]


class _QueryModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_params(self) -> dict[str, str]:
        """Query-string parameters: times as unix seconds, lists comma-joined, booleans as "true"/"false"."""
        params: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool):
                params[name] = "true" if value else "false"
            elif isinstance(value, datetime | int):
                params[name] = str(_unix_seconds(value))
            elif isinstance(value, list):
                params[name] = ",".join(value)
            else:
                params[name] = str(value)
        return params


class StatusCountsQuery(_QueryModel):
    """Validated filters of ``GET /trackings/getstatusnumber``."""

    created_at_min: TimeFilterValue | None = None
    created_at_max: TimeFilterValue | None = None
    order_created_time_min: TimeFilterValue | None = None
    order_created_time_max: TimeFilterValue | None = None


class ListTrackingsQuery(StatusCountsQuery):
    """Validated filters of ``GET /trackings/get``."""

    page: Annotated[int, Field(ge=1, strict=True)] | None = None
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE_LIMIT, strict=True)] | None = None
    status: StatusName | None = None
    update_time_min: TimeFilterValue | None = None
    update_time_max: TimeFilterValue | None = None
    lang: Lang | None = None
    numbers: Annotated[list[TrackingNumber], Field(min_length=1, max_length=MAX_FILTER_VALUES)] | None = None
    orders: Annotated[list[OrderId], Field(min_length=1, max_length=MAX_FILTER_VALUES)] | None = None
    archived: Annotated[bool, Field(strict=True)] | None = None
