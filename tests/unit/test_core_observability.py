"""Logs never carry customer contact data; tracing costs nothing while it is off."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from shiptrack.observability import REDACTED, logger, redact

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("customer jane.doe+shop@example.co.uk asked", "jane.doe+shop@example.co.uk"),
        ("call +44 20 7946 0958 after six", "+44 20 7946 0958"),
        ("phone (555) 123-4567", "555) 123-4567"),
        ("or 555.123.4567", "555.123.4567"),
    ],
)
def test_redact_masks_emails_and_phone_numbers(text: str, secret: str) -> None:
    assert secret not in redact(text)
    assert REDACTED in redact(text)


def test_redact_keeps_tracking_numbers_and_dates() -> None:
    text = "tracking 1Z999AA10123456784 at 2026-11-22 10:15:00 RN123456789CN 260868801891 9400111899223197428490"

    assert redact(text) == text


def test_redact_masks_sensitive_keys_recursively() -> None:
    value = {"customer": {"email": "a@b.example", "phone": "12345", "name": "Ann"}, "items": ["x@y.example"]}

    assert redact(value) == {"customer": {"email": REDACTED, "phone": REDACTED, "name": "Ann"}, "items": [REDACTED]}


def test_logger_output_has_no_contact_data() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    std_logger = logging.getLogger(logger.name)
    std_logger.addHandler(handler)
    try:
        logger.info("created for %s", "ann@shop.example", extra={"customer_phone": "+1 415 555 0100", "order": "o-1"})
    finally:
        std_logger.removeHandler(handler)

    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert "ann@shop.example" not in json.dumps(line)
    assert "415 555 0100" not in json.dumps(line)
    assert line["order"] == "o-1"


def _imported_modules_after(code: str, env: dict[str, str]) -> set[str]:
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"PYTHONPATH": f"{ROOT / 'layers/shared'}", "AWS_DEFAULT_REGION": "us-east-1", **env},
    ).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def test_tracing_off_never_imports_xray() -> None:
    code = (
        "from shiptrack.observability import trace_handler\n"
        "@trace_handler\n"
        "def handler(event, context):\n"
        "    return 1\n"
        "handler({}, None)"
    )

    modules = _imported_modules_after(code, {"SHIPTRACK_TRACING": "false"})

    assert not any(name.startswith("aws_xray_sdk") for name in modules)


def test_tracing_on_uses_the_powertools_tracer() -> None:
    code = (
        "from shiptrack.observability import trace_handler\n@trace_handler\ndef handler(event, context):\n    return 1"
    )

    modules = _imported_modules_after(code, {"SHIPTRACK_TRACING": "true", "POWERTOOLS_TRACE_DISABLED": "true"})

    assert any(name.startswith("aws_xray_sdk") for name in modules)
