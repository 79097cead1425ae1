"""The batch create pipeline's chunk step, on its own and as the pipeline drives it (moto, a scripted client)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from shiptrack.data.trackings import TrackingsRepository
from shiptrack.models import CreateTrackingRequest, TrackingRef
from shiptrack.services.create import CHUNK_SIZE, PendingCreate, create_chunk, create_trackings
from trackingmore import CreateTrackingRequest as UpstreamCreate
from trackingmore.models import BatchCreateItem, BatchCreateResult
from trackingmore.models import Tracking as UpstreamTracking

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
QUOTA_EXHAUSTED = 4021  # TrackingMore's "quota used up" (trackingmore.errors: QuotaExceededError)


def upstream(number: str) -> UpstreamTracking:
    return UpstreamTracking.model_validate(
        {"id": f"id-{number}", "tracking_number": number, "carrier_code": "ups", "status": "transit"}
    )


class ScriptedClient:
    """Answers each batch create item by item as ``outcome_for`` says; counts the calls it gets."""

    def __init__(self, outcome_for: Callable[[UpstreamCreate], BatchCreateItem]) -> None:
        self.outcome_for = outcome_for
        self.batch_calls: list[int] = []
        self.gets: list[str] = []

    def batch_create_trackings(self, requests: Sequence[UpstreamCreate]) -> BatchCreateResult:
        self.batch_calls.append(len(requests))
        return BatchCreateResult(items=[self.outcome_for(request) for request in requests])

    def get_tracking(self, carrier_code: str, tracking_number: str) -> UpstreamTracking:
        self.gets.append(tracking_number)
        return upstream(tracking_number)


def created(request: UpstreamCreate) -> BatchCreateItem:
    number = request.tracking_number
    return BatchCreateItem(tracking_number=number, carrier_code="ups", outcome="created", tracking=upstream(number))


def quota_exhausted(request: UpstreamCreate) -> BatchCreateItem:
    return BatchCreateItem(
        tracking_number=request.tracking_number,
        carrier_code="ups",
        outcome="failed",
        error_code=QUOTA_EXHAUSTED,
        error_message="quota used up",
    )


def pending(numbers: Sequence[str]) -> list[PendingCreate]:
    return [
        PendingCreate(index, TrackingRef.of("ups", number), CreateTrackingRequest(tracking_number=number))
        for index, number in enumerate(numbers)
    ]


@pytest.fixture
def store(aws: Any) -> TrackingsRepository:
    return TrackingsRepository(aws.table(), sleep=lambda _s: None)


def test_a_chunk_creates_adopts_and_refuses_item_by_item(store: TrackingsRepository) -> None:
    def outcome(request: UpstreamCreate) -> BatchCreateItem:
        number = request.tracking_number
        if number.endswith("1"):
            return BatchCreateItem(tracking_number=number, carrier_code="ups", outcome="exists")
        if number.endswith("2"):
            return BatchCreateItem(
                tracking_number=number, carrier_code="ups", outcome="failed", error_code=4013, error_message="bad"
            )
        return created(request)

    client = ScriptedClient(outcome)
    chunk = pending(["1Z0000000000", "1Z0000000001", "1Z0000000002"])

    done = create_chunk(chunk, store=store, client=client, now=NOW)  # type: ignore[arg-type]

    results = {ref.tracking_number: result for ref, result in done.results.items()}
    assert [results[n].outcome for n in ("1Z0000000000", "1Z0000000001", "1Z0000000002")] == [
        "created",
        "created",  # 4016: upstream held it, we did not; adopted as a single create does
        "failed",
    ]
    assert client.batch_calls == [3]
    assert client.gets == ["1Z0000000001"]
    assert results["1Z0000000002"].problem is not None
    assert results["1Z0000000002"].problem.code == "upstream_rejected"
    assert done.account_problem is None
    assert set(store.batch_get([p.ref for p in chunk])) == {chunk[0].ref, chunk[1].ref}


def test_a_chunk_is_at_most_one_upstream_call(store: TrackingsRepository) -> None:
    client = ScriptedClient(created)
    numbers = [f"1Z{index:010d}" for index in range(CHUNK_SIZE + 1)]

    with pytest.raises(ValueError, match=str(CHUNK_SIZE)):
        create_chunk(pending(numbers), store=store, client=client, now=NOW)  # type: ignore[arg-type]
    assert client.batch_calls == []


def test_the_batch_goes_upstream_a_chunk_at_a_time_and_stops_at_an_account_wide_refusal(
    store: TrackingsRepository,
) -> None:
    client = ScriptedClient(quota_exhausted)
    items = [{"tracking_number": f"1Z{index:010d}", "carrier_code": "ups"} for index in range(CHUNK_SIZE + 10)]

    response = create_trackings(items, store=store, client=lambda: client, now=NOW, concurrency=1)  # type: ignore[arg-type,return-value]

    assert client.batch_calls == [CHUNK_SIZE]  # the second chunk would meet the same refusal: not sent
    assert response.summary.failed == len(items)
    assert {result.problem.code for result in response.results if result.problem} == {"upstream_quota_exhausted"}
    assert [result.index for result in response.results] == list(range(len(items)))


def test_the_batch_sends_every_chunk_when_they_succeed(store: TrackingsRepository) -> None:
    client = ScriptedClient(created)
    items = [{"tracking_number": f"1Z{index:010d}", "carrier_code": "ups"} for index in range(2 * CHUNK_SIZE + 5)]

    response = create_trackings(items, store=store, client=lambda: client, now=NOW)  # type: ignore[arg-type,return-value]

    assert sorted(client.batch_calls) == [5, CHUNK_SIZE, CHUNK_SIZE]  # sent concurrently: in any order
    assert response.summary.created == len(items)


def test_concurrent_chunks_not_yet_started_after_a_refusal_are_not_sent(store: TrackingsRepository) -> None:
    client = ScriptedClient(quota_exhausted)
    items = [{"tracking_number": f"1Z{index:010d}", "carrier_code": "ups"} for index in range(CHUNK_SIZE * 12)]

    response = create_trackings(items, store=store, client=lambda: client, now=NOW, concurrency=3)  # type: ignore[arg-type,return-value]

    # At most the chunks already in flight when the first refusal came back were sent.
    assert 1 <= len(client.batch_calls) <= 3
    assert response.summary.failed == len(items)


def test_a_retry_of_the_same_work_answers_created_for_what_it_stored_before(store: TrackingsRepository) -> None:
    client = ScriptedClient(created)
    items = [{"tracking_number": f"1Z{index:010d}", "carrier_code": "ups"} for index in range(3)]
    create_trackings(items[:2], store=store, client=lambda: client, now=NOW, created_by="import:a:1")  # type: ignore[arg-type,return-value]

    again = create_trackings(items, store=store, client=lambda: client, now=NOW, created_by="import:a:1")  # type: ignore[arg-type,return-value]
    other = create_trackings(items, store=store, client=lambda: client, now=NOW, created_by="import:b:1")  # type: ignore[arg-type,return-value]

    assert [r.outcome for r in again.results] == ["created", "created", "created"]
    assert client.batch_calls == [2, 1]  # the retry sent only the one it had not stored
    assert [r.outcome for r in other.results] == ["existing", "existing", "existing"]
