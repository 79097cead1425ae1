"""local.moto_speed: moto answers as before, without the work that grew with what it holds.

Each behaviour test would pass on unpatched moto too (the patches must not change answers); each cost test fails on
unpatched moto (a whole-table copy per transaction, a scan of the queue per send or receive).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local.moto_patches import apply as apply_moto_patches

REGION = "us-east-1"


@pytest.fixture
def moto() -> Iterator[None]:
    apply_moto_patches()
    with mock_aws():
        yield


@pytest.fixture
def table(moto: None) -> Any:
    dynamodb = boto3.resource("dynamodb", region_name=REGION)
    created = dynamodb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    for number in range(50):
        created.put_item(Item={"pk": f"old{number}", "n": number})
    return created


def _client() -> Any:
    return boto3.client("dynamodb", region_name=REGION)


def _put(pk: str, condition: str | None = None, **values: Any) -> dict[str, Any]:
    put: dict[str, Any] = {"TableName": "t", "Item": {"pk": {"S": pk}, **values}}
    if condition:
        put["ConditionExpression"] = condition
    return {"Put": put}


def test_a_transaction_writes_every_item_when_every_condition_holds(table: Any) -> None:
    _client().transact_write_items(
        TransactItems=[
            _put("a", "attribute_not_exists(pk)", v={"N": "1"}),
            {
                "Update": {
                    "TableName": "t",
                    "Key": {"pk": {"S": "old1"}},
                    "UpdateExpression": "ADD n :one",
                    "ConditionExpression": "n = :was",
                    "ExpressionAttributeValues": {":one": {"N": "1"}, ":was": {"N": "1"}},
                }
            },
            {"Delete": {"TableName": "t", "Key": {"pk": {"S": "old2"}}}},
        ]
    )

    assert table.get_item(Key={"pk": "a"})["Item"]["v"] == 1
    assert table.get_item(Key={"pk": "old1"})["Item"]["n"] == 2
    assert "Item" not in table.get_item(Key={"pk": "old2"})


def test_a_failed_condition_cancels_the_whole_transaction_with_its_reasons(table: Any) -> None:
    with pytest.raises(ClientError) as raised:
        _client().transact_write_items(
            TransactItems=[
                _put("new", "attribute_not_exists(pk)"),
                {
                    "Put": {
                        "TableName": "t",
                        "Item": {"pk": {"S": "old3"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
            ]
        )

    error = raised.value.response
    assert error["Error"]["Code"] == "TransactionCanceledException"
    reasons = error["CancellationReasons"]
    assert [reason["Code"] for reason in reasons] == ["None", "ConditionalCheckFailed"]
    assert reasons[1]["Item"] == {"pk": {"S": "old3"}, "n": {"N": "3"}}
    assert "Item" not in table.get_item(Key={"pk": "new"})  # nothing of it was written
    assert table.get_item(Key={"pk": "old3"})["Item"]["n"] == 3


def test_a_write_that_fails_puts_back_what_the_transaction_wrote_before_it(table: Any) -> None:
    with pytest.raises(ClientError) as raised:
        _client().transact_write_items(
            TransactItems=[
                _put("old4", v={"S": "overwritten"}),
                {
                    "Update": {
                        "TableName": "t",
                        "Key": {"pk": {"S": "old5"}},
                        "UpdateExpression": "SET n = n + :text",  # a number plus a string: fails when applied
                        "ExpressionAttributeValues": {":text": {"S": "x"}},
                    }
                },
            ]
        )

    assert raised.value.response["Error"]["Code"] in ("TransactionCanceledException", "ValidationException")
    assert table.get_item(Key={"pk": "old4"})["Item"] == {"pk": "old4", "n": 4}
    assert table.get_item(Key={"pk": "old5"})["Item"] == {"pk": "old5", "n": 5}


def test_one_item_twice_in_a_transaction_is_refused(table: Any) -> None:
    with pytest.raises(ClientError) as raised:
        _client().transact_write_items(TransactItems=[_put("twice"), _put("twice")])

    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert "Item" not in table.get_item(Key={"pk": "twice"})


def test_a_transaction_does_not_copy_the_tables_it_touches(table: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb.models.table import Table

    real_deepcopy = copy.deepcopy
    copied: list[str] = []

    def deepcopy(value: Any, memo: Any = None) -> Any:
        if isinstance(value, Table):
            copied.append(value.name)
        return real_deepcopy(value, memo)

    monkeypatch.setattr(copy, "deepcopy", deepcopy)
    _client().transact_write_items(TransactItems=[_put("c1"), _put("c2")])

    assert copied == []
    assert "Item" in table.get_item(Key={"pk": "c2"})


def test_queues_count_their_messages_only_when_asked(moto: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.sqs.models import Queue

    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    scans: list[str] = []
    real_messages = Queue.messages

    def messages(self: Any) -> Any:
        scans.append(self.name)
        return real_messages.fget(self)  # type: ignore[attr-defined]

    monkeypatch.setattr(Queue, "messages", property(messages))
    for number in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{number}")
    sends_scanned = len(scans)
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2)["Messages"]
    receive_scans = len(scans) - sends_scanned
    counted = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn", "MessageRetentionPeriod"])

    assert sends_scanned == 0
    assert receive_scans == 1  # finding visible messages is the receive's own work, once, not once per message
    assert [message["Body"] for message in received] == ["m0", "m1"]
    assert counted["Attributes"] == {"ApproximateNumberOfMessages": "1"}
    assert set(arn["Attributes"]) == {"QueueArn", "MessageRetentionPeriod"}
    everything = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert everything["ApproximateNumberOfMessages"] == "1"
    assert everything["ApproximateNumberOfMessagesNotVisible"] == "2"
