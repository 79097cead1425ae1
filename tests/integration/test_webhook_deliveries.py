"""Storefront webhooks end to end on moto, with a real receiver on 127.0.0.1: signatures verify with the
Standard Webhooks library, retries keep the webhook-id, disabled endpoints receive nothing, rotation overlaps,
fan-out is idempotent, endpoints that fail for too long are disabled (and say so on the bus)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from shiptrack import runtime
from shiptrack.models import utc_now
from tests.integration.events_support import BusTap
from tests.integration.webhooks_support import Receiver, Reply, Webhooks, receiver, webhooks
from tests.lambda_context import LambdaContext

pytestmark = pytest.mark.integration

__all__ = ["receiver", "webhooks"]


def created_detail(number: str = "RR123456785CN", event_id: str = "e" * 32) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "occurred_at": "2026-11-22T14:08:28.869Z",
        "tracking": {"carrier_code": "china-post", "tracking_number": number, "status": "pending"},
        "status": "pending",
        "lifecycle": "active",
    }


def verify(secret: str, got: Any) -> Any:
    return Webhook(secret).verify(got.body, got.headers)


def test_a_delivery_verifies_with_standard_webhooks_and_carries_the_event(
    webhooks: Webhooks, receiver: Receiver
) -> None:
    endpoint = webhooks.endpoint(receiver.url)
    webhooks.publish("Tracking Created", created_detail())
    webhooks.pump()

    assert len(receiver.received) == 1
    got = receiver.received[0]
    payload = verify(endpoint["secret"], got)
    assert payload["type"] == "tracking.created"
    assert payload["timestamp"] == "2026-11-22T14:08:28.869Z"
    assert payload["data"]["tracking"]["tracking_number"] == "RR123456785CN"
    assert got.webhook_id == "e" * 32
    assert got.path == "/hooks"
    [delivery] = webhooks.deliveries(endpoint["id"])
    assert delivery["status"] == "succeeded"
    assert [a["status_code"] for a in delivery["attempts"]] == [204]


def test_a_tampered_body_or_another_secret_fails_verification(webhooks: Webhooks, receiver: Receiver) -> None:
    endpoint = webhooks.endpoint(receiver.url)
    webhooks.publish("Tracking Created", created_detail())
    webhooks.pump()
    got = receiver.received[0]
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint["secret"]).verify(got.body.replace("pending", "delivered"), got.headers)
    other = webhooks.endpoint(receiver.url)
    with pytest.raises(WebhookVerificationError):
        verify(other["secret"], got)


def test_a_failed_attempt_is_retried_with_the_same_webhook_id(webhooks: Webhooks, receiver: Receiver) -> None:
    receiver.script = lambda n, got: Reply(500, body="boom: down for maintenance") if n == 0 else Reply(200)
    endpoint = webhooks.endpoint(receiver.url)
    webhooks.publish("Tracking Created", created_detail())
    webhooks.pump()

    assert [r.webhook_id for r in receiver.received] == ["e" * 32, "e" * 32]
    assert all(verify(endpoint["secret"], got) for got in receiver.received)
    [delivery] = webhooks.deliveries(endpoint["id"])
    assert delivery["status"] == "succeeded"
    assert [(a["attempt"], a["outcome"], a["status_code"]) for a in delivery["attempts"]] == [
        (2, "succeeded", 200),
        (1, "failed", 500),
    ]
    assert delivery["attempts"][1]["error"] == "boom: down for maintenance"


def test_every_failure_kind_is_retried_and_logged(webhooks: Webhooks, receiver: Receiver) -> None:
    replies = [Reply(503), Reply(reset=True), Reply(200, delay=2.0), Reply(302), Reply(200)]
    receiver.script = lambda n, got: replies[n]
    endpoint = webhooks.endpoint(receiver.url)
    webhooks.publish("Tracking Created", created_detail())
    webhooks.pump()

    [delivery] = webhooks.deliveries(endpoint["id"])
    attempts = list(reversed(delivery["attempts"]))
    assert [a["status_code"] for a in attempts] == [503, None, None, 302, 200]
    assert attempts[1]["error"] == "connection reset by the endpoint"
    assert attempts[2]["error"].startswith("timed out after 1")
    assert delivery["status"] == "succeeded"
    assert {r.webhook_id for r in receiver.received} == {"e" * 32}


def test_a_delivery_that_keeps_failing_is_failed_after_eight_attempts_and_parked(
    webhooks: Webhooks, receiver: Receiver
) -> None:
    receiver.script = lambda n, got: Reply(500)
    endpoint = webhooks.endpoint(receiver.url)
    webhooks.publish("Tracking Created", created_detail())
    webhooks.pump()

    assert len(receiver.received) == 8
    [delivery] = webhooks.deliveries(endpoint["id"], status="failed")
    assert delivery["attempt_count"] == 8
    assert delivery["note"] == "gave up after 8 attempts"
    parked = webhooks.receive("WebhookDeliveriesDLQ")
    assert [json.loads(m["Body"])["delivery_id"] for m in parked] == [delivery["id"]]


def test_a_disabled_endpoint_receives_nothing(webhooks: Webhooks, receiver: Receiver) -> None:
    endpoint = webhooks.endpoint(receiver.url)
    assert webhooks.api("PATCH", f"/webhook-endpoints/{endpoint['id']}", {"status": "disabled"}).status == 200
    webhooks.publish("Tracking Created", created_detail())
    webhooks.pump()
    assert receiver.received == []
    assert webhooks.deliveries(endpoint["id"]) == []


def test_only_subscribed_types_are_delivered(webhooks: Webhooks, receiver: Receiver) -> None:
    webhooks.endpoint(receiver.url, events=["tracking.status_changed"])
    webhooks.publish("Tracking Created", created_detail(event_id="1" * 32))
    webhooks.publish("Tracking Status Changed", created_detail(event_id="2" * 32))
    webhooks.publish("Order Shipped", {"order_id": "o-1"}, source="storefront")
    webhooks.pump()
    assert [r.webhook_id for r in receiver.received] == ["2" * 32]
    assert receiver.received[0].json["type"] == "tracking.status_changed"


def test_during_a_rotation_both_secrets_verify(webhooks: Webhooks, receiver: Receiver) -> None:
    endpoint = webhooks.endpoint(receiver.url)
    rotated = webhooks.api("POST", f"/webhook-endpoints/{endpoint['id']}/rotate-secret")
    assert rotated.status == 200
    assert rotated.body["secret"] != endpoint["secret"]
    assert rotated.body["previous_secret_expires_at"] is not None
    webhooks.publish("Tracking Created", created_detail())
    webhooks.pump()
    got = receiver.received[0]
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    assert verify(endpoint["secret"], got) == verify(rotated.body["secret"], got)


def test_after_the_overlap_only_the_new_secret_signs(webhooks: Webhooks, receiver: Receiver) -> None:
    endpoint = webhooks.endpoint(receiver.url)
    rotated = webhooks.api("POST", f"/webhook-endpoints/{endpoint['id']}/rotate-secret").body
    repository = runtime.webhook_endpoints()
    record = repository.get(endpoint["id"])
    assert record is not None
    assert repository.replace(replace(record, previous_secret_expires_at=utc_now() - timedelta(seconds=1)))
    webhooks.publish("Tracking Created", created_detail())
    webhooks.pump()
    got = receiver.received[0]
    assert len(got.headers["webhook-signature"].split(" ")) == 1
    verify(rotated["secret"], got)
    with pytest.raises(WebhookVerificationError):
        verify(endpoint["secret"], got)


def test_a_redelivered_event_makes_no_second_delivery(webhooks: Webhooks, receiver: Receiver) -> None:
    endpoint = webhooks.endpoint(receiver.url)
    for _ in range(2):
        webhooks.publish("Tracking Created", created_detail())
    webhooks.pump()
    webhooks.publish("Tracking Created", created_detail())  # after the first delivery succeeded
    webhooks.pump()
    assert [r.webhook_id for r in receiver.received] == ["e" * 32]
    assert len(webhooks.deliveries(endpoint["id"])) == 1


def test_an_endpoint_failing_for_too_long_is_disabled_and_the_bus_hears_of_it(
    webhooks: Webhooks, receiver: Receiver
) -> None:
    tap = BusTap(webhooks.aws)
    receiver.script = lambda n, got: Reply(500)
    endpoint = webhooks.endpoint(receiver.url)
    repository = runtime.webhook_endpoints()
    record = repository.get(endpoint["id"])
    assert record is not None
    reader = webhooks.aws.stream_reader("WebhookEndpointsTable")
    reader.read()
    repository.replace(replace(record, failing_since=utc_now() - timedelta(days=5, minutes=1)))
    webhooks.publish("Tracking Created", created_detail())
    webhooks.pump()

    assert len(receiver.received) == 1  # disabled by the first failure: the retry is canceled
    stored = webhooks.api("GET", f"/webhook-endpoints/{endpoint['id']}").body
    assert (stored["status"], stored["disabled_reason"]) == ("disabled", "failing")
    [delivery] = webhooks.deliveries(endpoint["id"])
    assert (delivery["status"], delivery["note"]) == ("canceled", "endpoint disabled")

    records = json.loads(json.dumps(reader.read(), default=str))
    response = webhooks.handlers["webhook_endpoint_events"]({"Records": records}, LambdaContext())
    assert response == {"batchItemFailures": []}
    disabled = [e for e in tap.events() if e["detail-type"] == "Webhook Endpoint Disabled"]
    assert len(disabled) == 1
    assert disabled[0]["detail"]["reason"] == "failing"
    assert disabled[0]["detail"]["endpoint"]["id"] == endpoint["id"]
    assert "secret" not in json.dumps(disabled[0]["detail"])


def test_a_success_clears_failing_since(webhooks: Webhooks, receiver: Receiver) -> None:
    receiver.script = lambda n, got: Reply(500) if n == 0 else Reply(200)
    endpoint = webhooks.endpoint(receiver.url)
    webhooks.publish("Tracking Created", created_detail())
    webhooks.run("webhook_fanout", "WebhookEventsQueue")
    webhooks.run("webhook_delivery", "WebhookDeliveriesQueue")
    assert webhooks.api("GET", f"/webhook-endpoints/{endpoint['id']}").body["failing_since"] is not None
    webhooks.pump()
    assert webhooks.api("GET", f"/webhook-endpoints/{endpoint['id']}").body["failing_since"] is None


def test_a_ping_goes_through_the_same_path(webhooks: Webhooks, receiver: Receiver) -> None:
    endpoint = webhooks.endpoint(receiver.url, events=["tracking.archived"])
    other = Receiver().start()
    try:
        webhooks.endpoint(other.url)
        answer = webhooks.api("POST", f"/webhook-endpoints/{endpoint['id']}/test")
        assert answer.status == 202
        webhooks.pump()
        assert other.received == []
    finally:
        other.stop()
    [got] = receiver.received
    assert verify(endpoint["secret"], got)["type"] == "webhook.test"
    assert got.webhook_id == answer.body["event_id"]
    [delivery] = webhooks.deliveries(endpoint["id"])
    assert delivery["id"] == answer.body["delivery_id"]


def test_a_manual_retry_delivers_a_failed_delivery_again(webhooks: Webhooks, receiver: Receiver) -> None:
    receiver.script = lambda n, got: Reply(500) if n < 8 else Reply(200)
    endpoint = webhooks.endpoint(receiver.url)
    webhooks.publish("Tracking Created", created_detail())
    webhooks.pump()
    [failed] = webhooks.deliveries(endpoint["id"], status="failed")

    answer = webhooks.api("POST", f"/webhook-endpoints/{endpoint['id']}/deliveries/{failed['id']}/retry")
    assert answer.status == 202
    webhooks.pump()
    [delivery] = webhooks.deliveries(endpoint["id"])
    assert (delivery["status"], delivery["attempt_count"]) == ("succeeded", 9)
    assert webhooks.deliveries(endpoint["id"], status="failed") == []
    assert len({r.webhook_id for r in receiver.received}) == 1


def test_redriving_the_dlq_retries_the_parked_delivery_once(webhooks: Webhooks, receiver: Receiver) -> None:
    receiver.script = lambda n, got: Reply(500) if n < 8 else Reply(200)
    endpoint = webhooks.endpoint(receiver.url)
    webhooks.publish("Tracking Created", created_detail())
    webhooks.pump()
    [parked] = webhooks.receive("WebhookDeliveriesDLQ")
    for _ in range(2):  # the redrive, and a copy of it
        webhooks.aws.sqs.send_message(
            QueueUrl=webhooks.aws.queue_url("WebhookDeliveriesQueue"), MessageBody=parked["Body"]
        )
    webhooks.pump()
    assert len(receiver.received) == 9
    [delivery] = webhooks.deliveries(endpoint["id"])
    assert delivery["status"] == "succeeded"


@pytest.mark.parametrize("include", ["false", "true"])
def test_customer_data_reaches_webhooks_only_when_the_parameter_says_so(
    webhooks: Webhooks, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, include: str
) -> None:
    from tests.integration.events_support import publish_stream
    from tests.unit.test_events_customer_data import new_image

    monkeypatch.setenv("EVENTS_INCLUDE_CUSTOMER_DATA", include)
    endpoint = webhooks.endpoint(receiver.url)
    reader = webhooks.aws.stream_reader()
    webhooks.aws.table().put_item(Item=new_image())
    assert publish_stream(webhooks.aws, reader) == {"batchItemFailures": []}
    webhooks.pump()

    [got] = receiver.received
    customer = verify(endpoint["secret"], got)["data"]["tracking"]["customer"]
    if include == "true":
        assert customer["email"] == new_image()["customer_email"]
    else:
        assert customer == {"name": None, "email": None, "phone": None}
        assert new_image()["customer_email"] not in got.body


def test_the_sample_events_are_what_the_functions_take(webhooks: Webhooks, receiver: Receiver) -> None:
    from tests.integration.events_support import load_event

    endpoint = webhooks.endpoint(receiver.url, events=["tracking.status_changed"])
    sample = load_event("webhook_fanout/status_changed.json")
    assert webhooks.handlers["webhook_fanout"](sample, LambdaContext()) == {"batchItemFailures": []}
    webhooks.pump()
    [got] = receiver.received
    assert verify(endpoint["secret"], got)["data"] == json.loads(sample["Records"][0]["body"])["detail"]
    assert got.webhook_id == "5f2c0c6c1b0e4d6f9a7e2b3c4d5e6f70"

    # A delivery message for a delivery that does not exist (expired) is acknowledged, not retried.
    sample = load_event("webhook_delivery/delivery.json")
    assert webhooks.handlers["webhook_delivery"](sample, LambdaContext()) == {"batchItemFailures": []}


def test_a_delivery_whose_worker_died_mid_attempt_is_taken_over_when_its_lease_ends(
    webhooks: Webhooks, receiver: Receiver
) -> None:
    from tests.plugins.stack import eventually

    endpoint = webhooks.endpoint(receiver.url)
    webhooks.publish("Tracking Created", created_detail())
    webhooks.run("webhook_fanout", "WebhookEventsQueue")
    [delivery] = webhooks.deliveries(endpoint["id"])
    now = utc_now()
    repository = runtime.webhook_deliveries()
    # A worker claimed the attempt and died before posting: its lease still runs for 2 s.
    assert repository.claim(endpoint["id"], delivery["id"], now=now, due=now, lease_until=now + timedelta(seconds=2))

    webhooks.run("webhook_delivery", "WebhookDeliveriesQueue")  # the message: the lease is live, so it waits
    assert receiver.received == []
    eventually(lambda: webhooks.run("webhook_delivery", "WebhookDeliveriesQueue") and receiver.received, timeout=30)
    [got] = receiver.received
    assert got.webhook_id == "e" * 32
    [after] = webhooks.deliveries(endpoint["id"])
    assert (after["status"], after["attempt_count"]) == ("succeeded", 2)


def test_the_sample_stream_record_of_a_disabled_endpoint_is_one_event_on_the_bus(webhooks: Webhooks) -> None:
    from tests.integration.events_support import load_event

    tap = BusTap(webhooks.aws)
    sample = load_event("webhook_endpoint_events/endpoint_disabled.json")
    for _ in range(2):  # the stream may deliver a record again: the event keeps its id
        assert webhooks.handlers["webhook_endpoint_events"](sample, LambdaContext()) == {"batchItemFailures": []}

    events = [e for e in tap.events() if e["detail-type"] == "Webhook Endpoint Disabled"]
    assert len(events) == 2
    assert events[0]["detail"] == events[1]["detail"]
    detail = events[0]["detail"]
    assert (detail["reason"], detail["occurred_at"]) == ("failing", "2026-11-22T14:00:10.500Z")
    assert detail["endpoint"]["id"] == "ep_01KAQ3Y2J5ZB0M8S3W9X4T6R7Q"
    assert detail["endpoint"]["status"] == "disabled"
    assert "whsec_" not in json.dumps(detail)


def test_an_endpoint_subscribed_to_import_completed_receives_it(webhooks: Webhooks, receiver: Receiver) -> None:
    # Given the Import Completed event the publisher makes of its sample stream record (the last chunk done)
    from shiptrack.import_events import import_events_for_record
    from shiptrack.streams import record_images
    from tests.integration.events_support import load_event

    [record] = load_event("publisher/import_completed.json")["Records"]
    [completed] = import_events_for_record(record["eventName"], *record_images(record))
    endpoint = webhooks.endpoint(receiver.url, events=["import.completed"])
    other = webhooks.endpoint(receiver.url.replace("/hooks", "/other"), events=["tracking.created"])

    # When it is on the bus
    webhooks.publish(completed.detail_type, json.loads(completed.detail.model_dump_json(by_alias=True)))
    webhooks.pump()

    # Then the subscribed endpoint receives it, signed, as `import.completed` with the import's outcome; the other none
    [got] = receiver.received
    payload = verify(endpoint["secret"], got)
    assert payload["type"] == "import.completed"
    assert got.webhook_id == completed.event_id
    assert payload["data"]["import"]["id"] == completed.detail.import_.id
    assert payload["data"]["import"]["status"] == "completed"
    assert webhooks.deliveries(other["id"]) == []
