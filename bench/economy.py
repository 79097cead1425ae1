"""Upstream economy: how many TrackingMore calls and DynamoDB writes our way costs, against the minimum and
against the naive integration (one call per parcel per poll).

Everything runs in this process: moto (``mock_aws``, resources from template.yaml) and the TrackingMore sandbox
(rate limits off, so nothing waits; its per-endpoint call counter is what we read). Writes are counted with a
botocore ``before-call`` hook on every DynamoDB call the layer makes.

* **Create** n = 1, 40, 1000 through TrackingsFunction's handler (``POST /trackings/batch``, carriers given).
  Minimum: ⌈n/40⌉ upstream calls (batch create takes 40, reference §3.2), n tracking writes.
* **Refresh** N trackings (default 10 000, created the same way), in steady state: the previous
  run's watermark 30 min ago, every tracking last changed upstream 2 h ago, then exactly ``changed`` of them
  change upstream and ``stale`` others have not been checked for longer than ``STALE_AFTER_HOURS``. One run of
  ``shiptrack.services.refresh.run_refresh``. Minimum: ⌈changed/2000⌉ list calls (2000 per page, §3.3) +
  ⌈stale/40⌉ sweep calls (40 numbers per call); writes: one per changed tracking + one ``last_checked_at`` mark
  per swept tracking.
* **Naive**: the same workloads done one call per parcel: ``POST /trackings/post`` per created parcel, and one
  ``POST /trackings/realtime`` per parcel per poll with every answer written back.
"""

from __future__ import annotations

import math
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import harness

CREATE_SIZES = (1, 40, 1000)
REFRESH_TOTAL = 10_000
CHANGED_SHARE = 0.10
STALE_SHARE = 0.04
BATCH_LIMIT = 40  # reference §3.2
LIST_PAGE = 2000  # reference §3.3
NUMBERS_PER_LIST = 40  # reference §3.3
REALTIME_PER_SECOND = 3  # reference §8
LIST_PER_SECOND = 1  # reference §8


@dataclass
class CreateRow:
    n: int
    upstream_calls: dict[str, int]
    upstream_total: int
    minimum_calls: int
    tracking_writes: int
    minimum_writes: int
    other_writes: dict[str, int]
    outcomes: dict[str, int]
    naive_calls: int | None = None
    naive_writes: int | None = None

    @property
    def met(self) -> bool:
        return self.upstream_total == self.minimum_calls and self.tracking_writes == self.minimum_writes


@dataclass
class RefreshRow:
    total: int
    changed: int
    stale: int
    upstream_calls: dict[str, int]
    upstream_total: int
    list_calls_pull: int
    list_calls_sweep: int
    minimum_calls: int
    tracking_writes: dict[str, int]
    tracking_writes_total: int
    minimum_writes: int
    job_state_writes: int
    report: dict[str, Any]
    naive_calls: int | None = None
    naive_writes: int | None = None
    naive_note: str = ""

    @property
    def met(self) -> bool:
        return self.upstream_total == self.minimum_calls and self.tracking_writes_total == self.minimum_writes


@dataclass
class EconomyResult:
    creates: list[CreateRow]
    refresh: RefreshRow | None
    seeding: dict[str, Any] = field(default_factory=dict)
    not_measured: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def met(self) -> bool:
        return all(row.met for row in self.creates) and (self.refresh is None or self.refresh.met)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for row, target in zip(self.creates, data["creates"], strict=True):
            target["met"] = row.met
        if self.refresh is not None:
            data["refresh"]["met"] = self.refresh.met
        data["met"] = self.met()
        return data


# ---------------------------------------------------------------------------------------------------------- create


def _batch_create(handler: Any, numbers: Sequence[str]) -> dict[str, int]:
    """POST /trackings/batch in bodies of at most ``MAX_BATCH_ITEMS`` (a multiple of 40); returns outcome counts."""
    import json

    from shiptrack.models import MAX_BATCH_ITEMS

    outcomes: dict[str, int] = {}
    for start in range(0, len(numbers), MAX_BATCH_ITEMS):
        items = [{"tracking_number": n, "carrier_code": "ups"} for n in numbers[start : start + MAX_BATCH_ITEMS]]
        event = harness.api_event("POST", "/trackings/batch", body={"items": items})
        response = handler(event, harness.lambda_context("TrackingsFunction"))
        if response["statusCode"] != 200:
            raise RuntimeError(f"batch create answered {response['statusCode']}: {response.get('body', '')[:500]}")
        for result in json.loads(response["body"])["results"]:
            outcomes[result["outcome"]] = outcomes.get(result["outcome"], 0) + 1
    return outcomes


def measure_create(n: int, *, naive: bool = True, start: int = 0) -> CreateRow:
    """Create ``n`` new trackings through the handler on fresh moto + sandbox; count calls and writes."""
    with harness.sandbox() as sandbox, harness.in_process_aws(sandbox.base_url, harness.QUIET) as aws:
        handler = harness.load_handler("trackings")
        numbers = harness.ups_numbers(n, start)
        trackings_table = aws.table_name("TrackingsTable")
        calls_before = dict(sandbox.stats()["calls"])
        writes_before = aws.counter.snapshot()
        outcomes = _batch_create(handler, numbers)
        calls = harness.upstream_calls(calls_before, sandbox.stats()["calls"])
        writes = aws.counter.writes(trackings_table, writes_before)
        other = {
            f"{table.rsplit('-', 1)[-1]} {op}": count - writes_before[(table, op)]
            for (table, op), count in aws.counter.items.items()
            if table != trackings_table and op in harness.WRITE_OPERATIONS and count - writes_before[(table, op)]
        }
        row = CreateRow(
            n=n,
            upstream_calls=calls,
            upstream_total=sum(calls.values()),
            minimum_calls=math.ceil(n / BATCH_LIMIT),
            tracking_writes=sum(writes.values()),
            minimum_writes=n,
            other_writes=other,
            outcomes=outcomes,
        )
        if naive:
            row.naive_calls, row.naive_writes = _naive_create(sandbox, aws, harness.ups_numbers(n, start + 10_000_000))
    return row


def _naive_create(sandbox: Any, aws: Any, numbers: Sequence[str]) -> tuple[int, int]:
    """The naive integration: one ``POST /trackings/post`` per parcel, one put per answer."""
    from trackingmore import CreateTrackingRequest

    client = harness.upstream_client(sandbox)
    table = aws.table("TrackingsTable")
    calls_before = sandbox.stats()["total_calls"]
    writes_before = aws.counter.snapshot()
    for number in numbers:
        created = client.create_tracking(CreateTrackingRequest(tracking_number=number, carrier_code="ups"))
        table.put_item(Item={"pk": f"NAIVE#{number}", "status": str(created.status or "pending")})
    writes = sum(aws.counter.writes(aws.table_name("TrackingsTable"), writes_before).values())
    return int(sandbox.stats()["total_calls"] - calls_before), writes


# --------------------------------------------------------------------------------------------------------- refresh


def _backdate_upstream(sandbox: Any, seconds: float) -> None:
    """Every sandbox tracking was created and last changed ``seconds`` ago (TrackingMore's real-clock stamps)."""
    engine = sandbox.engine
    with engine.lock:
        for record in engine.records.values():
            record.created_ts -= seconds
            record.updated_ts -= seconds


def _change_upstream(sandbox: Any, count: int, rng: random.Random, exclude: set[tuple[str, str]]) -> list[Any]:
    """Make exactly ``count`` trackings change upstream (new carrier events, status not terminal).

    The parcel's simulated start is moved back until its carrier view changes; parcels that would become
    delivered/expired are left as they were (retiring them would add ``notupdate`` calls outside the minimum).
    """
    engine = sandbox.engine
    changed: list[Any] = []
    with engine.lock:
        records = [r for r in engine.records.values() if r.key not in exclude]
        rng.shuffle(records)
        for record in records:
            if len(changed) == count:
                break
            saved = (record.created_sim, record.snapshot, record.updated_ts)
            for hours in (24, 48, 72, 120):
                record.created_sim = saved[0] - timedelta(hours=hours)
                moved = engine._refresh(record) and record.snapshot is not None and bool(record.snapshot.events)
                if moved and record.status not in ("delivered", "expired"):
                    changed.append(record)
                    break
                record.created_sim, record.snapshot, record.updated_ts = saved
            else:
                record.created_sim, record.snapshot, record.updated_ts = saved
    if len(changed) != count:
        raise RuntimeError(f"could only make {len(changed)} of {count} trackings change upstream")
    return changed


def _make_stale(aws: Any, refs: Sequence[Any], at: datetime) -> None:
    """Our copies of ``refs`` were last checked at ``at`` (setup write; not counted in the run)."""
    from shiptrack.models import format_utc

    table = aws.table("TrackingsTable")
    stamp = format_utc(at)
    for ref in refs:
        table.update_item(
            Key={"pk": ref.key},
            UpdateExpression="SET last_checked_at = :at, checked_sk = :sk",
            ExpressionAttributeValues={":at": stamp, ":sk": f"{stamp}#{ref.key}"},
        )


def measure_refresh(
    total: int = REFRESH_TOTAL,
    changed_share: float = CHANGED_SHARE,
    stale_share: float = STALE_SHARE,
    *,
    naive: bool = True,
    seed: int = 11,
) -> tuple[RefreshRow, dict[str, Any]]:
    """One steady-state refresh run over ``total`` trackings; returns the row and how seeding went."""
    from shiptrack.data.jobs import JobStateStore
    from shiptrack.data.trackings import TrackingsRepository
    from shiptrack.deadline import Deadline
    from shiptrack.models import TrackingRef
    from shiptrack.services.refresh import JOB_NAME, RefreshConfig, RefreshState, run_refresh

    rng = random.Random(seed)
    changed_count = round(total * changed_share)
    stale_count = round(total * stale_share)
    with harness.sandbox() as sandbox, harness.in_process_aws(sandbox.base_url, harness.QUIET) as aws:
        handler = harness.load_handler("trackings")
        numbers = harness.ups_numbers(total, 20_000_000)
        seeded_at = time.monotonic()
        calls_before = dict(sandbox.stats()["calls"])
        writes_before = aws.counter.snapshot()
        outcomes = _batch_create(handler, numbers)
        seeding = {
            "trackings": total,
            "outcomes": outcomes,
            "upstream_calls": harness.upstream_calls(calls_before, sandbox.stats()["calls"]),
            "minimum_calls": math.ceil(total / BATCH_LIMIT),
            "tracking_writes": sum(aws.counter.writes(aws.table_name("TrackingsTable"), writes_before).values()),
            "seconds": round(time.monotonic() - seeded_at, 1),
        }

        # Steady state: created and last changed upstream 2 h ago; our previous run finished 30 min ago.
        now = datetime.now(UTC)
        _backdate_upstream(sandbox, 2 * 3600)
        jobs = JobStateStore(aws.table("CacheTable"))
        loaded = jobs.load(JOB_NAME, RefreshState)
        previous = RefreshState(watermark=int((now - timedelta(minutes=30)).timestamp()), phase="idle")
        jobs.save(JOB_NAME, previous, revision=loaded.revision, now=now)

        changed = _change_upstream(sandbox, changed_count, rng, exclude=set())
        changed_keys = {record.key for record in changed}
        others = [TrackingRef.of("ups", n) for n in numbers if ("ups", n.lower()) not in changed_keys]
        others = [ref for ref in others if (ref.carrier_code, ref.tracking_number) not in changed_keys]
        stale = rng.sample(others, stale_count)
        config = RefreshConfig()
        _make_stale(aws, stale, now - timedelta(hours=config.stale_after_hours + 1))

        store = TrackingsRepository(aws.table("TrackingsTable"))
        calls_before = dict(sandbox.stats()["calls"])
        writes_before = aws.counter.snapshot()
        list_requests: list[dict[str, Any]] = []
        client = harness.upstream_client(sandbox)
        original_list = client.list_trackings

        def counted_list(**filters: Any) -> Any:
            list_requests.append(filters)
            return original_list(**filters)

        client.list_trackings = counted_list
        report = run_refresh(
            store=store,
            jobs=jobs,
            client=client,
            deadline=Deadline(lambda: 900_000, reserve_ms=config.reserve_ms),
            clock=lambda: datetime.now(UTC),
            config=config,
        )
        calls = harness.upstream_calls(calls_before, sandbox.stats()["calls"])
        trackings_writes = aws.counter.writes(aws.table_name("TrackingsTable"), writes_before)
        job_writes = sum(aws.counter.writes(aws.table_name("CacheTable"), writes_before).values())
        pull_calls = sum(1 for f in list_requests if "numbers" not in f)
        sweep_calls = sum(1 for f in list_requests if "numbers" in f)
        row = RefreshRow(
            total=total,
            changed=changed_count,
            stale=stale_count,
            upstream_calls=calls,
            upstream_total=sum(calls.values()),
            list_calls_pull=pull_calls,
            list_calls_sweep=sweep_calls,
            minimum_calls=math.ceil(changed_count / LIST_PAGE) + math.ceil(stale_count / NUMBERS_PER_LIST),
            tracking_writes=trackings_writes,
            tracking_writes_total=sum(trackings_writes.values()),
            minimum_writes=changed_count + stale_count,
            job_state_writes=job_writes,
            report={
                k: v
                for k, v in asdict(report).items()
                if k
                in (
                    "pulled",
                    "changed",
                    "unchanged",
                    "stale_refused",
                    "swept",
                    "stopped",
                    "upstream_calls",
                    "completed",
                    "interrupted_by",
                )
            },
        )
        if naive:
            row.naive_calls, row.naive_writes = _naive_poll(sandbox, aws, numbers)
            row.naive_note = (
                f"one realtime call per parcel; {total} calls take ≥ {total / REALTIME_PER_SECOND / 60:.0f} min at 3/s"
            )
    return row, seeding


def _naive_poll(sandbox: Any, aws: Any, numbers: Sequence[str]) -> tuple[int, int]:
    """One poll the naive way: ``POST /trackings/realtime`` per parcel, every answer written back."""
    from trackingmore import RealtimeRequest

    client = harness.upstream_client(sandbox)
    table = aws.table("TrackingsTable")
    calls_before = sandbox.stats()["total_calls"]
    writes_before = aws.counter.snapshot()
    with table.batch_writer() as batch:  # even batched, one item written per parcel per poll
        for number in numbers:
            answer = client.realtime_tracking(RealtimeRequest(tracking_number=number, carrier_code="ups"))
            batch.put_item(Item={"pk": f"NAIVE#{number}", "status": str(answer.status or "pending")})
    writes = sum(aws.counter.writes(aws.table_name("TrackingsTable"), writes_before).values())
    return int(sandbox.stats()["total_calls"] - calls_before), writes


# ------------------------------------------------------------------------------------------------------------ run


def run(
    sizes: Sequence[int] = CREATE_SIZES,
    refresh_total: int = REFRESH_TOTAL,
    *,
    changed_share: float = CHANGED_SHARE,
    stale_share: float = STALE_SHARE,
    naive: bool = True,
) -> EconomyResult:
    started = time.monotonic()
    creates = []
    offset = 0
    with harness.quiet_stdout():
        for n in sizes:
            creates.append(measure_create(n, naive=naive, start=offset))
            offset += n
            print(f"economy: create n={n} done", file=sys.stderr, flush=True)
        refresh, seeding = measure_refresh(refresh_total, changed_share, stale_share, naive=naive)
        print(f"economy: refresh of {refresh_total} done", file=sys.stderr, flush=True)
    return EconomyResult(creates, refresh, seeding, seconds=round(time.monotonic() - started, 1))
