"""local.glue.StreamEventSource batches a shard's records as Lambda does: up to BatchSize, for up to
MaximumBatchingWindowInSeconds after the first record, and only the records its FilterCriteria keep."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from local.functions import InvokeResult
from local.glue import StreamEventSource
from local.specs import EventSourceMappingSpec

STREAM = "arn:aws:dynamodb:us-east-1:123456789012:table/T/stream/1"


class ScriptedStream:
    """One shard whose ``get_records`` answers the scripted pages in turn (then nothing)."""

    def __init__(self, pages: list[list[str]]) -> None:
        self.pages = list(pages)
        self.drained = threading.Event()

    def describe_stream(self, StreamArn: str) -> dict[str, Any]:
        return {"StreamDescription": {"Shards": [{"ShardId": "shard-1"}]}}

    def get_shard_iterator(self, **_: Any) -> dict[str, Any]:
        return {"ShardIterator": "it"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        if not self.pages:
            self.drained.set()
            return {"Records": [], "NextShardIterator": "it"}
        keys = self.pages.pop(0)
        records = [
            {"eventName": "INSERT", "dynamodb": {"Keys": {"pk": {"S": key}}, "SequenceNumber": key}} for key in keys
        ]
        return {"Records": records, "NextShardIterator": "it"}


class RecordingPool:
    def __init__(self) -> None:
        self.spec = SimpleNamespace(logical_id="Consumer")
        self.batches: list[list[str]] = []
        self.invoked = threading.Event()

    def invoke(self, event: dict[str, Any]) -> InvokeResult:
        self.batches.append([r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"]])
        self.invoked.set()
        return InvokeResult(request_id="r", ok=True, payload=None, duration_ms=1.0, cold_start=False)


def _source(stream: ScriptedStream, pool: RecordingPool, **properties: Any) -> StreamEventSource:
    mapping = EventSourceMappingSpec(
        logical_id="Mapping",
        function_id="Consumer",
        source_arn=STREAM,
        enabled=True,
        properties={"StartingPosition": "TRIM_HORIZON", **properties},
    )
    return StreamEventSource(
        pool,  # type: ignore[arg-type]
        mapping,
        stream_arn=STREAM,
        streams=stream,
        sqs=None,
        region="us-east-1",
        log=lambda _message: None,
    )


@pytest.fixture
def running() -> Iterator[list[StreamEventSource]]:
    started: list[StreamEventSource] = []
    yield started
    for source in started:
        source.stop()
        source.join(5)


def _run_until_drained(source: StreamEventSource, stream: ScriptedStream, pool: RecordingPool, wait: float) -> None:
    source.start()
    assert stream.drained.wait(10)
    pool.invoked.wait(wait)


# Three polls, each finding two records: within a 30 s window nothing is due until BatchSize is reached.
PAGES = [["a", "b"], ["c", "d"], ["e", "f"]]


def test_records_arriving_within_the_window_are_one_invocation_up_to_the_batch_size(
    running: list[StreamEventSource],
) -> None:
    stream, pool = ScriptedStream(PAGES), RecordingPool()
    source = _source(stream, pool, BatchSize=4, MaximumBatchingWindowInSeconds=30)
    running.append(source)

    _run_until_drained(source, stream, pool, wait=5)

    assert pool.batches == [["a", "b", "c", "d"]]  # "e", "f" wait for their window or for more records


def test_without_a_window_every_poll_that_finds_records_invokes(running: list[StreamEventSource]) -> None:
    stream, pool = ScriptedStream(PAGES), RecordingPool()
    source = _source(stream, pool, BatchSize=4)
    running.append(source)

    _run_until_drained(source, stream, pool, wait=5)

    assert pool.batches == [["a", "b"], ["c", "d"], ["e", "f"]]


def test_a_short_window_delivers_what_it_gathered_when_it_ends(running: list[StreamEventSource]) -> None:
    stream, pool = ScriptedStream([["a"], ["b"]]), RecordingPool()
    source = _source(stream, pool, BatchSize=100, MaximumBatchingWindowInSeconds=1)
    running.append(source)

    source.start()
    assert stream.drained.wait(10)
    assert pool.invoked.wait(10)

    assert pool.batches == [["a", "b"]]


def test_records_the_filter_drops_do_not_count_towards_the_batch(running: list[StreamEventSource]) -> None:
    keep_c = {"Filters": [{"Pattern": '{"dynamodb": {"Keys": {"pk": {"S": ["c", "d", "e"]}}}}'}]}
    stream, pool = ScriptedStream(PAGES), RecordingPool()
    source = _source(stream, pool, BatchSize=3, MaximumBatchingWindowInSeconds=30, FilterCriteria=keep_c)
    running.append(source)

    _run_until_drained(source, stream, pool, wait=5)

    assert pool.batches == [["c", "d", "e"]]
