"""A TrackingMore API v2 sandbox: a local server a v2 client cannot tell from the real API (docs/sandbox.md)."""

from local.sandbox.engine import DEFAULT_API_KEY, DEFAULT_EMAIL, DEFAULT_PORT, DEFAULT_QUOTA
from local.sandbox.server import SandboxServer

__all__ = ["DEFAULT_API_KEY", "DEFAULT_EMAIL", "DEFAULT_PORT", "DEFAULT_QUOTA", "SandboxServer"]
