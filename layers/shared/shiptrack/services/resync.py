"""Repairing a tracking (``POST /trackings/{carrier_code}/{tracking_number}/resync``): TrackingMore's copy wins.

The monotonic rule keeps every automatic path from moving a tracking backwards (docs/data-model.md). That is also
why a wrong copy that got in — a push forged while bodies were trusted, a clock that ran ahead — could outlive its
cause. Resync is the operator's way out: read the tracking from TrackingMore and store that, whatever its version,
delivered or not (docs/security.md). The write goes through the table like any other, so the stream publishes the
change (``Tracking Status Changed`` / ``Tracking Updated``) and storefront webhooks follow.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from shiptrack.errors import TrackingMissingUpstreamError, TrackingNotFoundError
from shiptrack.models import Tracking, TrackingRef, to_millis, utc_now
from shiptrack.observability import counted_call, logger

if TYPE_CHECKING:
    from shiptrack.data.trackings import TrackingsRepository
    from trackingmore import TrackingMoreClient

__all__ = ["resync_tracking"]


def resync_tracking(
    ref: TrackingRef,
    *,
    store: TrackingsRepository,
    client: Callable[[], TrackingMoreClient],
    now: datetime | None = None,
) -> Tracking:
    """Replace our copy of ``ref`` with TrackingMore's; the stored tracking after it.

    404 ``tracking_not_found`` when we do not hold it (nothing is asked upstream); 409
    ``tracking_missing_upstream`` when TrackingMore does not (4017/4031: nothing changes). Other upstream failures
    propagate through the error map (retryable ones with ``Retry-After``) and change nothing.
    """
    import trackingmore

    now = to_millis(now or utc_now())
    if store.get(ref) is None:
        raise TrackingNotFoundError(f"Tracking {ref} is not tracked.")
    try:
        upstream = counted_call("get", partial(client().get_tracking, ref.carrier_code, ref.tracking_number))
    except trackingmore.TrackingNotFoundError as exc:
        raise TrackingMissingUpstreamError(
            f"TrackingMore does not track {ref}; nothing was changed. Delete it here, or create it again."
        ) from exc
    outcome = store.replace_from_upstream(ref, upstream, observed_at=now)
    if outcome.tracking is None:  # deleted between our read and the write
        raise TrackingNotFoundError(f"Tracking {ref} is not tracked.")
    before, after = outcome.previous, outcome.tracking
    logger.info(
        "tracking resynced",
        extra={
            "tracking": str(ref),
            "outcome": outcome.reason,
            "status": f"{before.status if before else None} -> {after.status}",
        },
    )
    return after
