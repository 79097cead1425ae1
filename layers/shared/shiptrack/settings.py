"""Typed settings, read once from the environment on first use (never at import time).

Template Parameters reach the functions as environment variables (template.yaml ``Globals``), and the template is
the one place their defaults are written: every variable is required here, and a missing one fails the first
:func:`get_settings` with :class:`~shiptrack.errors.MissingSettingError` naming it. Each setting is declared once,
as a field of :class:`Settings` with its variable name. Secrets are not here: they come from Secrets Manager, cached
and never logged, one secret per purpose so each function may read only what it uses (template.yaml): the TrackingMore
API key (:func:`get_api_key`), what authenticates pushes (:func:`get_webhook_secrets`) and the listing-cursor keys
(:func:`get_cursor_keys`).

Tests and the local stack take the environment from the template (``local.template``), so they set every
variable; a test that builds :class:`Settings` by hand passes every value. Tests that change the environment
call :func:`clear_caches`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Any

from shiptrack.errors import MissingSettingError

__all__ = [
    "Settings",
    "WebhookSecrets",
    "clear_caches",
    "env_bool",
    "get_api_key",
    "get_cursor_keys",
    "get_settings",
    "get_webhook_secrets",
]

_TRUE = frozenset({"1", "true", "yes", "on"})


def env_bool(name: str, default: bool) -> bool:
    """``1``/``true``/``yes``/``on`` (any case) is true, anything else false; unset or empty is ``default``.

    For switches read at import time, before settings exist (``shiptrack.observability``'s tracing decorators).
    """
    raw = os.environ.get(name)
    return default if raw in (None, "") else raw.strip().lower() in _TRUE


def _setting(variable: str) -> Any:
    return field(metadata={"env": variable})


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a function needs to know about its deployment: one field per environment variable."""

    trackings_table: str = _setting("TRACKINGS_TABLE")
    cache_table: str = _setting("CACHE_TABLE")
    idempotency_table: str = _setting("IDEMPOTENCY_TABLE")
    event_bus_name: str = _setting("EVENT_BUS_NAME")
    trackingmore_secret_id: str = _setting("TRACKINGMORE_SECRET_ID")
    webhook_secret_id: str = _setting("WEBHOOK_SECRET_ID")
    cursor_keys_secret_id: str = _setting("CURSOR_KEYS_SECRET_ID")
    trackingmore_base_url: str = _setting("TRACKINGMORE_BASE_URL")
    tracing_enabled: bool = _setting("SHIPTRACK_TRACING")
    realtime_max_age_seconds: int = _setting("REALTIME_MAX_AGE_SECONDS")
    aircargo_cache_seconds: int = _setting("AIRCARGO_CACHE_SECONDS")
    remote_cache_seconds: int = _setting("REMOTE_CACHE_SECONDS")
    transit_cache_seconds: int = _setting("TRANSIT_CACHE_SECONDS")
    webhook_tolerance_seconds: int = _setting("WEBHOOK_TOLERANCE_SECONDS")
    webhook_trust_push_body: bool = _setting("WEBHOOK_TRUST_PUSH_BODY")
    stale_after_hours: int = _setting("STALE_AFTER_HOURS")
    delivered_grace_days: int = _setting("DELIVERED_GRACE_DAYS")
    archive_after_days: int = _setting("ARCHIVE_AFTER_DAYS")
    retention_days: int = _setting("RETENTION_DAYS")
    imports_table: str = _setting("IMPORTS_TABLE")
    import_queue_url: str = _setting("IMPORT_QUEUE_URL")
    import_retention_days: int = _setting("IMPORT_RETENTION_DAYS")
    import_retry_seconds: int = _setting("IMPORT_RETRY_SECONDS")
    events_include_customer_data: bool = _setting("EVENTS_INCLUDE_CUSTOMER_DATA")
    webhook_endpoints_table: str = _setting("WEBHOOK_ENDPOINTS_TABLE")
    webhook_deliveries_table: str = _setting("WEBHOOK_DELIVERIES_TABLE")
    webhook_events_queue_url: str = _setting("WEBHOOK_EVENTS_QUEUE_URL")
    webhook_deliveries_queue_url: str = _setting("WEBHOOK_DELIVERIES_QUEUE_URL")
    webhook_deliveries_dlq_url: str = _setting("WEBHOOK_DELIVERIES_DLQ_URL")
    webhook_retry_scale: float = _setting("WEBHOOK_RETRY_SCALE")
    webhook_allow_loopback: bool = _setting("WEBHOOK_ALLOW_LOOPBACK")
    webhook_disable_after_days: int = _setting("WEBHOOK_DISABLE_AFTER_DAYS")
    webhook_delivery_retention_days: int = _setting("WEBHOOK_DELIVERY_RETENTION_DAYS")
    webhook_attempt_timeout_seconds: float = _setting("WEBHOOK_ATTEMPT_TIMEOUT_SECONDS")
    batch_create_rate_limit: int = _setting("BATCH_CREATE_RATE_LIMIT")
    changes_feed_delay_seconds: int = _setting("CHANGES_FEED_DELAY_SECONDS")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings in ``environ`` (default: the process environment); every variable must be set."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for setting in fields(cls):
            variable = setting.metadata["env"]
            raw = environ.get(variable)
            if raw is None:
                msg = f"environment variable {variable} is not set (template.yaml sets it for every function)"
                raise MissingSettingError(msg)
            values[setting.name] = _parse(variable, setting.type, raw)
        return cls(**values)


# Numeric annotations → (parser, what the refusal calls a valid value).
_NUMBERS: dict[str, tuple[type[int] | type[float], str]] = {
    "int": (int, "a whole number"),
    "float": (float, "a number"),
}


def _parse(variable: str, kind: Any, raw: str) -> str | int | float | bool:
    # ``kind`` is the field's annotation as written (a string: annotations are postponed).
    name = kind if isinstance(kind, str) else kind.__name__
    if name == "bool":
        return raw.strip().lower() in _TRUE
    number = _NUMBERS.get(name)
    if number is not None:
        try:
            return number[0](raw)
        except ValueError:
            msg = f"environment variable {variable} must be {number[1]}, not {raw!r}"
            raise MissingSettingError(msg) from None
    return raw


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, parsed on first call and cached for the life of the execution environment."""
    return Settings.from_env()


# Secrets rotate (docs/operations.md): re-read at most every five minutes, so a rotation takes effect
# without a redeploy, while a warm function does not call Secrets Manager on every request.
SECRETS_MAX_AGE_SECONDS = 300


def _secret_json(secret_id: str) -> dict[str, Any]:
    """A JSON secret, fetched with Powertools Parameters and cached for ``SECRETS_MAX_AGE_SECONDS``."""
    # Imported here: Parameters pulls in boto3 clients, which a function that never needs a secret should not pay.
    from aws_lambda_powertools.utilities import parameters

    raw = parameters.get_secret(secret_id, max_age=SECRETS_MAX_AGE_SECONDS)
    data = json.loads(raw if isinstance(raw, str) else raw.decode())
    if not isinstance(data, dict):
        msg = "a shiptrack secret holds a JSON object"
        raise MissingSettingError(msg)
    return data


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return value.strip() if isinstance(value, str) else ""


def get_api_key() -> str:
    """The TrackingMore API key (``api_key`` of ``TrackingMoreSecret``): only functions that call TrackingMore."""
    return _text(_secret_json(get_settings().trackingmore_secret_id), "api_key")


@dataclass(frozen=True, slots=True)
class WebhookSecrets:
    """What authenticates TrackingMore pushes (``WebhookSecret``). ``repr`` never shows the values.

    ``tokens``: the path tokens accepted — ``webhook_token``, and ``previous_webhook_token`` while a rotation is in
    progress (docs/operations.md); empty ones are left out, so an unset token never matches an empty path segment.
    """

    account_email: str = field(repr=False)
    tokens: tuple[str, ...] = field(repr=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WebhookSecrets:
        tokens = tuple(t for t in (_text(data, "webhook_token"), _text(data, "previous_webhook_token")) if t)
        return cls(account_email=_text(data, "account_email"), tokens=tokens)


def get_webhook_secrets() -> WebhookSecrets:
    """The account e-mail and path tokens that authenticate pushes: WebhookFunction only."""
    return WebhookSecrets.from_json(_secret_json(get_settings().webhook_secret_id))


def get_cursor_keys() -> tuple[bytes, ...]:
    """The keys listing cursors are signed with (``CursorKeysSecret``): ``current`` signs, ``current`` and
    ``previous`` verify, so a rotation keeps the cursors callers hold working (docs/operations.md)."""
    data = _secret_json(get_settings().cursor_keys_secret_id)
    keys = tuple(key.encode() for key in (_text(data, "current"), _text(data, "previous")) if key)
    if not keys:
        msg = "the cursor keys secret has no current key"
        raise MissingSettingError(msg)
    return keys


def clear_caches() -> None:
    """Forget cached settings and secrets (tests, and after a rotation in a long-lived local process)."""
    get_settings.cache_clear()
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()  # type: ignore[no-untyped-call]
