"""RemoteChecksFunction on moto against the TrackingMore sandbox: remote areas, transit times and their cache."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.lookups_support import invoke_handler, upstream_without_sleeps

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parents[2] / "events" / "remote_checks"
REMOTE = "POST /trackings/remote"
COSTTIME = "POST /trackings/costtime"


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return event


def remote_event(checks: list[dict[str, Any]]) -> dict[str, Any]:
    event = load_event("remote_checks")
    event["body"] = json.dumps({"checks": checks})
    return event


def transit_event(routes: list[dict[str, Any]]) -> dict[str, Any]:
    event = load_event("transit_times")
    event["body"] = json.dumps({"routes": routes})
    return event


@pytest.fixture
def invoke(aws: Any, sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Calls the function's handler with an event; returns (status, headers, body)."""
    yield from invoke_handler("functions.remote_checks.app", "RemoteChecksFunction", sandbox, monkeypatch)


def calls(sandbox: Any, endpoint: str) -> int:
    return int(sandbox.stats()["calls"].get(endpoint, 0))


def cache_items(aws: Any, prefix: str) -> dict[str, dict[str, Any]]:
    items = aws.table("CacheTable").scan()["Items"]  # a test may scan; the service never does
    return {item["pk"]: item for item in items if item["pk"].startswith(prefix)}


# -- remote checks ----------------------------------------------------------------------------------------------


def test_remote_checks_say_for_which_carriers_a_place_is_remote(invoke: Any, sandbox: Any, aws: Any) -> None:
    status, _, body = invoke(load_event("remote_checks"))

    assert status == 200
    results = [
        (r["country_code"], r["postcode"], r["carrier"], r["remote"], r["carriers"], r["source"])
        for r in body["results"]
    ]
    assert results == [
        ("JP", "7621094", None, True, ["ups", "tnt"], "upstream"),  # seed 003
        ("NZ", "PAPAAROHA", "fedex", True, ["fedex"], "upstream"),
        ("US", "10001", None, False, [], "upstream"),
    ]
    assert calls(sandbox, REMOTE) == 1
    items = cache_items(aws, "CACHE#REMOTE#")
    assert set(items) == {"CACHE#REMOTE#JP#7621094#ALL", "CACHE#REMOTE#NZ#PAPAAROHA#FEDEX", "CACHE#REMOTE#US#10001#ALL"}
    for item in items.values():
        assert int(item["expires_at"]) - int(item["stored_at"]) == 7 * 24 * 3600  # RemoteCacheSeconds default
        assert int(item["stored_at"]) <= time.time()


def test_a_second_identical_remote_check_makes_no_upstream_call(invoke: Any, sandbox: Any) -> None:
    _, _, first = invoke(load_event("remote_checks"))
    status, _, second = invoke(load_event("remote_checks"))

    assert status == 200
    assert calls(sandbox, REMOTE) == 1
    assert {r["source"] for r in second["results"]} == {"cache"}
    assert [r["carriers"] for r in second["results"]] == [r["carriers"] for r in first["results"]]


def test_country_names_and_codes_share_one_cache_entry_and_duplicates_collapse(invoke: Any, sandbox: Any) -> None:
    invoke(remote_event([{"country": "JP", "postcode": "7621094"}]))

    status, _, body = invoke(load_event("country_names_and_duplicates"))

    assert status == 200
    assert [(r["country_code"], r["postcode"], r["carrier"], r["source"]) for r in body["results"]] == [
        ("JP", "7621094", None, "cache"),
        ("GB", "ZE2 9AA", "dhl", "upstream"),
    ]
    assert body["results"][1]["carriers"] == ["dhl"]  # Shetland: remote for every carrier, asked for DHL only
    assert calls(sandbox, REMOTE) == 2


def test_a_mixed_request_sends_only_the_uncached_places(invoke: Any, sandbox: Any) -> None:
    invoke(remote_event([{"country": "JP", "postcode": "7621094"}]))
    before = sandbox.stats()["calls"]

    _, _, body = invoke(
        remote_event(
            [
                {"country": "NO", "postcode": "9170"},
                {"country": "JP", "postcode": "7621094"},
                {"country": "AU", "postcode": "2000"},
            ]
        )
    )

    assert calls(sandbox, REMOTE) == before[REMOTE] + 1
    assert [(r["country_code"], r["source"], r["remote"]) for r in body["results"]] == [
        ("NO", "upstream", True),
        ("JP", "cache", True),
        ("AU", "upstream", False),
    ]
    assert body["summary"] == {"requested": 3, "from_cache": 1, "from_upstream": 2, "failed": 0}


def test_a_country_upstream_does_not_know_is_a_cached_item_error(invoke: Any, sandbox: Any, aws: Any) -> None:
    # Fiji is ISO 3166 (we accept it) but not in the sandbox's country list: TrackingMore answers a per-item error.
    status, _, body = invoke(
        remote_event([{"country": "FJ", "postcode": "1"}, {"country": "JP", "postcode": "7621094"}])
    )

    assert status == 200
    fiji, japan = body["results"]
    assert (fiji["outcome"], fiji["remote"], fiji["problem"]["code"]) == ("failed", None, "remote_check_failed")
    assert japan["outcome"] == "found"
    error_item = cache_items(aws, "CACHE#REMOTE#FJ#")["CACHE#REMOTE#FJ#1#ALL"]
    assert error_item["kind"] == "error"
    assert int(error_item["expires_at"]) - int(error_item["stored_at"]) == 3600


@pytest.mark.parametrize("event_name", ["too_many_checks", "unknown_country"])
def test_bad_remote_checks_are_refused_with_422(invoke: Any, sandbox: Any, event_name: str) -> None:
    status, headers, body = invoke(load_event(event_name))

    assert status == 422
    assert headers["Content-Type"] == "application/problem+json"
    assert body["code"] == "validation_failed"
    assert body["errors"][0]["loc"][:2] == ["body", "checks"]
    assert calls(sandbox, REMOTE) == 0


def test_100_remote_checks_are_one_upstream_call(invoke: Any, sandbox: Any) -> None:
    checks = [{"country": "JP", "postcode": str(1000000 + n)} for n in range(100)]

    status, _, body = invoke(remote_event(checks))

    assert status == 200
    assert len(body["results"]) == 100
    assert calls(sandbox, REMOTE) == 1


# -- transit times ----------------------------------------------------------------------------------------------


def test_transit_times_are_fetched_once_and_cached(invoke: Any, sandbox: Any, aws: Any) -> None:
    status, _, body = invoke(load_event("transit_times"))

    assert status == 200
    assert [(r["carrier_code"], r["origin"], r["destination"], r["outcome"]) for r in body["results"]] == [
        ("dhl", "CN", "US", "found"),
        ("ups", "DE", "FR", "found"),
    ]
    stats = body["results"][0]["stats"]
    assert stats["samples"] >= stats["delivered"] > 0
    assert [band["band"] for band in stats["bands"]][:4] == ["range1", "range3", "range4", "range5"]
    assert abs(sum(band["percent"] for band in stats["bands"]) - 100) < 0.1
    assert (stats["bands"][0]["min_days"], stats["bands"][0]["max_days"]) == (0, 7)
    assert set(cache_items(aws, "CACHE#TRANSIT#")) == {"CACHE#TRANSIT#dhl#CN#US", "CACHE#TRANSIT#ups#DE#FR"}

    _, _, again = invoke(load_event("transit_times"))
    assert calls(sandbox, COSTTIME) == 1
    assert {r["source"] for r in again["results"]} == {"cache"}
    assert again["results"][0]["stats"] == stats


def test_an_unknown_carrier_fails_only_its_route(invoke: Any, sandbox: Any, aws: Any) -> None:
    status, _, body = invoke(load_event("transit_times_unknown_carrier"))

    assert status == 200
    unknown, dhl = body["results"]
    assert (unknown["outcome"], unknown["problem"]["code"]) == ("failed", "unknown_carrier")
    assert dhl["outcome"] == "found"
    assert cache_items(aws, "CACHE#TRANSIT#no-such-carrier#")["CACHE#TRANSIT#no-such-carrier#CN#US"]["kind"] == "error"


def test_51_transit_routes_are_refused_with_422(invoke: Any, sandbox: Any) -> None:
    status, _, body = invoke(load_event("too_many_routes"))

    assert status == 422
    assert body["errors"][0]["loc"][:2] == ["body", "routes"]
    assert calls(sandbox, COSTTIME) == 0


# -- upstream faults --------------------------------------------------------------------------------------------


@pytest.fixture
def no_retry_sleep(monkeypatch: pytest.MonkeyPatch, sandbox: Any) -> None:
    upstream_without_sleeps(monkeypatch, sandbox)


@pytest.mark.usefixtures("no_retry_sleep")
@pytest.mark.parametrize(
    ("event_name", "endpoint", "kind", "status"),
    [
        ("remote_checks", REMOTE, "http_503", 503),
        ("remote_checks", REMOTE, "malformed_json", 502),
        ("transit_times", COSTTIME, "meta_429", 429),
        ("transit_times", COSTTIME, "http_500", 503),
    ],
)
def test_an_upstream_fault_is_a_mapped_problem_and_nothing_is_cached(
    invoke: Any, sandbox: Any, aws: Any, event_name: str, endpoint: str, kind: str, status: int
) -> None:
    sandbox.set_faults(error_rate=1.0, kinds=[kind], endpoints=[endpoint])

    got_status, headers, body = invoke(load_event(event_name))

    assert got_status == status
    assert headers["Content-Type"] == "application/problem+json"
    assert body["status"] == status
    assert body["retryable"] is True
    if status == 429:
        assert int(headers["Retry-After"]) > 0
    assert cache_items(aws, "CACHE#") == {}
