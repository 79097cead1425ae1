"""The Order Shipped consumer (docs/design.md §6): every shipment of a shipped order becomes a tracking, exactly once.

EventBridge delivers "Order Shipped" events from the project bus to an SQS queue; each SQS message body is the
whole EventBridge event. One message is handled by :func:`handle_order_shipped`:

1. The body is validated with a Parser model (:class:`OrderShippedEvent`: Powertools' ``EventBridgeModel``
   with a typed :class:`OrderShippedDetail`). An invalid body raises
   :class:`~shiptrack.errors.InvalidOrderEventError`, whose message says what is wrong: the message is reported
   failed, and after the queue's ``maxReceiveCount`` it is in the DLQ (docs/operations.md says how to redrive it
   once fixed).
2. Shipments already handled for this order are skipped: a small marker per (order id, tracking number) in
   CacheTable (:mod:`shiptrack.data.order_markers`), written only after the shipment's tracking is stored. A
   redelivered message therefore makes no upstream call at all, not even a carrier detection. Without the marker
   the result would be the same (``create_trackings`` answers ``existing`` for stored identities): the marker only
   saves quota and time.
3. The rest go through ``create_trackings`` — the same service as ``POST /trackings/batch`` — with the order id,
   order time, customer and destination as the batch context.
4. A shipment that failed in a way a retry may fix (upstream rate limit, timeout, 5xx) raises
   :class:`~shiptrack.errors.RetryableOrderError`: the message becomes visible again after the visibility timeout.
   A shipment that failed for good (carrier not detected, rejected by TrackingMore) raises
   :class:`~shiptrack.errors.InvalidOrderEventError` after the others were created. Either way, shipments already
   stored are not created again on the next delivery.

Deadlines: the invocation's (``deadline``) bounds every upstream call (the client is bound to it); a message that
would start with less than :data:`MESSAGE_MIN_MS` left is not started at all but reported failed
(:class:`~shiptrack.errors.RetryableOrderError`), so it comes back after the visibility timeout instead of being
cut short; a message cut short by the deadline fails retryably the same way, its stored shipments marked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Final, Literal

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shiptrack.errors import InvalidOrderEventError, RetryableOrderError
from shiptrack.models import (
    CarrierCodeInput,
    CountryCode,
    CreateContext,
    CustomerInput,
    TrackingNumberInput,
    UtcTimestamp,
)
from shiptrack.observability import logger
from shiptrack.text import CustomerName, Email, OrderId, Phone

if TYPE_CHECKING:
    from shiptrack.data.order_markers import OrderMarkers
    from shiptrack.deadline import Deadline
    from shiptrack.models import BatchCreateResponse, BatchItemResult

__all__ = [
    "MESSAGE_MIN_MS",
    "ORDER_SHIPPED",
    "CreateTrackings",
    "OrderCustomer",
    "OrderResult",
    "OrderShippedDetail",
    "OrderShippedEvent",
    "Shipment",
    "handle_order_shipped",
    "parse_order_shipped",
]

ORDER_SHIPPED: Final = "Order Shipped"
MAX_SHIPMENTS: Final = 1000
#: The least time left worth starting a message with: a carrier detection and one batch create, on a slow day.
MESSAGE_MIN_MS: Final = 3_000


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


class OrderShippedEvent(EventBridgeModel):
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


#: ``create_trackings`` with its dependencies bound (``shiptrack.compose.order_events``): items and context in.
CreateTrackings = Callable[..., "BatchCreateResponse"]


def handle_order_shipped(
    body: str,
    *,
    markers: OrderMarkers,
    create_trackings: CreateTrackings,
    now: datetime | None = None,
    deadline: Deadline | None = None,
) -> OrderResult:
    """Turn one "Order Shipped" message body into trackings (see the module doc for the guarantees)."""
    if deadline is not None and not deadline.allows(MESSAGE_MIN_MS):
        raise RetryableOrderError("not started: too little of the invocation's time was left")
    event = parse_order_shipped(body)
    detail = event.detail
    result = OrderResult(order_id=detail.order_id)

    shipments = list({s.tracking_number + "#" + (s.carrier_code or ""): s for s in detail.shipments}.values())
    done = markers.done(detail.order_id, [s.tracking_number for s in shipments])
    todo = [s for s in shipments if s.tracking_number not in done]
    result.skipped = len(shipments) - len(todo)
    if not todo:
        logger.info("order already handled", extra={"order_id": detail.order_id, "shipments": len(shipments)})
        return result

    response = create_trackings([s.model_dump(exclude_none=True) for s in todo], context=_context(detail), now=now)
    retryable, permanent = _tally(detail.order_id, zip(todo, response.results, strict=True), markers, result)
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


def _context(detail: OrderShippedDetail) -> CreateContext:
    """The order's values, for the shipments that do not give their own."""
    return CreateContext(
        order_id=detail.order_id,
        order_created_at=detail.order_created_at,
        customer=CustomerInput(**detail.customer.model_dump()) if detail.customer else None,
        destination_code=detail.destination_code,
    )


def _tally(
    order_id: str,
    outcomes: Iterable[tuple[Shipment, BatchItemResult]],
    markers: OrderMarkers,
    result: OrderResult,
) -> tuple[list[str], list[str]]:
    """Count each shipment's outcome into ``result`` and mark the stored ones; returns the failures a retry may
    fix and those it cannot, as text."""
    retryable: list[str] = []
    permanent: list[str] = []
    for shipment, item in outcomes:
        if item.outcome in ("created", "existing"):
            if item.outcome == "created":
                result.created += 1
            else:
                result.existing += 1
            markers.mark(order_id, shipment.tracking_number, item.carrier_code)
            continue
        problem = item.problem
        code, why = (problem.code, problem.detail) if problem else ("failed", "no problem given")
        text = f"{shipment.tracking_number}: {code} ({why})"
        result.failed.append(text)
        (retryable if problem is not None and problem.retryable else permanent).append(text)
    return retryable, permanent
