"""Shared test set-up: no test may reach real AWS or the real TrackingMore."""

from __future__ import annotations

import os
from collections.abc import Iterator
from unittest.mock import patch

import pytest

# Fake credentials and a fixed region before anything imports boto3: a forgotten mock fails loudly
# against an unreachable endpoint instead of touching a real account.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_METRICS_NAMESPACE": "ShiptrackTest",
        "POWERTOOLS_SERVICE_NAME": "shiptrack",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_DEV": "false",
    }
)
os.environ.pop("AWS_PROFILE", None)
os.environ.pop("AWS_ENDPOINT_URL", None)

from trackingmore import ratelimit  # after the environment above, like every import of the tests


@pytest.fixture(autouse=True)
def _no_rate_limit_history() -> Iterator[None]:
    """Every test starts with the process-wide rate gates empty (``trackingmore.ratelimit.shared_gate``).

    Clients of one API key at one sandbox share a gate for the life of the process, and most tests' clients sleep
    for nothing: an earlier test's list calls left the next list slot seconds ahead in real time, and a deadline-bound
    client in a later test was refused it (``RateLimitError``) — a result that depended on which tests an xdist
    worker happened to run before it.
    """
    with patch.dict(ratelimit._gates, clear=True):
        yield
