"""Storefront webhooks: the endpoint and delivery resources, the requests that change them, and the event types.

Deliveries follow Standard Webhooks: a JSON body ``{"type", "timestamp", "data"}`` whose ``type`` is one of
:data:`WEBHOOK_EVENT_TYPES` — one row per EventBridge detail-type shiptrack publishes (docs/architecture.md).
Adding a type (``import.completed`` …) is one line in that table: the bus rule forwards every ``shiptrack``
event, the fan-out delivers the ones the table names, and the API accepts exactly those names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from shiptrack.events import (
    IMPORT_COMPLETED,
    TRACKING_ARCHIVED,
    TRACKING_CREATED,
    TRACKING_STATUS_CHANGED,
    TRACKING_UPDATED,
)
from shiptrack.models import UtcTimestamp
from shiptrack.text import MultiLine, OneLine

__all__ = [
    "MAX_DELIVERY_LIST_LIMIT",
    "MAX_ENDPOINT_LIST_LIMIT",
    "TEST_DETAIL_TYPE",
    "TEST_EVENT_TYPE",
    "WEBHOOK_EVENT_TYPES",
    "CreateEndpointRequest",
    "DeliveryAttempt",
    "DeliveryStatus",
    "DisabledReason",
    "EndpointStatus",
    "PingResponse",
    "UpdateEndpointRequest",
    "WebhookDelivery",
    "WebhookDeliveryList",
    "WebhookEndpoint",
    "WebhookEndpointList",
    "WebhookEndpointWithSecret",
]

#: EventBridge detail-type → webhook ``type``. The only list of deliverable events.
WEBHOOK_EVENT_TYPES: Final[Mapping[str, str]] = {
    TRACKING_CREATED: "tracking.created",
    TRACKING_STATUS_CHANGED: "tracking.status_changed",
    TRACKING_UPDATED: "tracking.updated",
    TRACKING_ARCHIVED: "tracking.archived",
    IMPORT_COMPLETED: "import.completed",
}
#: The ping ``POST /webhook-endpoints/{id}/test`` sends: delivered only to that endpoint, never subscribable.
TEST_EVENT_TYPE: Final = "webhook.test"
TEST_DETAIL_TYPE: Final = "Webhook Test"

EndpointStatus = Literal["enabled", "disabled"]
#: Why an endpoint is disabled: by a ``PATCH`` (``user``) or after failing for ``WebhookDisableAfterDays``.
DisabledReason = Literal["user", "failing"]
DeliveryStatus = Literal["pending", "succeeded", "failed", "canceled"]

MAX_ENDPOINT_LIST_LIMIT: Final = 100
MAX_DELIVERY_LIST_LIMIT: Final = 100
MAX_URL_LENGTH: Final = 2048


def _known_event_type(value: str) -> str:
    if value not in WEBHOOK_EVENT_TYPES.values():
        msg = f"unknown event type {value!r}; known: {', '.join(WEBHOOK_EVENT_TYPES.values())}"
        raise ValueError(msg)
    return value


EventType = Annotated[
    str,
    AfterValidator(_known_event_type),
    WithJsonSchema({"type": "string", "enum": list(WEBHOOK_EVENT_TYPES.values())}),
]
EndpointUrl = Annotated[
    str, Field(min_length=1, max_length=MAX_URL_LENGTH, description="https URL to POST to"), OneLine
]
Description = Annotated[str, Field(max_length=500), MultiLine]
EventTypes = Annotated[
    list[EventType],
    Field(
        min_length=1,
        max_length=len(WEBHOOK_EVENT_TYPES),
        description="Event types to receive; leave out (or null) for every type, including types added later",
    ),
]


class _Model(BaseModel):
    model_config = ConfigDict(defer_build=True)


class _Request(_Model):
    model_config = ConfigDict(extra="forbid", defer_build=True)


def _unique(types: list[str] | None) -> list[str] | None:
    return None if types is None else list(dict.fromkeys(types))


class CreateEndpointRequest(_Request):
    """Body of ``POST /webhook-endpoints``."""

    url: EndpointUrl
    events: EventTypes | None = None
    description: Description | None = None

    @model_validator(mode="after")
    def _dedupe(self) -> CreateEndpointRequest:
        self.events = _unique(self.events)
        return self


class UpdateEndpointRequest(_Request):
    """Body of ``PATCH /webhook-endpoints/{id}``: any of the fields; ``events: null`` subscribes to every type."""

    url: EndpointUrl | None = None
    events: EventTypes | None = None
    description: Description | None = None
    status: EndpointStatus | None = Field(default=None, description="`disabled` stops deliveries; `enabled` resumes")

    @model_validator(mode="after")
    def _not_empty(self) -> UpdateEndpointRequest:
        if not self.model_fields_set:
            msg = "give at least one of url, events, description, status"
            raise ValueError(msg)
        if "url" in self.model_fields_set and self.url is None:
            msg = "url cannot be null"
            raise ValueError(msg)
        if "status" in self.model_fields_set and self.status is None:
            msg = "status cannot be null"
            raise ValueError(msg)
        self.events = _unique(self.events)
        return self

    def changes(self) -> dict[str, Any]:
        """The fields the caller gave, with their new values (``None`` clears ``events`` or ``description``)."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class WebhookEndpoint(_Model):
    """A storefront webhook endpoint. Its signing secret is shown only when created and when rotated."""

    id: str
    url: str
    events: list[str] | None = Field(description="Subscribed types; null means every type")
    description: str | None = None
    status: EndpointStatus
    disabled_reason: DisabledReason | None = None
    failing_since: UtcTimestamp | None = Field(
        default=None, description="First failed attempt since the last success (cleared by a success)"
    )
    created_at: UtcTimestamp
    updated_at: UtcTimestamp


class WebhookEndpointWithSecret(WebhookEndpoint):
    """The endpoint with its signing secret (``whsec_…``): keep it, it is not shown again."""

    secret: str = Field(description="Standard Webhooks secret: `whsec_` + base64 of 32 random bytes")
    previous_secret_expires_at: UtcTimestamp | None = Field(
        default=None, description="After a rotation: until then deliveries carry a signature with the old secret too"
    )


class WebhookEndpointList(_Model):
    """One page of ``GET /webhook-endpoints``, newest first; ``next_cursor`` is absent on the last page."""

    items: list[WebhookEndpoint]
    next_cursor: str | None = None


class DeliveryAttempt(_Model):
    """One HTTP attempt of a delivery."""

    attempt: int = Field(description="1 for the first attempt; counts on across manual retries")
    at: UtcTimestamp
    outcome: Literal["succeeded", "failed"]
    status_code: int | None = Field(default=None, description="The endpoint's HTTP status; null when none came")
    latency_ms: int
    error: str | None = Field(
        default=None, description="Why it failed: a network error, or a short sanitised excerpt of the response body"
    )


class WebhookDelivery(_Model):
    """One event for one endpoint, with every attempt made."""

    id: str
    endpoint_id: str
    event_id: str = Field(description="The `webhook-id` header: the same on every attempt")
    event_type: str
    status: DeliveryStatus
    attempt_count: int
    next_attempt_at: UtcTimestamp | None = Field(default=None, description="Pending deliveries: the next attempt")
    note: str | None = Field(default=None, description="Why a delivery was canceled or failed")
    created_at: UtcTimestamp
    updated_at: UtcTimestamp
    attempts: list[DeliveryAttempt] = Field(description="Newest first")


class WebhookDeliveryList(_Model):
    """One page of ``GET /webhook-endpoints/{id}/deliveries``, newest first."""

    items: list[WebhookDelivery]
    next_cursor: str | None = None


class PingResponse(_Model):
    """What ``POST /webhook-endpoints/{id}/test`` queued: follow it in the delivery log."""

    event_id: str
    delivery_id: str
    type: Literal["webhook.test"] = TEST_EVENT_TYPE
