"""Process-wide dependencies, built on first use and reused while the execution environment is warm.

Services take their dependencies as arguments (so tests can pass their own); :mod:`shiptrack.compose` builds each
function's from these factories. Nothing here runs at import time, and a factory imports what it builds only when
called (cold start).
"""

from __future__ import annotations

import threading
from functools import cache
from typing import TYPE_CHECKING, Any

from shiptrack.settings import get_secrets, get_settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import DynamoDBServiceResource, Table
    from mypy_boto3_events.client import EventBridgeClient
    from mypy_boto3_sqs.client import SQSClient

    from shiptrack.data.claims import CreateClaims
    from shiptrack.data.cursors import CursorSigner
    from shiptrack.data.imports import ImportsRepository
    from shiptrack.data.jobs import JobStateStore
    from shiptrack.data.order_markers import OrderMarkers
    from shiptrack.data.trackings import TrackingsRepository
    from shiptrack.data.webhook_deliveries import WebhookDeliveryRepository
    from shiptrack.data.webhook_endpoints import WebhookEndpointRepository
    from trackingmore import RateLimit, TrackingMoreClient

__all__ = [
    "batch_create_rate_limit",
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
_clients: dict[tuple[int | None, int], tuple[str, str, TrackingMoreClient]] = {}


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
    """The signer of listing cursors: today one key derived from the table name (the place to load rotated keys
    from a secret: the first signs, all verify)."""
    from shiptrack.data.cursors import CursorSigner

    return CursorSigner.for_table(get_settings().trackings_table)


def trackings_repository() -> TrackingsRepository:
    """The trackings repository over this deployment's TrackingsTable (cheap: the table object is cached)."""
    from shiptrack.data.trackings import TrackingsRepository

    return TrackingsRepository(trackings_table(), cursors=cursor_signer())


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


def batch_create_rate_limit(share: int = 1) -> RateLimit | None:
    """This process's part of the account's batch-create rate (``BatchCreateRatePerSecond``; ``None``: no limit).

    ``share`` is how many instances divide the rate between them (the import workers: ``ImportWorkerConcurrency``).
    Each paces itself at ⌊rate / share⌋ calls a second (at least one call every ``share / rate`` seconds), so
    together they never exceed the rate. The client's default gate keeps windows per process; a gate shared by
    every instance (DynamoDB) would let them use the whole rate between them.
    """
    from trackingmore import RateLimit

    rate = get_settings().batch_create_rate_per_second
    if rate <= 0:
        return None
    if rate >= share:
        return RateLimit(rate // max(share, 1), 1.0)
    return RateLimit(1, share / rate)


def trackingmore_client(*, max_retries: int | None = None, rate_share: int = 1) -> TrackingMoreClient:
    """A TrackingMore client for the current secret; rebuilt when the key or base URL changes (rotation).

    ``max_retries`` overrides the client's retry policy (``None`` keeps its default); one client is kept per
    policy, so a path that must never retry (realtime behind API Gateway's 29 s) shares nothing it should not.
    Batch creates keep to :func:`batch_create_rate_limit` (``rate_share``: how many instances share the rate).
    """
    from trackingmore.client import DEFAULT_MAX_RETRIES, TrackingMoreClient

    api_key = get_secrets().api_key
    base_url = get_settings().trackingmore_base_url
    with _client_lock:
        cached = _clients.get((max_retries, rate_share))
        if cached is None or cached[0] != api_key or cached[1] != base_url:
            retries = DEFAULT_MAX_RETRIES if max_retries is None else max_retries
            client = TrackingMoreClient(
                api_key,
                base_url=base_url,
                max_retries=retries,
                batch_create_rate_limit=batch_create_rate_limit(rate_share),
            )
            cached = (api_key, base_url, client)
            _clients[(max_retries, rate_share)] = cached
        return cached[2]


# Held here, not looked up by name in clear(): a test may replace the module's functions (monkeypatch).
_CACHED: tuple[Any, ...] = (dynamodb, events_client, sqs_client, _table)


def clear() -> None:
    """Drop every cached dependency (tests)."""
    for cached in _CACHED:
        cached.cache_clear()
    with _client_lock:
        _clients.clear()
