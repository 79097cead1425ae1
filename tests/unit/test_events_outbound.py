"""Outbound events from stream records: detail-types, stable ids, no event for invisible writes, size limit."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer

from shiptrack.events import (
    MAX_ENTRY_BYTES,
    TRACKING_ARCHIVED,
    TRACKING_CREATED,
    TRACKING_STATUS_CHANGED,
    TRACKING_UPDATED,
    events_for_record,
)
from shiptrack.models import Checkpoint

pytestmark = pytest.mark.unit

EVENTS = Path(__file__).resolve().parents[2] / "events" / "publisher"
_deserializer = TypeDeserializer()


def sample(name: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())["Records"][0]
    return record


def images(record: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    def load(key: str) -> dict[str, Any] | None:
        raw = record["dynamodb"].get(key)
        return None if raw is None else {k: _deserializer.deserialize(v) for k, v in raw.items()}

    return load("OldImage"), load("NewImage")


def events_of(record: dict[str, Any]) -> list[Any]:
    old, new = images(record)
    return events_for_record(record["eventName"], old, new, sequence_number=record["dynamodb"]["SequenceNumber"])


def test_insert_is_tracking_created_with_the_resource() -> None:
    [event] = events_of(sample("tracking_created"))
    assert event.detail_type == TRACKING_CREATED
    assert event.detail.tracking.tracking_number == "RR123456785CN"
    assert event.detail.tracking.order_id == "SO-100234"
    assert event.detail.previous_status is None


def test_status_change_carries_previous_and_new_status() -> None:
    [event] = events_of(sample("status_changed"))
    assert event.detail_type == TRACKING_STATUS_CHANGED
    assert (event.detail.previous_status, event.detail.status) == ("pending", "transit")
    assert event.detail.substatus == "transit002"


def test_a_write_that_only_moved_last_checked_at_emits_nothing() -> None:
    assert events_of(sample("checked_only")) == []


def test_archiving_emits_tracking_archived() -> None:
    [event] = events_of(sample("tracking_archived"))
    assert event.detail_type == TRACKING_ARCHIVED
    assert (event.detail.previous_lifecycle, event.detail.lifecycle) == ("stopped", "archived")


def test_other_visible_changes_are_tracking_updated() -> None:
    record = sample("checked_only")
    old, new = images(record)
    assert new is not None
    new = {**new, "title": "Blue teapot", "fingerprint": "changed"}
    [event] = events_for_record("MODIFY", old, new, sequence_number="9")
    assert event.detail_type == TRACKING_UPDATED
    assert event.detail.tracking.title == "Blue teapot"


def test_removes_emit_nothing() -> None:
    record = sample("status_changed")
    old, _ = images(record)
    assert events_for_record("REMOVE", old, None, sequence_number="10") == []


def test_event_ids_are_stable_across_redelivery() -> None:
    record = sample("status_changed")
    first = [e.event_id for e in events_of(record)]
    again = [e.event_id for e in events_of(copy.deepcopy(record))]
    assert first == again
    assert len(first[0]) == 32


def test_event_ids_differ_per_change_per_type_and_per_incarnation() -> None:
    created = events_of(sample("tracking_created"))[0].event_id
    changed = events_of(sample("status_changed"))[0].event_id
    assert created != changed
    # The same item deleted and created again restarts its revision at 1: its created_at keeps the ids apart.
    record = sample("tracking_created")
    _, new = images(record)
    assert new is not None
    recreated = {**new, "created_at": "2026-12-01T00:00:00.000Z", "updated_at": "2026-12-01T00:00:00.000Z"}
    assert events_for_record("INSERT", None, recreated, sequence_number="11")[0].event_id != created


def test_without_a_revision_the_sequence_number_identifies_the_change() -> None:
    record = sample("tracking_created")
    _, new = images(record)
    assert new is not None
    del new["revision"]
    one = events_for_record("INSERT", None, new, sequence_number="123")[0].event_id
    assert one == events_for_record("INSERT", None, new, sequence_number="123")[0].event_id
    assert one != events_for_record("INSERT", None, new, sequence_number="124")[0].event_id


def test_an_oversized_detail_is_trimmed_to_fit_eventbridge() -> None:
    [event] = events_of(sample("status_changed"))
    long = [
        Checkpoint(time="2026-11-20T00:00:00", description="x" * 4000, location="y", status="transit", source="origin")
        for _ in range(100)
    ]
    big = event.model_copy(
        update={
            "detail": event.detail.model_copy(
                update={"tracking": event.detail.tracking.model_copy(update={"checkpoints": long})}
            )
        }
    )
    entry = big.to_entry("bus")
    assert len(entry["Detail"].encode()) < MAX_ENTRY_BYTES
    detail = json.loads(entry["Detail"])
    assert detail["checkpoints_truncated"] is True
    assert 0 < len(detail["tracking"]["checkpoints"]) < 100
    assert entry["Source"] == "shiptrack"
    assert entry["DetailType"] == TRACKING_STATUS_CHANGED


def test_an_image_that_is_not_a_tracking_is_refused() -> None:
    with pytest.raises(ValueError, match="created_at"):
        events_for_record("INSERT", None, {"pk": "x", "revision": 1}, sequence_number="1")
