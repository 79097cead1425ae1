"""The webhook endpoints API (``/webhook-endpoints``): register, change, rotate, ping, and read the delivery log.

Every URL passes the SSRF rules (:mod:`shiptrack.services.webhook_urls`) before it is stored. The only writes are
to the endpoints table — plus one SQS message for a ping (through the fan-out, the same path as real events) or a
manual retry (through the delivery queue): nothing is written twice. One function per route; dependencies are
arguments, wired by :func:`shiptrack.compose.webhook_endpoints`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any, Final

from shiptrack.data.sortable_ids import sortable_id
from shiptrack.data.webhook_deliveries import WebhookDeliveryRepository
from shiptrack.data.webhook_endpoints import EndpointRecord, WebhookEndpointRepository
from shiptrack.errors import (
    ConflictError,
    WebhookDeliveryNotFoundError,
    WebhookDeliveryPendingError,
    WebhookEndpointDisabledError,
    WebhookEndpointLimitError,
    WebhookEndpointNotFoundError,
)
from shiptrack.events import EVENT_SOURCE
from shiptrack.models import format_utc, to_millis, utc_now
from shiptrack.services.webhook_fanout import BusEvent, delivery_id
from shiptrack.services.webhook_queue import DeliveryMessage, WebhookQueues
from shiptrack.services.webhook_signing import ROTATION_OVERLAP, new_secret
from shiptrack.services.webhook_urls import Resolver, check_url, system_resolver
from shiptrack.webhook_models import (
    TEST_DETAIL_TYPE,
    TEST_EVENT_TYPE,
    CreateEndpointRequest,
    DeliveryStatus,
    PingResponse,
    UpdateEndpointRequest,
    WebhookDelivery,
    WebhookDeliveryList,
    WebhookEndpoint,
    WebhookEndpointList,
    WebhookEndpointWithSecret,
)

__all__ = [
    "MAX_ENDPOINTS",
    "create_endpoint",
    "delete_endpoint",
    "get_endpoint",
    "list_deliveries",
    "list_endpoints",
    "retry_delivery",
    "rotate_secret",
    "send_ping",
    "update_endpoint",
]

#: Endpoints per deployment. Each event costs one delivery per subscribed endpoint; a handful is the real need.
MAX_ENDPOINTS: Final = 50
_WRITE_ATTEMPTS: Final = 5


def _with_secret(record: EndpointRecord) -> WebhookEndpointWithSecret:
    return WebhookEndpointWithSecret(
        **record.resource().model_dump(),
        secret=record.secret,
        previous_secret_expires_at=record.previous_secret_expires_at if record.previous_secret else None,
    )


def _get(endpoints: WebhookEndpointRepository, endpoint_id: str) -> EndpointRecord:
    record = endpoints.get(endpoint_id) if endpoint_id.startswith("ep_") else None
    if record is None:
        raise WebhookEndpointNotFoundError(f"No webhook endpoint {endpoint_id}.")
    return record


def _change(
    endpoints: WebhookEndpointRepository,
    endpoint_id: str,
    change: Callable[[EndpointRecord, datetime], EndpointRecord],
    clock: Callable[[], datetime],
) -> EndpointRecord:
    for _ in range(_WRITE_ATTEMPTS):
        current = _get(endpoints, endpoint_id)
        stored = endpoints.replace(change(current, clock()))
        if stored is not None:
            return stored
    raise ConflictError("The endpoint is being changed by another request; try again.")


def create_endpoint(
    request: CreateEndpointRequest,
    *,
    endpoints: WebhookEndpointRepository,
    allow_loopback: bool,
    clock: Callable[[], datetime] = utc_now,
    resolver: Resolver = system_resolver,
) -> WebhookEndpointWithSecret:
    """Register an endpoint whose URL passes the SSRF rules; the answer carries its new secret."""
    url = check_url(request.url, allow_loopback=allow_loopback, resolver=resolver).url
    if len(endpoints.all()) >= MAX_ENDPOINTS:
        raise WebhookEndpointLimitError(f"At most {MAX_ENDPOINTS} webhook endpoints; delete one first.")
    now = clock()
    record = EndpointRecord(
        id=sortable_id("ep_", now),
        url=url,
        events=tuple(request.events) if request.events is not None else None,
        description=request.description,
        status="enabled",
        created_at=now,
        updated_at=now,
        secret=new_secret(),
    )
    endpoints.create(record)
    return _with_secret(record)


def list_endpoints(limit: int, cursor: str | None, *, endpoints: WebhookEndpointRepository) -> WebhookEndpointList:
    """One page of endpoints, newest first."""
    records, next_cursor = endpoints.page(limit, cursor)
    return WebhookEndpointList(items=[r.resource() for r in records], next_cursor=next_cursor)


def get_endpoint(endpoint_id: str, *, endpoints: WebhookEndpointRepository) -> WebhookEndpoint:
    """One endpoint (never its secrets); 404 when unknown."""
    return _get(endpoints, endpoint_id).resource()


def update_endpoint(
    endpoint_id: str,
    request: UpdateEndpointRequest,
    *,
    endpoints: WebhookEndpointRepository,
    allow_loopback: bool,
    clock: Callable[[], datetime] = utc_now,
    resolver: Resolver = system_resolver,
) -> WebhookEndpoint:
    """Change the fields the request gives; enabling an endpoint again forgets the failures that disabled it."""
    changes: dict[str, Any] = request.changes()
    if "url" in changes:
        changes["url"] = check_url(changes["url"], allow_loopback=allow_loopback, resolver=resolver).url
    if "events" in changes:
        changes["events"] = tuple(changes["events"]) if changes["events"] is not None else None

    def change(current: EndpointRecord, now: datetime) -> EndpointRecord:
        updated = replace(current, **changes, updated_at=now)
        if changes.get("status") == "disabled" and current.enabled:
            updated = replace(updated, disabled_reason="user", disabled_at=now)
        elif changes.get("status") == "enabled" and not current.enabled:
            # A fresh start: the failures that disabled it are not held against it again.
            updated = replace(updated, disabled_reason=None, disabled_at=None, failing_since=None)
        return updated

    return _change(endpoints, endpoint_id, change, clock).resource()


def delete_endpoint(endpoint_id: str, *, endpoints: WebhookEndpointRepository) -> None:
    """Remove the endpoint (its pending deliveries are canceled when they come up); 404 when unknown."""
    if not endpoint_id.startswith("ep_") or not endpoints.delete(endpoint_id):
        raise WebhookEndpointNotFoundError(f"No webhook endpoint {endpoint_id}.")


def rotate_secret(
    endpoint_id: str, *, endpoints: WebhookEndpointRepository, clock: Callable[[], datetime] = utc_now
) -> WebhookEndpointWithSecret:
    """A new secret; the old one keeps signing (a second signature) for :data:`ROTATION_OVERLAP`."""

    def change(current: EndpointRecord, now: datetime) -> EndpointRecord:
        return replace(
            current,
            secret=new_secret(),
            previous_secret=current.secret,
            previous_secret_expires_at=now + ROTATION_OVERLAP,
            updated_at=now,
        )

    return _with_secret(_change(endpoints, endpoint_id, change, clock))


def send_ping(
    endpoint_id: str,
    *,
    endpoints: WebhookEndpointRepository,
    queues: WebhookQueues,
    clock: Callable[[], datetime] = utc_now,
) -> PingResponse:
    """Queue a ``webhook.test`` event for this endpoint through the fan-out, like any event."""
    record = _get(endpoints, endpoint_id)
    if not record.enabled:
        raise WebhookEndpointDisabledError(f"Webhook endpoint {endpoint_id} is disabled; enable it first.")
    now = to_millis(clock())
    event_id = uuid.uuid4().hex
    detail = {
        "event_id": event_id,
        "occurred_at": format_utc(now),
        "endpoint_id": endpoint_id,
        "message": "A test event from shiptrack.",
    }
    queues.send_event(
        {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": TEST_DETAIL_TYPE,
            "source": EVENT_SOURCE,
            "time": format_utc(now),
            "detail": detail,
        }
    )
    ping = BusEvent(TEST_EVENT_TYPE, event_id, now, detail, endpoint_id)
    return PingResponse(event_id=event_id, delivery_id=delivery_id(ping, endpoint_id))


def list_deliveries(
    endpoint_id: str,
    status: DeliveryStatus | None,
    limit: int,
    cursor: str | None,
    *,
    endpoints: WebhookEndpointRepository,
    deliveries: WebhookDeliveryRepository,
) -> WebhookDeliveryList:
    """The delivery log of an endpoint, newest first (only ``status`` ones when given); 404 for an unknown one."""
    _get(endpoints, endpoint_id)
    records, next_cursor = deliveries.page(endpoint_id, status, limit, cursor)
    return WebhookDeliveryList(items=[r.resource() for r in records], next_cursor=next_cursor)


def retry_delivery(
    endpoint_id: str,
    delivery_id_: str,
    *,
    endpoints: WebhookEndpointRepository,
    deliveries: WebhookDeliveryRepository,
    queues: WebhookQueues,
) -> WebhookDelivery:
    """Queue a new cycle of attempts for a finished delivery (the delivery function reopens it)."""
    endpoint = _get(endpoints, endpoint_id)
    record = deliveries.get(endpoint_id, delivery_id_) if delivery_id_.startswith("dlv_") else None
    if record is None:
        raise WebhookDeliveryNotFoundError(f"No delivery {delivery_id_} for webhook endpoint {endpoint_id}.")
    if record.status == "pending":
        raise WebhookDeliveryPendingError("The delivery is still pending; it is retried on its schedule.")
    if not endpoint.enabled:
        raise WebhookEndpointDisabledError(f"Webhook endpoint {endpoint_id} is disabled; enable it first.")
    message = DeliveryMessage(endpoint_id, record.id, record.event_id, f"api:{uuid.uuid4().hex}")
    queues.enqueue([message])
    return record.resource()
