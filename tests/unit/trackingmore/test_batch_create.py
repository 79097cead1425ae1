"""batch_create_trackings: chunks of 40, input order, per-item outcomes, reconciliation after ambiguous failures."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.unit.trackingmore.fakes import (
    ClientFactory,
    FakeClock,
    FakeUpstream,
    RecordedRequest,
    Reply,
    fixture,
    json_reply,
)
from trackingmore import BatchCreateItem, CreateTrackingRequest, TrackingMoreClient

pytestmark = pytest.mark.unit

BATCH = "/trackings/batch"
LIST = "/trackings/get"


def requests_for(count: int, carrier: str = "ups") -> list[CreateTrackingRequest]:
    return [CreateTrackingRequest(tracking_number=f"1Z{i:08d}", carrier_code=carrier) for i in range(count)]


def tracking(number: str, carrier: str = "ups", **extra: Any) -> dict[str, Any]:
    return {"id": f"id-{number}", "tracking_number": number, "carrier_code": carrier, "status": "pending", **extra}


def batch_reply(created: list[dict[str, Any]], errors: list[dict[str, Any]] | None = None) -> Reply:
    data = {"submitted": len(created) + len(errors or []), "added": len(created), "trackings": created,
            "errors": errors or []}  # fmt: skip
    return json_reply({"meta": {"code": 201, "type": "Created", "message": "Created"}, "data": data})


def create_all(request: RecordedRequest) -> Reply:
    return batch_reply([tracking(item["tracking_number"], item["carrier_code"]) for item in request.json])


def list_reply(items: list[dict[str, Any]]) -> Reply:
    data = {"page": 1, "limit": 2000, "total": str(len(items)), "items": items}
    return json_reply({"meta": {"code": 200, "type": "Success", "message": "Success"}, "data": data})


def numbers(request: RecordedRequest) -> list[str]:
    return [item["tracking_number"] for item in request.json]


def test_85_items_take_three_calls_of_40_40_5_in_input_order(
    client: TrackingMoreClient, upstream: FakeUpstream
) -> None:
    upstream.handle("POST", BATCH, create_all)
    wanted = requests_for(85)

    result = client.batch_create_trackings(wanted)

    assert [len(r.json) for r in upstream.calls("POST", BATCH)] == [40, 40, 5]
    assert [numbers(r) for r in upstream.requests] == [
        [f"1Z{i:08d}" for i in range(0, 40)],
        [f"1Z{i:08d}" for i in range(40, 80)],
        [f"1Z{i:08d}" for i in range(80, 85)],
    ]
    assert [item.tracking_number for item in result.items] == [r.tracking_number for r in wanted]
    assert {item.outcome for item in result.items} == {"created"}
    assert result.items[0].tracking is not None
    assert result.items[0].tracking.id == "id-1Z00000000"
    assert (result.submitted, result.added) == (85, 85)


def test_results_follow_input_order_even_when_upstream_reorders(
    client: TrackingMoreClient, upstream: FakeUpstream
) -> None:
    upstream.queue("POST", BATCH, lambda request: batch_reply([tracking(n) for n in reversed(numbers(request))]))

    result = client.batch_create_trackings(requests_for(3))

    assert [(i.tracking_number, i.tracking.id if i.tracking else None) for i in result.items] == [
        ("1Z00000000", "id-1Z00000000"),
        ("1Z00000001", "id-1Z00000001"),
        ("1Z00000002", "id-1Z00000002"),
    ]


def test_documented_batch_answer_duplicate_is_exists(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.reply_json("POST", BATCH, fixture("batch_create_response.json"))
    wanted = [
        CreateTrackingRequest(tracking_number="51837622007298", carrier_code="bestex"),
        CreateTrackingRequest(tracking_number="350233940124", carrier_code="bestex"),
    ]

    result = client.batch_create_trackings(wanted)

    created, exists = result.items
    assert (created.outcome, created.tracking and created.tracking.id) == (
        "created",
        "badc8f47c16c6b595ed8541d109dbbc2",
    )
    assert exists == BatchCreateItem(
        tracking_number="350233940124",
        carrier_code="bestex",
        outcome="exists",
        error_code=4016,
        error_message="Tracking already exists.",
        retryable=False,
    )
    assert [i.tracking_number for i in result.existing] == ["350233940124"]


def test_per_item_errors_fail_without_retry(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.queue(
        "POST",
        BATCH,
        batch_reply(
            [tracking("1Z00000000")],
            [
                {"tracking_number": "1Z00000001", "carrier_code": "ups", "code": 4015, "message": "carrier invalid"},
                {"tracking_number": "1Z00000002", "carrier_code": "ups", "code": "4021", "message": "no quota"},
            ],
        ),
    )

    result = client.batch_create_trackings(requests_for(3))

    assert [(i.outcome, i.error_code, i.retryable) for i in result.items] == [
        ("created", None, False),
        ("failed", 4015, False),
        ("failed", 4021, False),
    ]
    assert len(upstream.requests) == 1


def test_an_item_upstream_does_not_mention_fails_retryable(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.queue("POST", BATCH, batch_reply([tracking("1Z00000000")]))

    result = client.batch_create_trackings(requests_for(2))

    assert (result.items[1].outcome, result.items[1].retryable) == ("failed", True)


def test_the_same_number_twice_gets_two_outcomes(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.queue(
        "POST",
        BATCH,
        batch_reply(
            [tracking("1Z00000000")],
            [{"tracking_number": "1Z00000000", "carrier_code": "ups", "code": 4016, "message": "exists"}],
        ),
    )

    result = client.batch_create_trackings(requests_for(1) * 2)

    assert [i.outcome for i in result.items] == ["created", "exists"]


def test_upstream_case_changes_still_match(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.queue("POST", BATCH, batch_reply([tracking("LX123445678CN", "china-post")]))

    result = client.batch_create_trackings(
        [CreateTrackingRequest(tracking_number="lx123445678cn", carrier_code="China-Post")]
    )

    assert result.items[0].outcome == "created"
    assert result.items[0].tracking_number == "lx123445678cn"  # as the caller asked


def test_nothing_to_create_makes_no_call(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    assert client.batch_create_trackings([]).items == []
    assert upstream.requests == []


# -- ambiguous failures: reconcile, then re-send only the missing ----------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        requests.ReadTimeout("read timeout"),
        requests.ConnectionError("Connection reset by peer"),
        json_reply({"meta": {"code": 500, "type": "Server error", "message": "oops"}, "data": None}),
        Reply(b"<html>502</html>", 502),
        Reply(b"not json"),
        json_reply({"meta": {"code": 201}, "data": "garbled"}),
    ],
)
def test_ambiguous_failure_reconciles_then_resends_only_missing(
    client: TrackingMoreClient, upstream: FakeUpstream, clock: FakeClock, failure: Reply | Exception
) -> None:
    upstream.queue("POST", BATCH, failure)
    # The lost request had created the first two numbers (and 1Z00000004 exists, but with another carrier).
    found = [tracking("1Z00000000"), tracking("1Z00000001"), tracking("1Z00000004", "dhl")]
    upstream.queue("GET", LIST, list_reply(found))
    upstream.queue("POST", BATCH, create_all)

    result = client.batch_create_trackings(requests_for(4))

    assert [(r.method, r.path) for r in upstream.requests] == [("POST", BATCH), ("GET", LIST), ("POST", BATCH)]
    assert upstream.requests[1].query == {"numbers": "1Z00000000,1Z00000001,1Z00000002,1Z00000003", "limit": "2000"}
    assert numbers(upstream.requests[2]) == ["1Z00000002", "1Z00000003"]
    assert [i.outcome for i in result.items] == ["created"] * 4
    assert [i.tracking.id if i.tracking else None for i in result.items] == [
        "id-1Z00000000",
        "id-1Z00000001",
        "id-1Z00000002",
        "id-1Z00000003",
    ]
    assert clock.sleeps == [0.25]  # backoff before the re-send; the list call waited for nothing


def test_reconciliation_that_finds_everything_sends_nothing_again(
    client: TrackingMoreClient, upstream: FakeUpstream
) -> None:
    upstream.fail("POST", BATCH, requests.ReadTimeout("read timeout"))
    upstream.queue("GET", LIST, list_reply([tracking("1Z00000000"), tracking("1Z00000001")]))

    result = client.batch_create_trackings(requests_for(2))

    assert [(r.method, r.path) for r in upstream.requests] == [("POST", BATCH), ("GET", LIST)]
    assert [i.outcome for i in result.items] == ["created", "created"]


def test_failed_reconciliation_marks_the_chunk_failed_and_retryable(
    client: TrackingMoreClient, upstream: FakeUpstream
) -> None:
    upstream.fail("POST", BATCH, requests.ReadTimeout("read timeout"))
    upstream.reply("GET", LIST, None, code=503, message="maintenance", times=4)

    result = client.batch_create_trackings(requests_for(2))

    assert len(upstream.calls("POST", BATCH)) == 1
    assert len(upstream.calls("GET", LIST)) == 4  # the lookup itself is retried
    for item in result.items:
        assert (item.outcome, item.retryable, item.error_code) == ("failed", True, None)
        assert item.error_message is not None
        assert "TrackingMore did not answer within 20 s" in item.error_message
        assert "reconciliation failed: maintenance" in item.error_message


def test_resends_are_bounded_by_max_retries(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.fail("POST", BATCH, requests.ReadTimeout("read timeout"), times=4)
    upstream.handle("GET", LIST, lambda _: list_reply([]))

    result = client.batch_create_trackings(requests_for(2))

    assert len(upstream.calls("POST", BATCH)) == 4  # first send + 3 re-sends
    assert len(upstream.calls("GET", LIST)) == 4
    assert [(i.outcome, i.retryable) for i in result.items] == [("failed", True)] * 2


# -- failures that are not ambiguous ---------------------------------------------------------------------------------


def test_a_chunk_failing_after_retries_fails_alone(
    client: TrackingMoreClient, upstream: FakeUpstream, clock: FakeClock
) -> None:
    upstream.queue("POST", BATCH, create_all)
    # The second chunk is rate-limited on every attempt (429 is retried: the request was refused unprocessed).
    for _ in range(4):
        upstream.queue("POST", BATCH, json_reply({"meta": {"code": 429, "type": "Too Many Requests",
                                                           "message": "slow down"}, "data": None}))  # fmt: skip
    upstream.queue("POST", BATCH, create_all)

    result = client.batch_create_trackings(requests_for(85))

    assert [len(r.json) for r in upstream.calls("POST", BATCH)] == [40, 40, 40, 40, 40, 5]
    assert [i.outcome for i in result.items[:40]] == ["created"] * 40
    assert [i.outcome for i in result.items[80:]] == ["created"] * 5
    for item in result.items[40:80]:
        assert (item.outcome, item.retryable, item.error_code, item.error_message) == ("failed", True, 429, "slow down")
    assert clock.sleeps == [0.25, 0.5, 1.0]
    assert len(result.retryable) == 40
    assert upstream.calls("GET", LIST) == []


def test_connect_failures_are_retried_then_fail_retryable(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.fail("POST", BATCH, requests.ConnectTimeout("connect timeout"), times=4)

    result = client.batch_create_trackings(requests_for(1))

    assert len(upstream.requests) == 4  # never reached the server: re-sending is safe, no reconciliation needed
    assert (result.items[0].outcome, result.items[0].retryable) == ("failed", True)


def test_a_refused_chunk_fails_without_retry(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.reply("POST", BATCH, None, code=4020, type="Bad Request", message="At most 200")

    result = client.batch_create_trackings(requests_for(2))

    assert [(i.outcome, i.error_code, i.retryable) for i in result.items] == [("failed", 4020, False)] * 2


@pytest.mark.parametrize("code", [4001, 4021])
def test_account_wide_errors_stop_the_remaining_chunks(
    make_client: ClientFactory, upstream: FakeUpstream, code: int
) -> None:
    upstream.reply("POST", BATCH, None, code=code, message="refused")

    result = make_client().batch_create_trackings(requests_for(85))

    assert len(upstream.requests) == 1
    assert len(result.items) == 85
    assert {(i.outcome, i.error_code, i.retryable) for i in result.items} == {("failed", code, False)}
