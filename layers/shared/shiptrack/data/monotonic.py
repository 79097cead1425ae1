"""The monotonic rule (docs/data-model.md "The monotonic rule"): what a write of a tracking may change.

Pure functions over stored records; :class:`~shiptrack.data.trackings.TrackingsRepository` reads, calls them and
writes conditionally, so the rule is decided here and enforced again by DynamoDB.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from shiptrack.data.codec import TrackingItem
from shiptrack.models import SHIPMENT_FIELDS, TERMINAL_STATUSES, Tracking, TrackingRef, content_fingerprint
from shiptrack.upstream import tracking_from_upstream

if TYPE_CHECKING:
    from trackingmore.models import Tracking as UpstreamTracking

__all__ = ["FUTURE_SKEW", "clamp_version", "finalize", "is_stale", "moved_to_carrier", "propose"]

#: How far ahead of our clock an upstream time may be and still be believed: TrackingMore stamps ``updated_at`` on
#: its own hosts, whose clocks are not ours. Anything later is not an observation, it is a claim about the future.
FUTURE_SKEW: Final = timedelta(seconds=60)
#: Carrier-local event times (no zone, reference §1) run at most 14 hours ahead of UTC (UTC+14).
_LOCAL_AHEAD: Final = timedelta(hours=14)


def clamp_version(version: str, *, now: datetime) -> str:
    """``version`` with no part later than ``now`` allows: ``updated_at`` at most ``now`` + :data:`FUTURE_SKEW`,
    the newest carrier-local checkpoint time at most 14 hours more.

    A stored version is the floor every later copy must reach (:func:`is_stale`). Without the clamp, one copy
    claiming ``updated_at: 2099-12-31`` (a forged push, a broken clock) would freeze the parcel: every genuine copy
    after it would be refused as older. Clamped, such a copy outranks genuine ones only until the clock passes
    ``now`` + the skew. Every write of the repository stores a clamped version, whatever the source.
    """
    parts = version.split("|")
    if len(parts) != 3:  # not a version we made: leave it to the comparison (it sorts as it is)
        return version
    updated, latest, count = parts
    now = now.astimezone(UTC)
    ceiling = now + FUTURE_SKEW
    updated_ceiling = f"{ceiling:%Y-%m-%dT%H:%M:%S}.{ceiling.microsecond:06d}Z"
    latest_ceiling = f"{ceiling + _LOCAL_AHEAD:%Y-%m-%dT%H:%M:%S}"
    return f"{min(updated, updated_ceiling)}|{min(latest, latest_ceiling)}|{count}"


def is_stale(version: str, current: TrackingItem) -> bool:
    """Whether an upstream copy of ``version`` is older than the stored one (and so refused)."""
    return version < current.version


def propose(current: TrackingItem, upstream: UpstreamTracking, *, observed_at: datetime) -> Tracking:
    """The copy to store for an upstream observation that is not stale.

    Carrier data is taken and our metadata kept (``tracking_from_upstream``); a delivered tracking keeps its
    status; ``last_checked_at`` never moves backwards (an older-but-not-stale observation can arrive late).
    """
    before = current.tracking
    proposed = tracking_from_upstream(upstream, now=observed_at, base=before)
    if before.status == "delivered" and proposed.status != "delivered":
        # Delivered is final for upstream copies. Letting it move to another terminal status (exception) would
        # open a path back to transit one copy later; a return after delivery still shows in the checkpoints,
        # and a PATCH can set the status explicitly.
        proposed = proposed.model_copy(update={"status": before.status, "substatus": before.substatus})
    if before.last_checked_at and before.last_checked_at > observed_at:
        proposed = proposed.model_copy(update={"last_checked_at": before.last_checked_at})
    return proposed


def finalize(before: TrackingItem, after: TrackingItem, *, now: datetime, changed: bool | None = None) -> TrackingItem:
    """Derived bookkeeping: ``updated_at``/``last_changed_at`` on real changes, ``terminal_at``, the TTL.

    ``changed``: whether the content fingerprints differ, when the caller has compared them already. Only
    volatile timestamps move here, so the result has ``after``'s content fingerprint.
    """
    tracking = after.tracking
    if changed is None:
        changed = content_fingerprint(tracking) != content_fingerprint(before.tracking)
    if changed:
        update: dict[str, Any] = {"updated_at": now}
        if any(getattr(before.tracking, name) != getattr(tracking, name) for name in SHIPMENT_FIELDS):
            update["last_changed_at"] = now
        tracking = tracking.model_copy(update=update)
    if tracking.status in TERMINAL_STATUSES:
        was_terminal = before.tracking.status in TERMINAL_STATUSES and before.terminal_at is not None
        terminal_at = before.terminal_at if was_terminal else now
    else:
        terminal_at = None
    expires_at = after.expires_at if tracking.lifecycle == "archived" else None
    return replace(after, tracking=tracking, terminal_at=terminal_at, expires_at=expires_at)


def moved_to_carrier(current: TrackingItem, new_ref: TrackingRef, *, now: datetime) -> Tracking:
    """The tracking as it starts over under another carrier code: our metadata and ``created_at`` stay, the
    carrier's data does not (status back to ``pending``, no checkpoints), so its next copy applies in full."""
    return current.tracking.model_copy(
        update={
            "carrier_code": new_ref.carrier_code,
            "status": "pending",
            "substatus": None,
            "checkpoints": [],
            "last_event": None,
            "transit_days": None,
            "origin_country": None,
            "destination_country": None,
            "updated_at": now,
            "last_changed_at": now,
            "last_checked_at": None,
        }
    )
