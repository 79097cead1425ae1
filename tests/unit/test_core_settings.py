"""Settings are parsed from the environment once, lazily; defaults live in the template only; secrets never show in
a repr."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import fields

import pytest

from local.template import Template
from shiptrack.errors import MissingSettingError
from shiptrack.settings import Settings, TrackingMoreSecrets, get_settings
from tests.template_yaml import template

pytestmark = pytest.mark.unit


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, aws_template: Template) -> Iterator[pytest.MonkeyPatch]:
    """The functions' environment as the template sets it (its parameters' defaults), with our table names."""
    for name, value in aws_template.functions_environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TRACKINGS_TABLE", "t-trackings")
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
    # Storefront webhooks: AWS's schedule, no loopback receivers, no customer data in events.
    assert (settings.webhook_retry_scale, settings.webhook_attempt_timeout_seconds) == (1.0, 10.0)
    assert settings.webhook_allow_loopback is False
    assert settings.events_include_customer_data is False
    assert (settings.webhook_disable_after_days, settings.webhook_delivery_retention_days) == (5, 30)


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


def test_every_setting_is_required_and_named_when_missing(env: pytest.MonkeyPatch) -> None:
    variables = [setting.metadata["env"] for setting in fields(Settings)]

    for variable in variables:
        environ = {name: value for name, value in os.environ.items() if name != variable}
        with pytest.raises(MissingSettingError, match=variable):
            Settings.from_env(environ)


def test_the_template_sets_every_setting_for_every_function() -> None:
    variables = {setting.metadata["env"] for setting in fields(Settings)}
    every_function = template()["Globals"]["Function"]["Environment"]["Variables"]

    assert variables <= set(every_function), variables - set(every_function)


def test_a_number_that_is_not_one_is_a_clear_error(env: pytest.MonkeyPatch) -> None:
    env.setenv("RETENTION_DAYS", "thirty")

    with pytest.raises(MissingSettingError, match="RETENTION_DAYS must be a whole number"):
        Settings.from_env()


def test_fractions_are_read_where_a_setting_takes_them(env: pytest.MonkeyPatch) -> None:
    env.setenv("WEBHOOK_RETRY_SCALE", "0.01")
    assert Settings.from_env().webhook_retry_scale == 0.01

    env.setenv("WEBHOOK_RETRY_SCALE", "a hundredth")
    with pytest.raises(MissingSettingError, match="WEBHOOK_RETRY_SCALE must be a number"):
        Settings.from_env()


def test_secret_values_never_appear_in_repr() -> None:
    secrets = TrackingMoreSecrets.from_json(
        '{"api_key": "k-123456", "account_email": "ops@shop.example", "webhook_token": "tok-abcdef"}'
    )

    assert secrets.api_key == "k-123456"
    assert "k-123456" not in repr(secrets)
    assert "ops@shop.example" not in repr(secrets)
    assert "tok-abcdef" not in repr(secrets)
