"""WebhookFunction on moto + the sandbox: a push is a notification, read from TrackingMore (docs/security.md).

Starting state: china-post/RR123456785CN stored as ``pending`` here, and (for most tests) tracked at the sandbox,
which has moved it on by a day. The function's clock is pinned to the sample requests' time (2026-11-22T14:00:00Z),
so the signed samples are fresh without depending on the wall clock.

The last part runs with ``WebhookTrustPushBody=true`` (bodies applied as sent: unsafe, but a parameter): there the
monotonic rule and the refusal of bodies from the future are what stand between a body and the store.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local.resources import LOCAL_SECRET_VALUES
from shiptrack.data.trackings import TrackingsRepository
from shiptrack.models import Tracking, TrackingRef
from tests.integration.events_support import (
    BusTap,
    fresh_function,
    load_event,
    on_sandbox,
    publish_stream,
)
from tests.lambda_context import LambdaContext
from trackingmore import TrackingMoreClient
from trackingmore.models import CreateTrackingRequest
from trackingmore.webhooks import sign

__all__ = ["on_sandbox"]  # the fixture, re-exported for pytest

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)
REF = TrackingRef("china-post", "RR123456785CN")
EMAIL = LOCAL_SECRET_VALUES["account_email"]
TOKEN = LOCAL_SECRET_VALUES["webhook_token"]
GET_ONE = "GET /trackings/{carrier_code}/{tracking_number}"

EXPECTED = {
    "push_valid.json": 200,
    "push_forged_body.json": 200,  # signed, but the body is not believed: TrackingMore's copy is applied
    "push_forged_token.json": 401,
    "push_forged_signature.json": 401,
    "push_stale_time.json": 401,
    "push_future_time.json": 401,
    "push_tampered_time.json": 401,
    "push_not_a_push.json": 400,
    "push_deep_json.json": 400,
}

Invoke = Callable[[dict[str, Any]], dict[str, Any]]


def _handler(monkeypatch: pytest.MonkeyPatch) -> Invoke:
    module = fresh_function("webhook")
    import shiptrack.routes.webhooks as route

    monkeypatch.setattr(route, "utc_now", lambda: NOW)

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        response: dict[str, Any] = module.lambda_handler(event, LambdaContext(function_name="WebhookFunction"))
        return response

    return invoke


@pytest.fixture
def store(aws: Any) -> TrackingsRepository:
    created = NOW - timedelta(days=2)
    tracking = Tracking(
        carrier_code=REF.carrier_code,
        tracking_number=REF.tracking_number,
        status="pending",
        order_id="SO-100234",
        created_at=created,
        updated_at=created,
        last_changed_at=created,
    )
    store = TrackingsRepository(aws.table())
    assert store.put_new(tracking).created
    return store


@pytest.fixture
def upstream(on_sandbox: Any, sandbox: Any) -> dict[str, Any]:
    """RR123456785CN at the sandbox, a day after it was posted: TrackingMore's copy, as a push would make us read it
    (seen through the sandbox's control API, so no read is counted)."""
    client = TrackingMoreClient(sandbox.api_key, base_url=sandbox.base_url, sleep=lambda _: None)
    client.create_tracking(CreateTrackingRequest(tracking_number=REF.tracking_number, carrier_code=REF.carrier_code))
    sandbox.advance(30)
    tracking: dict[str, Any] = next(t for t in sandbox.trackings() if t["tracking_number"] == REF.tracking_number)
    return tracking


@pytest.fixture
def webhook(on_sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    return _handler(monkeypatch)


def stored_item(aws: Any) -> dict[str, Any]:
    item: dict[str, Any] = aws.table().get_item(Key={"pk": REF.key}, ConsistentRead=True)["Item"]
    return item


def gets(sandbox: Any) -> int:
    """Reads of one tracking made at the sandbox (by the function: the set-up reads none)."""
    return int(sandbox.stats()["calls"].get(GET_ONE, 0))


def push_event(tracking: dict[str, Any], *, sent_at: datetime = NOW, token: str = TOKEN) -> dict[str, Any]:
    event = load_event("webhook/push_valid.json")
    time_str = str(int(sent_at.timestamp()))
    body = {
        "meta": {"code": 200},
        "data": tracking,
        "verifyInfo": {"timeStr": time_str, "signature": sign(time_str, EMAIL)},
    }
    event["body"] = json.dumps(body)
    event["pathParameters"] = {"token": token}
    return event


def sample_tracking() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(load_event("webhook/push_valid.json")["body"])["data"]
    return data


def outcome(response: dict[str, Any]) -> str:
    assert response["statusCode"] == 200, response["body"]
    return str(json.loads(response["body"])["outcome"])


def test_every_sample_has_an_expected_status() -> None:
    from tests.integration.events_support import EVENTS

    assert sorted(p.name for p in (EVENTS / "webhook").glob("*.json")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_gives_its_status_and_only_trackingmores_copy_is_ever_stored(
    name: str, aws: Any, store: TrackingsRepository, upstream: dict[str, Any], webhook: Invoke, sandbox: Any
) -> None:
    before = stored_item(aws)

    response = webhook(load_event(f"webhook/{name}"))

    assert response["statusCode"] == EXPECTED[name], response["body"]
    after = stored_item(aws)
    if EXPECTED[name] == 200:
        assert json.loads(response["body"])["outcome"] == "applied"
        assert after["status"] == upstream["status"] != "delivered"
        assert after["substatus"] == upstream["substatus"]
        assert "MALLORY" not in json.dumps(after, default=str)
        assert after["order_id"] == "SO-100234"  # our metadata survives an upstream copy
        assert gets(sandbox) == 1
    else:
        body = json.loads(response["body"])
        assert body["status"] == EXPECTED[name]
        headers = {**(response.get("headers") or {})}
        headers.update({k: v[-1] for k, v in (response.get("multiValueHeaders") or {}).items()})
        assert headers["Content-Type"] == "application/problem+json"
        assert after == before  # nothing changed, not even bookkeeping
        assert gets(sandbox) == 0


def test_a_forged_push_changes_nothing_subscribers_hear_about_but_trackingmores_truth(
    aws: Any, store: TrackingsRepository, upstream: dict[str, Any], webhook: Invoke
) -> None:
    # Given a captured push whose body was rewritten: delivered, from 2099, signed for by MALLORY
    tap = BusTap(aws)
    reader = aws.stream_reader()
    reader.read()

    # When it arrives with its (valid) verifyInfo
    response = webhook(load_event("webhook/push_forged_body.json"))

    # Then what is stored and published is TrackingMore's copy, never the body
    assert outcome(response) == "applied"
    assert publish_stream(aws, reader) == {"batchItemFailures": []}
    [event] = tap.events()
    assert event["detail"]["status"] == upstream["status"] != "delivered"
    assert "MALLORY" not in json.dumps(event)
    # ...and the parcel is not frozen: its stored version is TrackingMore's, not 2099's
    assert stored_item(aws)["upstream_version"] < "2027"


def test_twenty_replays_of_one_push_cost_one_read(
    aws: Any, store: TrackingsRepository, upstream: dict[str, Any], webhook: Invoke, sandbox: Any
) -> None:
    event = load_event("webhook/push_valid.json")

    outcomes = [outcome(webhook(copy.deepcopy(event))) for _ in range(20)]

    assert outcomes == ["applied"] + ["duplicate"] * 19
    assert gets(sandbox) == 1


def test_a_replay_with_another_body_is_still_the_same_push(
    aws: Any, store: TrackingsRepository, upstream: dict[str, Any], webhook: Invoke, sandbox: Any
) -> None:
    assert outcome(webhook(load_event("webhook/push_valid.json"))) == "applied"
    item = stored_item(aws)

    assert outcome(webhook(load_event("webhook/push_forged_body.json"))) == "duplicate"

    assert stored_item(aws) == item
    assert gets(sandbox) == 1


def test_pushes_for_different_parcels_in_the_same_second_are_not_replays(
    aws: Any, store: TrackingsRepository, upstream: dict[str, Any], webhook: Invoke, sandbox: Any
) -> None:
    # TrackingMore signs only timeStr: every push of one second carries the same verifyInfo.
    other = {**sample_tracking(), "tracking_number": "RR999999990CN"}

    assert outcome(webhook(push_event(sample_tracking()))) == "applied"
    assert outcome(webhook(push_event(other))) == "unknown"  # acted on (not ours), not refused as a replay


def test_a_push_for_a_tracking_we_do_not_hold_is_acknowledged_without_a_read(
    aws: Any, webhook: Invoke, sandbox: Any
) -> None:
    response = webhook(load_event("webhook/push_valid.json"))

    assert outcome(response) == "unknown"
    assert "Item" not in aws.table().get_item(Key={"pk": REF.key})
    assert gets(sandbox) == 0


def test_a_push_for_a_tracking_trackingmore_no_longer_has_changes_nothing(
    aws: Any, store: TrackingsRepository, webhook: Invoke, sandbox: Any
) -> None:
    before = stored_item(aws)

    assert outcome(webhook(load_event("webhook/push_valid.json"))) == "unknown"

    assert stored_item(aws) == before
    assert gets(sandbox) == 1


@pytest.mark.parametrize(
    ("kind", "status"),
    [("http_503", 503), ("timeout", 504), ("connection_reset", 502), ("meta_429", 429)],
)
def test_when_trackingmore_fails_the_push_fails_retryably_and_its_retry_is_acted_on(
    kind: str,
    status: int,
    aws: Any,
    store: TrackingsRepository,
    upstream: dict[str, Any],
    webhook: Invoke,
    sandbox: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from shiptrack import runtime

    # One attempt with a short read timeout: what is tested is the push's own retry, not the client's.
    def one_attempt(**_: Any) -> TrackingMoreClient:
        return TrackingMoreClient(sandbox.api_key, base_url=sandbox.base_url, max_retries=0, timeout=(2.0, 0.5))

    monkeypatch.setattr(runtime, "trackingmore_client", one_attempt)
    sandbox.set_faults(error_rate=1, kinds=[kind], timeout_s=3)
    before = stored_item(aws)
    event = load_event("webhook/push_valid.json")

    failed = webhook(copy.deepcopy(event))

    problem = json.loads(failed["body"])
    assert (failed["statusCode"], problem["retryable"]) == (status, True), failed["body"]
    assert stored_item(aws) == before
    # TrackingMore may send the same push again: it is not a replay, and it is read now that TrackingMore answers
    sandbox.clear_faults()
    assert outcome(webhook(copy.deepcopy(event))) == "applied"
    assert stored_item(aws)["status"] == upstream["status"]


def test_pushes_arriving_during_a_read_share_it_and_the_reader_reads_again(
    aws: Any, store: TrackingsRepository, upstream: dict[str, Any], webhook: Invoke, sandbox: Any
) -> None:
    # Given a read in flight for the parcel (a lease held by another push)
    from shiptrack import compose

    leases = compose.webhook().leases
    holder = leases.request(REF, owner="another-push")
    assert holder is not None

    # When pushes arrive meanwhile, each with its own timeStr
    answers = [outcome(webhook(push_event(sample_tracking(), sent_at=NOW - timedelta(seconds=s)))) for s in (1, 2, 3)]

    # Then none of them reads TrackingMore: the holder's read serves them...
    assert answers == ["coalesced"] * 3
    assert gets(sandbox) == 0
    # ...and the holder, finishing its read, is told to read again (they came after its read began)
    again = leases.finish(holder)
    assert again is not None
    assert leases.finish(again) is None  # nothing new since: released
    # Once released, the next push reads for itself
    assert outcome(webhook(push_event(sample_tracking(), sent_at=NOW - timedelta(seconds=4)))) == "applied"
    assert gets(sandbox) == 1


# ---------------------------------------------------------------------------------------------------------------------
# WebhookTrustPushBody=true: bodies applied as sent (unsafe). The monotonic rule and the future check still hold.


@pytest.fixture
def trusting(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    monkeypatch.setenv("WEBHOOK_TRUST_PUSH_BODY", "true")
    return _handler(monkeypatch)


def test_trusting_bodies_a_valid_push_moves_the_parcel_and_subscribers_hear_it(
    aws: Any, store: TrackingsRepository, trusting: Invoke
) -> None:
    tap = BusTap(aws)
    reader = aws.stream_reader()
    reader.read()  # the starting state's INSERT is not what this test is about

    assert outcome(trusting(load_event("webhook/push_valid.json"))) == "applied"
    assert publish_stream(aws, reader) == {"batchItemFailures": []}

    [event] = tap.events()
    assert event["source"] == "shiptrack"
    assert event["detail-type"] == "Tracking Status Changed"
    assert (event["detail"]["previous_status"], event["detail"]["status"]) == ("pending", "transit")
    item = aws.table().get_item(Key={"pk": REF.key})["Item"]
    assert (item["substatus"], len(item["checkpoints"])) == ("transit002", 2)


def test_trusting_bodies_a_push_from_the_future_is_refused(
    aws: Any, store: TrackingsRepository, trusting: Invoke
) -> None:
    before = stored_item(aws)

    response = trusting(load_event("webhook/push_forged_body.json"))  # updated_at 2099-12-31

    assert response["statusCode"] == 400
    assert "future" in json.loads(response["body"])["detail"]
    assert stored_item(aws) == before


def test_trusting_bodies_the_same_content_again_changes_nothing(
    aws: Any, store: TrackingsRepository, trusting: Invoke
) -> None:
    reader = aws.stream_reader()
    assert outcome(trusting(push_event(sample_tracking(), sent_at=NOW - timedelta(seconds=2)))) == "applied"
    reader.read()
    item = stored_item(aws)

    assert outcome(trusting(push_event(sample_tracking(), sent_at=NOW - timedelta(seconds=1)))) == "unchanged"

    assert stored_item(aws) == item
    assert reader.read() == []


def test_trusting_bodies_out_of_order_pushes_keep_the_newest(
    aws: Any, store: TrackingsRepository, trusting: Invoke
) -> None:
    newer = sample_tracking()
    newer["updated_at"] = "2026-11-22T13:59:00+00:00"
    older = copy.deepcopy(newer)
    older["updated_at"] = "2026-11-21T08:00:00+00:00"
    older["status"], older["substatus"] = "pending", None
    older["origin_info"]["trackinfo"] = older["origin_info"]["trackinfo"][1:]

    first = trusting(push_event(newer, sent_at=NOW - timedelta(seconds=10)))
    late = trusting(push_event(older, sent_at=NOW - timedelta(seconds=5)))

    assert outcome(first) == "applied"
    assert outcome(late) == "stale"
    item = stored_item(aws)
    assert (item["status"], len(item["checkpoints"])) == ("transit", 2)


def test_trusting_bodies_a_delivered_parcel_never_goes_back_to_transit(
    aws: Any, store: TrackingsRepository, trusting: Invoke
) -> None:
    delivered = sample_tracking()
    delivered["status"], delivered["substatus"] = "delivered", "delivered001"
    delivered["updated_at"] = "2026-11-22T13:59:00+00:00"
    again_transit = copy.deepcopy(delivered)
    again_transit["status"], again_transit["substatus"] = "transit", "transit002"
    again_transit["updated_at"] = "2026-11-22T13:59:30+00:00"

    trusting(push_event(delivered, sent_at=NOW - timedelta(seconds=20)))
    trusting(push_event(again_transit, sent_at=NOW - timedelta(seconds=10)))

    assert stored_item(aws)["status"] == "delivered"
