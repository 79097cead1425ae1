"""Every job and consumer stops before its deadline and resumes where it stopped (moto + the sandbox).

The Lambda's remaining time is scripted, never measured. "TrackingMore is too slow" is either the sandbox never
answering (its timeout fault), with the client bound to the deadline giving up within the scripted budget, or a
client whose n-th call ends as the deadline would end it (``DeadlineExceededError``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shiptrack.compose import bound_client
from shiptrack.data.jobs import JobStateStore
from shiptrack.data.order_markers import OrderMarkers
from shiptrack.data.trackings import TrackingsRepository
from shiptrack.deadline import Deadline
from shiptrack.errors import RetryableOrderError
from shiptrack.models import TrackingRef
from shiptrack.services.archive import ArchiveState, run_archive
from shiptrack.services.create import create_trackings
from shiptrack.services.orders import MESSAGE_MIN_MS, handle_order_shipped
from shiptrack.services.publisher import CHUNK_BUDGET_MS, publish_stream_records
from shiptrack.services.refresh import JOB_NAME, RefreshConfig, RefreshState, run_refresh
from tests.integration.events_support import fresh_function, load_event, on_sandbox
from tests.lambda_context import LambdaContext
from trackingmore import DeadlineExceededError, TrackingMoreClient

__all__ = ["on_sandbox"]

pytestmark = pytest.mark.integration

LIST = "GET /trackings/get"
NOW = datetime.now(UTC)


@pytest.fixture
def client(sandbox: Any) -> Iterator[TrackingMoreClient]:
    with TrackingMoreClient(sandbox.api_key, base_url=sandbox.base_url, sleep=lambda _: None) as tm:
        yield tm


@pytest.fixture
def store(on_sandbox: Any) -> TrackingsRepository:
    return TrackingsRepository(on_sandbox.table())


@pytest.fixture
def jobs(on_sandbox: Any) -> JobStateStore:
    return JobStateStore(on_sandbox.table("CacheTable"))


class CutShort:
    """The client, except that its ``at``-th call (counting every method) ends as the deadline ends it."""

    def __init__(self, client: TrackingMoreClient, at: int) -> None:
        self._client = client
        self._at = at
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls == self._at:
                raise DeadlineExceededError("TrackingMore did not answer within 0.8 s", request_sent=True)
            return method(*args, **kwargs)

        return call


def track(count: int, store: TrackingsRepository, client: TrackingMoreClient, prefix: str) -> list[TrackingRef]:
    items = [{"tracking_number": f"{prefix}{index:010d}", "carrier_code": "ups"} for index in range(count)]
    assert create_trackings(items, store=store, client=lambda: client).summary.created == count
    return [TrackingRef("ups", item["tracking_number"]) for item in items]


def refresh(store: TrackingsRepository, jobs: JobStateStore, client: Any, remaining: Callable[[], int]) -> Any:
    config = RefreshConfig(page_limit=5)
    deadline = Deadline(remaining, reserve_ms=config.reserve_ms)
    return run_refresh(
        store=store, jobs=jobs, client=client, deadline=deadline, clock=lambda: datetime.now(UTC), config=config
    )


# --------------------------------------------------------------------------------------------------------- refresh


def test_refresh_stops_when_trackingmore_outlasts_the_deadline_and_resumes_next_run(
    sandbox: Any, store: TrackingsRepository, jobs: JobStateStore, client: TrackingMoreClient
) -> None:
    track(12, store, client, "1Z999AA3")
    # The Lambda has 8 s left of which the job keeps 5 s: the bound client gives a call 2 s, then gives up.
    remaining = lambda: 8_000  # noqa: E731 - scripted, never measured
    bound = client.with_deadline(Deadline(remaining, reserve_ms=5_000).seconds_left, margin=1.0)
    sandbox.set_faults(error_rate=1.0, kinds=["timeout"], endpoints=[LIST], timeout_s=30)

    stopped = run_refresh(
        store=store,
        jobs=jobs,
        client=bound,
        deadline=Deadline(lambda: 120_000, reserve_ms=5_000),  # the job's own checks would let it go on
        clock=lambda: datetime.now(UTC),
        config=RefreshConfig(page_limit=5),
    )
    sandbox.clear_faults()
    resumed = refresh(store, jobs, client, lambda: 900_000)

    assert (stopped.completed, stopped.interrupted_by) == (False, "time")
    assert jobs.load(JOB_NAME, RefreshState).revision > 0
    assert resumed.completed
    assert resumed.watermark is not None


def test_refresh_cut_short_mid_pull_keeps_its_page_and_skips_nothing(
    sandbox: Any, store: TrackingsRepository, jobs: JobStateStore, client: TrackingMoreClient
) -> None:
    refs = track(12, store, client, "1Z999AA4")
    first_run = CutShort(client, at=2)  # page 1 applied, page 2 cut short

    stopped = refresh(store, jobs, first_run, lambda: 900_000)
    saved = jobs.load(JOB_NAME, RefreshState).state
    resumed = refresh(store, jobs, client, lambda: 900_000)

    assert (stopped.interrupted_by, stopped.pulled) == ("time", 5)
    assert (saved.phase, saved.next_page) == ("pull", 2)
    assert resumed.completed
    assert stopped.pulled + resumed.pulled >= len(refs)


# --------------------------------------------------------------------------------------------------------- archive


def test_archive_cut_short_archives_nothing_of_the_group_and_the_next_run_finishes(
    sandbox: Any, store: TrackingsRepository, jobs: JobStateStore, client: TrackingMoreClient
) -> None:
    refs = track(6, store, client, "1Z999AA5")
    for ref in refs:
        store.update_fields(ref, {"status": "delivered"}, now=NOW - timedelta(days=40))

    def archive(with_client: Any) -> Any:
        return run_archive(
            store=store,
            jobs=jobs,
            client=with_client,
            deadline=Deadline(lambda: 900_000, reserve_ms=5_000),
            clock=lambda: NOW,
            archive_after_days=30,
        )

    stopped = archive(CutShort(client, at=1))
    cutoff = jobs.load("archive", ArchiveState).state.cutoff
    finished = archive(client)

    assert (stopped.interrupted_by, stopped.archived) == ("time", 0)
    assert cutoff is not None  # the cycle's cutoff is kept for the next run
    assert finished.completed
    assert finished.archived == len(refs)
    assert all(store.get(ref).lifecycle == "archived" for ref in refs)  # type: ignore[union-attr]


# ------------------------------------------------------------------------------------------------- order events


def test_an_order_message_the_deadline_leaves_no_time_for_is_not_started(on_sandbox: Any, sandbox: Any) -> None:
    body = load_event("order_events/order_shipped.json")["Records"][0]["body"]
    markers = OrderMarkers(on_sandbox.table("CacheTable"))

    def create_trackings(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a message without time must not be started")

    with pytest.raises(RetryableOrderError, match="not started"):
        handle_order_shipped(
            body, markers=markers, create_trackings=create_trackings, deadline=Deadline(lambda: MESSAGE_MIN_MS - 1)
        )
    assert sandbox.stats()["calls"] == {}


def test_the_order_consumer_reports_the_messages_it_had_no_time_for_as_failures(
    on_sandbox: Any, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = load_event("order_events/order_shipped.json")
    first = event["Records"][0]
    second = {**first, "messageId": "second-message", "body": first["body"].replace("SO-100234", "SO-100235")}
    function = fresh_function("order_events")
    handled: list[str] = []
    handle = function.handle_order_shipped

    def handle_and_count(body: str, **kwargs: Any) -> Any:
        result = handle(body, **kwargs)
        handled.append(result.order_id)
        return result

    monkeypatch.setattr(function, "handle_order_shipped", handle_and_count)
    # Plenty of time for the first message; once it is done, too little to start another
    context = LambdaContext(function_name="OrderEventsFunction", remaining=lambda: 2_000 if handled else 60_000)

    response = function.lambda_handler({"Records": [first, second]}, context)

    assert response == {"batchItemFailures": [{"itemIdentifier": "second-message"}]}
    assert handled == ["SO-100234"]
    assert sandbox.stats()["calls"].get("POST /trackings/batch") == 1  # the second sent nothing


# --------------------------------------------------------------------------------------------------------- publisher


def test_the_publisher_hands_back_the_records_it_had_no_time_for(on_sandbox: Any) -> None:
    records = [_insert_record(index) for index in range(25)]  # 3 chunks of PutEvents (10 entries each)
    left = iter([60_000, 60_000, CHUNK_BUDGET_MS - 1])  # time for two chunks

    result = publish_stream_records(
        records,
        events_client=on_sandbox.events,
        bus_name=on_sandbox.event_bus_name,
        deadline=Deadline(lambda: next(left)),
    )

    assert result.published == 20
    assert result.failed_sequence_numbers == [f"{index:021d}" for index in range(20, 25)]


def _insert_record(index: int) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeSerializer

    from shiptrack.data.codec import item_from_tracking
    from shiptrack.models import Tracking

    tracking = Tracking(carrier_code="ups", tracking_number=f"1Z999AA6{index:010d}", created_at=NOW, updated_at=NOW)
    serializer = TypeSerializer()
    image = {key: serializer.serialize(value) for key, value in item_from_tracking(tracking).items()}
    return {
        "eventID": str(index),
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "dynamodb": {"Keys": {"pk": image["pk"]}, "NewImage": image, "SequenceNumber": f"{index:021d}"},
    }


def test_jobs_get_a_client_bound_to_their_deadline(on_sandbox: Any) -> None:
    deadline = Deadline(lambda: 30_000, reserve_ms=5_000)

    client = bound_client(deadline)

    assert client.deadline is not None
    assert client.deadline.remaining() == pytest.approx(25.0)
