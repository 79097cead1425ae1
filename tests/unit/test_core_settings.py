"""Settings are parsed from the environment once, lazily; secrets never show in a repr."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shiptrack.settings import Settings, TrackingMoreSecrets, get_settings

pytestmark = pytest.mark.unit


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name, value in {
        "TRACKINGS_TABLE": "t-trackings",
        "CACHE_TABLE": "t-cache",
        "IDEMPOTENCY_TABLE": "t-idem",
        "EVENT_BUS_NAME": "bus",
        "TRACKINGMORE_SECRET_ID": "secret",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_defaults_match_the_template_parameters(env: pytest.MonkeyPatch) -> None:
    settings = get_settings()

    assert settings.trackings_table == "t-trackings"
    assert settings.realtime_max_age_seconds == 900
    assert settings.remote_cache_seconds == 7 * 24 * 3600
    assert settings.webhook_tolerance_seconds == 300
    assert settings.webhook_confirm_mode is False
    assert settings.tracing_enabled is False


def test_parameters_override_defaults(env: pytest.MonkeyPatch) -> None:
    env.setenv("WEBHOOK_CONFIRM_MODE", "true")
    env.setenv("ARCHIVE_AFTER_DAYS", "45")
    env.setenv("SHIPTRACK_TRACING", "TRUE")

    settings = Settings.from_env()

    assert settings.webhook_confirm_mode is True
    assert settings.archive_after_days == 45
    assert settings.tracing_enabled is True


def test_settings_are_read_once_and_cached(env: pytest.MonkeyPatch) -> None:
    first = get_settings()
    env.setenv("TRACKINGS_TABLE", "changed")

    assert get_settings() is first
    get_settings.cache_clear()
    assert get_settings().trackings_table == "changed"


def test_missing_required_variable_is_a_clear_error(env: pytest.MonkeyPatch) -> None:
    env.delenv("TRACKINGS_TABLE")

    with pytest.raises(RuntimeError, match="TRACKINGS_TABLE"):
        Settings.from_env()


def test_secret_values_never_appear_in_repr() -> None:
    secrets = TrackingMoreSecrets.from_json(
        '{"api_key": "k-123456", "account_email": "ops@shop.example", "webhook_token": "tok-abcdef"}'
    )

    assert secrets.api_key == "k-123456"
    assert "k-123456" not in repr(secrets)
    assert "ops@shop.example" not in repr(secrets)
    assert "tok-abcdef" not in repr(secrets)
