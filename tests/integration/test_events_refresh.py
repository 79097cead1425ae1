"""RefreshFunction / the refresh job on moto + the sandbox: delta pull, resume, sweep, retirement.

Clocks: the sandbox stamps ``updated_at`` with the real time (its simulated clock only drives the parcels), so the
delta-pull tests use the real time too; the retirement tests pass a clock days ahead. The Lambda's remaining time
is always scripted, never measured.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shiptrack.data.jobs import JobStateStore
from shiptrack.data.trackings import TrackingsRepository
from shiptrack.deadline import Deadline
from shiptrack.models import TrackingRef
from shiptrack.services.create import create_trackings
from shiptrack.services.refresh import JOB_NAME, RefreshConfig, RefreshReport, RefreshState, run_refresh
from tests.integration.events_support import (
    EVENTS,
    BusTap,
    fresh_function,
    load_event,
    on_sandbox,
    publish_stream,
)
from tests.lambda_context import LambdaContext
from trackingmore import TrackingMoreClient

__all__ = ["on_sandbox"]

pytestmark = pytest.mark.integration

LIST = "GET /trackings/get"
NOTUPDATE = "POST /trackings/notupdate"


class CountingStore(TrackingsRepository):
    """The real store, remembering every upstream copy the job applied (to prove no gaps and no repeats)."""

    def __init__(self, table: Any) -> None:
        super().__init__(table)
        self.applied: list[TrackingRef] = []

    def apply_upstream_update(self, upstream: Any, **kwargs: Any) -> Any:
        self.applied.append(TrackingRef.of(upstream.carrier_code or "", upstream.tracking_number or ""))
        return super().apply_upstream_update(upstream, **kwargs)


@pytest.fixture
def client(sandbox: Any) -> Iterator[TrackingMoreClient]:
    with TrackingMoreClient(sandbox.api_key, base_url=sandbox.base_url, sleep=lambda _: None) as tm:
        yield tm


@pytest.fixture
def store(on_sandbox: Any) -> CountingStore:
    return CountingStore(on_sandbox.table())


@pytest.fixture
def jobs(on_sandbox: Any) -> JobStateStore:
    return JobStateStore(on_sandbox.table("CacheTable"))


def track(count: int, store: TrackingsRepository, client: TrackingMoreClient) -> list[TrackingRef]:
    items = [{"tracking_number": f"1Z999AA1{index:010d}", "carrier_code": "ups"} for index in range(count)]
    response = create_trackings(items, store=store, client=lambda: client)
    assert response.summary.created == count, response.summary
    return [TrackingRef("ups", item["tracking_number"]) for item in items]


def list_calls(sandbox: Any) -> int:
    return int(sandbox.stats()["calls"].get(LIST, 0))


def refresh(
    store: TrackingsRepository,
    jobs: JobStateStore,
    client: TrackingMoreClient,
    *,
    remaining: Callable[[], int] = lambda: 900_000,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    **config: Any,
) -> RefreshReport:
    settings = RefreshConfig(**config)
    return run_refresh(
        store=store,
        jobs=jobs,
        client=client,
        deadline=Deadline(remaining, reserve_ms=settings.reserve_ms),
        clock=clock,
        config=settings,
    )


def assert_matches_sandbox(sandbox: Any, store: TrackingsRepository) -> None:
    upstream = {TrackingRef.of(t["carrier_code"], t["tracking_number"]): t for t in sandbox.trackings()}
    ours = store.batch_get(upstream)
    assert set(ours) == set(upstream)
    for ref, tracking in upstream.items():
        assert (ours[ref].status, ours[ref].substatus) == (tracking["status"], tracking.get("substatus")), ref
        assert (
            len(ours[ref].checkpoints)
            == sum(
                len((tracking.get(side) or {}).get("trackinfo") or []) for side in ("origin_info", "destination_info")
            )
            or ours[ref].checkpoints
        ), ref


def test_scheduled_sample_runs_the_function(on_sandbox: Any, sandbox: Any) -> None:
    function = fresh_function("refresh")
    summary = function.lambda_handler(
        load_event("refresh/scheduled.json"), LambdaContext(function_name="RefreshFunction")
    )
    assert summary["completed"] is True
    assert summary["watermark"] is not None
    assert set(summary) == {f.name for f in fields(RefreshReport)}  # every counter, one added later too
    assert json.loads(json.dumps(summary)) == summary  # what Lambda returns: JSON, losing nothing
    assert sorted(p.name for p in (EVENTS / "refresh").glob("*.json")) == ["scheduled.json"]


def test_days_later_the_stored_states_match_the_sandbox_with_minimal_list_calls(
    sandbox: Any, store: CountingStore, jobs: JobStateStore, client: TrackingMoreClient
) -> None:
    refs = track(30, store, client)
    first = refresh(store, jobs, client)
    assert first.completed
    assert first.watermark is not None

    advanced = sandbox.advance(72)
    changed = {TrackingRef.of(c["carrier_code"], c["tracking_number"]) for c in advanced["changed"]}
    assert changed, "the sandbox moved no parcel in three days"
    calls_before = list_calls(sandbox)
    store.applied.clear()

    report = refresh(store, jobs, client)

    assert report.completed
    assert list_calls(sandbox) - calls_before == math.ceil(len(changed) / 2000)
    assert report.changed == len(changed)
    assert changed <= set(store.applied)
    assert report.swept == 0  # nothing was stale: the delta pull alone kept everything current
    assert_matches_sandbox(sandbox, store)
    assert report.watermark is not None
    assert report.watermark >= first.watermark  # both runs may fall in the same second
    assert len(refs) == 30


def test_a_second_refresh_with_nothing_new_tells_subscribers_nothing(
    sandbox: Any, store: CountingStore, jobs: JobStateStore, client: TrackingMoreClient, on_sandbox: Any
) -> None:
    track(5, store, client)
    refresh(store, jobs, client)
    tap = BusTap(on_sandbox)
    reader = on_sandbox.stream_reader()
    reader.read()

    report = refresh(store, jobs, client)

    assert report.completed
    assert (report.changed, report.unchanged) == (0, 5)  # seen again (the overlap), written only as "checked"
    assert publish_stream(on_sandbox, reader) == {"batchItemFailures": []}
    assert tap.events() == []


def test_an_interrupted_pull_resumes_without_gaps_or_repeats(
    sandbox: Any, store: CountingStore, jobs: JobStateStore, client: TrackingMoreClient
) -> None:
    refs = track(12, store, client)
    sandbox.advance(48)
    store.applied.clear()
    calls_before = list_calls(sandbox)
    budget = {"ms": 60_000}
    config: dict[str, Any] = {"page_limit": 5, "page_budget_ms": 45_000, "reserve_ms": 5_000}

    def remaining() -> int:
        # Enough for one page, then the clock "runs out": the next page no longer fits.
        if list_calls(sandbox) - calls_before >= 1:
            budget["ms"] = 20_000
        return budget["ms"]

    first = refresh(store, jobs, client, remaining=remaining, **config)

    assert not first.completed
    assert first.interrupted_by == "time"
    assert first.pages == 1
    state = jobs.load(JOB_NAME, RefreshState).state
    assert (state.phase, state.next_page, state.watermark) == ("pull", 2, None)  # the watermark waits

    second = refresh(store, jobs, client, **config)

    assert second.completed
    assert first.pages + second.pages == math.ceil(12 / 5)  # no page fetched twice
    assert list_calls(sandbox) - calls_before == 3
    assert sorted(store.applied) == sorted(refs)  # every tracking applied exactly once: no gap, no repeat
    assert jobs.load(JOB_NAME, RefreshState).state.watermark is not None
    assert_matches_sandbox(sandbox, store)


def test_a_pull_interrupted_mid_page_resumes_at_the_item_it_stopped_at(
    sandbox: Any, store: CountingStore, jobs: JobStateStore, client: TrackingMoreClient
) -> None:
    refs = track(8, store, client)
    sandbox.advance(48)
    store.applied.clear()
    config: dict[str, Any] = {"page_limit": 5, "page_budget_ms": 45_000, "reserve_ms": 5_000}

    def remaining() -> int:
        return 60_000 if len(store.applied) < 3 else 1_000  # time runs out after the third item

    first = refresh(store, jobs, client, remaining=remaining, **config)
    assert first.interrupted_by == "time"
    assert jobs.load(JOB_NAME, RefreshState).state.page_offset == 3

    second = refresh(store, jobs, client, **config)

    assert second.completed
    assert sorted(store.applied) == sorted(refs)
    assert_matches_sandbox(sandbox, store)


def test_a_run_that_lost_the_job_to_another_stops_without_writing(
    sandbox: Any, store: CountingStore, jobs: JobStateStore, client: TrackingMoreClient, on_sandbox: Any
) -> None:
    track(3, store, client)

    class RacedJobs(JobStateStore):
        """Another run saves the job right after this run loaded it (what reserved concurrency 1 prevents)."""

        def load(self, name: str, model: Any) -> Any:
            loaded = super().load(name, model)
            jobs.save(name, RefreshState(watermark=123), revision=loaded.revision)
            return loaded

    calls_before = list_calls(sandbox)
    report = refresh(store, RacedJobs(on_sandbox.table("CacheTable")), client)

    assert report.interrupted_by == "conflict"
    assert list_calls(sandbox) == calls_before  # it stopped at its first checkpoint, before any upstream call
    assert jobs.load(JOB_NAME, RefreshState).state.watermark == 123  # the other run's state stands


def test_stale_trackings_are_swept_by_forty_least_recently_checked_first(
    sandbox: Any, store: CountingStore, jobs: JobStateStore, client: TrackingMoreClient
) -> None:
    refs = track(45, store, client)
    # A first run an hour from now puts the watermark past every upstream update, so the next delta pull finds
    # nothing and only the sweep can bring these trackings up to date.
    start = datetime.now(UTC) + timedelta(hours=1)
    refresh(store, jobs, client, clock=lambda: start)
    calls_before = list_calls(sandbox)
    later = start + timedelta(hours=13)  # everything was last checked more than StaleAfterHours (12) ago

    report = refresh(store, jobs, client, clock=lambda: later)

    assert report.completed
    assert report.swept == 45
    assert report.pulled == 0
    # One (empty) delta page, then ⌈45/40⌉ = 2 sweep calls by number.
    assert list_calls(sandbox) - calls_before == 1 + 2
    checked = {ref: t.last_checked_at for ref, t in store.batch_get(refs).items()}
    assert all(at is not None and at >= later - timedelta(seconds=1) for at in checked.values())


def test_delivered_past_the_grace_and_silent_parcels_are_stopped(
    sandbox: Any, store: CountingStore, jobs: JobStateStore, client: TrackingMoreClient
) -> None:
    refs = track(20, store, client)
    sandbox.advance(24 * 20)  # most parcels are delivered after 20 days
    refresh(store, jobs, client)
    stored = store.batch_get(refs)
    delivered = {ref for ref, t in stored.items() if t.status == "delivered"}
    moving = {ref for ref, t in stored.items() if t.status not in ("delivered", "expired")}
    assert delivered, "no parcel was delivered in the sandbox"

    # Two days later: inside the grace, nothing is stopped.
    two_days = datetime.now(UTC) + timedelta(days=2)
    assert refresh(store, jobs, client, clock=lambda: two_days).stopped == 0

    # Four days later: the delivered ones are past the 3-day grace.
    four_days = datetime.now(UTC) + timedelta(days=4)
    calls_before = sandbox.stats()["calls"].get(NOTUPDATE, 0)
    report = refresh(store, jobs, client, clock=lambda: four_days)
    after = store.batch_get(refs)
    assert {ref for ref, t in after.items() if t.lifecycle == "stopped"} == delivered
    assert report.stopped_by_reason.get("delivered") == len(delivered)
    assert sandbox.stats()["calls"].get(NOTUPDATE, 0) > calls_before
    upstream = {TrackingRef.of(t["carrier_code"], t["tracking_number"]): t for t in sandbox.trackings()}
    assert all(upstream[ref]["track_update"] is False for ref in delivered)
    assert all(upstream[ref]["track_update"] is not False for ref in moving)

    # 31 days later, whatever still moves has been silent for 30 days: stopped too.
    silent_clock = datetime.now(UTC) + timedelta(days=31)
    report = refresh(store, jobs, client, clock=lambda: silent_clock)
    final = store.batch_get(refs)
    assert all(final[ref].lifecycle == "stopped" for ref in moving)
    assert (
        report.stopped_by_reason.get("silent", 0) == len([r for r in moving if final[r].status != "expired"])
        or moving == set()
    )
