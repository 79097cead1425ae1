"""The tracking domain: identity, the API resource (docs/design.md §3), request and response models.

* :class:`TrackingRef` and :func:`normalize_tracking_number` / :func:`normalize_carrier_code` are the one
  identity normalisation: carrier codes lower-case, tracking numbers upper-case without whitespace.
* :class:`Tracking` is the resource every route answers with and every outbound event carries.
* Request models (:class:`CreateTrackingRequest`, :class:`UpdateTrackingRequest`, :class:`ListQuery`,
  :class:`RealtimeRequest` …) are strict and bounded; response models are built by our code only.
* The mapping from TrackingMore's tracking onto ours is :mod:`shiptrack.upstream`.

Our own timestamps are UTC, serialised as ISO-8601 with millisecond precision and a ``Z``. Carrier event times
are carrier-local without a zone in TrackingMore v2 (reference §1, §6): they stay local ISO date-times without
an offset, and no offset is ever invented.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal, get_args

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
    model_validator,
)
from pydantic_core import PydanticCustomError

from shiptrack.errors import Problem
from shiptrack.text import (
    Comment,
    CustomerName,
    Email,
    JsonBool,
    LogisticsChannel,
    MultiLine,
    OneLine,
    OrderId,
    Phone,
    Title,
    multi_line_text,
    single_line_text,
)

__all__ = [
    "LIFECYCLES",
    "MAX_BATCH_ITEMS",
    "MAX_LIST_LIMIT",
    "MAX_STORED_CHECKPOINTS",
    "STATUSES",
    "TERMINAL_STATUSES",
    "BatchCreateRequest",
    "BatchCreateResponse",
    "BatchItemResult",
    "BatchSummary",
    "CacheReason",
    "Checkpoint",
    "CreateContext",
    "CreateTrackingRequest",
    "Customer",
    "CustomerInput",
    "JsonBool",
    "Lifecycle",
    "ListQuery",
    "MultiLine",
    "OneLine",
    "RealtimeRequest",
    "RealtimeResponse",
    "Status",
    "StatusOverride",
    "Tracking",
    "TrackingList",
    "TrackingRef",
    "TrackingSummary",
    "UpdateTrackingRequest",
    "UtcTimestampInput",
    "content_fingerprint",
    "format_utc",
    "multi_line_text",
    "normalize_carrier_code",
    "normalize_tracking_number",
    "parse_utc",
    "single_line_text",
    "to_millis",
    "utc_now",
]

Status = Literal["pending", "notfound", "transit", "pickup", "delivered", "undelivered", "exception", "expired"]
Lifecycle = Literal["active", "stopped", "archived"]
CheckpointSource = Literal["origin", "destination"]
StatusOverride = Literal["delivered", "exception", "revert"]

STATUSES: Final[frozenset[str]] = frozenset(get_args(Status))
LIFECYCLES: Final[frozenset[str]] = frozenset(get_args(Lifecycle))
#: Statuses after which a parcel normally stops moving: these start the archiving clock (``terminal_at``).
#: ``exception`` counts (returned, lost, refused …) even though customs holds sometimes resolve: if one moves
#: again, the next upstream update takes it out of the terminal set and the clock stops.
TERMINAL_STATUSES: Final[frozenset[str]] = frozenset({"delivered", "expired", "exception"})

#: Most checkpoints stored (and served) per tracking, newest kept. Bounds the item well under DynamoDB's
#: 400 KB item limit and the write cost of the four ALL-projection indexes (docs/data-model.md).
MAX_STORED_CHECKPOINTS: Final = 100
MAX_CHECKPOINT_TEXT: Final = 500
#: The most items ``POST /trackings/batch`` takes: the largest size whose p99 under the realistic upstream profile
#: stays under 20 s (docs/benchmarks.md, "The batch route's size"), and whose largest answer fits Lambda's 6 MB
#: (tests/contract/test_payload_limits.py). More is a 413 that points to ``POST /imports``.
MAX_BATCH_ITEMS: Final = 200
MAX_LIST_LIMIT: Final = 100
DEFAULT_LIST_LIMIT: Final = 25
#: The longest ``cursor`` a listing takes back (ours are signed and far shorter: ``shiptrack.data.cursors``).
MAX_CURSOR_LENGTH: Final = 2048

# ---------------------------------------------------------------------------------------------------------------------
# Time


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def format_utc(value: datetime) -> str:
    """Our timestamp format: UTC, millisecond precision, ``Z`` — fixed width, so strings sort as times do."""
    if value.tzinfo is None:
        msg = "naive datetimes have no zone; pass an aware datetime"
        raise ValueError(msg)
    value = value.astimezone(UTC)
    return f"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond // 1000:03d}Z"


def parse_utc(value: str) -> datetime:
    """Parse one of our timestamps (or any ISO-8601 with an offset) to an aware UTC datetime."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        msg = f"timestamp without an offset: {value!r}"
        raise ValueError(msg)
    return parsed.astimezone(UTC)


def to_millis(value: datetime) -> datetime:
    """``value`` in UTC, truncated to the millisecond: the precision our timestamps are stored and shown with."""
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _utc_millis(value: datetime) -> datetime:
    """:func:`to_millis` as a validator: a time whose offset puts it outside ``datetime``'s range in UTC
    (``0001-01-01T00:00:00+01:00``) is invalid input (a 422), not an ``OverflowError`` (a 500)."""
    try:
        return to_millis(value)
    except OverflowError as exc:
        msg = "datetime is out of range once converted to UTC"
        raise ValueError(msg) from exc


#: Our own timestamps in models: aware, normalised to UTC (ms), serialised by :func:`format_utc`.
UtcTimestamp = Annotated[
    AwareDatetime,
    AfterValidator(_utc_millis),
    PlainSerializer(format_utc, return_type=str, when_used="json"),
]


def _timestamp_text(value: object) -> object:
    # JSON has no time type: a timestamp is written as ISO-8601 text. A number is not read as epoch seconds.
    if isinstance(value, int | float):
        raise PydanticCustomError("timestamp_type", "give an ISO-8601 date-time with an offset, as a string")
    return value


#: A timestamp a caller sends: ISO-8601 text with an offset (a JSON number is a 422, not epoch seconds).
UtcTimestampInput = Annotated[UtcTimestamp, BeforeValidator(_timestamp_text)]

# ---------------------------------------------------------------------------------------------------------------------
# Identity


def normalize_carrier_code(value: str) -> str:
    """Carrier codes are lower-case (docs/design.md §3)."""
    return value.strip().lower()


def normalize_tracking_number(value: str) -> str:
    """Tracking numbers are upper-cased with all whitespace removed first of all (docs/design.md §3)."""
    return "".join(value.split()).upper()


@dataclass(frozen=True, order=True, slots=True)
class TrackingRef:
    """The identity of a tracking: ``(carrier_code, tracking_number)``, always normalised.

    Build one with :meth:`of` (normalises) or :meth:`from_key` (parses a store key). ``key`` is the
    TrackingsTable partition key ``"{carrier_code}#{tracking_number}"``.
    """

    carrier_code: str
    tracking_number: str

    @classmethod
    def of(cls, carrier_code: str, tracking_number: str) -> TrackingRef:
        return cls(normalize_carrier_code(carrier_code), normalize_tracking_number(tracking_number))

    @classmethod
    def from_key(cls, key: str) -> TrackingRef:
        carrier_code, sep, tracking_number = key.partition("#")
        if not sep or not carrier_code or not tracking_number:
            msg = f"not a tracking key: {key!r}"
            raise ValueError(msg)
        return cls(carrier_code, tracking_number)

    @property
    def key(self) -> str:
        return f"{self.carrier_code}#{self.tracking_number}"

    def __str__(self) -> str:
        return f"{self.carrier_code}/{self.tracking_number}"


# Accepted input: 5..50 tracking-number characters, with any whitespace between them (it is removed).
# The pattern is what the OpenAPI document shows, so the schema and the validation agree exactly.
TRACKING_NUMBER_PATTERN: Final = r"^\s*[0-9A-Za-z_-](?:\s*[0-9A-Za-z_-]){4,49}\s*$"
CARRIER_CODE_PATTERN: Final = r"^\s*[0-9A-Za-z_-]{1,50}\s*$"
COUNTRY_CODE_PATTERN: Final = r"^[A-Za-z]{2}$"


def _tracking_number(value: str) -> str:
    return normalize_tracking_number(value)


def _carrier_code(value: str) -> str:
    return normalize_carrier_code(value)


def _upper(value: str) -> str:
    return value.upper()


TrackingNumberInput = Annotated[
    str,
    Field(min_length=5, max_length=100, pattern=TRACKING_NUMBER_PATTERN, examples=["UB209300714LV"]),
    AfterValidator(_tracking_number),
]
CarrierCodeInput = Annotated[
    str,
    Field(min_length=1, max_length=60, pattern=CARRIER_CODE_PATTERN, examples=["china-post"]),
    AfterValidator(_carrier_code),
]
CountryCode = Annotated[
    str, Field(min_length=2, max_length=2, pattern=COUNTRY_CODE_PATTERN, examples=["US"]), AfterValidator(_upper)
]


class _Model(BaseModel):
    # A model's validator and serializer are built on first use, not at import: a function pays only for the
    # models its path uses (cold start; docs/benchmarks.md).
    model_config = ConfigDict(defer_build=True)


# ---------------------------------------------------------------------------------------------------------------------
# The resource


class Customer(_Model):
    """Who the parcel is for. Never logged (observability masks e-mails and phones)."""

    name: str | None = None
    email: str | None = None
    phone: str | None = None

    def filled_from(self, other: Customer) -> Customer:
        """This customer, with ``other``'s value for each field this one leaves empty."""
        return Customer(name=self.name or other.name, email=self.email or other.email, phone=self.phone or other.phone)


class Checkpoint(_Model):
    """One carrier event. ``time`` is carrier-local, ISO-8601 without an offset (none is invented)."""

    time: str | None = Field(default=None, description="Carrier-local time, `YYYY-MM-DDTHH:MM:SS`, no offset")
    description: str | None = None
    location: str | None = None
    status: Status | None = None
    substatus: str | None = None
    source: CheckpointSource = Field(description="`origin` (origin carrier) or `destination` (last-mile carrier)")


class TrackingSummary(_Model):
    """A tracking without its checkpoints, contact details and free text but its title and last event: what each
    result of a batch create or an import carries. A page of whole trackings cannot fit Lambda's 6 MB answer
    (100 checkpoints each); ``GET /trackings/{carrier_code}/{tracking_number}`` has the rest."""

    carrier_code: str
    tracking_number: str
    status: Status = "pending"
    substatus: str | None = None
    lifecycle: Lifecycle = "active"
    order_id: str | None = None
    title: str | None = None
    last_event: str | None = None
    upstream_id: str | None = None
    created_at: UtcTimestamp
    updated_at: UtcTimestamp
    last_checked_at: UtcTimestamp | None = None
    last_changed_at: UtcTimestamp | None = None

    @staticmethod
    def of(tracking: Tracking) -> TrackingSummary:
        """The summary of a whole tracking."""
        return TrackingSummary.model_validate(tracking.model_dump(include=set(TrackingSummary.model_fields)))


class Tracking(TrackingSummary):
    """The tracking resource (docs/design.md §3): what routes answer and events carry. Its summary's fields, then
    the rest, checkpoints last."""

    order_created_at: UtcTimestamp | None = None
    logistics_channel: str | None = None
    comment: str | None = None
    customer: Customer = Field(default_factory=Customer)
    destination_code: str | None = None
    origin_country: str | None = None
    destination_country: str | None = None
    transit_days: int | None = None
    checkpoints: list[Checkpoint] = Field(default_factory=list, description="Newest first")

    @property
    def ref(self) -> TrackingRef:
        return TrackingRef(self.carrier_code, self.tracking_number)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


#: Resource fields that do not describe the parcel: they change on every look upstream or every write.
VOLATILE_FIELDS: Final = frozenset({"updated_at", "last_checked_at", "last_changed_at"})
#: Resource fields that come from the carrier (everything else is our metadata, or our bookkeeping).
UPSTREAM_FIELDS: Final = frozenset(
    {
        "status",
        "substatus",
        "origin_country",
        "destination_country",
        "transit_days",
        "last_event",
        "checkpoints",
        "upstream_id",
    }
)
#: Fields whose change is a change of the shipment itself (sets ``last_changed_at``).
SHIPMENT_FIELDS: Final = frozenset({"status", "substatus", "checkpoints", "last_event"})


def content_fingerprint(tracking: Tracking) -> str:
    """A hash of everything a subscriber sees except the volatile timestamps.

    Two stored versions with equal fingerprints are the same to any reader: the store skips such writes, and
    the publisher emits no event when a stream record's old and new images have the same fingerprint.
    """
    data = tracking.model_dump(mode="json", exclude=set(VOLATILE_FIELDS))
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


# ---------------------------------------------------------------------------------------------------------------------
# Requests


class _Request(_Model):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class CustomerInput(_Request):
    name: CustomerName | None = None
    email: Email | None = None
    phone: Phone | None = None


class CreateContext(_Request):
    """Defaults for every item of a batch (the Order Shipped consumer passes the order's)."""

    order_id: OrderId | None = None
    order_created_at: UtcTimestampInput | None = None
    customer: CustomerInput | None = None
    destination_code: CountryCode | None = None


class CreateTrackingRequest(_Request):
    """Body of ``POST /trackings`` and one item of ``POST /trackings/batch``.

    ``carrier_code`` is optional: when missing, the carrier is detected from the number (first match).
    """

    tracking_number: TrackingNumberInput
    carrier_code: CarrierCodeInput | None = None
    order_id: OrderId | None = None
    order_created_at: UtcTimestampInput | None = None
    title: Title | None = None
    logistics_channel: LogisticsChannel | None = None
    comment: Comment | None = None
    customer: CustomerInput | None = None
    destination_code: CountryCode | None = None

    def with_context(self, context: CreateContext | None) -> CreateTrackingRequest:
        """This request with the context's values filling what it leaves unset."""
        if context is None:
            return self
        update: dict[str, Any] = {}
        for name in ("order_id", "order_created_at", "destination_code"):
            if getattr(self, name) is None and getattr(context, name) is not None:
                update[name] = getattr(context, name)
        if context.customer is not None:
            mine = self.customer or CustomerInput()
            update["customer"] = CustomerInput(
                name=mine.name or context.customer.name,
                email=mine.email or context.customer.email,
                phone=mine.phone or context.customer.phone,
            )
        return self.model_copy(update=update) if update else self


class BatchCreateRequest(_Request):
    """Body of ``POST /trackings/batch``: 1 to :data:`MAX_BATCH_ITEMS` items.

    Items are deliberately not validated here: one invalid item fails alone, with its own problem, in the
    result list (the service validates each as a :class:`CreateTrackingRequest`). The upper bound is in the schema
    (``maxItems``) but checked by the route, so that more items are a 413 pointing to ``POST /imports`` rather than
    a validation error.
    """

    items: Annotated[
        list[Any],
        Field(
            min_length=1,
            description=(
                f"Up to {MAX_BATCH_ITEMS} trackings; each has the shape of `CreateTrackingRequest`. Larger sets: "
                "`POST /imports`"
            ),
            json_schema_extra={
                "items": {"$ref": "#/components/schemas/CreateTrackingRequest"},
                "maxItems": MAX_BATCH_ITEMS,
            },
        ),
    ]


class UpdateTrackingRequest(_Request):
    """Body of ``PATCH /trackings/{carrier_code}/{tracking_number}``: at least one field.

    Absent fields are left as they are. ``status_override`` maps to TrackingMore's status 4 / 7 / 8
    (delivered / exception / back to the computed status, reference §3.5). ``carrier_code`` moves the tracking
    to another carrier (upstream ``/trackings/update``, reference §3.10): its identity changes.
    """

    title: Title | None = None
    order_id: OrderId | None = None
    logistics_channel: LogisticsChannel | None = None
    comment: Comment | None = None
    customer: CustomerInput | None = None
    destination_code: CountryCode | None = None
    status_override: StatusOverride | None = None
    archived: JsonBool | None = None
    carrier_code: CarrierCodeInput | None = None

    @model_validator(mode="after")
    def _something_to_do(self) -> UpdateTrackingRequest:
        if not any(getattr(self, name) is not None for name in type(self).model_fields):
            msg = "at least one field must be given"
            raise ValueError(msg)
        return self

    @property
    def metadata(self) -> dict[str, Any]:
        """The metadata changes (title, order_id, …) as resource field values; customer is merged later."""
        names = ("title", "order_id", "logistics_channel", "comment", "destination_code")
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}


class ListQuery(_Request):
    """Filters of ``GET /trackings``. Without ``lifecycle``, archived trackings are left out.

    ``created_after`` is inclusive, ``created_before`` exclusive. ``updated_after`` (inclusive) turns the listing
    into the changes feed: every tracking whose last visible change is at or after it, oldest change first, any
    lifecycle; it combines with no other filter (``shiptrack.data.queries.plan``).
    """

    status: Status | None = None
    carrier_code: CarrierCodeInput | None = None
    order_id: OrderId | None = None
    lifecycle: Lifecycle | None = None
    created_after: UtcTimestampInput | None = None
    created_before: UtcTimestampInput | None = None
    updated_after: UtcTimestampInput | None = None
    limit: Annotated[int, Field(ge=1, le=MAX_LIST_LIMIT)] = DEFAULT_LIST_LIMIT
    cursor: Annotated[str, Field(min_length=1, max_length=MAX_CURSOR_LENGTH)] | None = None

    @model_validator(mode="after")
    def _window(self) -> ListQuery:
        if self.created_after and self.created_before and self.created_after >= self.created_before:
            msg = "created_after must be earlier than created_before"
            raise ValueError(msg)
        return self

    def filter_key(self) -> str:
        """What a cursor is bound to: every filter (not ``limit`` or ``cursor``)."""
        # ``updated_after`` counts only when given, so the cursors of plain listings issued before it existed hold.
        unbound = {"limit", "cursor"} | ({"updated_after"} if self.updated_after is None else set())
        data = self.model_dump(mode="json", exclude=unbound)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


class RealtimeRequest(_Request):
    """Body of ``POST /trackings/realtime``.

    ``max_age_seconds``: a stored copy checked at most this long ago is served without calling the carrier
    (default from the ``RealtimeMaxAgeSeconds`` parameter, 15 minutes).
    """

    carrier_code: CarrierCodeInput
    tracking_number: TrackingNumberInput
    destination_code: CountryCode | None = None
    max_age_seconds: Annotated[int, Strict(), Field(ge=0, le=7 * 24 * 3600)] | None = None


# ---------------------------------------------------------------------------------------------------------------------
# Responses


class TrackingList(_Model):
    """One page of ``GET /trackings``: newest first; ``next_cursor`` is absent on the last page. In the changes feed
    (``updated_after``): oldest change first, and ``next_cursor`` is where to continue, now or later."""

    items: list[Tracking]
    next_cursor: str | None = None


class BatchItemResult(_Model):
    """The result for one input item of a batch, at the same index."""

    index: int
    outcome: Literal["created", "existing", "failed"]
    carrier_code: str | None = None
    tracking_number: str | None = None
    tracking: TrackingSummary | None = Field(default=None, description="The tracking when created or existing")
    problem: Problem | None = Field(default=None, description="A problem object (RFC 9457) when failed")


class BatchSummary(_Model):
    created: int = 0
    existing: int = 0
    failed: int = 0


class BatchCreateResponse(_Model):
    """One result per input item, in input order."""

    results: list[BatchItemResult]
    summary: BatchSummary


#: Why a live lookup served the stored copy: checked within ``max_age_seconds`` (``fresh``), looked up live less
#: than 2 hours ago (``realtime_interval``: TrackingMore's once-per-2-hours rule), or no realtime slot of the
#: account's rate limit within the request's time (``rate_limited``).
CacheReason = Literal["fresh", "realtime_interval", "rate_limited"]


class RealtimeResponse(_Model):
    """A live lookup: ``source`` says whether the carrier was asked now (``carrier``) or the stored copy served."""

    source: Literal["carrier", "cache"]
    fetched_at: UtcTimestamp = Field(description="When this copy was last read from TrackingMore")
    cache_reason: CacheReason | None = Field(
        default=None,
        description=(
            "Why the stored copy was served (`source: cache` only): `fresh` (checked within `max_age_seconds`), "
            "`realtime_interval` (looked up live less than 2 hours ago: TrackingMore allows one per 2 hours), "
            "`rate_limited` (TrackingMore's realtime rate limit had no slot in time: the copy may be stale)"
        ),
    )
    tracking: Tracking
