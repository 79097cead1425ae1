"""ArchiveFunction / the archive job on moto + the sandbox: exactly the right parcels, upstream and here."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shiptrack.data.jobs import JobStateStore
from shiptrack.data.trackings import TrackingsRepository
from shiptrack.deadline import Deadline
from shiptrack.models import ListQuery, TrackingRef
from shiptrack.services.archive import JOB_NAME, ArchiveReport, ArchiveState, run_archive
from shiptrack.services.create import create_trackings
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

NOW = datetime.now(UTC)
UPDATEMORE = "POST /trackings/updatemore"
NOTUPDATE = "POST /trackings/notupdate"


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


def archive(
    store: TrackingsRepository,
    jobs: JobStateStore,
    client: TrackingMoreClient,
    *,
    clock: Callable[[], datetime] = lambda: NOW,
    remaining: Callable[[], int] = lambda: 900_000,
    **options: Any,
) -> ArchiveReport:
    return run_archive(
        store=store,
        jobs=jobs,
        client=client,
        deadline=Deadline(remaining, reserve_ms=5_000),
        clock=clock,
        archive_after_days=options.pop("archive_after_days", 30),
        **options,
    )


@pytest.fixture
def parcels(sandbox: Any, store: TrackingsRepository, client: TrackingMoreClient) -> dict[str, set[TrackingRef]]:
    """24 trackings; the terminal ones became terminal 40 days ago ("old") or 5 days ago ("young")."""
    items = [{"tracking_number": f"1Z999AA2{index:010d}", "carrier_code": "ups"} for index in range(24)]
    assert create_trackings(items, store=store, client=lambda: client).summary.created == 24
    sandbox.advance(24 * 20)
    groups: dict[str, set[TrackingRef]] = {"old": set(), "young": set(), "moving_old": set()}
    for index, item in enumerate(items):
        ref = TrackingRef("ups", item["tracking_number"])
        upstream = client.get_tracking(ref.carrier_code, ref.tracking_number)
        observed = NOW - timedelta(days=40 if index % 2 == 0 else 5)
        store.apply_upstream_update(upstream, observed_at=observed, source="test")
        terminal = upstream.status in ("delivered", "exception", "expired")
        if terminal:
            groups["old" if index % 2 == 0 else "young"].add(ref)
        elif index % 2 == 0:
            groups["moving_old"].add(ref)
    assert groups["old"], "no parcel reached a terminal status in the sandbox"
    assert groups["young"]
    return groups


def test_scheduled_sample_runs_the_function(on_sandbox: Any, sandbox: Any) -> None:
    function = fresh_function("archive")
    summary = function.lambda_handler(
        load_event("archive/scheduled.json"), LambdaContext(function_name="ArchiveFunction")
    )
    assert summary["completed"] is True
    assert summary["archived"] == 0
    assert set(summary) == {f.name for f in fields(ArchiveReport)}  # every counter, one added later too
    assert json.loads(json.dumps(summary)) == summary  # what Lambda returns: JSON, losing nothing
    assert sorted(p.name for p in (EVENTS / "archive").glob("*.json")) == ["scheduled.json"]


def test_archive_retires_exactly_the_old_terminal_parcels(
    on_sandbox: Any,
    sandbox: Any,
    store: TrackingsRepository,
    jobs: JobStateStore,
    client: TrackingMoreClient,
    parcels: dict[str, set[TrackingRef]],
) -> None:
    tap = BusTap(on_sandbox)
    reader = on_sandbox.stream_reader()
    reader.read()
    calls = dict(sandbox.stats()["calls"])
    reads: list[str] = []
    on_sandbox.table().meta.client.meta.events.register(
        "before-parameter-build.dynamodb.GetItem", lambda params, **_: reads.append(params["TableName"])
    )

    report = archive(store, jobs, client, retention_days=90)

    assert report.completed
    assert report.archived == len(parcels["old"])
    # The group's BatchGetItem is each archive write's first read: no per-tracking GetItem of a tracking
    assert [table for table in reads if table.endswith("TrackingsTable")] == []
    everything = store.batch_get(parcels["old"] | parcels["young"] | parcels["moving_old"])
    assert {ref for ref, t in everything.items() if t.lifecycle == "archived"} == parcels["old"]
    # Upstream: archived and told to stop, in one call each for this many; nothing else touched.
    after = sandbox.stats()["calls"]
    assert after.get(UPDATEMORE, 0) - calls.get(UPDATEMORE, 0) == 1
    assert after.get(NOTUPDATE, 0) - calls.get(NOTUPDATE, 0) == 1
    upstream = {TrackingRef.of(t["carrier_code"], t["tracking_number"]): t for t in sandbox.trackings()}
    assert {ref for ref, t in upstream.items() if t.get("archived")} == parcels["old"]
    assert all(upstream[ref]["track_update"] is False for ref in parcels["old"])
    # Here: out of the default listing, still readable by identity, with the retention TTL.
    listed = {t.ref for t in store.list(ListQuery(limit=100)).items}
    assert not listed & parcels["old"]
    some = next(iter(parcels["old"]))
    item = on_sandbox.table().get_item(Key={"pk": some.key})["Item"]
    assert item["lifecycle"] == "archived"
    expires = int(item["expires_at"])
    assert abs(expires - int((NOW + timedelta(days=90)).timestamp())) <= 1
    # Subscribers hear "Tracking Archived" once per parcel, from the stream.
    assert publish_stream(on_sandbox, reader) == {"batchItemFailures": []}
    archived_events = [e for e in tap.events() if e["detail-type"] == "Tracking Archived"]
    assert {e["detail"]["tracking"]["tracking_number"] for e in archived_events} == {
        ref.tracking_number for ref in parcels["old"]
    }
    # A second run finds nothing left to do.
    assert archive(store, jobs, client).archived == 0


def test_without_retention_archived_parcels_are_kept_forever(
    on_sandbox: Any, store: TrackingsRepository, jobs: JobStateStore, client: TrackingMoreClient, parcels: Any
) -> None:
    archive(store, jobs, client, retention_days=0)
    some = next(iter(parcels["old"]))
    item = on_sandbox.table().get_item(Key={"pk": some.key})["Item"]
    assert item["lifecycle"] == "archived"
    assert "expires_at" not in item


def test_an_interrupted_archive_resumes_with_the_cutoff_it_started_with(
    store: TrackingsRepository, jobs: JobStateStore, client: TrackingMoreClient, parcels: dict[str, set[TrackingRef]]
) -> None:
    asked: list[int] = []

    def remaining() -> int:
        # Time for one group of 2, then not enough for another.
        asked.append(0)
        return 900_000 if len(asked) <= 1 else 6_000

    first = archive(store, jobs, client, remaining=remaining, group_size=2)
    assert first.interrupted_by == "time"
    assert first.archived <= 2
    assert jobs.load(JOB_NAME, ArchiveState).state.cutoff is not None

    # The next run is 30 days later: by now the "young" parcels are due too, but this cycle's cutoff stands.
    later = NOW + timedelta(days=30)
    second = archive(store, jobs, client, clock=lambda: later)

    assert second.completed
    assert first.archived + second.archived == len(parcels["old"])
    states = store.batch_get(parcels["old"] | parcels["young"])
    assert {ref for ref, t in states.items() if t.lifecycle == "archived"} == parcels["old"]
    # The following cycle uses a new cutoff and takes the young ones.
    third = archive(store, jobs, client, clock=lambda: later)
    assert third.archived == len(parcels["young"])
