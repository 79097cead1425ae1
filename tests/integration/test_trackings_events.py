"""Every sample event in events/trackings and events/realtime, through the real handlers on moto + the sandbox.

The events are contracts (``sam local invoke -e``): each one is used here, with the status it must produce from
a known starting state (the tracking ``china-post/RR123456785CN`` stored, nothing else).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shiptrack import runtime
from shiptrack.settings import clear_caches
from tests.integration.test_trackings_support import api_context

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parents[2] / "events"

# (function module, expected status) per event file; a new event file without an entry fails the test below.
EXPECTED: dict[str, tuple[str, int]] = {
    "trackings/create.json": ("trackings", 200),  # already stored in the starting state
    "trackings/create_detect_carrier.json": ("trackings", 201),
    "trackings/create_carrier_not_detected.json": ("trackings", 422),
    "trackings/create_with_idempotency_key.json": ("trackings", 201),
    "trackings/create_invalid.json": ("trackings", 422),
    "trackings/create_malformed_json.json": ("trackings", 400),  # invalid_json (shiptrack.jsonbody)
    "trackings/create_deep_json.json": ("trackings", 400),  # nested 1000 deep: invalid_json, not a RecursionError
    "trackings/batch.json": ("trackings", 200),
    "trackings/batch_empty.json": ("trackings", 422),
    "trackings/list.json": ("trackings", 200),
    "trackings/list_filtered.json": ("trackings", 200),
    "trackings/list_by_order.json": ("trackings", 200),
    "trackings/list_forged_cursor.json": ("trackings", 400),
    "trackings/list_limit_too_large.json": ("trackings", 422),
    "trackings/list_non_ascii_cursor.json": ("trackings", 400),  # invalid_cursor, not a TypeError
    "trackings/list_unknown_parameter.json": ("trackings", 400),  # unknown_query_parameter
    "trackings/get.json": ("trackings", 200),
    "trackings/get_unknown.json": ("trackings", 404),
    "trackings/update_metadata.json": ("trackings", 200),
    "trackings/update_status_delivered.json": ("trackings", 200),
    "trackings/update_archive.json": ("trackings", 200),
    "trackings/update_carrier.json": ("trackings", 200),
    "trackings/update_empty.json": ("trackings", 422),
    "trackings/update_archived_not_boolean.json": ("trackings", 422),
    "trackings/resync.json": ("trackings", 200),
    "trackings/resync_unknown.json": ("trackings", 404),
    "trackings/delete.json": ("trackings", 204),
    "trackings/delete_unknown.json": ("trackings", 404),
    "realtime/lookup.json": ("realtime", 200),
    "realtime/lookup_fresh_copy.json": ("realtime", 200),
    "realtime/lookup_invalid.json": ("realtime", 422),
    "realtime/lookup_max_age_as_text.json": ("realtime", 422),
}


def event_files() -> list[str]:
    return sorted(
        str(path.relative_to(EVENTS))
        for folder in ("trackings", "realtime")
        for path in (EVENTS / folder).glob("*.json")
    )


@pytest.fixture
def handlers(aws: Any, sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("TRACKINGMORE_BASE_URL", sandbox.base_url)
    clear_caches()
    runtime.clear()
    modules = {name: importlib.import_module(f"functions.{name}.app") for name in ("trackings", "realtime")}
    yield {name: module.lambda_handler for name, module in modules.items()}
    clear_caches()
    runtime.clear()


def test_every_event_file_has_an_expected_status() -> None:
    assert event_files() == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_event_gives_its_status(name: str, handlers: dict[str, Any], sandbox: Any) -> None:
    # Given the starting state: china-post/RR123456785CN tracked (created through the create event itself)
    create = json.loads((EVENTS / "trackings" / "create.json").read_text())
    first = handlers["trackings"](create, api_context())
    assert first["statusCode"] == 201, first["body"]
    event = json.loads((EVENTS / name).read_text())
    function, expected = EXPECTED[name]

    # When the event is handled
    response = handlers[function](event, api_context())

    # Then it answers the expected status, JSON or problem+json
    assert response["statusCode"] == expected, response["body"]
    if expected != 204:
        body = json.loads(response["body"])
        headers = {**(response.get("headers") or {})}
        headers.update({k: v[-1] for k, v in (response.get("multiValueHeaders") or {}).items()})
        if expected >= 400:
            assert headers["Content-Type"] == "application/problem+json"
            assert body["status"] == expected
            assert body["code"]
        else:
            assert headers["Content-Type"] == "application/json"
