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

__all__ = ["cache_table", "clear", "dynamodb", "trackingmore_client", "trackings_table"]

_client_lock = threading.Lock()
_client: tuple[str, str, TrackingMoreClient] | None = None


@cache
def dynamodb() -> Any:
    """The boto3 DynamoDB service resource (follows ``AWS_ENDPOINT_URL`` locally)."""
    import boto3

    return boto3.resource("dynamodb")


def trackings_table() -> Any:
    return dynamodb().Table(get_settings().trackings_table)


def cache_table() -> Any:
    return dynamodb().Table(get_settings().cache_table)


def trackingmore_client() -> TrackingMoreClient:
    """A TrackingMore client for the current secret; rebuilt when the key or base URL changes (rotation)."""
    global _client  # noqa: PLW0603 - one client per warm execution environment is the point
    from trackingmore import TrackingMoreClient

    api_key = get_secrets().api_key
    base_url = get_settings().trackingmore_base_url
    with _client_lock:
        if _client is None or _client[0] != api_key or _client[1] != base_url:
            _client = (api_key, base_url, TrackingMoreClient(api_key, base_url=base_url))
        return _client[2]


def clear() -> None:
    """Drop every cached dependency (tests)."""
    global _client  # noqa: PLW0603
    dynamodb.cache_clear()
    with _client_lock:
        _client = None
