"""Process-wide dependencies, built on first use and reused while the execution environment is warm.

Services take their dependencies as arguments (so tests can pass their own); :mod:`shiptrack.compose` builds each
function's from these factories. Nothing here runs at import time, and a factory imports what it builds only when
called (cold start).
"""

from __future__ import annotations

import threading
from functools import cache
from typing import TYPE_CHECKING, Any

from shiptrack.settings import get_api_key, get_cursor_keys, get_settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import DynamoDBServiceResource, Table
    from mypy_boto3_events.client import EventBridgeClient
    from mypy_boto3_sqs.client import SQSClient

    from shiptrack.data.claims import CreateClaims
    from shiptrack.data.cursors import CursorSigner
    from shiptrack.data.imports import ImportsRepository
    from shiptrack.data.jobs import JobStateStore
    from shiptrack.data.order_markers import OrderMarkers
    from shiptrack.data.rate_limits import SharedRateGate
    from shiptrack.data.trackings import TrackingsRepository
    from shiptrack.data.webhook_deliveries import WebhookDeliveryRepository
    from shiptrack.data.webhook_endpoints import WebhookEndpointRepository
    from trackingmore import TrackingMoreClient

__all__ = [
    "cache_table",
    "clear",
    "create_claims",
    "cursor_signer",
    "dynamodb",
    "events_client",
    "imports_repository",
    "imports_table",
    "job_states",
    "order_markers",
    "rate_gate",
    "sqs_client",
    "trackingmore_client",
    "trackings_repository",
    "trackings_table",
    "webhook_deliveries",
    "webhook_deliveries_table",
    "webhook_endpoints",
    "webhook_endpoints_table",
]

_client_lock = threading.Lock()
# Clients by (retry policy, rate share), each for the (api_key, base_url) it was built with.
_clients: dict[int | None, tuple[str, str, TrackingMoreClient]] = {}


@cache
def dynamodb() -> DynamoDBServiceResource:
    """The boto3 DynamoDB service resource (follows ``AWS_ENDPOINT_URL`` locally)."""
    import boto3

    return boto3.resource("dynamodb")


@cache
def events_client() -> EventBridgeClient:
    """The boto3 EventBridge client (follows ``AWS_ENDPOINT_URL`` locally)."""
    import boto3

    return boto3.client("events")


@cache
def sqs_client() -> SQSClient:
    """The boto3 SQS client (follows ``AWS_ENDPOINT_URL`` locally)."""
    import boto3

    return boto3.client("sqs")


@cache
def _table(name: str) -> Table:
    # Building a boto3 Table resource object costs ~3 ms of CPU (resource factory); handlers ask for one per request.
    return dynamodb().Table(name)


def trackings_table() -> Table:
    """The TrackingsTable resource (one object per table name while the environment is warm)."""
    return _table(get_settings().trackings_table)


def cache_table() -> Table:
    """The CacheTable resource (one object per table name while the environment is warm)."""
    return _table(get_settings().cache_table)


def imports_table() -> Table:
    """The ImportsTable resource."""
    return _table(get_settings().imports_table)


def imports_repository() -> ImportsRepository:
    """Bulk imports and their chunks (ImportsTable)."""
    from shiptrack.data.imports import ImportsRepository

    return ImportsRepository(imports_table())


def webhook_endpoints_table() -> Table:
    """The WebhookEndpointsTable resource."""
    return _table(get_settings().webhook_endpoints_table)


def webhook_deliveries_table() -> Table:
    """The WebhookDeliveriesTable resource."""
    return _table(get_settings().webhook_deliveries_table)


def cursor_signer() -> CursorSigner:
    """The signer of listing cursors, with the keys of the cursor secret (``current`` signs, ``previous`` still
    verifies). The secret is read only when a cursor is signed or checked (cached five minutes)."""
    from shiptrack.data.cursors import CursorSigner

    return CursorSigner(get_cursor_keys)


def trackings_repository() -> TrackingsRepository:
    """The trackings repository over this deployment's TrackingsTable (cheap: the table object is cached)."""
    from datetime import timedelta

    from shiptrack.data.trackings import TrackingsRepository

    delay = timedelta(seconds=get_settings().changes_feed_delay_seconds)
    return TrackingsRepository(trackings_table(), cursors=cursor_signer(), changes_delay=delay)


def create_claims() -> CreateClaims:
    """Create claims in CacheTable (``CLAIM#TRACKING#``)."""
    from shiptrack.data.claims import CreateClaims

    return CreateClaims(cache_table())


def order_markers() -> OrderMarkers:
    """Order markers in CacheTable (``ORDER#``)."""
    from shiptrack.data.order_markers import OrderMarkers

    return OrderMarkers(cache_table())


def job_states() -> JobStateStore:
    """Job state in CacheTable (``JOB#``)."""
    from shiptrack.data.jobs import JobStateStore

    return JobStateStore(cache_table())


def webhook_endpoints() -> WebhookEndpointRepository:
    """Storefront webhook endpoints (WebhookEndpointsTable); their listing cursors are signed like the trackings'."""
    from shiptrack.data.webhook_endpoints import WebhookEndpointRepository

    return WebhookEndpointRepository(webhook_endpoints_table(), cursors=cursor_signer())


def webhook_deliveries() -> WebhookDeliveryRepository:
    """Storefront webhook deliveries and event payloads (WebhookDeliveriesTable)."""
    from shiptrack.data.webhook_deliveries import WebhookDeliveryRepository

    return WebhookDeliveryRepository(webhook_deliveries_table(), cursors=cursor_signer())


def rate_gate() -> SharedRateGate:
    """The account-wide rate gate every TrackingMore client of this process uses (``RATE#`` in CacheTable): one per
    process, so what it last saw of each route is reused."""
    return _rate_gate(get_settings().cache_table)


@cache
def _rate_gate(table_name: str) -> SharedRateGate:
    from shiptrack.data.rate_limits import SharedRateGate

    return SharedRateGate(_table(table_name))


def trackingmore_client(*, max_retries: int | None = None) -> TrackingMoreClient:
    """The process's TrackingMore client for the current secret; rebuilt when the key or base URL changes (rotation).

    Every client shares the account-wide rate gate (:func:`rate_gate`) and the batch-create limit
    (``BatchCreateRateLimit``). ``max_retries`` overrides the client's retry policy (``None`` keeps its default);
    one client is kept per policy, so a path that must never retry (realtime behind API Gateway's 29 s) shares
    nothing it should not. ``shiptrack.compose`` binds it to the invocation's deadline.
    """
    from shiptrack.data.rate_limits import OWN_LIMIT_MARGIN_SECONDS
    from trackingmore.client import DEFAULT_MAX_RETRIES, TrackingMoreClient
    from trackingmore.ratelimit import RateLimit

    api_key = get_api_key()
    settings = get_settings()
    base_url = settings.trackingmore_base_url
    with _client_lock:
        cached = _clients.get(max_retries)
        if cached is None or cached[0] != api_key or cached[1] != base_url:
            per_second = settings.batch_create_rate_limit
            client = TrackingMoreClient(
                api_key,
                base_url=base_url,
                max_retries=DEFAULT_MAX_RETRIES if max_retries is None else max_retries,
                rate_gate=rate_gate(),
                batch_create_rate_limit=(
                    RateLimit(per_second, 1.0, margin=OWN_LIMIT_MARGIN_SECONDS) if per_second > 0 else None
                ),
            )
            cached = (api_key, base_url, client)
            _clients[max_retries] = cached
        return cached[2]


# Held here, not looked up by name in clear(): a test may replace the module's functions (monkeypatch).
_CACHED: tuple[Any, ...] = (dynamodb, events_client, sqs_client, _table, _rate_gate)


def clear() -> None:
    """Drop every cached dependency (tests)."""
    for cached in _CACHED:
        cached.cache_clear()
    with _client_lock:
        _clients.clear()
