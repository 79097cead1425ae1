"""Process-wide dependencies, built on first use and reused while the execution environment is warm.

Handlers and services take their dependencies as arguments (so tests can pass their own); these
factories are the defaults a Lambda handler passes. Nothing here runs at import time.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import TYPE_CHECKING, Any

from shiptrack.settings import get_secrets, get_settings

if TYPE_CHECKING:
    from trackingmore import TrackingMoreClient

__all__ = [
    "cache_table",
    "clear",
    "dynamodb",
    "events_client",
    "sqs_client",
    "trackingmore_client",
    "trackings_table",
    "webhook_deliveries_table",
    "webhook_endpoints_table",
]

_client_lock = threading.Lock()
# Clients by retry policy, each for the (api_key, base_url) it was built with.
_clients: dict[int | None, tuple[str, str, TrackingMoreClient]] = {}


@cache
def dynamodb() -> Any:
    """The boto3 DynamoDB service resource (follows ``AWS_ENDPOINT_URL`` locally)."""
    import boto3

    return boto3.resource("dynamodb")


@cache
def events_client() -> Any:
    """The boto3 EventBridge client (follows ``AWS_ENDPOINT_URL`` locally)."""
    import boto3

    return boto3.client("events")


@cache
def sqs_client() -> Any:
    """The boto3 SQS client (follows ``AWS_ENDPOINT_URL`` locally)."""
    import boto3

    return boto3.client("sqs")


@cache
def _table(name: str) -> Any:
    # Building a boto3 Table resource object costs ~3 ms of CPU (resource factory); handlers ask for one per request.
    return dynamodb().Table(name)


def trackings_table() -> Any:
    """The TrackingsTable resource (one object per table name while the environment is warm)."""
    return _table(get_settings().trackings_table)


def cache_table() -> Any:
    """The CacheTable resource (one object per table name while the environment is warm)."""
    return _table(get_settings().cache_table)


def webhook_endpoints_table() -> Any:
    """The WebhookEndpointsTable resource."""
    return _table(get_settings().webhook_endpoints_table)


def webhook_deliveries_table() -> Any:
    """The WebhookDeliveriesTable resource."""
    return _table(get_settings().webhook_deliveries_table)


def trackingmore_client(*, max_retries: int | None = None) -> TrackingMoreClient:
    """A TrackingMore client for the current secret; rebuilt when the key or base URL changes (rotation).

    ``max_retries`` overrides the client's retry policy (``None`` keeps its default); one client is kept per
    policy, so a path that must never retry (realtime behind API Gateway's 29 s) shares nothing it should not.
    """
    from trackingmore.client import DEFAULT_MAX_RETRIES, TrackingMoreClient

    api_key = get_secrets().api_key
    base_url = get_settings().trackingmore_base_url
    with _client_lock:
        cached = _clients.get(max_retries)
        if cached is None or cached[0] != api_key or cached[1] != base_url:
            retries = DEFAULT_MAX_RETRIES if max_retries is None else max_retries
            cached = (api_key, base_url, TrackingMoreClient(api_key, base_url=base_url, max_retries=retries))
            _clients[max_retries] = cached
        return cached[2]


def clear() -> None:
    """Drop every cached dependency (tests)."""
    dynamodb.cache_clear()
    events_client.cache_clear()
    sqs_client.cache_clear()
    _table.cache_clear()
    with _client_lock:
        _clients.clear()
