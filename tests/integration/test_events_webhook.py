"""WebhookFunction on moto (+ the sandbox for confirm mode): the samples in events/webhook, ordering, duplicates.

Starting state: china-post/RR123456785CN stored as ``pending``. The function's clock is pinned to the sample
requests' time (2026-11-22T14:00:00Z), so the signed samples are fresh without depending on the wall clock.
"""

from __future__ import annotations

import copy
import json
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

EXPECTED = {
    "push_valid.json": 200,
    "push_forged_token.json": 401,
    "push_forged_signature.json": 401,
    "push_stale_time.json": 401,
    "push_future_time.json": 401,
    "push_tampered_time.json": 401,
    "push_not_a_push.json": 400,
}


@pytest.fixture
def webhook(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    module = fresh_function("webhook")
    import shiptrack.routes.webhooks as route

    monkeypatch.setattr(route, "utc_now", lambda: NOW)
    return module


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


def invoke(webhook: Any, event: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = webhook.lambda_handler(event, LambdaContext(function_name="WebhookFunction"))
    return response


def stored_item(aws: Any) -> dict[str, Any]:
    item: dict[str, Any] = aws.table().get_item(Key={"pk": REF.key}, ConsistentRead=True)["Item"]
    return item


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


def test_every_sample_has_an_expected_status() -> None:
    from tests.integration.events_support import EVENTS

    assert sorted(p.name for p in (EVENTS / "webhook").glob("*.json")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_gives_its_status_and_only_a_valid_push_changes_anything(
    name: str, aws: Any, store: TrackingsRepository, webhook: Any
) -> None:
    before = stored_item(aws)
    response = invoke(webhook, load_event(f"webhook/{name}"))
    assert response["statusCode"] == EXPECTED[name], response["body"]
    after = stored_item(aws)
    if EXPECTED[name] == 200:
        assert json.loads(response["body"])["outcome"] == "applied"
        assert after["status"] == "transit"
        assert after["substatus"] == "transit002"
        assert len(after["checkpoints"]) == 2
        assert after["order_id"] == "SO-100234"  # our metadata survives an upstream copy
    else:
        body = json.loads(response["body"])
        assert body["status"] == EXPECTED[name]
        headers = {**(response.get("headers") or {})}
        headers.update({k: v[-1] for k, v in (response.get("multiValueHeaders") or {}).items()})
        assert headers["Content-Type"] == "application/problem+json"
        assert after == before  # nothing changed, not even bookkeeping


def test_a_valid_push_moves_the_parcel_and_subscribers_hear_it(
    aws: Any, store: TrackingsRepository, webhook: Any
) -> None:
    tap = BusTap(aws)
    reader = aws.stream_reader()
    reader.read()  # the starting state's INSERT is not what this test is about

    assert invoke(webhook, load_event("webhook/push_valid.json"))["statusCode"] == 200
    assert publish_stream(aws, reader) == {"batchItemFailures": []}

    [event] = tap.events()
    assert event["source"] == "shiptrack"
    assert event["detail-type"] == "Tracking Status Changed"
    assert (event["detail"]["previous_status"], event["detail"]["status"]) == ("pending", "transit")
    assert event["detail"]["tracking"]["tracking_number"] == "RR123456785CN"


def test_the_same_push_twice_changes_nothing_the_second_time(
    aws: Any, store: TrackingsRepository, webhook: Any
) -> None:
    reader = aws.stream_reader()
    event = load_event("webhook/push_valid.json")
    assert json.loads(invoke(webhook, event)["body"])["outcome"] == "applied"
    reader.read()
    item = stored_item(aws)

    second = invoke(webhook, copy.deepcopy(event))

    assert second["statusCode"] == 200
    assert json.loads(second["body"])["outcome"] == "unchanged"
    assert stored_item(aws) == item
    assert reader.read() == []


def test_out_of_order_pushes_keep_the_newest(aws: Any, store: TrackingsRepository, webhook: Any) -> None:
    newer = sample_tracking()
    newer["updated_at"] = "2026-11-22T13:59:00+00:00"
    older = copy.deepcopy(newer)
    older["updated_at"] = "2026-11-21T08:00:00+00:00"
    older["status"], older["substatus"] = "pending", None
    older["origin_info"]["trackinfo"] = older["origin_info"]["trackinfo"][1:]

    first = invoke(webhook, push_event(newer, sent_at=NOW - timedelta(seconds=10)))
    late = invoke(webhook, push_event(older, sent_at=NOW - timedelta(seconds=5)))

    assert json.loads(first["body"])["outcome"] == "applied"
    assert json.loads(late["body"])["outcome"] == "stale"
    item = stored_item(aws)
    assert (item["status"], len(item["checkpoints"])) == ("transit", 2)


def test_a_delivered_parcel_never_goes_back_to_transit(aws: Any, store: TrackingsRepository, webhook: Any) -> None:
    delivered = sample_tracking()
    delivered["status"], delivered["substatus"] = "delivered", "delivered001"
    delivered["updated_at"] = "2026-11-22T13:59:00+00:00"
    again_transit = copy.deepcopy(delivered)
    again_transit["status"], again_transit["substatus"] = "transit", "transit002"
    again_transit["updated_at"] = "2026-11-22T13:59:30+00:00"

    invoke(webhook, push_event(delivered, sent_at=NOW - timedelta(seconds=20)))
    invoke(webhook, push_event(again_transit, sent_at=NOW - timedelta(seconds=10)))

    assert stored_item(aws)["status"] == "delivered"


def test_a_push_for_a_tracking_we_do_not_hold_is_acknowledged_and_ignored(aws: Any, webhook: Any) -> None:
    response = invoke(webhook, load_event("webhook/push_valid.json"))
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["outcome"] == "unknown"
    assert "Item" not in aws.table().get_item(Key={"pk": REF.key})


def test_confirm_mode_applies_trackingmores_copy_not_the_body(
    on_sandbox: Any, sandbox: Any, store: TrackingsRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = TrackingMoreClient(sandbox.api_key, base_url=sandbox.base_url, sleep=lambda _: None)
    client.create_tracking(CreateTrackingRequest(tracking_number=REF.tracking_number, carrier_code=REF.carrier_code))
    sandbox.advance(30)
    upstream = client.get_tracking(REF.carrier_code, REF.tracking_number)
    monkeypatch.setenv("WEBHOOK_CONFIRM_MODE", "true")
    module = fresh_function("webhook")
    import shiptrack.routes.webhooks as route

    monkeypatch.setattr(route, "utc_now", lambda: NOW)
    forged = sample_tracking()
    forged["status"], forged["substatus"] = "delivered", "delivered003"
    forged["updated_at"] = "2030-01-01T00:00:00+00:00"
    gets_before = sandbox.stats()["calls"].get("GET /trackings/{carrier_code}/{tracking_number}", 0)

    response = invoke(module, push_event(forged))

    assert response["statusCode"] == 200, response["body"]
    assert json.loads(response["body"])["confirmed"] is True
    assert stored_item(on_sandbox)["status"] == upstream.status != "delivered"
    assert sandbox.stats()["calls"].get("GET /trackings/{carrier_code}/{tracking_number}", 0) == gets_before + 1
