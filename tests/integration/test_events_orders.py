"""OrderEventsFunction on moto + the sandbox: samples, the bus → rule → queue path, exactly-once, the DLQ."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shiptrack.data.trackings import TrackingsRepository
from shiptrack.errors import InvalidOrderEventError
from shiptrack.models import TrackingRef
from shiptrack.services.orders import parse_order_shipped
from tests.integration.events_support import EVENTS, fresh_function, load_event, on_sandbox
from tests.lambda_context import LambdaContext

__all__ = ["on_sandbox"]

pytestmark = pytest.mark.integration

BATCH_CREATE = "POST /trackings/batch"
DETECT = "POST /carriers/detect"


def order_detail(order_id: str = "SO-100234") -> dict[str, Any]:
    detail: dict[str, Any] = json.loads(load_event("order_events/order_shipped.json")["Records"][0]["body"])["detail"]
    detail["order_id"] = order_id
    return detail


def put_order_shipped(aws: Any, detail: dict[str, Any]) -> None:
    response = aws.events.put_events(
        Entries=[
            {
                "Source": "storefront.orders",
                "DetailType": "Order Shipped",
                "Detail": json.dumps(detail),
                "EventBusName": aws.event_bus_name,
            }
        ]
    )
    assert response["FailedEntryCount"] == 0


def as_lambda_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """An SQS message as Lambda's SQS poller hands it to the function."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": "us-east-1",
    }


class Poller:
    """Lambda's SQS event source, one poll at a time: invoke, delete successes, make failures visible again."""

    def __init__(self, aws: Any) -> None:
        self.aws = aws
        self.url = aws.queue_url("OrderEventsQueue")
        self.arn = aws.names.queues["OrderEventsQueue"].arn
        self.function = fresh_function("order_events")

    def poll(self, *, delete: bool = True) -> dict[str, Any] | None:
        messages = self.aws.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, AttributeNames=["All"]).get(
            "Messages", []
        )
        if not messages:
            return None
        event = {"Records": [as_lambda_record(m, self.arn) for m in messages]}
        response: dict[str, Any] = self.function.lambda_handler(
            event, LambdaContext(function_name="OrderEventsFunction")
        )
        failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] in failed or not delete:
                self.aws.sqs.change_message_visibility(
                    QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
            else:
                self.aws.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        return response


def stored(aws: Any, *refs: TrackingRef) -> dict[TrackingRef, Any]:
    return TrackingsRepository(aws.table()).batch_get(refs)


RR = TrackingRef("china-post", "RR123456785CN")
UPS = TrackingRef("ups", "1Z999AA10123456784")


def test_every_sample_is_used() -> None:
    assert sorted(p.name for p in (EVENTS / "order_events").glob("*.json")) == [
        "invalid_detail.json",
        "mixed_batch.json",
        "order_shipped.json",
    ]


def test_order_shipped_sample_creates_both_trackings_with_the_order(on_sandbox: Any, sandbox: Any) -> None:
    function = fresh_function("order_events")
    response = function.lambda_handler(load_event("order_events/order_shipped.json"), LambdaContext())
    assert response == {"batchItemFailures": []}
    trackings = stored(on_sandbox, RR, UPS)
    assert set(trackings) == {RR, UPS}  # the UPS carrier was detected from the number
    for tracking in trackings.values():
        assert tracking.order_id == "SO-100234"
        assert tracking.order_created_at is not None
        assert tracking.order_created_at.isoformat().startswith("2026-11-21T10:15:00")
        assert tracking.customer.name == "Ada Lovelace"
        assert tracking.destination_code == "GB"


def test_invalid_sample_is_reported_failed_with_its_reason(on_sandbox: Any, caplog: pytest.LogCaptureFixture) -> None:
    event = load_event("order_events/invalid_detail.json")
    function = fresh_function("order_events")
    response = function.lambda_handler(event, LambdaContext())
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    with pytest.raises(InvalidOrderEventError, match=r"detail\.order_id") as error:
        parse_order_shipped(event["Records"][0]["body"])
    assert "shipments.0.tracking_number" in str(error.value)
    assert "destination_code" in str(error.value)


def test_mixed_batch_fails_only_the_bad_message(on_sandbox: Any, sandbox: Any) -> None:
    event = load_event("order_events/mixed_batch.json")
    function = fresh_function("order_events")
    response = function.lambda_handler(event, LambdaContext())
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}
    usps = TrackingRef("usps", "9400111899223197428490")
    assert stored(on_sandbox, usps)[usps].order_id == "SO-100235"


def test_two_shipments_become_two_trackings_exactly_once_even_when_delivered_twice(
    on_sandbox: Any, sandbox: Any
) -> None:
    aws = on_sandbox
    poller = Poller(aws)
    put_order_shipped(aws, order_detail())

    first = poller.poll(delete=False)  # processed, but the "delete" is lost: SQS will deliver it again
    assert first == {"batchItemFailures": []}
    calls_after_first = dict(sandbox.stats()["calls"])
    second = poller.poll()

    assert second == {"batchItemFailures": []}
    assert poller.poll() is None  # consumed
    assert set(stored(aws, RR, UPS)) == {RR, UPS}
    assert calls_after_first.get(BATCH_CREATE) == 1
    # The redelivery made no upstream call at all: not a create, not even a carrier detection.
    assert dict(sandbox.stats()["calls"]) == calls_after_first
    items = aws.table().query(
        IndexName="ByOrder", KeyConditionExpression="order_pk = :o", ExpressionAttributeValues={":o": "SO-100234"}
    )["Items"]
    assert len(items) == 2


def test_a_poison_message_reaches_the_dlq_and_never_blocks_the_others(on_sandbox: Any, sandbox: Any) -> None:
    aws = on_sandbox
    poller = Poller(aws)
    max_receives = aws.template.queues["OrderEventsQueue"].max_receive_count
    assert max_receives == 5
    put_order_shipped(aws, {"order_id": "SO-1", "shipments": []})  # no shipments: never valid
    put_order_shipped(aws, order_detail("SO-2"))

    receives = 0
    while poller.poll() is not None:
        receives += 1
        assert receives <= 10, "the poison message was never dead-lettered"

    dead = aws.receive("OrderEventsDLQ")
    assert len(dead) == 1
    assert json.loads(dead[0]["Body"])["detail"]["order_id"] == "SO-1"
    assert receives == max_receives  # it was tried exactly maxReceiveCount times
    assert all(t.order_id == "SO-2" for t in stored(aws, RR, UPS).values())
    assert set(stored(aws, RR, UPS)) == {RR, UPS}


def test_a_retryable_upstream_failure_leaves_the_message_for_retry(on_sandbox: Any, sandbox: Any) -> None:
    aws = on_sandbox
    poller = Poller(aws)
    put_order_shipped(aws, order_detail())
    sandbox.set_faults(error_rate=1.0, kinds=["http_500"], endpoints=[BATCH_CREATE])

    failed = poller.poll()

    assert failed is not None
    assert len(failed["batchItemFailures"]) == 1
    assert stored(aws, RR, UPS) == {}
    sandbox.clear_faults()
    assert poller.poll() == {"batchItemFailures": []}
    assert set(stored(aws, RR, UPS)) == {RR, UPS}
