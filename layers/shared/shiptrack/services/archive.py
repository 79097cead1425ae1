"""The archive job (docs/design.md §6 "Archive"): retire terminal trackings for good, upstream and here.

Trackings whose status became terminal (delivered, expired, exception) more than ``archive_after_days`` ago are
found through TerminalByTime, oldest first, and in groups:

1. archived upstream (``POST /trackings/updatemore`` with ``archived: "true"``, reference §3.7);
2. told to stop updating (``POST /trackings/notupdate``, §3.13) unless the refresh job already stopped them,
   so they cost no quota;
3. given lifecycle ``archived`` here: they leave the active, terminal and list-by-default indexes but stay
   readable by identity, and the stream turns the write into a ``Tracking Archived`` event (no dual write).
   With ``retention_days`` > 0 they also get ``expires_at`` and DynamoDB's TTL deletes them later.

A tracking TrackingMore refuses to archive stays as it is and is tried again on the next run; one it does not
know at all (4017/4031) is archived here anyway.

The client it is given is bound to the run's deadline (``shiptrack.compose.archive``): a group whose upstream call
would run into the reserve ends the run (``interrupted_by: "time"``); the group was not archived here, so the
next run takes it again (archiving upstream twice is harmless).

Resumable like refresh: the cutoff is fixed when a cycle starts and kept in ``JOB#archive`` until the cycle
completes, so an interrupted cycle archives exactly the trackings that were due when it started. Archived
trackings leave TerminalByTime, so the resumed run simply queries again from the oldest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final

from pydantic import BaseModel

from shiptrack.deadline import Deadline
from shiptrack.errors import JobConflictError, JobInterruptedError
from shiptrack.models import TrackingRef, format_utc, parse_utc
from shiptrack.observability import logger
from shiptrack.services.refresh import JobReport, chunks, failed_refs

if TYPE_CHECKING:
    from shiptrack.data.jobs import JobStateStore
    from shiptrack.data.trackings import TrackingsRepository
    from trackingmore import TrackingMoreClient

__all__ = ["ARCHIVE_GROUP_SIZE", "JOB_NAME", "ArchiveReport", "ArchiveState", "run_archive"]

JOB_NAME: Final = "archive"
#: Trackings per updatemore / notupdate call. Neither limit is documented (reference §2, §3.7, §3.13); 40 is the
#: limit of every documented v2 batch and keeps a group small enough to checkpoint between.
ARCHIVE_GROUP_SIZE: Final = 40
#: Time one group may take (two upstream calls and 40 writes), and the time kept back for the final save.
GROUP_BUDGET_MS: Final = 10_000
RESERVE_MS: Final = 5_000


class ArchiveState(BaseModel):
    """What ``JOB#archive`` holds between runs."""

    cutoff: str | None = None
    cycle_started_at: str | None = None
    last_completed_at: str | None = None


@dataclass
class ArchiveReport(JobReport):
    """Counters of one archive run (the function turns them into metrics)."""

    candidates: int = 0
    archived: int = 0
    refused_upstream: int = 0
    cutoff: str | None = None


def run_archive(
    *,
    store: TrackingsRepository,
    jobs: JobStateStore,
    client: TrackingMoreClient,
    deadline: Deadline,
    clock: Callable[[], datetime],
    archive_after_days: int,
    retention_days: int = 0,
    group_size: int = ARCHIVE_GROUP_SIZE,
) -> ArchiveReport:
    """Run (or resume) one archive cycle until it completes or the time budget says stop; see the module doc."""
    from trackingmore.errors import DeadlineExceededError, RateLimitError, ServerError, TransportError

    run = _ArchiveRun(
        store=store, jobs=jobs, client=client, deadline=deadline, clock=clock, retention_days=retention_days
    )
    state, report = run.state, run.report
    try:
        if state.cutoff is None:
            started = clock().astimezone(UTC)
            state.cutoff = format_utc(started - timedelta(days=archive_after_days))
            state.cycle_started_at = format_utc(started)
            run.save()
        report.cutoff = state.cutoff
        cutoff = parse_utc(state.cutoff)
        # Lazy: each page is read after the previous groups left the index.
        for group in chunks(store.iter_terminal_before(cutoff), group_size):
            run.archive_group(group)
        state.cutoff = None
        state.last_completed_at = format_utc(clock())
        run.save()
        report.completed = True
    except JobInterruptedError as stop:
        report.interrupted_by = stop.why
    except DeadlineExceededError:
        report.interrupted_by = "time"
    except (RateLimitError, ServerError, TransportError) as exc:
        logger.warning("archive stopped by an upstream failure", extra={"error": type(exc).__name__})
        report.interrupted_by = "upstream"
    return report


@dataclass(kw_only=True)
class _ArchiveRun:
    store: TrackingsRepository
    jobs: JobStateStore
    client: TrackingMoreClient
    deadline: Deadline
    clock: Callable[[], datetime]
    retention_days: int
    report: ArchiveReport = field(init=False, default_factory=ArchiveReport)
    # Where the last run stopped, and the revision its checkpoint is saved against.
    state: ArchiveState = field(init=False)
    revision: int = field(init=False)

    def __post_init__(self) -> None:
        loaded = self.jobs.load(JOB_NAME, ArchiveState)
        self.state, self.revision = loaded.state, loaded.revision

    def save(self) -> None:
        try:
            self.revision = self.jobs.save(JOB_NAME, self.state, revision=self.revision, now=self.clock())
        except JobConflictError as exc:
            raise JobInterruptedError("conflict") from exc

    def archive_group(self, refs: list[TrackingRef]) -> None:
        from trackingmore.models import TrackingRef as UpstreamRef
        from trackingmore.models import UpdateTrackingsItem

        if not self.deadline.allows(GROUP_BUDGET_MS):
            raise JobInterruptedError("time")
        report = self.report
        records = self.store.batch_load(refs)
        stored = {ref: record.tracking for ref, record in records.items()}
        due = [ref for ref in refs if ref in stored and stored[ref].lifecycle != "archived"]
        report.candidates += len(due)
        if not due:
            return

        report.upstream_calls += 1
        result = self.client.update_trackings(
            [
                UpdateTrackingsItem(tracking_number=r.tracking_number, carrier_code=r.carrier_code, archived=True)
                for r in due
            ]
        )
        refused = failed_refs(result, due)
        archived_upstream = [ref for ref in due if ref not in refused]

        still_updating = [ref for ref in archived_upstream if stored[ref].lifecycle == "active"]
        if still_updating:
            report.upstream_calls += 1
            stop_result = self.client.stop_updating(
                [UpstreamRef(carrier_code=r.carrier_code, tracking_number=r.tracking_number) for r in still_updating]
            )
            refused |= failed_refs(stop_result, still_updating)

        now = self.clock().astimezone(UTC)
        expires_at = now + timedelta(days=self.retention_days) if self.retention_days > 0 else None
        for ref in due:
            if ref in refused:
                report.refused_upstream += 1
                logger.warning("TrackingMore refused to archive a tracking", extra={"tracking": str(ref)})
                continue
            # The group's read is the first attempt's: archiving writes on its revision (a change meanwhile: a
            # retry).
            self.store.set_lifecycle(ref, "archived", now=now, expires_at=expires_at, current=records[ref])
            report.archived += 1
