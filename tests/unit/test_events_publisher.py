"""The publisher's delivery rules, against a scripted PutEvents: chunks, per-entry resends, bounded, ordered."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from shiptrack.services.publisher import MAX_PUT_ATTEMPTS, publish_stream_records

pytestmark = pytest.mark.unit

EVENTS = Path(__file__).resolve().parents[2] / "events" / "publisher"


def records(name: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads((EVENTS / f"{name}.json").read_text())["Records"]
    return data


def many_inserts(count: int) -> list[dict[str, Any]]:
    """``count`` INSERT records of distinct trackings, with increasing sequence numbers."""
    [template] = records("tracking_created")
    out = []
    for index in range(count):
        record = copy.deepcopy(template)
        number = f"RR{index:09d}CN"
        image = record["dynamodb"]["NewImage"]
        image["pk"] = {"S": f"china-post#{number}"}
        image["tracking_number"] = {"S": number}
        record["dynamodb"]["SequenceNumber"] = f"2{index:020d}"
        out.append(record)
    return out


@dataclass
class ScriptedEvents:
    """PutEvents that fails the entries whose tracking numbers are in ``fail`` for their first ``times`` sends."""

    fail: dict[str, int] = field(default_factory=dict)
    raise_first: int = 0
    calls: list[list[dict[str, Any]]] = field(default_factory=list)
    published: list[dict[str, Any]] = field(default_factory=list)

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(Entries)
        if self.raise_first:
            self.raise_first -= 1
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "PutEvents")
        results = []
        for entry in Entries:
            number = json.loads(entry["Detail"])["tracking"]["tracking_number"]
            if self.fail.get(number, 0) > 0:
                self.fail[number] -= 1
                results.append({"ErrorCode": "InternalFailure", "ErrorMessage": "try again"})
            else:
                self.published.append(entry)
                results.append({"EventId": f"id-{len(self.published)}"})
        failed = sum(1 for r in results if "ErrorCode" in r)
        return {"FailedEntryCount": failed, "Entries": results}


def publish(batch: list[dict[str, Any]], client: ScriptedEvents) -> Any:
    return publish_stream_records(batch, events_client=client, bus_name="bus", sleep=lambda _: None)


def test_every_sample_record_is_published_or_skipped_as_it_should() -> None:
    client = ScriptedEvents()
    batch = [
        *records("tracking_created"),
        *records("status_changed"),
        *records("checked_only"),
        *records("tracking_archived"),
    ]
    result = publish(batch, client)
    assert result.response() == {"batchItemFailures": []}
    assert [e["DetailType"] for e in client.published] == [
        "Tracking Created",
        "Tracking Status Changed",
        "Tracking Archived",
    ]
    assert result.skipped_records == 1
    assert all(e["Source"] == "shiptrack" and e["EventBusName"] == "bus" for e in client.published)


def test_entries_go_in_requests_of_at_most_ten() -> None:
    client = ScriptedEvents()
    result = publish(many_inserts(23), client)
    assert [len(call) for call in client.calls] == [10, 10, 3]
    assert result.published == 23


def test_only_failed_entries_are_sent_again() -> None:
    client = ScriptedEvents(fail={"RR000000003CN": 2})
    result = publish(many_inserts(5), client)
    assert result.response() == {"batchItemFailures": []}
    assert [len(call) for call in client.calls] == [5, 1, 1]
    assert len(client.published) == 5
    assert result.retried_entries == 1


def test_a_throttled_request_is_retried_whole() -> None:
    client = ScriptedEvents(raise_first=1)
    result = publish(many_inserts(3), client)
    assert result.published == 3
    assert [len(call) for call in client.calls] == [3, 3]


def test_an_entry_that_keeps_failing_hands_its_record_and_the_rest_back_to_the_stream() -> None:
    batch = many_inserts(25)
    client = ScriptedEvents(fail={"RR000000012CN": 99})
    result = publish(batch, client)
    failed = [f["itemIdentifier"] for f in result.response()["batchItemFailures"]]
    # Record 12 never got through: it and every later record are retried by Lambda, from the lowest.
    assert failed == [r["dynamodb"]["SequenceNumber"] for r in batch[12:]]
    # Bounded: the failing entry was sent MAX_PUT_ATTEMPTS times; the third chunk was never sent.
    sends = sum(1 for call in client.calls for e in call if "RR000000012CN" in e["Detail"])
    assert sends == MAX_PUT_ATTEMPTS
    assert len(client.calls) == 1 + MAX_PUT_ATTEMPTS
    # Lambda redelivers from record 12: the events already sent from 13..19 come again with the very same ids,
    # so subscribers can drop them.
    retry = ScriptedEvents()
    publish(batch[12:], retry)
    retry_ids = {detail["event_id"] for detail in details(retry.published)}
    sent_again = [d for d in details(client.published) if d["tracking"]["tracking_number"] >= "RR000000012CN"]
    assert len(sent_again) == 7
    assert all(d["event_id"] in retry_ids for d in sent_again)


def details(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [json.loads(e["Detail"]) for e in entries]


def test_a_record_that_is_not_a_tracking_fails_alone_with_what_follows() -> None:
    batch = many_inserts(3)
    batch[1]["dynamodb"]["NewImage"] = {"pk": {"S": "garbage"}}
    client = ScriptedEvents()
    result = publish(batch, client)
    assert [f["itemIdentifier"] for f in result.response()["batchItemFailures"]] == [
        batch[1]["dynamodb"]["SequenceNumber"],
        batch[2]["dynamodb"]["SequenceNumber"],
    ]
    assert [json.loads(e["Detail"])["tracking"]["tracking_number"] for e in client.published] == ["RR000000000CN"]
    assert result.unpublishable_records == 1
