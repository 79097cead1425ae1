"""The template parameters the local stack runs with by default (storefront webhooks: scaled retries, loopback)."""

from __future__ import annotations

from pathlib import Path

import pytest

from local.stack import local_parameters
from local.template import DEFAULT_TEMPLATE, load_template

pytestmark = pytest.mark.unit

FIXTURE_TEMPLATE = Path(__file__).resolve().parents[1] / "fixtures" / "stack" / "template.yaml"


def test_the_real_template_runs_locally_with_scaled_retries_and_loopback_receivers() -> None:
    parameters = local_parameters(DEFAULT_TEMPLATE, {})
    assert parameters == {"WebhookRetryScale": "0.01", "WebhookAllowLoopback": "true"}
    environment = load_template(DEFAULT_TEMPLATE, parameters).functions["WebhookDeliveryFunction"].environment
    assert (environment["WEBHOOK_RETRY_SCALE"], environment["WEBHOOK_ALLOW_LOOPBACK"]) == ("0.01", "true")


def test_overrides_win_and_templates_without_the_parameters_get_none() -> None:
    assert local_parameters(DEFAULT_TEMPLATE, {"WebhookRetryScale": "1"})["WebhookRetryScale"] == "1"
    assert local_parameters(FIXTURE_TEMPLATE, {}) == {}


def test_on_aws_the_defaults_are_the_safe_ones() -> None:
    environment = load_template(DEFAULT_TEMPLATE).functions["WebhookDeliveryFunction"].environment
    assert (environment["WEBHOOK_RETRY_SCALE"], environment["WEBHOOK_ALLOW_LOOPBACK"]) == ("1", "false")
