"""RealtimeFunction through ``lambda_handler`` on moto against the TrackingMore sandbox."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from shiptrack.models import format_utc
from tests.integration.test_trackings_support import REALTIME, Api, api_fixture  # noqa: F401 - fixture

pytestmark = pytest.mark.integration

NUMBER = "RR123456785CN"
BODY = {"carrier_code": "china-post", "tracking_number": NUMBER}


def set_attribute(api: Api, name: str, value: str) -> None:
    api.aws.table().update_item(
        Key={"pk": f"china-post#{NUMBER}"},
        UpdateExpression="SET #n = :v",
        ExpressionAttributeNames={"#n": name},
        ExpressionAttributeValues={":v": value},
    )


def hours_ago(hours: float) -> str:
    return format_utc(datetime.now(UTC) - timedelta(hours=hours))


def test_unknown_number_is_looked_up_at_the_carrier_and_stored(api: Api) -> None:
    answer = api.post("/trackings/realtime", BODY)

    assert answer.status == 200, answer.body
    assert answer.body["source"] == "carrier"
    assert answer.body["fetched_at"].endswith("Z")
    assert answer.body["tracking"]["tracking_number"] == NUMBER
    assert api.calls(REALTIME) == 1
    assert api.stored("china-post", NUMBER) is not None
    # Carrier event times stay carrier-local without an offset; ours are UTC with Z
    checkpoints = answer.body["tracking"]["checkpoints"]
    assert checkpoints
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", c["time"]) for c in checkpoints)
    assert answer.body["tracking"]["last_checked_at"].endswith("Z")


def test_a_fresh_stored_copy_is_served_without_calling_upstream(api: Api) -> None:
    # Given a tracking created (checked upstream) a moment ago
    assert api.post("/trackings", BODY).status == 201

    # When a live lookup allows 15 minutes (the default) and then an hour
    default = api.post("/trackings/realtime", BODY)
    hour = api.post("/trackings/realtime", {**BODY, "max_age_seconds": 3600})

    # Then both are the stored copy
    assert (default.status, hour.status) == (200, 200)
    assert default.body["source"] == hour.body["source"] == "cache"
    assert api.calls(REALTIME) == 0


def test_a_stale_copy_is_refreshed_from_the_carrier(api: Api) -> None:
    assert api.post("/trackings", BODY).status == 201
    set_attribute(api, "last_checked_at", hours_ago(1))

    answer = api.post("/trackings/realtime", {**BODY, "max_age_seconds": 60})

    assert answer.body["source"] == "carrier"
    assert api.calls(REALTIME) == 1
    assert api.stored("china-post", NUMBER).last_checked_at > datetime.now(UTC) - timedelta(minutes=5)


@pytest.mark.parametrize("held", [True, False], ids=["stale-copy", "unknown"])
def test_a_live_lookup_reads_the_stored_copy_once(api: Api, held: bool) -> None:
    from collections import Counter

    from shiptrack import runtime

    if held:
        assert api.post("/trackings", BODY).status == 201
        set_attribute(api, "last_checked_at", hours_ago(1))
    operations: Counter[tuple[str, str]] = Counter()
    runtime.dynamodb().meta.client.meta.events.register(
        "before-parameter-build.dynamodb.*",
        lambda model, params, **_: operations.update([(params.get("TableName", "").split("-")[-1], model.name)]),
    )

    answer = api.post("/trackings/realtime", {**BODY, "max_age_seconds": 60})

    # The read that decided to call the carrier is the one the write is conditioned on; the account-wide realtime
    # limit costs one conditional write (a first use of the route: the gate had seen nothing of it)
    assert answer.body["source"] == "carrier"
    assert dict(operations) == {
        ("TrackingsTable", "GetItem"): 1,
        ("TrackingsTable", "PutItem"): 1,
        ("CacheTable", "PutItem"): 1,
    }


def test_trackingmore_two_hour_rule_serves_the_stored_copy(api: Api) -> None:
    # Given a live lookup just now
    first = api.post("/trackings/realtime", BODY)
    assert first.body["source"] == "carrier"

    # When another comes that accepts no staleness at all
    second = api.post("/trackings/realtime", {**BODY, "max_age_seconds": 0})

    # Then TrackingMore's once-per-2-hours rule wins: the stored copy, no upstream call
    assert second.status == 200
    assert second.body["source"] == "cache"
    assert api.calls(REALTIME) == 1

    # And once the last live lookup is 2 hours old, the carrier is asked again
    set_attribute(api, "last_realtime_at", hours_ago(2.1))
    third = api.post("/trackings/realtime", {**BODY, "max_age_seconds": 0})
    assert third.body["source"] == "carrier"
    assert api.calls(REALTIME) == 2


def test_upstream_429_serves_the_stored_copy_and_pauses_every_instance(api: Api) -> None:
    assert api.post("/trackings", BODY).status == 201
    api.sandbox.set_faults(error_rate=1.0, kinds=["meta_429"], endpoints=[REALTIME])

    answer = api.post("/trackings/realtime", {**BODY, "max_age_seconds": 0})
    again = api.post("/trackings/realtime", {**BODY, "max_age_seconds": 0})

    assert (answer.status, again.status) == (200, 200)
    for served in (answer, again):
        assert (served.body["source"], served.body["cache_reason"]) == ("cache", "rate_limited")
        assert served.body["tracking"]["tracking_number"] == NUMBER
    # The 429 paused the route account-wide (TrackingMore's 120 s): the second lookup never reached it
    assert api.calls(REALTIME) == 1
    pause = api.aws.table("CacheTable").get_item(Key={"pk": f"RATE#{REALTIME}"})["Item"]["paused_until"]
    assert 100 < int(pause) / 1000 - datetime.now(UTC).timestamp() <= 120


def test_no_realtime_slot_in_time_is_our_429_for_a_number_we_do_not_hold(api: Api) -> None:
    # Given another instance drew a 429 a moment ago (the pause is shared)
    paused_until = int((datetime.now(UTC).timestamp() + 90) * 1000)
    api.aws.table("CacheTable").put_item(
        Item={"pk": f"RATE#{REALTIME}", "slots": [], "paused_until": paused_until, "revision": 1}
    )

    answer = api.post("/trackings/realtime", BODY)

    assert answer.status == 429
    assert answer.body["code"] == "upstream_rate_limited"
    assert answer.body["retryable"] is True
    assert 85 <= int(answer.headers["Retry-After"]) <= 91
    assert api.calls(REALTIME) == 0
    assert api.stored("china-post", NUMBER) is None


def test_upstream_429_for_a_number_we_do_not_hold_has_no_copy(api: Api) -> None:
    api.sandbox.set_faults(error_rate=1.0, kinds=["meta_429"], endpoints=[REALTIME])

    answer = api.post("/trackings/realtime", BODY)

    assert answer.status == 429
    assert "tracking" not in answer.body


def test_a_live_answer_never_moves_a_delivered_parcel_back(api: Api) -> None:
    # Given a parcel we marked delivered, which TrackingMore has since (behind our back) put back in transit
    assert api.post("/trackings", BODY).status == 201
    assert api.patch(f"/trackings/china-post/{NUMBER}", {"status_override": "delivered"}).status == 200
    api.sandbox.advance(24)
    requests.put(
        f"{api.sandbox.base_url}/trackings/china-post/{NUMBER}",
        json={"status": 8},
        headers=api.sandbox.headers,
        timeout=10,
    )
    upstream_status = next(t for t in api.sandbox.trackings() if t["tracking_number"] == NUMBER)["status"]
    assert upstream_status not in ("delivered", "exception", "expired")
    set_attribute(api, "last_checked_at", hours_ago(1))

    # When a live lookup returns whatever the carrier says now
    answer = api.post("/trackings/realtime", {**BODY, "max_age_seconds": 0})

    # Then the carrier's events are taken, but it stays delivered
    assert answer.status == 200
    assert answer.body["source"] == "carrier"
    assert answer.body["tracking"]["status"] == "delivered"
    assert answer.body["tracking"]["checkpoints"]


@pytest.mark.parametrize(
    "body",
    [
        {"carrier_code": "china-post"},
        {"carrier_code": "china-post", "tracking_number": "RR1"},
        {"carrier_code": "china post", "tracking_number": NUMBER},
        {**BODY, "max_age_seconds": -1},
        {**BODY, "max_age_seconds": 7 * 24 * 3600 + 1},
        {**BODY, "destination_code": "USA"},
        {**BODY, "unknown": True},
    ],
)
def test_invalid_realtime_requests_are_422(api: Api, body: dict[str, Any]) -> None:
    answer = api.post("/trackings/realtime", body)

    assert answer.status == 422
    assert answer.body["errors"]
    assert api.calls(REALTIME) == 0
