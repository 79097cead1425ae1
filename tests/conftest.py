"""Shared test set-up: no test may reach real AWS or the real TrackingMore."""

from __future__ import annotations

import os

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
