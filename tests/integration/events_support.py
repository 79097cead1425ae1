"""Helpers shared by the event-path integration tests (tests/integration/test_events_*.py)."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from shiptrack import runtime
from shiptrack.settings import clear_caches
from tests.lambda_context import LambdaContext

EVENTS = Path(__file__).resolve().parents[2] / "events"


def load_event(relative: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / relative).read_text())
    return data


def fresh_function(name: str) -> ModuleType:
    """``functions/<name>/app.py``, with settings, secrets and cached clients cleared first."""
    clear_caches()
    runtime.clear()
    return importlib.import_module(f"functions.{name}.app")


@pytest.fixture
def on_sandbox(aws: Any, sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The ``aws`` resources with the functions pointed at the sandbox."""
    monkeypatch.setenv("TRACKINGMORE_BASE_URL", sandbox.base_url)
    clear_caches()
    runtime.clear()
    yield aws
    clear_caches()
    runtime.clear()


class BusTap:
    """A rule on the project bus that copies every shiptrack event to a queue (what a subscriber would see)."""

    def __init__(self, aws: Any) -> None:
        self.aws = aws
        self.url = aws.sqs.create_queue(QueueName="test-bus-tap")["QueueUrl"]
        arn = aws.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        aws.events.put_rule(
            Name="test-bus-tap", EventBusName=aws.event_bus_name, EventPattern=json.dumps({"source": ["shiptrack"]})
        )
        aws.events.put_targets(
            Rule="test-bus-tap", EventBusName=aws.event_bus_name, Targets=[{"Id": "tap", "Arn": arn}]
        )

    def events(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            messages = self.aws.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return out
            for message in messages:
                out.append(json.loads(message["Body"]))
                self.aws.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])


def publish_stream(aws: Any, reader: Any) -> dict[str, Any]:
    """Run the publisher function over the stream records written since ``reader`` last read, as Lambda would."""
    records = json.loads(json.dumps(reader.read(), default=_jsonable))
    for record in records:
        record.setdefault("eventSource", "aws:dynamodb")
    publisher = fresh_function("publisher")  # its EventBridge client is built anew, on this test's moto
    response: dict[str, Any] = publisher.lambda_handler({"Records": records}, LambdaContext())
    return response


def _jsonable(value: Any) -> Any:
    import datetime as dt

    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode()
    raise TypeError(type(value).__name__)
