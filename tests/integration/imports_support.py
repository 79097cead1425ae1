"""The import path in one process, for the imports integration and reliability tests (no tests here).

``ImportsSystem`` drives the real handlers of ImportsFunction, ImportDispatchFunction, ImportWorkerFunction and
PublisherFunction on in-process moto (``aws``) against the sandbox, the way API Gateway, the ImportsTable stream
poller and Lambda's SQS poller would — on a **simulated clock**, so retry delays, visibility timeouts and leases
take no real time:

* ``post(...)`` / ``get(...)`` — ImportsFunction with an API Gateway proxy event;
* ``dispatch()`` — the ImportsTable stream records written since the last call, filtered as the template's mapping
  filters them (new headers), through ImportDispatchFunction;
* ``work()`` — ImportChunksQueue, held in memory (:class:`SimulatedQueue`, delays and visibility on the simulated
  clock), delivered to ImportWorkerFunction in batches of 5 until nothing is left; a message whose invocation
  failed (an exception, a :class:`~tests.reliability.harness.SimulatedCrash`) comes back after the visibility
  timeout, and goes to the DLQ after 5 receives;
* ``publish()`` — the import headers' stream records through PublisherFunction; ``events()`` what reached the bus.
"""

from __future__ import annotations

import base64
import importlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shiptrack import runtime
from shiptrack.data.imports import ImportsRepository
from shiptrack.data.trackings import TrackingsRepository
from shiptrack.models import TrackingRef
from shiptrack.services.import_dispatch import ChunkMessage
from shiptrack.settings import clear_caches
from tests.integration.events_support import BusTap, _jsonable
from tests.integration.test_trackings_support import Answer
from tests.integration.test_trackings_support import event as api_event
from tests.lambda_context import LambdaContext

VISIBILITY_SECONDS = 720  # ImportChunksQueue's VisibilityTimeout
MAX_RECEIVES = 5  # its redrive policy
BATCH_SIZE = 10  # ImportWorkerFunction's SQS BatchSize
BATCH = "POST /trackings/batch"
DETECT = "POST /carriers/detect"


class SimulatedClock:
    """Wall-clock time that moves only when told (starts at real now)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def epoch(self) -> float:
        return self.now.timestamp()


@dataclass
class QueuedMessage:
    message_id: str
    body: str
    visible_at: float
    receives: int = 0


@dataclass
class SimulatedQueue:
    """ImportChunksQueue as the worker and the dispatcher see it (``ChunkQueue``'s interface), on the clock."""

    clock: SimulatedClock
    messages: list[QueuedMessage] = field(default_factory=list)
    dead: list[QueuedMessage] = field(default_factory=list)
    sent: int = 0

    def send(self, import_id: str, chunks: Any, *, delay_seconds: int = 0) -> None:
        for number in chunks:
            self.sent += 1
            body = ChunkMessage(import_id, number).body()
            self.messages.append(QueuedMessage(f"m-{self.sent}", body, self.clock.epoch() + delay_seconds))

    def next_batch(self) -> list[QueuedMessage]:
        """The next messages to deliver: the clock moves to the earliest visible one if none is visible now."""
        if not self.messages:
            return []
        earliest = min(message.visible_at for message in self.messages)
        if earliest > self.clock.epoch():
            self.clock.advance(earliest - self.clock.epoch())
        visible = [m for m in self.messages if m.visible_at <= self.clock.epoch()][:BATCH_SIZE]
        for message in visible:
            message.receives += 1
            message.visible_at = self.clock.epoch() + VISIBILITY_SECONDS
        return visible

    def delete(self, message: QueuedMessage) -> None:
        self.messages.remove(message)

    def failed(self, message: QueuedMessage) -> None:
        """Left undeleted: visible again after the visibility timeout, or dead-lettered after the last receive."""
        if message.receives >= MAX_RECEIVES:
            self.messages.remove(message)
            self.dead.append(message)


@dataclass
class ImportsSystem:
    aws: Any
    sandbox: Any
    clock: SimulatedClock
    queue: SimulatedQueue
    tap: BusTap
    handlers: dict[str, Any]
    invocations: int = 0
    worker_context_ms: int = 120_000
    _readers: dict[str, Any] = field(default_factory=dict)

    # -- API ---------------------------------------------------------------------------------------------------

    def post(
        self,
        body: Any = None,
        *,
        csv: str | bytes | None = None,
        headers: dict[str, str] | None = None,
        content_type: str | None = None,
    ) -> Answer:
        raw: str | None
        is_base64 = False
        if csv is not None:
            content_type = content_type or "text/csv"
            if isinstance(csv, bytes):
                try:
                    raw = csv.decode("utf-8")
                except UnicodeDecodeError:  # API Gateway hands non-UTF-8 bodies over in base64
                    raw, is_base64 = base64.b64encode(csv).decode(), True
            else:
                raw = csv
        else:
            raw = json.dumps(body) if body is not None else None
        all_headers = {"Content-Type": content_type or "application/json", **(headers or {})}
        evt = _imports_event("POST", "/imports", raw_body=raw, headers=all_headers)
        evt["isBase64Encoded"] = is_base64
        return self._call(evt)

    def get(self, path: str, **query: Any) -> Answer:
        params = {k: str(v) for k, v in query.items() if v is not None}
        return self._call(_imports_event("GET", path, query=params))

    def _call(self, evt: dict[str, Any]) -> Answer:
        response = self.handlers["imports"](evt, LambdaContext("ImportsFunction", remaining=lambda: 29_000))
        headers = {k: v[-1] for k, v in (response.get("multiValueHeaders") or {}).items()}
        headers.update(response.get("headers") or {})
        body = json.loads(response["body"]) if response.get("body") else None
        return Answer(response["statusCode"], headers, body)

    # -- the event sources ----------------------------------------------------------------------------------------

    def stream(self, consumer: str) -> list[dict[str, Any]]:
        """The ImportsTable stream records ``consumer`` (``dispatch`` or ``publish``) has not seen yet: each event
        source mapping reads the stream on its own."""
        if consumer not in self._readers:
            self._readers[consumer] = self.aws.stream_reader("ImportsTable")
        records: list[dict[str, Any]] = json.loads(json.dumps(self._readers[consumer].read(), default=_jsonable))
        for record in records:
            record.setdefault("eventSource", "aws:dynamodb")
        return records

    def dispatch(self, records: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """New headers of ``records`` (default: the stream since last time) through the dispatcher; returns the
        records it was given (the rest are for ``publish``)."""
        records = self.stream("dispatch") if records is None else records
        new = [r for r in records if r["eventName"] == "INSERT" and r["dynamodb"]["Keys"]["sk"]["S"] == "IMPORT"]
        if new:
            response = self.handlers["import_dispatch"]({"Records": new}, LambdaContext("ImportDispatchFunction"))
            assert response == {"batchItemFailures": []}, response
        return records

    def work(self, *, until_idle: bool = True) -> int:
        """Deliver queued chunk messages to the worker until the queue is empty; returns the invocations."""
        invocations = 0
        while batch := self.queue.next_batch():
            invocations += 1
            self.invocations += 1
            records = [
                {"messageId": m.message_id, "body": m.body, "attributes": {"ApproximateReceiveCount": str(m.receives)}}
                for m in batch
            ]
            context = LambdaContext("ImportWorkerFunction", remaining=lambda: self.worker_context_ms)
            try:
                response = self.handlers["import_worker"]({"Records": records}, context)
            except BaseException as exc:
                if isinstance(exc, KeyboardInterrupt):
                    raise
                failed = {m.message_id for m in batch}
            else:
                failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
            for message in batch:
                if message.message_id in failed:
                    self.queue.failed(message)
                else:
                    self.queue.delete(message)
            if not until_idle:
                break
        return invocations

    def run(self, body: Any = None, **post: Any) -> dict[str, Any]:
        """Post an import, dispatch it, work it to the end; returns its final state."""
        answer = self.post(body, **post)
        assert answer.status == 202, answer.body
        self.dispatch()
        self.work()
        return self.import_(answer.body["id"])

    def publish(self) -> None:
        records = [r for r in self.stream("publish") if r["dynamodb"]["Keys"]["sk"]["S"] == "IMPORT"]
        if records:
            response = self.handlers["publisher"]({"Records": records}, LambdaContext("PublisherFunction"))
            assert response == {"batchItemFailures": []}, response

    def events(self, detail_type: str = "Import Completed") -> list[dict[str, Any]]:
        return [event for event in self.tap.events() if event["detail-type"] == detail_type]

    # -- reading state -------------------------------------------------------------------------------------------

    def import_(self, import_id: str) -> dict[str, Any]:
        answer = self.get(f"/imports/{import_id}")
        assert answer.status == 200, answer.body
        body: dict[str, Any] = answer.body
        return body

    def results(self, import_id: str, **query: Any) -> list[dict[str, Any]]:
        """Every result page of an import, followed to the end."""
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = self.get(f"/imports/{import_id}/results", **query, cursor=cursor)
            assert page.status == 200, page.body
            items += page.body["items"]
            cursor = page.body.get("next_cursor")
            if not cursor:
                return items

    def calls(self, route: str) -> int:
        return int(self.sandbox.stats()["calls"].get(route, 0))

    @property
    def store(self) -> TrackingsRepository:
        return TrackingsRepository(self.aws.table())

    def stored(self, carrier_code: str, number: str) -> Any:
        return self.store.get(TrackingRef.of(carrier_code, number))

    def upstream_numbers(self) -> list[tuple[str, str]]:
        return [(t["carrier_code"], t["tracking_number"]) for t in self.sandbox.trackings()]


def _imports_event(
    method: str,
    path: str,
    *,
    raw_body: str | None = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    evt = api_event(method, path, raw_body=raw_body, query=query, headers=headers)
    parts = path.strip("/").split("/")
    resource, params = path, None
    if len(parts) >= 2:
        resource = "/imports/{import_id}" + ("/results" if parts[2:] == ["results"] else "")
        params = {"import_id": parts[1]}
    evt.update(resource=resource, pathParameters=params)
    evt["requestContext"].update(resourcePath=resource)
    return evt


@pytest.fixture(name="imports")
def imports_fixture(aws: Any, sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[ImportsSystem]:
    """The import path on moto and the sandbox, on a simulated clock (see the module docstring)."""
    monkeypatch.setenv("TRACKINGMORE_BASE_URL", sandbox.base_url)
    monkeypatch.setenv("IMPORT_RETRY_SECONDS", "10")
    clear_caches()
    runtime.clear()
    clock = SimulatedClock()
    queue = SimulatedQueue(clock)
    monkeypatch.setattr(runtime, "imports_repository", lambda: ImportsRepository(runtime.imports_table(), clock=clock))
    monkeypatch.setattr("shiptrack.compose._chunk_queue", lambda: queue)
    handlers = {
        name: importlib.import_module(f"functions.{name}.app").lambda_handler
        for name in ("imports", "import_dispatch", "import_worker", "publisher")
    }
    yield ImportsSystem(aws, sandbox, clock, queue, BusTap(aws), handlers)
    clear_caches()
    runtime.clear()


def csv_text(rows: list[dict[str, str]], columns: list[str] | None = None) -> str:
    """A CSV document with a header row."""
    import csv
    import io

    columns = columns or list(dict.fromkeys(key for row in rows for key in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
