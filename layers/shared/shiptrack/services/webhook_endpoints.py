"""The webhook endpoints API (``/webhook-endpoints``): register, change, rotate, ping, and read the delivery log.

Every URL passes the SSRF rules (:mod:`shiptrack.services.webhook_urls`) before it is stored. The only writes are
to the endpoints table — plus one SQS message for a ping (through the fan-out, the same path as real events) or a
manual retry (through the delivery queue): nothing is written twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final

from shiptrack.data.webhook_deliveries import WebhookDeliveryRepository
from shiptrack.data.webhook_endpoints import EndpointRecord, WebhookEndpointRepository
from shiptrack.data.webhook_support import sortable_id
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

__all__ = ["MAX_ENDPOINTS", "WebhookEndpointsService"]

#: Endpoints per deployment. Each event costs one delivery per subscribed endpoint; a handful is the real need.
MAX_ENDPOINTS: Final = 50
_WRITE_ATTEMPTS: Final = 5


def _with_secret(record: EndpointRecord) -> WebhookEndpointWithSecret:
    return WebhookEndpointWithSecret(
        **record.resource().model_dump(),
        secret=record.secret,
        previous_secret_expires_at=record.previous_secret_expires_at if record.previous_secret else None,
    )


@dataclass
class WebhookEndpointsService:
    """The use cases behind the routes; built per request by the function's handler."""

    endpoints: WebhookEndpointRepository
    deliveries: WebhookDeliveryRepository
    queues: WebhookQueues
    allow_loopback: bool = False
    clock: Callable[[], datetime] = utc_now
    resolver: Resolver = system_resolver

    def _check_url(self, url: str) -> str:
        return check_url(url, allow_loopback=self.allow_loopback, resolver=self.resolver).url

    def _get(self, endpoint_id: str) -> EndpointRecord:
        record = self.endpoints.get(endpoint_id) if endpoint_id.startswith("ep_") else None
        if record is None:
            raise WebhookEndpointNotFoundError(f"No webhook endpoint {endpoint_id}.")
        return record

    def _change(self, endpoint_id: str, change: Callable[[EndpointRecord, datetime], EndpointRecord]) -> EndpointRecord:
        for _ in range(_WRITE_ATTEMPTS):
            current = self._get(endpoint_id)
            stored = self.endpoints.replace(change(current, self.clock()))
            if stored is not None:
                return stored
        raise ConflictError("The endpoint is being changed by another request; try again.")

    def create(self, request: CreateEndpointRequest) -> WebhookEndpointWithSecret:
        url = self._check_url(request.url)
        if len(self.endpoints.all()) >= MAX_ENDPOINTS:
            raise WebhookEndpointLimitError(f"At most {MAX_ENDPOINTS} webhook endpoints; delete one first.")
        now = self.clock()
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
        self.endpoints.create(record)
        return _with_secret(record)

    def list(self, limit: int, cursor: str | None) -> WebhookEndpointList:
        records, next_cursor = self.endpoints.page(limit, cursor)
        return WebhookEndpointList(items=[r.resource() for r in records], next_cursor=next_cursor)

    def get(self, endpoint_id: str) -> WebhookEndpoint:
        return self._get(endpoint_id).resource()

    def update(self, endpoint_id: str, request: UpdateEndpointRequest) -> WebhookEndpoint:
        changes: dict[str, Any] = request.changes()
        if "url" in changes:
            changes["url"] = self._check_url(changes["url"])
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

        return self._change(endpoint_id, change).resource()

    def delete(self, endpoint_id: str) -> None:
        if not endpoint_id.startswith("ep_") or not self.endpoints.delete(endpoint_id):
            raise WebhookEndpointNotFoundError(f"No webhook endpoint {endpoint_id}.")

    def rotate_secret(self, endpoint_id: str) -> WebhookEndpointWithSecret:
        """A new secret; the old one keeps signing (a second signature) for :data:`ROTATION_OVERLAP`."""

        def change(current: EndpointRecord, now: datetime) -> EndpointRecord:
            return replace(
                current,
                secret=new_secret(),
                previous_secret=current.secret,
                previous_secret_expires_at=now + ROTATION_OVERLAP,
                updated_at=now,
            )

        return _with_secret(self._change(endpoint_id, change))

    def ping(self, endpoint_id: str) -> PingResponse:
        """Queue a ``webhook.test`` event for this endpoint through the fan-out, like any event."""
        record = self._get(endpoint_id)
        if not record.enabled:
            raise WebhookEndpointDisabledError(f"Webhook endpoint {endpoint_id} is disabled; enable it first.")
        now = to_millis(self.clock())
        event_id = uuid.uuid4().hex
        detail = {
            "event_id": event_id,
            "occurred_at": format_utc(now),
            "endpoint_id": endpoint_id,
            "message": "A test event from shiptrack.",
        }
        self.queues.send_event(
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

    def deliveries_page(
        self, endpoint_id: str, status: DeliveryStatus | None, limit: int, cursor: str | None
    ) -> WebhookDeliveryList:
        self._get(endpoint_id)
        records, next_cursor = self.deliveries.page(endpoint_id, status, limit, cursor)
        return WebhookDeliveryList(items=[r.resource() for r in records], next_cursor=next_cursor)

    def retry_delivery(self, endpoint_id: str, delivery_id_: str) -> WebhookDelivery:
        """Queue a new cycle of attempts for a finished delivery (the delivery function reopens it)."""
        endpoint = self._get(endpoint_id)
        record = self.deliveries.get(endpoint_id, delivery_id_) if delivery_id_.startswith("dlv_") else None
        if record is None:
            raise WebhookDeliveryNotFoundError(f"No delivery {delivery_id_} for webhook endpoint {endpoint_id}.")
        if record.status == "pending":
            raise WebhookDeliveryPendingError("The delivery is still pending; it is retried on its schedule.")
        if not endpoint.enabled:
            raise WebhookEndpointDisabledError(f"Webhook endpoint {endpoint_id} is disabled; enable it first.")
        message = DeliveryMessage(endpoint_id, record.id, record.event_id, f"api:{uuid.uuid4().hex}")
        self.queues.enqueue([message])
        return record.resource()
