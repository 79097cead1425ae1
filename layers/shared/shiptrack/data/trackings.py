"""The trackings repository: reads and writes :class:`~shiptrack.models.Tracking` s in TrackingsTable.

Item layout: :mod:`shiptrack.data.codec`; listing and index pagers: :mod:`shiptrack.data.queries`; the monotonic
rule: :mod:`shiptrack.data.monotonic`.

Concurrency: every content write is a read-modify-write conditioned on ``revision``; a lost race is retried
from a fresh read. ``ConditionalCheckFailedException`` never leaves this package: it becomes an outcome.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any, Final, Literal

from shiptrack.data import queries
from shiptrack.data.codec import (
    SUMMARY_ATTRIBUTES,
    TrackingItem,
    item_from_tracking,
    summary_from_item,
    tracking_from_item,
    tracking_item_from_item,
)
from shiptrack.data.cursors import CursorSigner
from shiptrack.data.dynamodb import batch_get, cancellation_reasons, conditional, storable
from shiptrack.data.monotonic import clamp_version, finalize, is_stale, moved_to_carrier, propose
from shiptrack.errors import RequestInProgressError, TrackingExistsError, TrackingNotFoundError
from shiptrack.models import (
    Lifecycle,
    ListQuery,
    Tracking,
    TrackingList,
    TrackingRef,
    TrackingSummary,
    content_fingerprint,
    format_utc,
    to_millis,
    utc_now,
)
from shiptrack.observability import logger
from shiptrack.upstream import tracking_from_upstream, upstream_version

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

    from trackingmore.models import Tracking as UpstreamTracking

__all__ = ["MAX_WRITE_ATTEMPTS", "UNREAD", "ApplyOutcome", "PutOutcome", "TrackingsRepository", "Unread"]

# How often a read-modify-write is retried after losing a race before giving up with a 409.
MAX_WRITE_ATTEMPTS: Final = 8


class Unread(Enum):
    """Marks a record the caller has not read (``None`` means read and absent)."""

    UNREAD = "unread"


UNREAD: Final = Unread.UNREAD


@dataclass(frozen=True, slots=True)
class ApplyOutcome:
    """What :meth:`TrackingsRepository.apply_upstream_update` did.

    ``changed`` is ``True`` only when something a subscriber sees was written. ``reason``:
    ``applied`` (written), ``unchanged`` (same content; at most ``last_checked_at`` moved), ``stale`` (older than
    the stored copy: refused by the monotonic rule), ``unknown`` (we do not hold this tracking), ``created`` (we
    did not hold it and ``create_missing`` was set). ``tracking`` is the stored copy after the call (``None`` when
    unknown); ``previous`` the copy before it.
    """

    changed: bool
    tracking: Tracking | None
    reason: Literal["applied", "unchanged", "stale", "unknown", "created"]
    previous: Tracking | None = None


@dataclass(frozen=True, slots=True)
class PutOutcome:
    """What :meth:`TrackingsRepository.put_new` did: ``created`` is ``False`` when the identity was already stored."""

    created: bool
    tracking: Tracking


class TrackingsRepository:
    """Reads and writes trackings in TrackingsTable (the boto3 ``Table`` resource it is given).

    ``cursors`` signs listing cursors (default: a key derived from the table name); ``clock`` and ``sleep`` are
    the time sources (tests pass their own). ``changes_delay``: the changes feed serves changes stamped at least
    this long ago (``ChangesFeedDelaySeconds``, :func:`queries.changes`).
    """

    def __init__(
        self,
        table: Table,
        *,
        clock: Callable[[], datetime] = utc_now,
        cursors: CursorSigner | None = None,
        sleep: Callable[[float], None] = time.sleep,
        changes_delay: timedelta = timedelta(0),
    ) -> None:
        self._table = table
        self._clock = clock
        self._sleep = sleep
        self._changes_delay = changes_delay
        self._cursors = cursors or CursorSigner.for_table(str(getattr(table, "name", "trackings")))

    # ----------------------------------------------------------------------------------------------- reads

    def load(self, ref: TrackingRef) -> TrackingItem | None:
        """The stored record (resource + bookkeeping), strongly consistent; ``None`` when unknown.

        An identity whose key DynamoDB could never hold is unknown without asking: DynamoDB would refuse the read
        itself, and such identities reach us only in untrusted input (a push body).
        """
        if not storable(ref.key):
            return None
        item = self._table.get_item(Key={"pk": ref.key}, ConsistentRead=True).get("Item")
        return tracking_item_from_item(item) if item else None

    def get(self, ref: TrackingRef) -> Tracking | None:
        """The stored tracking; ``None`` when unknown."""
        record = self.load(ref)
        return record.tracking if record else None

    def batch_get(self, refs: Iterable[TrackingRef]) -> dict[TrackingRef, Tracking]:
        """The stored trackings among ``refs`` (BatchGetItem, see :meth:`batch_load`)."""
        return {ref: record.tracking for ref, record in self.batch_load(refs).items()}

    def batch_load(self, refs: Iterable[TrackingRef]) -> dict[TrackingRef, TrackingItem]:
        """The stored records among ``refs``, strongly consistent, 100 keys a call; unprocessed keys are retried a
        bounded number of times, then :class:`~shiptrack.errors.StorageBusyError` (503, retryable)."""
        wanted = sorted({ref.key for ref in refs if storable(ref.key)})
        found: dict[TrackingRef, TrackingItem] = {}
        for item in batch_get(self._table, [{"pk": key} for key in wanted], sleep=self._sleep):
            record = tracking_item_from_item(item)
            found[record.ref] = record
        return found

    def batch_get_summaries(self, refs: Iterable[TrackingRef]) -> dict[TrackingRef, TrackingSummary]:
        """The stored trackings among ``refs`` as summaries: only the summary's attributes are read (no
        checkpoints), eventually consistent — for pages that show many trackings at once."""
        wanted = sorted({ref.key for ref in refs if storable(ref.key)})
        keys = [{"pk": key} for key in wanted]
        items = batch_get(self._table, keys, consistent=False, sleep=self._sleep, attributes=SUMMARY_ATTRIBUTES)
        summaries = (summary_from_item(item) for item in items)
        return {TrackingRef(s.carrier_code, s.tracking_number): s for s in summaries}

    def list(self, query: ListQuery) -> TrackingList:
        """One page of trackings, newest first, as ``query`` filters them, or of the changes feed
        (see :func:`queries.list_trackings`)."""
        until = self._clock() - self._changes_delay if query.updated_after is not None else None
        return queries.list_trackings(self._table, query, self._cursors, changes_until=until)

    def iter_active_least_recently_checked(
        self, *, checked_before: datetime | None = None, page_size: int = 100
    ) -> Iterator[TrackingRef]:
        """Active trackings, least recently checked first (never-checked first of all); ActiveByChecked.

        Lazy: pages are read as the caller iterates, so a caller that stops early (Lambda time budget) reads no
        more than it used.
        """
        pages = queries.active_least_recently_checked(self._table, checked_before=checked_before, page_size=page_size)
        for page in pages:
            yield from (TrackingRef.from_key(str(item["pk"])) for item in page)

    def iter_terminal_before(self, cutoff: datetime, *, page_size: int = 100) -> Iterator[TrackingRef]:
        """Non-archived trackings that entered a terminal status before ``cutoff``, oldest first; TerminalByTime."""
        for page in self.terminal_pages(before=cutoff, page_size=page_size):
            yield from (TrackingRef.from_key(str(item["pk"])) for item in page)

    def terminal_pages(
        self, *, before: datetime, after: str | None = None, page_size: int = 100
    ) -> Iterator[queries.Page]:
        """TerminalByTime keys with ``after < terminal_sk < before``, oldest first, a page at a time."""
        return queries.terminal(self._table, before=before, after=after, page_size=page_size)

    # ----------------------------------------------------------------------------------------------- writes

    def put_new(
        self,
        tracking: Tracking,
        *,
        version: str = "",
        last_realtime_at: datetime | None = None,
        created_by: str | None = None,
    ) -> PutOutcome:
        """Store a tracking we did not hold (conditional on the identity being absent).

        When it already exists nothing is written and the stored copy is returned (``created=False``).
        ``created_by`` is kept with the item (bookkeeping) so that its writer recognises its own work on a retry.
        """
        terminal_at = (tracking.last_changed_at or tracking.created_at) if tracking.is_terminal else None
        version = clamp_version(version, now=self._clock()) if version else version
        record = TrackingItem(
            tracking=tracking,
            version=version,
            revision=1,
            last_realtime_at=last_realtime_at,
            terminal_at=terminal_at,
            created_by=created_by,
        )
        item = item_from_tracking(record)
        if conditional(lambda: self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")):
            return PutOutcome(created=True, tracking=tracking)
        existing = self.get(tracking.ref)
        if existing is None:  # deleted in between: a rare race, and storing it now is right
            return self.put_new(tracking, version=version, last_realtime_at=last_realtime_at, created_by=created_by)
        return PutOutcome(created=False, tracking=existing)

    def apply_upstream_update(
        self,
        upstream: UpstreamTracking,
        *,
        observed_at: datetime,
        source: str,
        ref: TrackingRef | None = None,
        create_missing: bool = False,
        realtime: bool = False,
        current: TrackingItem | Unread | None = UNREAD,
    ) -> ApplyOutcome:
        """Apply a copy of a tracking read from TrackingMore (webhook, refresh, realtime, create) — monotonically.

        * The copy is applied only if its :func:`~shiptrack.upstream.upstream_version` is ``>=`` the stored one
          (compared here and enforced again by the conditional write): a late webhook is ``stale``.
        * A delivered tracking keeps its status through upstream copies (:func:`~shiptrack.data.monotonic.propose`).
        * Only real changes are written: with an equal content fingerprint, just ``last_checked_at`` (and the
          version) move, which subscribers do not see.
        * ``realtime=True`` also records ``last_realtime_at`` (TrackingMore's once-per-2-hours rule), stale or not.
        * Races with other writers are retried from a fresh read.

        ``ref`` defaults to the copy's own (normalised) carrier code and number. ``source`` is for logs.
        Unknown trackings are ``unknown`` unless ``create_missing`` (then stored as new: ``created``).
        ``current``: the stored record (``None``: absent) when the caller has just read it, so the first attempt
        does not read it again; every write is conditional, so a stale one only costs a retry from a fresh read.
        """
        ref = ref or TrackingRef.of(upstream.carrier_code or "", upstream.tracking_number or "")
        version = clamp_version(upstream_version(upstream), now=self._clock())
        observed_at = to_millis(observed_at)
        for attempt in range(MAX_WRITE_ATTEMPTS):
            if attempt or isinstance(current, Unread):
                current = self.load(ref)
            if current is None:
                if not create_missing:
                    return ApplyOutcome(changed=False, tracking=None, reason="unknown")
                tracking = tracking_from_upstream(upstream, now=observed_at, ref=ref)
                put = self.put_new(tracking, version=version, last_realtime_at=observed_at if realtime else None)
                if put.created:
                    return ApplyOutcome(changed=True, tracking=put.tracking, reason="created")
                continue
            outcome = self._apply_once(current, upstream, version, observed_at=observed_at, realtime=realtime)
            if outcome is not None:
                if outcome.reason != "unchanged":
                    extra = {"tracking": str(ref), "source": source, "outcome": outcome.reason}
                    logger.debug("upstream update", extra=extra)
                return outcome
            self._backoff(attempt)
        raise RequestInProgressError(f"Tracking {ref} is being changed concurrently; try again.")

    def _apply_once(
        self, current: TrackingItem, upstream: UpstreamTracking, version: str, *, observed_at: datetime, realtime: bool
    ) -> ApplyOutcome | None:
        """One attempt; ``None`` when a concurrent write won the race."""
        before = current.tracking
        new_realtime = observed_at if realtime else None
        if is_stale(version, current):
            newer_realtime = current.last_realtime_at is None or current.last_realtime_at < observed_at
            if new_realtime and newer_realtime and not self._touch(current, last_realtime_at=new_realtime):
                return None
            return ApplyOutcome(changed=False, tracking=before, reason="stale", previous=before)

        proposed = propose(current, upstream, observed_at=observed_at)
        fingerprint = content_fingerprint(proposed)
        if fingerprint == content_fingerprint(before):
            moved = proposed.last_checked_at != before.last_checked_at
            if not (moved or version != current.version or new_realtime):
                return ApplyOutcome(changed=False, tracking=before, reason="unchanged", previous=before)
            written = self._touch(
                current,
                last_checked_at=proposed.last_checked_at if moved else None,
                version=version if version != current.version else None,
                last_realtime_at=new_realtime,
            )
            if not written:
                return None
            after = before.model_copy(update={"last_checked_at": proposed.last_checked_at})
            return ApplyOutcome(changed=False, tracking=after, reason="unchanged", previous=before)

        last_realtime_at = new_realtime or current.last_realtime_at
        updated = replace(current, tracking=proposed, version=version, last_realtime_at=last_realtime_at)
        final = finalize(current, updated, now=observed_at, changed=True)
        if not self._write(current, final, monotonic_version=version, fingerprint=fingerprint):
            return None
        return ApplyOutcome(changed=True, tracking=final.tracking, reason="applied", previous=before)

    def replace_from_upstream(
        self, ref: TrackingRef, upstream: UpstreamTracking, *, observed_at: datetime
    ) -> ApplyOutcome:
        """Replace the carrier data of a stored tracking with ``upstream`` — *without* the monotonic rule (repair).

        ``POST …/resync``: the operator says TrackingMore's copy is the truth, so it is taken even when its version
        is older than the stored one (a version from a forged push, say) and even when it moves a delivered parcel
        back. Our metadata stays (:func:`~shiptrack.upstream.tracking_from_upstream` with the stored copy as base);
        the write is conditional on the revision read, like every write, and the stream publishes the change.
        ``reason``: ``applied`` (something a subscriber sees changed), ``unchanged``, or ``unknown`` (not stored).
        """
        version = clamp_version(upstream_version(upstream), now=self._clock())
        observed_at = to_millis(observed_at)
        for attempt in range(MAX_WRITE_ATTEMPTS):
            current = self.load(ref)
            if current is None:
                return ApplyOutcome(changed=False, tracking=None, reason="unknown")
            before = current.tracking
            proposed = tracking_from_upstream(upstream, now=observed_at, base=before)
            changed = content_fingerprint(proposed) != content_fingerprint(before)
            updated = replace(current, tracking=proposed, version=version)
            final = finalize(current, updated, now=observed_at, changed=changed)
            if self._write(current, final):
                reason: Literal["applied", "unchanged"] = "applied" if changed else "unchanged"
                return ApplyOutcome(changed=changed, tracking=final.tracking, reason=reason, previous=before)
            self._backoff(attempt)
        raise RequestInProgressError(f"Tracking {ref} is being changed concurrently; try again.")

    def update_fields(
        self,
        ref: TrackingRef,
        changes: Mapping[str, Any],
        *,
        now: datetime | None = None,
        version: str | None = None,
        expires_at: int | None = None,
        current: TrackingItem | Unread | None = UNREAD,
    ) -> Tracking | None:
        """Set resource fields (metadata, ``status``/``substatus`` from an explicit override, ``lifecycle``).

        This is the PATCH path: no monotonic check on status (a revert may go back from delivered), but the
        upstream ``version`` only ever moves forward. ``expires_at`` is kept only while archived.
        Returns the stored tracking, ``None`` when unknown. ``current``: as for :meth:`apply_upstream_update`.
        """
        now = to_millis(now or self._clock())
        for attempt in range(MAX_WRITE_ATTEMPTS):
            if attempt or isinstance(current, Unread):
                current = self.load(ref)
            if current is None:
                return None
            updated = replace(
                current,
                tracking=current.tracking.model_copy(update=dict(changes)),
                version=max(current.version, clamp_version(version or "", now=self._clock())),
                expires_at=expires_at if expires_at is not None else current.expires_at,
            )
            final = finalize(current, updated, now=now)
            if final == current:
                return current.tracking
            if self._write(current, final):
                return final.tracking
            self._backoff(attempt)
        raise RequestInProgressError(f"Tracking {ref} is being changed concurrently; try again.")

    def set_lifecycle(
        self,
        ref: TrackingRef,
        lifecycle: Lifecycle,
        *,
        now: datetime | None = None,
        expires_at: datetime | None = None,
        current: TrackingItem | Unread | None = UNREAD,
    ) -> Tracking | None:
        """Move a tracking to ``lifecycle`` (active → stopped → archived, or back by PATCH).

        Archived trackings leave the LIST, status, active and terminal index partitions; ``expires_at`` (the
        retention TTL) applies only to archived ones. Returns the stored tracking, ``None`` when unknown.
        """
        ttl = int(expires_at.timestamp()) if expires_at is not None and lifecycle == "archived" else None
        return self.update_fields(ref, {"lifecycle": lifecycle}, now=now, expires_at=ttl, current=current)

    def mark_checked(self, refs: Iterable[TrackingRef], at: datetime) -> int:
        """Record that these trackings were looked at upstream at ``at`` (and found unchanged).

        Moves only ``last_checked_at`` (and its index key): invisible to subscribers. Never moves it backwards;
        unknown trackings are skipped. Returns how many were updated.
        """
        stamp = format_utc(at)
        return sum(self._mark_checked(ref, stamp) for ref in refs)

    def _mark_checked(self, ref: TrackingRef, stamp: str) -> bool:
        return conditional(
            lambda: self._table.update_item(
                Key={"pk": ref.key},
                UpdateExpression="SET last_checked_at = :at, checked_sk = :sk ADD revision :one",
                ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(last_checked_at) "
                "OR last_checked_at < :at)",
                ExpressionAttributeValues={":at": stamp, ":sk": f"{stamp}#{ref.key}", ":one": 1},
            )
        )

    def mark_realtime(self, ref: TrackingRef, at: datetime) -> bool:
        """Record an upstream realtime call for ``ref`` at ``at`` (TrackingMore allows one per 2 hours)."""
        return conditional(
            lambda: self._table.update_item(
                Key={"pk": ref.key},
                UpdateExpression="SET last_realtime_at = :at ADD revision :one",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":at": format_utc(at), ":one": 1},
            )
        )

    def move_identity(self, old_ref: TrackingRef, new_carrier_code: str, *, now: datetime | None = None) -> Tracking:
        """Move a tracking to another carrier code (after upstream ``/trackings/update``, reference §3.10).

        One transaction: delete the old item (conditional on its revision) and put the new one (conditional on
        absence); :func:`~shiptrack.data.monotonic.moved_to_carrier` says what carries over. Raises
        :class:`~shiptrack.errors.TrackingNotFoundError` when the old one is unknown and
        :class:`~shiptrack.errors.TrackingExistsError` when the new identity is already stored.
        """
        from botocore.exceptions import ClientError

        now = to_millis(now or self._clock())
        new_ref = TrackingRef.of(new_carrier_code, old_ref.tracking_number)
        for attempt in range(MAX_WRITE_ATTEMPTS):
            current = self.load(old_ref)
            if current is None:
                raise TrackingNotFoundError(f"Tracking {old_ref} is not tracked.")
            moved = moved_to_carrier(current, new_ref, now=now)
            try:
                self._transact_move(current, TrackingItem(tracking=moved, revision=1))
            except ClientError as exc:
                reasons = cancellation_reasons(exc)
                if reasons is None:
                    raise
                if reasons[1:2] == ["ConditionalCheckFailed"]:
                    raise TrackingExistsError(f"Tracking {new_ref} is already tracked.") from exc
                self._backoff(attempt)
                continue
            return moved
        raise RequestInProgressError(f"Tracking {old_ref} is being changed concurrently; try again.")

    def delete(self, ref: TrackingRef) -> Tracking | None:
        """Delete a tracking; returns what was stored (``None`` when there was nothing)."""
        old = self._table.delete_item(Key={"pk": ref.key}, ReturnValues="ALL_OLD").get("Attributes")
        return tracking_from_item(old) if old else None

    # ----------------------------------------------------------------------------------------------- internals

    def _transact_move(self, current: TrackingItem, moved: TrackingItem) -> None:
        # The Table's own client (de)serialises Python values itself (boto3's resource transformation hooks).
        self._table.meta.client.transact_write_items(
            TransactItems=[
                {
                    "Delete": {
                        "TableName": self._table.name,
                        "Key": {"pk": current.ref.key},
                        "ConditionExpression": "revision = :rev",
                        "ExpressionAttributeValues": {":rev": current.revision},
                    }
                },
                {
                    "Put": {
                        "TableName": self._table.name,
                        "Item": item_from_tracking(moved),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )

    def _write(
        self, current: TrackingItem, new: TrackingItem, *, monotonic_version: str | None = None, fingerprint: str = ""
    ) -> bool:
        """Put ``new`` if the item is still at ``current.revision``; ``False`` when another write won.

        ``fingerprint``: ``new``'s content fingerprint when the caller has it."""
        condition = "revision = :rev"
        values: dict[str, Any] = {":rev": current.revision}
        if monotonic_version is not None:
            # The monotonic rule, enforced by DynamoDB itself (docs/design.md §5).
            condition += " AND (attribute_not_exists(upstream_version) OR upstream_version <= :ver)"
            values[":ver"] = monotonic_version
        item = item_from_tracking(replace(new, revision=current.revision + 1), fingerprint=fingerprint or None)
        return conditional(
            lambda: self._table.put_item(Item=item, ConditionExpression=condition, ExpressionAttributeValues=values)
        )

    def _touch(
        self,
        current: TrackingItem,
        *,
        last_checked_at: datetime | None = None,
        version: str | None = None,
        last_realtime_at: datetime | None = None,
    ) -> bool:
        """Update only bookkeeping attributes (nothing a subscriber sees), if still at ``current.revision``."""
        sets = ["revision = :next"]
        values: dict[str, Any] = {":rev": current.revision, ":next": current.revision + 1}
        if last_checked_at is not None:
            stamp = format_utc(last_checked_at)
            sets += ["last_checked_at = :checked", "checked_sk = :checked_sk"]
            values[":checked"] = stamp
            values[":checked_sk"] = f"{stamp}#{current.ref.key}"
        if version is not None:
            sets.append("upstream_version = :ver")
            values[":ver"] = version
        if last_realtime_at is not None:
            sets.append("last_realtime_at = :rt")
            values[":rt"] = format_utc(last_realtime_at)
        return conditional(
            lambda: self._table.update_item(
                Key={"pk": current.ref.key},
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="revision = :rev",
                ExpressionAttributeValues=values,
            )
        )

    def _backoff(self, attempt: int) -> None:
        # Jitter spreads writers that lost the same race; the cap keeps a request well inside API Gateway's 29 s.
        self._sleep(min(0.2, 0.005 * 2**attempt) * random.random())  # noqa: S311 - jitter, not security
