"""Fan-out: one bus event → one delivery per subscribed, enabled endpoint (docs/architecture.md, storefront webhooks).

The input is what the bus rule put on WebhookEventsQueue: the whole EventBridge event. Its webhook ``type`` comes
from :data:`~shiptrack.webhook_models.WEBHOOK_EVENT_TYPES` (other detail-types are acknowledged and dropped), the
body is ``{"type", "timestamp", "data"}`` with ``data`` = the event's detail, and the ``webhook-id`` is the
detail's ``event_id``, stable across redeliveries of the event.

Idempotent: the payload is written once per event and a delivery's id is derived from (event id, endpoint id), so
a redelivered event finds its deliveries instead of making new ones. Deliveries of a redelivered event that are
still untouched (pending, no attempt yet) are queued again: the first pass may have stopped between storing them
and queueing them; a second message for the same delivery is harmless (attempts are claimed, see
:mod:`shiptrack.services.webhook_delivery`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shiptrack.data.sortable_ids import derived_entropy, sortable_id
from shiptrack.data.webhook_deliveries import DeliveryRecord, PayloadRecord, WebhookDeliveryRepository
from shiptrack.data.webhook_endpoints import EndpointRecord, WebhookEndpointRepository
from shiptrack.models import parse_utc
from shiptrack.services.webhook_queue import DeliveryMessage, WebhookQueues
from shiptrack.webhook_models import TEST_DETAIL_TYPE, TEST_EVENT_TYPE, WEBHOOK_EVENT_TYPES

__all__ = ["BusEvent", "FanoutResult", "delivery_id", "fan_out", "parse_bus_event", "webhook_body"]


@dataclass(frozen=True, slots=True)
class BusEvent:
    """A deliverable event: its webhook type, id, time and detail (``endpoint_id`` only for a ping)."""

    type: str
    event_id: str
    occurred_at: datetime
    detail: Mapping[str, Any]
    endpoint_id: str | None = None


@dataclass
class FanoutResult:
    created: int = 0
    existing: int = 0
    queued: int = 0


def parse_bus_event(body: str) -> BusEvent | None:
    """The deliverable event in a queue message; ``None`` for types no endpoint receives; ``ValueError`` (or
    ``KeyError``/``TypeError``) for a message that is not an event."""
    event = json.loads(body)
    detail_type = str(event["detail-type"])
    webhook_type = TEST_EVENT_TYPE if detail_type == TEST_DETAIL_TYPE else WEBHOOK_EVENT_TYPES.get(detail_type)
    if webhook_type is None:
        return None
    detail = event["detail"]
    if not isinstance(detail, dict) or not isinstance(detail.get("event_id"), str):
        msg = "event detail without an event_id"
        raise ValueError(msg)
    occurred = parse_utc(str(detail.get("occurred_at") or event["time"]))
    endpoint_id = str(detail["endpoint_id"]) if webhook_type == TEST_EVENT_TYPE else None
    return BusEvent(webhook_type, detail["event_id"], occurred, detail, endpoint_id)


def webhook_body(event: BusEvent) -> str:
    """The Standard Webhooks body: ``{"type", "timestamp", "data"}``, compact JSON (signed as is)."""
    timestamp = event.detail.get("occurred_at") or event.occurred_at.isoformat()
    return json.dumps({"type": event.type, "timestamp": timestamp, "data": event.detail}, separators=(",", ":"))


def delivery_id(event: BusEvent, endpoint_id: str) -> str:
    """The delivery of ``event`` to ``endpoint_id``: always the same id, sorting by the event's time."""
    return sortable_id("dlv_", event.occurred_at, derived_entropy(event.event_id, endpoint_id))


def _targets(event: BusEvent, endpoints: list[EndpointRecord]) -> list[EndpointRecord]:
    if event.endpoint_id is not None:  # a ping: that endpoint only
        return [e for e in endpoints if e.id == event.endpoint_id and e.enabled]
    return [e for e in endpoints if e.enabled and e.subscribes(event.type)]


def fan_out(
    event: BusEvent,
    *,
    endpoints: WebhookEndpointRepository,
    deliveries: WebhookDeliveryRepository,
    queues: WebhookQueues,
    clock: Callable[[], datetime],
    retention_days: int,
) -> FanoutResult:
    """Store the payload and one delivery per target endpoint, and queue the deliveries not queued yet."""
    result = FanoutResult()
    targets = _targets(event, endpoints.all())
    if not targets:
        return result
    now = clock()
    expires_at = int((now + timedelta(days=retention_days)).timestamp())
    deliveries.put_payload(PayloadRecord(event.event_id, event.type, webhook_body(event), expires_at))
    to_queue: list[DeliveryMessage] = []
    for endpoint in targets:
        record = DeliveryRecord(
            endpoint_id=endpoint.id,
            id=delivery_id(event, endpoint.id),
            event_id=event.event_id,
            event_type=event.type,
            status="pending",
            created_at=now,
            updated_at=now,
            expires_at=expires_at,
            next_attempt_at=now,
        )
        message = DeliveryMessage(endpoint.id, record.id, event.event_id)
        if deliveries.create(record):
            result.created += 1
            to_queue.append(message)
            continue
        result.existing += 1
        stored = deliveries.get(endpoint.id, record.id)
        if stored is not None and stored.status == "pending" and stored.attempt_count == 0:
            to_queue.append(message)
    queues.enqueue(to_queue)
    result.queued = len(to_queue)
    return result
