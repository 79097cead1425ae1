"""The Order Shipped consumer (docs/design.md §6): every shipment of a shipped order becomes a tracking, exactly once.

EventBridge delivers "Order Shipped" events from the project bus to an SQS queue; each SQS message body is the
whole EventBridge event. One message is handled by :func:`handle_order_shipped`:

1. The body is validated with a Parser-style pydantic model (:class:`OrderShippedEvent`: the EventBridge
   envelope, the fields of Powertools' ``EventBridgeModel``, with a typed :class:`OrderShippedDetail`). An
   invalid body raises :class:`InvalidOrderEventError`, whose
   message says what is wrong: the message is reported failed, and after the queue's ``maxReceiveCount`` it is
   in the DLQ (docs/operations.md says how to redrive it once fixed).
2. Shipments already handled for this order are skipped: a small marker per (order id, tracking number) in
   CacheTable (``ORDER#<order id>#<number>``, kept 14 days: SQS's longest retention), written only after the
   shipment's tracking is stored. A redelivered message therefore makes no upstream call at all, not even a
   carrier detection. Without the marker the result would be the same (``create_trackings`` answers
   ``existing`` for stored identities): the marker only saves quota and time.
3. The rest go through ``create_trackings`` — the same service as ``POST /trackings/batch`` — with the order id,
   order time, customer and destination as the batch context.
4. A shipment that failed in a way a retry may fix (upstream rate limit, timeout, 5xx) raises
   :class:`RetryableOrderError`: the message becomes visible again after the visibility timeout. A shipment that
   failed for good (carrier not detected, rejected by TrackingMore) raises :class:`InvalidOrderEventError` after
   the others were created. Either way, shipments already stored are not created again on the next delivery.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shiptrack.models import (
    CarrierCodeInput,
    CountryCode,
    CreateContext,
    CustomerInput,
    CustomerName,
    Email,
    OrderId,
    Phone,
    TrackingNumberInput,
    UtcTimestamp,
)
from shiptrack.observability import logger

if TYPE_CHECKING:
    from shiptrack.models import BatchCreateResponse

__all__ = [
    "MARKER_TTL_SECONDS",
    "ORDER_SHIPPED",
    "InvalidOrderEventError",
    "OrderCustomer",
    "OrderResult",
    "OrderShippedDetail",
    "OrderShippedEvent",
    "RetryableOrderError",
    "Shipment",
    "handle_order_shipped",
    "parse_order_shipped",
]

ORDER_SHIPPED: Final = "Order Shipped"
MARKER_PREFIX: Final = "ORDER#"
#: SQS keeps a message at most 14 days; a marker older than any possible redelivery is of no use.
MARKER_TTL_SECONDS: Final = 14 * 24 * 3600
MAX_SHIPMENTS: Final = 1000


class InvalidOrderEventError(Exception):
    """The message can never succeed as it is (invalid detail, or a shipment refused for good)."""


class RetryableOrderError(Exception):
    """A shipment failed in a way a later delivery may fix (upstream rate limit, timeout, server error)."""


class _Lenient(BaseModel):
    # Producers add fields over time: unknown ones are ignored, known ones are validated strictly.
    model_config = ConfigDict(extra="ignore")


class Shipment(_Lenient):
    tracking_number: TrackingNumberInput
    carrier_code: CarrierCodeInput | None = None


class OrderCustomer(_Lenient):
    """Who the order is for; validated like the API's ``customer`` (never logged)."""

    name: CustomerName | None = None
    email: Email | None = None
    phone: Phone | None = None


class OrderShippedDetail(_Lenient):
    """The ``detail`` of an "Order Shipped" event (docs/design.md §6)."""

    order_id: OrderId
    order_created_at: UtcTimestamp | None = None
    customer: OrderCustomer | None = None
    destination_code: CountryCode | None = None
    shipments: list[Shipment] = Field(min_length=1, max_length=MAX_SHIPMENTS)


class _EventBridgeEnvelope(BaseModel):
    """An EventBridge event as delivered to a target (the fields of Powertools' ``EventBridgeModel``).

    Defined here rather than imported: ``aws_lambda_powertools.utilities.parser.models`` imports every event
    model Powertools has (~40 modules) at first import, which OrderEventsFunction's cold start paid for.
    """

    model_config = ConfigDict(populate_by_name=True)

    version: str
    id: str
    source: str
    account: str
    time: datetime
    region: str
    resources: list[str]
    detail_type: str = Field(alias="detail-type")
    detail: Any
    replay_name: str | None = Field(default=None, alias="replay-name")


class OrderShippedEvent(_EventBridgeEnvelope):
    """The SQS message body: the EventBridge event, with the detail typed."""

    detail_type: Literal["Order Shipped"] = Field(alias="detail-type")
    detail: OrderShippedDetail


def _reason(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:10]:
        loc = ".".join(str(part) for part in error.get("loc", ()))
        parts.append(f"{loc or 'body'}: {error.get('msg')}")
    return "; ".join(parts)


def parse_order_shipped(body: str) -> OrderShippedEvent:
    """The validated event in an SQS message body; :class:`InvalidOrderEventError` with the reasons otherwise."""
    try:
        return OrderShippedEvent.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidOrderEventError(f"not a valid Order Shipped event: {_reason(exc)}") from exc


@dataclass
class OrderResult:
    """What one message did."""

    order_id: str
    created: int = 0
    existing: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)


class _Markers:
    """``ORDER#<order id>#<number>`` items in CacheTable: shipments of an order already turned into trackings."""

    def __init__(self, table: Any, clock: Callable[[], float]) -> None:
        self._table = table
        self._clock = clock

    @staticmethod
    def key(order_id: str, tracking_number: str) -> str:
        return f"{MARKER_PREFIX}{order_id}#{tracking_number}"

    def done(self, order_id: str, numbers: Sequence[str]) -> set[str]:
        if not numbers:
            return set()
        from shiptrack.store import consistent_batch_get

        keys = [{"pk": self.key(order_id, number)} for number in dict.fromkeys(numbers)]
        now = int(self._clock())
        return {
            str(item["tracking_number"])
            for item in consistent_batch_get(self._table, keys)
            if int(item.get("expires_at", 0)) >= now
        }

    def mark(self, order_id: str, tracking_number: str, carrier_code: str | None) -> None:
        now = int(self._clock())
        item: dict[str, Any] = {
            "pk": self.key(order_id, tracking_number),
            "tracking_number": tracking_number,
            "expires_at": now + MARKER_TTL_SECONDS,
        }
        if carrier_code:
            item["carrier_code"] = carrier_code
        self._table.put_item(Item=item)


CreateTrackings = Callable[..., "BatchCreateResponse"]


def handle_order_shipped(
    body: str,
    *,
    cache_table: Any,
    create_trackings: CreateTrackings,
    now: datetime | None = None,
    clock: Callable[[], float] = time.time,
) -> OrderResult:
    """Turn one "Order Shipped" message body into trackings (see the module doc for the guarantees)."""
    event = parse_order_shipped(body)
    detail = event.detail
    result = OrderResult(order_id=detail.order_id)
    markers = _Markers(cache_table, clock)

    shipments = list({s.tracking_number + "#" + (s.carrier_code or ""): s for s in detail.shipments}.values())
    done = markers.done(detail.order_id, [s.tracking_number for s in shipments])
    todo = [s for s in shipments if s.tracking_number not in done]
    result.skipped = len(shipments) - len(todo)
    if not todo:
        logger.info("order already handled", extra={"order_id": detail.order_id, "shipments": len(shipments)})
        return result

    context = CreateContext(
        order_id=detail.order_id,
        order_created_at=detail.order_created_at,
        customer=CustomerInput(**detail.customer.model_dump()) if detail.customer else None,
        destination_code=detail.destination_code,
    )
    items = [s.model_dump(exclude_none=True) for s in todo]
    response = create_trackings(items, context=context, now=now)

    retryable: list[str] = []
    permanent: list[str] = []
    for shipment, item in zip(todo, response.results, strict=True):
        if item.outcome in ("created", "existing"):
            if item.outcome == "created":
                result.created += 1
            else:
                result.existing += 1
            markers.mark(detail.order_id, shipment.tracking_number, item.carrier_code)
            continue
        problem = item.problem
        code, why = (problem.code, problem.detail) if problem else ("failed", "no problem given")
        text = f"{shipment.tracking_number}: {code} ({why})"
        result.failed.append(text)
        (retryable if problem is not None and problem.retryable else permanent).append(text)

    logger.info(
        "order shipped handled",
        extra={
            "order_id": detail.order_id,
            "trackings_created": result.created,
            "trackings_existing": result.existing,
            "skipped": result.skipped,
            "failed": len(result.failed),
        },
    )
    if retryable:
        raise RetryableOrderError(f"order {detail.order_id}: retryable failures: {'; '.join(retryable)}")
    if permanent:
        raise InvalidOrderEventError(f"order {detail.order_id}: shipments refused: {'; '.join(permanent)}")
    return result
