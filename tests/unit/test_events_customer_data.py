"""Customer contact data in events (``EventsIncludeCustomerData``): left out by default, kept when asked for."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer

from shiptrack.events import events_for_record
from shiptrack.services.publisher import publish_stream_records

pytestmark = pytest.mark.unit

SAMPLE = Path(__file__).resolve().parents[2] / "events" / "publisher" / "tracking_created.json"


def record() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SAMPLE.read_text())["Records"][0]
    return data


def new_image() -> dict[str, Any]:
    raw = record()["dynamodb"]["NewImage"]
    return {k: TypeDeserializer().deserialize(v) for k, v in raw.items()}


def test_the_sample_tracking_has_a_customer() -> None:
    assert new_image()["customer_email"]


def test_by_default_events_carry_an_empty_customer() -> None:
    [event] = events_for_record("INSERT", None, new_image())
    assert event.detail.tracking.customer.model_dump() == {"name": None, "email": None, "phone": None}
    assert new_image()["customer_email"] not in event.to_entry("bus")["Detail"]


def test_when_asked_for_events_carry_the_customer() -> None:
    [event] = events_for_record("INSERT", None, new_image(), include_customer_data=True)
    assert event.detail.tracking.customer.email == new_image()["customer_email"]
    assert event.detail.tracking.customer.name == new_image()["customer_name"]


@pytest.mark.parametrize("include", [False, True])
def test_the_publisher_passes_the_choice_on(include: bool) -> None:
    sent: list[dict[str, Any]] = []

    class Bus:
        def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
            sent.extend(Entries)
            return {"FailedEntryCount": 0, "Entries": [{"EventId": str(i)} for i in range(len(Entries))]}

    publish_stream_records([record()], events_client=Bus(), bus_name="bus", include_customer_data=include)
    [entry] = sent
    customer = json.loads(entry["Detail"])["tracking"]["customer"]
    assert (customer["email"] == new_image()["customer_email"]) is include
    assert customer["email"] is None or include
