"""The refresh job (docs/design.md §6 "Refresh"): keep every active parcel current without anyone asking.

One run, on a schedule, in three phases; each phase checkpoints its position in CacheTable (``JOB#refresh``)
and the run returns before the Lambda timeout, so the next run resumes where this one stopped:

1. **Delta pull.** ``GET /trackings/get`` with ``update_time_min`` = watermark − overlap and a *fixed*
   ``update_time_max`` = the start of the pull, 2000 per page (reference §3.3), at most 1 request/s (the client
   paces list calls itself, §8). Every item is applied with the monotonic rule (the store writes only real
   changes). The window and the next page are checkpointed after every page; the watermark moves to
   ``update_time_max`` only when the last page has been applied, so a crash or a timeout can repeat items
   (harmless: same version, nothing written) but never skip a window. If TrackingMore's ``total`` shrinks
   between pages (trackings updated after ``update_time_max`` left the window, shifting later pages forward),
   the pull steps back so nothing shifts past it unseen.
2. **Stale sweep.** Active trackings not checked for ``stale_after_hours`` are re-read by number, 40 per call
   (the ``numbers`` limit, §3.3), least recently checked first (ActiveByChecked). Each one read is marked checked
   (``last_checked_at``; invisible to subscribers), which moves it out of the stale range — so the sweep needs no
   cursor: the next run simply continues with whatever is still stale.
3. **Retirement.** Trackings TrackingMore no longer needs to refresh are told to stop (``POST
   /trackings/notupdate``, §3.13, in groups) and become ``stopped``: ``delivered`` for longer than
   ``delivered_grace_days`` and ``expired`` ones (found through TerminalByTime, a cursor per kind so each
   terminal tracking is looked at once), and any tracking whose shipment has not changed for
   ``silent_after_days`` (found by the sweep, which sees every active tracking at least every
   ``stale_after_hours``). The sweep also retires delivered/expired trackings the terminal pass missed.

The client it is given is bound to the run's deadline (``shiptrack.compose.refresh``): an upstream call that would
run into the reserve ends in ``DeadlineExceededError`` and the run stops there, as it does between steps
(``interrupted_by: "time"``), with its position saved.

Overlapping runs cannot corrupt the checkpoints: the job state is saved conditionally on its revision
(:mod:`shiptrack.data.jobs`), and ``ReservedConcurrentExecutions: 1`` keeps a second run from starting on AWS.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import BaseModel, Field

from shiptrack.deadline import Deadline
from shiptrack.errors import JobConflictError, JobInterruptedError
from shiptrack.models import Tracking, TrackingRef, format_utc
from shiptrack.observability import logger

if TYPE_CHECKING:
    from shiptrack.data.jobs import JobStateStore
    from shiptrack.data.trackings import TrackingsRepository
    from trackingmore import TrackingMoreClient
    from trackingmore.models import BatchResult
    from trackingmore.models import Tracking as UpstreamTracking

__all__ = [
    "JOB_NAME",
    "LIST_PAGE_LIMIT",
    "NUMBERS_PER_CALL",
    "JobReport",
    "RefreshConfig",
    "RefreshReport",
    "RefreshState",
    "chunks",
    "failed_refs",
    "retirement_reason",
    "run_refresh",
    "stop_and_mark",
]

JOB_NAME: Final = "refresh"
#: ``GET /trackings/get`` returns at most 2000 per page (reference §3.3, §8).
LIST_PAGE_LIMIT: Final = 2000
#: The ``numbers`` filter takes at most 40 numbers (reference §3.3, §8).
NUMBERS_PER_CALL: Final = 40
#: Trackings told to stop updating per ``notupdate`` call: its limit is undocumented (§3.13); 40 matches every
#: documented per-call limit of v2 and keeps each group small enough to checkpoint between.
STOP_GROUP_SIZE: Final = 40
#: Upstream codes that mean "TrackingMore does not have this tracking" (§4.1): nothing left to stop there.
GONE_UPSTREAM_CODES: Final = frozenset({4017, 4031})

RetirementReason = Literal["delivered", "expired", "silent"]


@dataclass(frozen=True, slots=True)
class RefreshConfig:
    """Tuning of one run. Defaults follow the template's parameters (settings)."""

    stale_after_hours: int = 12
    delivered_grace_days: int = 3
    silent_after_days: int = 30
    #: ``update_time_min`` reaches this far behind the watermark: TrackingMore stamps ``updated_at`` on its own
    #: hosts, and a change stamped just before our previous ``update_time_max`` may become visible after it.
    overlap_seconds: int = 600
    #: How far back the very first pull reaches (no watermark yet). Older changes are found by the sweep.
    initial_lookback_seconds: int = 24 * 3600
    page_limit: int = LIST_PAGE_LIMIT
    #: Time kept back for the final checkpoint, and the time one list page (fetch + up to 2000 writes) may take.
    reserve_ms: int = 5_000
    page_budget_ms: int = 45_000
    group_budget_ms: int = 10_000


class RefreshState(BaseModel):
    """What ``JOB#refresh`` holds between runs."""

    watermark: int | None = Field(default=None, description="update_time_max (unix s) of the last complete pull")
    phase: Literal["idle", "pull", "sweep", "retire"] = "idle"
    cycle_started_at: str | None = None
    pull_min: int | None = None
    pull_max: int | None = None
    next_page: int = 1
    page_offset: int = Field(default=0, description="items of next_page already applied (mid-page checkpoint)")
    pull_total: int | None = Field(default=None, description="total TrackingMore reported for this window")
    retire_cursors: dict[str, str] = Field(
        default_factory=dict, description="last TerminalByTime sort key processed, per retirement kind"
    )
    last_completed_at: str | None = None


@dataclass
class JobReport:
    """What any scheduled job's run reports: the upstream calls it made, and whether it completed (or why not)."""

    upstream_calls: int = 0
    completed: bool = False
    interrupted_by: str | None = None

    def summary(self) -> dict[str, Any]:
        """Every field, as the job's function returns and logs it."""
        return asdict(self)


@dataclass
class RefreshReport(JobReport):
    """Counters of one refresh run (the function turns them into metrics)."""

    pulled: int = 0
    changed: int = 0
    unchanged: int = 0
    stale_refused: int = 0
    unknown: int = 0
    swept: int = 0
    missing_upstream: int = 0
    stopped: int = 0
    list_calls: int = 0
    pages: int = 0
    watermark: int | None = None
    watermark_lag_seconds: float | None = None
    stopped_by_reason: dict[str, int] = field(default_factory=dict)


def retirement_reason(
    tracking: Tracking,
    *,
    now: datetime,
    delivered_grace: timedelta,
    silent_after: timedelta,
    terminal_at: datetime | None = None,
) -> RetirementReason | None:
    """Why an *active* tracking should stop being refreshed upstream, or ``None`` when it should not yet."""
    if tracking.lifecycle != "active":
        return None
    if tracking.status == "expired":
        return "expired"
    if tracking.status == "delivered":
        since = terminal_at or tracking.last_changed_at or tracking.updated_at
        return "delivered" if since <= now - delivered_grace else None
    last_change = tracking.last_changed_at or tracking.created_at
    return "silent" if last_change <= now - silent_after else None


def stop_and_mark(
    refs: Sequence[TrackingRef],
    *,
    client: TrackingMoreClient,
    store: TrackingsRepository,
    now: datetime,
) -> tuple[list[TrackingRef], list[TrackingRef]]:
    """Tell TrackingMore to stop updating ``refs`` (one call) and mark them stopped; returns (done, failed).

    A per-item error that says the tracking is not upstream (4017/4031) counts as done: there is nothing left
    to stop. Any other per-item error leaves that tracking as it was (a later run tries again).
    """
    from trackingmore.models import TrackingRef as UpstreamRef

    if not refs:
        return [], []
    result = client.stop_updating(
        [UpstreamRef(carrier_code=r.carrier_code, tracking_number=r.tracking_number) for r in refs]
    )
    failed = failed_refs(result, refs)
    done = [ref for ref in refs if ref not in failed]
    for ref in done:
        store.set_lifecycle(ref, "stopped", now=now)
    for ref in failed:
        logger.warning("TrackingMore did not stop updating a tracking", extra={"tracking": str(ref)})
    return done, sorted(failed)


def failed_refs(result: BatchResult, refs: Sequence[TrackingRef]) -> set[TrackingRef]:
    """The ``refs`` a bulk answer (notupdate / updatemore) reports failed, ignoring "not upstream" errors."""
    wanted = {(ref.tracking_number, ref.carrier_code): ref for ref in refs}
    by_number = {ref.tracking_number: ref for ref in refs}
    failed: set[TrackingRef] = set()
    for item in result.failed:
        if item.code in GONE_UPSTREAM_CODES:
            continue
        number = (item.tracking_number or "").replace(" ", "").upper()
        carrier = (item.carrier_code or "").strip().lower()
        ref = wanted.get((number, carrier)) or by_number.get(number)
        if ref is not None:
            failed.add(ref)
    return failed


def chunks(items: Iterable[TrackingRef], size: int) -> Iterator[list[TrackingRef]]:
    """``items`` in lists of ``size`` (the last may be shorter), read lazily."""
    chunk: list[TrackingRef] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@dataclass(kw_only=True)
class _RefreshRun:
    store: TrackingsRepository
    jobs: JobStateStore
    client: TrackingMoreClient
    clock: Callable[[], datetime]
    deadline: Deadline
    config: RefreshConfig
    report: RefreshReport = field(init=False, default_factory=RefreshReport)
    # Where the last run stopped, and the revision its checkpoint is saved against.
    state: RefreshState = field(init=False)
    revision: int = field(init=False)
    started: datetime = field(init=False)

    def __post_init__(self) -> None:
        loaded = self.jobs.load(JOB_NAME, RefreshState)
        self.state, self.revision = loaded.state, loaded.revision
        self.started = self.clock()

    # -- bookkeeping -----------------------------------------------------------------------------------------------

    def checkpoint(self) -> None:
        try:
            self.revision = self.jobs.save(JOB_NAME, self.state, revision=self.revision, now=self.clock())
        except JobConflictError as exc:
            raise JobInterruptedError("conflict") from exc

    def require(self, needed_ms: int) -> None:
        if not self.deadline.allows(needed_ms):
            raise JobInterruptedError("time")

    def now(self) -> datetime:
        return self.clock().astimezone(UTC)

    def apply(self, upstream: UpstreamTracking, *, source: str) -> tuple[str, Tracking | None]:
        outcome = self.store.apply_upstream_update(upstream, observed_at=self.now(), source=source)
        if outcome.reason in ("applied", "created"):
            self.report.changed += 1
        elif outcome.reason == "unchanged":
            self.report.unchanged += 1
        elif outcome.reason == "stale":
            self.report.stale_refused += 1
        else:
            self.report.unknown += 1
        return outcome.reason, outcome.tracking

    def list_page(self, **filters: Any) -> Any:
        self.report.upstream_calls += 1
        self.report.list_calls += 1
        return self.client.list_trackings(**filters)

    # -- phases ----------------------------------------------------------------------------------------------------

    def run(self) -> RefreshReport:
        from trackingmore.errors import DeadlineExceededError, RateLimitError, ServerError, TransportError

        try:
            if self.state.phase == "idle":
                self.start_cycle()
            if self.state.phase == "pull":
                self.pull()
            if self.state.phase == "sweep":
                self.sweep()
            if self.state.phase == "retire":
                self.retire()
            self.report.completed = True
        except JobInterruptedError as stop:
            self.report.interrupted_by = stop.why
            if stop.why != "conflict":
                self.checkpoint_quietly()
        except DeadlineExceededError:
            # TrackingMore was too slow for the time left: the same stop as between steps.
            self.report.interrupted_by = "time"
            self.checkpoint_quietly()
        except (RateLimitError, ServerError, TransportError) as exc:
            # Transient upstream trouble: keep what was done, let the next scheduled run continue.
            logger.warning("refresh stopped by an upstream failure", extra={"error": type(exc).__name__})
            self.report.interrupted_by = "upstream"
            self.checkpoint_quietly()
        self.report.watermark = self.state.watermark
        if self.state.watermark is not None:
            self.report.watermark_lag_seconds = max(0.0, self.now().timestamp() - self.state.watermark)
        return self.report

    def checkpoint_quietly(self) -> None:
        try:
            self.checkpoint()
        except JobInterruptedError:
            logger.warning("refresh checkpoint lost to a concurrent run")

    def start_cycle(self) -> None:
        start = self.now()
        pull_max = int(start.timestamp())
        if self.state.watermark is not None:
            pull_min = self.state.watermark - self.config.overlap_seconds
        else:
            pull_min = pull_max - self.config.initial_lookback_seconds
        self.state = self.state.model_copy(
            update={
                "phase": "pull",
                "cycle_started_at": format_utc(start),
                "pull_min": pull_min,
                "pull_max": pull_max,
                "next_page": 1,
                "page_offset": 0,
                "pull_total": None,
            }
        )
        self.checkpoint()

    def pull(self) -> None:
        state = self.state
        if state.pull_min is None or state.pull_max is None:  # a state saved mid-pull always has its window
            state.phase = "idle"
            self.start_cycle()
            state = self.state
        while True:
            self.require(self.config.page_budget_ms)
            page = self.list_page(
                page=state.next_page,
                limit=self.config.page_limit,
                update_time_min=state.pull_min,
                update_time_max=state.pull_max,
            )
            self.report.pages += 1
            if state.pull_total is not None and page.total < state.pull_total and state.next_page > 1:
                # Trackings left the window (updated after update_time_max): later pages moved forward by that
                # many items. Step back so none of them slips past unseen; repeats are harmless.
                back = math.ceil((state.pull_total - page.total) / self.config.page_limit)
                logger.info("list window shrank; stepping back", extra={"pages": back})
                state.next_page = max(1, state.next_page - back)
                state.page_offset = 0
                state.pull_total = page.total
                continue
            if state.pull_total is None:
                state.pull_total = page.total
            items = page.items
            for position in range(state.page_offset, len(items)):
                if not self.deadline.allows(0):
                    state.page_offset = position
                    raise JobInterruptedError("time")
                self.report.pulled += 1
                self.apply(items[position], source="refresh")
            if page.has_more and items:
                state.next_page += 1
                state.page_offset = 0
                self.checkpoint()
                continue
            # The whole window is applied: only now may the watermark move.
            state.watermark = state.pull_max
            state.phase = "sweep"
            state.pull_min = state.pull_max = state.pull_total = None
            state.next_page, state.page_offset = 1, 0
            self.checkpoint()
            return

    def sweep(self) -> None:
        now = self.now()
        stale_before = now - timedelta(hours=self.config.stale_after_hours)
        grace = timedelta(days=self.config.delivered_grace_days)
        silent = timedelta(days=self.config.silent_after_days)
        refs = self.store.iter_active_least_recently_checked(checked_before=stale_before)
        for group in chunks(refs, NUMBERS_PER_CALL):
            self.require(self.config.group_budget_ms)
            numbers = sorted({ref.tracking_number for ref in group})
            page = self.list_page(numbers=numbers, limit=self.config.page_limit)
            by_ref = {TrackingRef.of(t.carrier_code or "", t.tracking_number or ""): t for t in page.items}
            checked_at = self.now()
            not_moved: list[TrackingRef] = []
            to_retire: dict[TrackingRef, RetirementReason] = {}
            for ref in group:
                upstream = by_ref.get(ref)
                self.report.swept += 1
                if upstream is None:
                    self.report.missing_upstream += 1
                    logger.info("stale tracking not found upstream", extra={"tracking": str(ref)})
                    not_moved.append(ref)
                    continue
                reason, tracking = self.apply(upstream, source="sweep")
                if reason not in ("applied", "unchanged", "created"):
                    not_moved.append(ref)
                if tracking is not None:
                    why = retirement_reason(tracking, now=checked_at, delivered_grace=grace, silent_after=silent)
                    if why is not None:
                        to_retire[ref] = why
            # Everything looked at is checked now, found upstream or not, so it leaves the stale range.
            self.store.mark_checked(not_moved, checked_at)
            if to_retire:
                self.stop(list(to_retire), reasons=to_retire)
        self.state.phase = "retire"
        self.checkpoint()

    def stop(self, refs: Sequence[TrackingRef], *, reasons: Mapping[TrackingRef, str]) -> list[TrackingRef]:
        """Stop ``refs`` upstream and mark them stopped, in groups; returns those that could not be stopped."""
        failed: list[TrackingRef] = []
        for group in chunks(refs, STOP_GROUP_SIZE):
            self.report.upstream_calls += 1
            done, group_failed = stop_and_mark(group, client=self.client, store=self.store, now=self.now())
            failed += group_failed
            self.report.stopped += len(done)
            for ref in done:
                why = reasons[ref]
                self.report.stopped_by_reason[why] = self.report.stopped_by_reason.get(why, 0) + 1
        return failed

    def retire(self) -> None:
        now = self.now()
        grace = timedelta(days=self.config.delivered_grace_days)
        self.retire_terminal("expired", cutoff=now)
        self.retire_terminal("delivered", cutoff=now - grace)
        self.state.phase = "idle"
        self.state.last_completed_at = format_utc(now)
        self.checkpoint()

    def retire_terminal(self, status: Literal["delivered", "expired"], *, cutoff: datetime) -> None:
        """Stop active trackings that entered ``status`` before ``cutoff`` (TerminalByTime, from the cursor on)."""
        now = self.now()
        grace = timedelta(days=self.config.delivered_grace_days)
        silent = timedelta(days=self.config.silent_after_days)
        for keys in self.store.terminal_pages(after=self.state.retire_cursors.get(status), before=cutoff):
            self.require(self.config.group_budget_ms)
            refs = [TrackingRef.from_key(str(key["pk"])) for key in keys]
            stored = self.store.batch_get(refs)
            candidates = [
                ref
                for ref in refs
                if ref in stored
                and stored[ref].status == status
                and retirement_reason(stored[ref], now=now, delivered_grace=grace, silent_after=silent) == status
            ]
            # A tracking TrackingMore refused to stop stays active; the cursor moves on regardless, and the stale
            # sweep (which applies the same retirement rule) retries it within stale_after_hours.
            failed = self.stop(candidates, reasons=dict.fromkeys(candidates, status))
            if failed:
                logger.warning("some trackings could not be stopped", extra={"count": len(failed)})
            self.state.retire_cursors[status] = str(keys[-1]["terminal_sk"])
            self.checkpoint()


def run_refresh(
    *,
    store: TrackingsRepository,
    jobs: JobStateStore,
    client: TrackingMoreClient,
    deadline: Deadline,
    clock: Callable[[], datetime],
    config: RefreshConfig | None = None,
) -> RefreshReport:
    """Run (or resume) one refresh cycle until it completes or the time budget says stop; see the module doc."""
    return _RefreshRun(
        store=store, jobs=jobs, client=client, clock=clock, deadline=deadline, config=config or RefreshConfig()
    ).run()
