"""The TTL cache over CacheTable: typed round trips, expiry before DynamoDB's lazy TTL deletion, batching."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from shiptrack.data.cache import CachedError, TtlCache

pytestmark = pytest.mark.unit


class Answer(BaseModel):
    carriers: list[str]


class Clock:
    def __init__(self, now: float = 1_800_000_000) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def table(aws: Any) -> Any:
    return aws.table("CacheTable")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(table: Any, clock: Clock) -> TtlCache[Answer]:
    return TtlCache(table, "REMOTE", Answer, clock=clock, sleep=lambda _: None)


def test_keys_carry_the_cache_prefix_and_namespace(cache: TtlCache[Answer]) -> None:
    assert cache.key("JP", "7621094", "ALL") == "CACHE#REMOTE#JP#7621094#ALL"


def test_key_parts_cannot_run_into_each_other(cache: TtlCache[Answer]) -> None:
    # "A#B" + "C" and "A" + "B#C" must not be the same item.
    assert cache.key("A#B", "C") != cache.key("A", "B#C")


def test_answers_round_trip_with_their_ttl(cache: TtlCache[Answer], table: Any, clock: Clock) -> None:
    key = cache.key("JP", "7621094", "ALL")

    stored = cache.put_many({key: Answer(carriers=["ups", "tnt"])}, ttl_seconds=600)
    entries = cache.get_many([key])

    assert stored == 1
    assert entries[key].value == Answer(carriers=["ups", "tnt"])
    assert entries[key].error is None
    item = table.get_item(Key={"pk": key})["Item"]
    assert item["expires_at"] == int(clock.now) + 600  # the table's TTL attribute
    assert item["kind"] == "value"


def test_errors_round_trip_separately_from_answers(cache: TtlCache[Answer]) -> None:
    key = cache.key("XX", "1", "ALL")
    error = CachedError(code="remote_check_failed", title="Remote check failed", detail="unknown place")

    cache.put_errors({key: error}, ttl_seconds=60)

    entry = cache.get_many([key])[key]
    assert entry.value is None
    assert entry.error == error


def test_an_entry_past_expires_at_is_a_miss_even_before_dynamodb_deletes_it(
    cache: TtlCache[Answer], table: Any, clock: Clock
) -> None:
    key = cache.key("JP", "1", "ALL")
    cache.put_many({key: Answer(carriers=[])}, ttl_seconds=60)

    clock.now += 59
    assert key in cache.get_many([key])
    clock.now += 1
    assert cache.get_many([key]) == {}
    assert "Item" in table.get_item(Key={"pk": key})  # still there: TTL deletion is lazy


def test_zero_ttl_stores_nothing(cache: TtlCache[Answer], table: Any) -> None:
    key = cache.key("JP", "1", "ALL")

    assert cache.put_many({key: Answer(carriers=[])}, ttl_seconds=0) == 0
    assert "Item" not in table.get_item(Key={"pk": key})


def test_many_keys_are_read_and_written_in_batches(cache: TtlCache[Answer]) -> None:
    # More than BatchWriteItem's 25 and BatchGetItem's 100 per call.
    keys = [cache.key("JP", str(n), "ALL") for n in range(130)]

    assert cache.put_many({key: Answer(carriers=["dhl"]) for key in keys}, ttl_seconds=60) == 130
    assert set(cache.get_many(keys + keys[:5])) == set(keys)  # duplicates asked for are fine


def test_an_entry_written_by_an_older_model_is_a_miss(cache: TtlCache[Answer], table: Any, clock: Clock) -> None:
    key = cache.key("JP", "1", "ALL")
    table.put_item(
        Item={"pk": key, "kind": "value", "payload": '{"old": 1}', "stored_at": 1, "expires_at": int(clock.now) + 60}
    )

    assert cache.get_many([key]) == {}


class FailingClient:
    def batch_get_item(self, **_: Any) -> Any:
        raise RuntimeError("dynamodb is down")

    def batch_write_item(self, **_: Any) -> Any:
        raise RuntimeError("dynamodb is down")


class FailingTable:
    name = "CacheTable"

    class meta:
        client = FailingClient()


def test_dynamodb_failures_degrade_to_misses_and_nothing_stored() -> None:
    cache = TtlCache(FailingTable(), "AWB", Answer)  # type: ignore[arg-type]  # a stand-in, not a boto3 Table

    assert cache.get_many([cache.key("172-28891936")]) == {}
    assert cache.put_many({cache.key("172-28891936"): Answer(carriers=[])}, ttl_seconds=60) == 0


class ThrottlingClient:
    """Leaves every key / item unprocessed the first time, like a throttled table."""

    def __init__(self, items: dict[str, dict[str, Any]]) -> None:
        self.items = items
        self.calls = 0

    def batch_get_item(self, RequestItems: dict[str, Any]) -> Any:
        self.calls += 1
        ((table, request),) = RequestItems.items()
        if self.calls == 1:
            return {"Responses": {table: []}, "UnprocessedKeys": RequestItems}
        found = [self.items[k["pk"]] for k in request["Keys"] if k["pk"] in self.items]
        return {"Responses": {table: found}, "UnprocessedKeys": {}}

    def batch_write_item(self, RequestItems: dict[str, Any]) -> Any:
        self.calls += 1
        ((_table, requests),) = RequestItems.items()
        if self.calls == 1:
            return {"UnprocessedItems": RequestItems}
        for request in requests:
            item = request["PutRequest"]["Item"]
            self.items[item["pk"]] = item
        return {"UnprocessedItems": {}}


def test_unprocessed_keys_and_items_are_retried(clock: Clock) -> None:
    client = ThrottlingClient({})
    table = type("T", (), {"name": "CacheTable", "meta": type("M", (), {"client": client})})()
    cache = TtlCache(table, "AWB", Answer, clock=clock, sleep=lambda _: None)
    key = cache.key("172-28891936")

    assert cache.put_many({key: Answer(carriers=[])}, ttl_seconds=60) == 1
    client.calls = 0
    assert key in cache.get_many([key])
    assert client.calls == 2
