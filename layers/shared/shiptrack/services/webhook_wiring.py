"""Composition of the storefront-webhook functions: settings + process-wide clients → the objects they run with.

Each handler calls one function here per invocation (cheap: the boto3 clients and tables are cached in
:mod:`shiptrack.runtime`), so tests that swap the environment get fresh wiring without re-importing anything.
"""

from __future__ import annotations

from datetime import timedelta

from shiptrack import runtime
from shiptrack.data.webhook_deliveries import WebhookDeliveryRepository
from shiptrack.data.webhook_endpoints import WebhookEndpointRepository
from shiptrack.services.webhook_delivery import DeliveryContext, RetryPolicy
from shiptrack.services.webhook_endpoints import WebhookEndpointsService
from shiptrack.services.webhook_queue import WebhookQueues
from shiptrack.settings import get_settings

__all__ = ["delivery_context", "endpoints_service", "webhook_queues"]


def webhook_queues() -> WebhookQueues:
    settings = get_settings()
    return WebhookQueues(
        runtime.sqs_client(),
        events_url=settings.webhook_events_queue_url,
        deliveries_url=settings.webhook_deliveries_queue_url,
        dead_letter_url=settings.webhook_deliveries_dlq_url,
    )


def endpoints_service() -> WebhookEndpointsService:
    """WebhookEndpointsFunction's routes."""
    return WebhookEndpointsService(
        endpoints=WebhookEndpointRepository(runtime.webhook_endpoints_table()),
        deliveries=WebhookDeliveryRepository(runtime.webhook_deliveries_table()),
        queues=webhook_queues(),
        allow_loopback=get_settings().webhook_allow_loopback,
    )


def delivery_context() -> DeliveryContext:
    """WebhookDeliveryFunction's attempts."""
    settings = get_settings()
    return DeliveryContext(
        deliveries=WebhookDeliveryRepository(runtime.webhook_deliveries_table()),
        endpoints=WebhookEndpointRepository(runtime.webhook_endpoints_table()),
        queues=webhook_queues(),
        retry=RetryPolicy(scale=settings.webhook_retry_scale),
        allow_loopback=settings.webhook_allow_loopback,
        disable_after=timedelta(days=settings.webhook_disable_after_days),
        attempt_timeout=settings.webhook_attempt_timeout_seconds,
    )
