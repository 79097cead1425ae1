"""AircargoFunction on moto against the TrackingMore sandbox: results, the per-waybill cache, upstream calls."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.lookups_support import invoke_handler, upstream_without_sleeps

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parents[2] / "events" / "aircargo"
AIRCARGO = "POST /trackings/aircargo"


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return event


def with_body(body: Any) -> dict[str, Any]:
    event = load_event("track_awbs")
    event["body"] = json.dumps(body)
    return event


@pytest.fixture
def invoke(aws: Any, sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Calls the function's handler with an event; returns (status, headers, body)."""
    yield from invoke_handler("functions.aircargo.app", "AircargoFunction", sandbox, monkeypatch)


def upstream_calls(sandbox: Any) -> int:
    return int(sandbox.stats()["calls"].get(AIRCARGO, 0))


def quota_used(sandbox: Any) -> float:
    return float(sandbox.stats()["quota"]["used"])


def cache_items(aws: Any) -> dict[str, dict[str, Any]]:
    items = aws.table("CacheTable").scan()["Items"]  # a test may scan; the service never does
    return {item["pk"]: item for item in items if item["pk"].startswith("CACHE#AWB#")}


def test_awbs_are_tracked_in_one_call_and_cached(invoke: Any, sandbox: Any, aws: Any) -> None:
    status, headers, body = invoke(load_event("track_awbs"))

    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert [r["awb_number"] for r in body["results"]] == ["172-28891936", "020-12345675"]
    assert {r["outcome"] for r in body["results"]} == {"found"}
    assert {r["source"] for r in body["results"]} == {"upstream"}
    cargolux = body["results"][0]["waybill"]
    assert cargolux["airline"]["name"] == "Cargolux Airlines"
    assert cargolux["route"][0] == cargolux["origin"]
    assert all("T" in event["time"] and "+" not in event["time"] for event in cargolux["events"])  # local, no offset
    assert body["summary"] == {"requested": 2, "from_cache": 0, "from_upstream": 2, "failed": 0}
    assert upstream_calls(sandbox) == 1
    assert quota_used(sandbox) == 40  # 20 per air waybill
    items = cache_items(aws)
    assert set(items) == {"CACHE#AWB#172-28891936", "CACHE#AWB#020-12345675"}
    for item in items.values():
        assert item["kind"] == "value"
        assert int(item["expires_at"]) - int(item["stored_at"]) == 1800  # AircargoCacheSeconds default
        assert int(item["stored_at"]) <= time.time()


def test_a_second_identical_request_is_served_from_the_cache(invoke: Any, sandbox: Any) -> None:
    _, _, first = invoke(load_event("track_awbs"))
    status, _, second = invoke(load_event("track_awbs"))

    assert status == 200
    assert upstream_calls(sandbox) == 1
    assert {r["source"] for r in second["results"]} == {"cache"}
    assert second["summary"]["from_cache"] == 2
    assert [r["waybill"] for r in second["results"]] == [r["waybill"] for r in first["results"]]
    assert [r["fetched_at"] for r in second["results"]] == [r["fetched_at"] for r in first["results"]]


def test_a_mixed_request_sends_only_the_uncached_waybills_in_one_call(invoke: Any, sandbox: Any) -> None:
    invoke(with_body({"awb_numbers": ["172-28891936"]}))
    used_before = quota_used(sandbox)

    status, _, body = invoke(with_body({"awb_numbers": ["160-12345675", "172-28891936", "176-12345675"]}))

    assert status == 200
    assert upstream_calls(sandbox) == 2
    assert quota_used(sandbox) - used_before == 40  # the two new waybills only
    assert [(r["awb_number"], r["source"]) for r in body["results"]] == [
        ("160-12345675", "upstream"),
        ("172-28891936", "cache"),
        ("176-12345675", "upstream"),
    ]


def test_duplicates_collapse_after_normalisation(invoke: Any, sandbox: Any) -> None:
    status, _, body = invoke(load_event("duplicates_collapse"))

    assert status == 200
    assert [r["awb_number"] for r in body["results"]] == ["172-28891936", "020-12345675"]
    assert quota_used(sandbox) == 40


def test_a_wrong_check_digit_fails_that_waybill_without_an_upstream_call(invoke: Any, sandbox: Any, aws: Any) -> None:
    status, _, body = invoke(with_body({"awb_numbers": ["172-28891937"]}))

    assert status == 200
    (result,) = body["results"]
    assert (result["outcome"], result["source"]) == ("failed", "validation")
    assert result["problem"]["code"] == "invalid_awb_check_digit"
    assert upstream_calls(sandbox) == 0
    assert cache_items(aws) == {}


def test_results_keep_request_order_with_failures_in_place(invoke: Any) -> None:
    status, _, body = invoke(load_event("bad_check_digit"))

    assert status == 200
    assert [(r["awb_number"], r["outcome"]) for r in body["results"]] == [
        ("172-28891937", "failed"),
        ("172-28891936", "found"),
    ]


def test_an_unknown_airline_is_a_cached_item_error(invoke: Any, sandbox: Any, aws: Any) -> None:
    status, _, body = invoke(load_event("unknown_airline"))

    assert status == 200
    unknown, known = body["results"]
    assert (unknown["outcome"], unknown["problem"]["code"]) == ("failed", "awb_unknown_airline")
    assert known["outcome"] == "found"
    error_item = cache_items(aws)["CACHE#AWB#100-12345675"]
    assert error_item["kind"] == "error"
    assert int(error_item["expires_at"]) - int(error_item["stored_at"]) == 300  # shorter than answers

    _, _, again = invoke(load_event("unknown_airline"))
    assert upstream_calls(sandbox) == 1
    assert [r["source"] for r in again["results"]] == ["cache", "cache"]
    assert again["results"][0]["problem"]["code"] == "awb_unknown_airline"


@pytest.mark.parametrize("event_name", ["no_awbs", "too_many_awbs"])
def test_0_or_51_waybills_are_refused_with_422(invoke: Any, sandbox: Any, event_name: str) -> None:
    status, headers, body = invoke(load_event(event_name))

    assert status == 422
    assert headers["Content-Type"] == "application/problem+json"
    assert body["code"] == "validation_failed"
    assert body["errors"][0]["loc"][:2] == ["body", "awb_numbers"]
    assert body["errors"][0]["msg"]
    assert upstream_calls(sandbox) == 0


def test_a_malformed_waybill_is_refused_with_422(invoke: Any, sandbox: Any) -> None:
    status, _, body = invoke(with_body({"awb_numbers": ["172-2889193X"]}))

    assert status == 422
    assert body["errors"][0]["loc"] == ["body", "awb_numbers", 0]
    assert upstream_calls(sandbox) == 0


def test_a_body_that_is_not_json_is_a_problem_not_a_crash(invoke: Any, sandbox: Any) -> None:
    status, headers, body = invoke(load_event("malformed_json"))

    assert status == 400
    assert headers["Content-Type"] == "application/problem+json"
    assert body["code"] == "invalid_json"
    assert upstream_calls(sandbox) == 0


@pytest.fixture
def no_retry_sleep(monkeypatch: pytest.MonkeyPatch, sandbox: Any) -> None:
    upstream_without_sleeps(monkeypatch, sandbox)


@pytest.mark.usefixtures("no_retry_sleep")
@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [("http_503", 503, "upstream_unavailable"), ("meta_429", 429, "upstream_rate_limited")],
)
def test_an_upstream_fault_is_a_mapped_problem_and_nothing_is_cached(
    invoke: Any, sandbox: Any, aws: Any, kind: str, status: int, code: str
) -> None:
    sandbox.set_faults(error_rate=1.0, kinds=[kind], endpoints=[AIRCARGO])

    got_status, headers, body = invoke(load_event("track_awbs"))

    assert got_status == status
    assert headers["Content-Type"] == "application/problem+json"
    assert (body["status"], body["code"], body["retryable"]) == (status, code, True)
    if status == 429:
        assert int(headers["Retry-After"]) > 0
    assert cache_items(aws) == {}


@pytest.mark.usefixtures("no_retry_sleep")
def test_after_a_fault_the_next_request_asks_upstream_again(invoke: Any, sandbox: Any) -> None:
    sandbox.set_faults(error_rate=1.0, kinds=["http_500"], endpoints=[AIRCARGO])
    assert invoke(load_event("track_awbs"))[0] == 503
    sandbox.clear_faults()

    status, _, body = invoke(load_event("track_awbs"))

    assert status == 200
    assert {r["source"] for r in body["results"]} == {"upstream"}


def test_an_expired_entry_is_asked_for_again(invoke: Any, sandbox: Any, aws: Any) -> None:
    invoke(with_body({"awb_numbers": ["172-28891936"]}))
    # DynamoDB has not deleted the item yet (TTL deletion is lazy), but it is past expires_at.
    aws.table("CacheTable").update_item(
        Key={"pk": "CACHE#AWB#172-28891936"},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": int(time.time()) - 1},
    )

    _, _, body = invoke(with_body({"awb_numbers": ["172-28891936"]}))

    assert body["results"][0]["source"] == "upstream"
    assert upstream_calls(sandbox) == 2
