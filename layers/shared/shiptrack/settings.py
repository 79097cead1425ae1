"""Typed settings, read once from the environment on first use (never at import time).

Template Parameters reach the functions as environment variables (template.yaml ``Globals``); this module
is the one place that parses them. Secrets (TrackingMore API key, account e-mail, webhook token) are not
here: they come from Secrets Manager through :func:`get_secrets`, cached, and never logged.

Tests set the environment and call ``get_settings.cache_clear()`` / ``get_secrets.cache_clear()``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache

__all__ = ["Settings", "TrackingMoreSecrets", "clear_caches", "env_bool", "get_secrets", "get_settings"]


def _env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        msg = f"environment variable {name} is not set"
        raise RuntimeError(msg)
    return value


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return default if raw in (None, "") else int(raw)


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return default if raw in (None, "") else float(raw)


def env_bool(name: str, default: bool) -> bool:
    """``1``/``true``/``yes``/``on`` (any case) is true, anything else false; unset or empty is ``default``."""
    raw = os.environ.get(name)
    return default if raw in (None, "") else raw.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a function needs to know about its deployment, parsed from the environment."""

    trackings_table: str
    cache_table: str
    idempotency_table: str
    event_bus_name: str
    trackingmore_secret_id: str
    trackingmore_base_url: str = "https://api.trackingmore.com/v2"
    tracing_enabled: bool = False
    realtime_max_age_seconds: int = 900
    aircargo_cache_seconds: int = 1800
    remote_cache_seconds: int = 7 * 24 * 3600
    transit_cache_seconds: int = 24 * 3600
    webhook_tolerance_seconds: int = 300
    webhook_confirm_mode: bool = False
    stale_after_hours: int = 12
    delivered_grace_days: int = 3
    archive_after_days: int = 30
    retention_days: int = 0
    events_include_customer_data: bool = False
    webhook_endpoints_table: str = ""
    webhook_deliveries_table: str = ""
    webhook_events_queue_url: str = ""
    webhook_deliveries_queue_url: str = ""
    webhook_deliveries_dlq_url: str = ""
    webhook_retry_scale: float = 1.0
    webhook_allow_loopback: bool = False
    webhook_disable_after_days: int = 5
    webhook_delivery_retention_days: int = 30
    webhook_attempt_timeout_seconds: float = 10.0

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            trackings_table=_env("TRACKINGS_TABLE"),
            cache_table=_env("CACHE_TABLE"),
            idempotency_table=_env("IDEMPOTENCY_TABLE", ""),
            event_bus_name=_env("EVENT_BUS_NAME", ""),
            trackingmore_secret_id=_env("TRACKINGMORE_SECRET_ID", ""),
            trackingmore_base_url=_env("TRACKINGMORE_BASE_URL", "https://api.trackingmore.com/v2"),
            tracing_enabled=env_bool("SHIPTRACK_TRACING", False),
            realtime_max_age_seconds=_env_int("REALTIME_MAX_AGE_SECONDS", 900),
            aircargo_cache_seconds=_env_int("AIRCARGO_CACHE_SECONDS", 1800),
            remote_cache_seconds=_env_int("REMOTE_CACHE_SECONDS", 7 * 24 * 3600),
            transit_cache_seconds=_env_int("TRANSIT_CACHE_SECONDS", 24 * 3600),
            webhook_tolerance_seconds=_env_int("WEBHOOK_TOLERANCE_SECONDS", 300),
            webhook_confirm_mode=env_bool("WEBHOOK_CONFIRM_MODE", False),
            stale_after_hours=_env_int("STALE_AFTER_HOURS", 12),
            delivered_grace_days=_env_int("DELIVERED_GRACE_DAYS", 3),
            archive_after_days=_env_int("ARCHIVE_AFTER_DAYS", 30),
            retention_days=_env_int("RETENTION_DAYS", 0),
            events_include_customer_data=env_bool("EVENTS_INCLUDE_CUSTOMER_DATA", False),
            webhook_endpoints_table=_env("WEBHOOK_ENDPOINTS_TABLE", ""),
            webhook_deliveries_table=_env("WEBHOOK_DELIVERIES_TABLE", ""),
            webhook_events_queue_url=_env("WEBHOOK_EVENTS_QUEUE_URL", ""),
            webhook_deliveries_queue_url=_env("WEBHOOK_DELIVERIES_QUEUE_URL", ""),
            webhook_deliveries_dlq_url=_env("WEBHOOK_DELIVERIES_DLQ_URL", ""),
            webhook_retry_scale=_env_float("WEBHOOK_RETRY_SCALE", 1.0),
            webhook_allow_loopback=env_bool("WEBHOOK_ALLOW_LOOPBACK", False),
            webhook_disable_after_days=_env_int("WEBHOOK_DISABLE_AFTER_DAYS", 5),
            webhook_delivery_retention_days=_env_int("WEBHOOK_DELIVERY_RETENTION_DAYS", 30),
            webhook_attempt_timeout_seconds=_env_float("WEBHOOK_ATTEMPT_TIMEOUT_SECONDS", 10.0),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, parsed on first call and cached for the life of the execution environment."""
    return Settings.from_env()


@dataclass(frozen=True, slots=True)
class TrackingMoreSecrets:
    """The contents of the TrackingMore secret. ``repr`` never shows the values."""

    api_key: str = field(repr=False)
    account_email: str = field(repr=False)
    webhook_token: str = field(repr=False)

    @classmethod
    def from_json(cls, raw: str | dict[str, str]) -> TrackingMoreSecrets:
        data = json.loads(raw) if isinstance(raw, str) else raw
        return cls(
            api_key=str(data["api_key"]),
            account_email=str(data["account_email"]),
            webhook_token=str(data["webhook_token"]),
        )


# Secrets rotate (docs/operations.md): re-read at most every five minutes, so a rotation takes effect
# without a redeploy, while a warm function does not call Secrets Manager on every request.
SECRETS_MAX_AGE_SECONDS = 300


def get_secrets() -> TrackingMoreSecrets:
    """The TrackingMore secret, fetched with Powertools Parameters and cached for ``SECRETS_MAX_AGE_SECONDS``."""
    # Imported here: Parameters pulls in boto3 clients, which a function that never needs the secret should not pay.
    from aws_lambda_powertools.utilities import parameters

    raw = parameters.get_secret(get_settings().trackingmore_secret_id, max_age=SECRETS_MAX_AGE_SECONDS)
    return TrackingMoreSecrets.from_json(raw if isinstance(raw, str) else raw.decode())


def clear_caches() -> None:
    """Forget cached settings and secrets (tests, and after a rotation in a long-lived local process)."""
    get_settings.cache_clear()
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()  # type: ignore[no-untyped-call]
