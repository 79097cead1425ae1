"""Stopping a tracking (``DELETE /trackings/{carrier_code}/{tracking_number}``): upstream first, then ours."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from shiptrack.errors import TrackingNotFoundError
from shiptrack.models import TrackingRef
from shiptrack.observability import counted_call, logger

if TYPE_CHECKING:
    from shiptrack.data.claims import CreateClaims
    from shiptrack.data.trackings import TrackingsRepository
    from trackingmore import TrackingMoreClient

__all__ = ["delete_tracking"]


def delete_tracking(
    ref: TrackingRef,
    *,
    store: TrackingsRepository,
    client: Callable[[], TrackingMoreClient],
    claims: CreateClaims,
) -> None:
    """Stop tracking: delete upstream, then ours (and the identity's create claim, so it can be created again).

    404 when we do not hold it; an upstream 4017 (already gone there) still deletes ours. Any other upstream failure
    leaves ours in place."""
    import trackingmore

    if store.get(ref) is None:
        raise TrackingNotFoundError(f"Tracking {ref} is not tracked.")
    try:
        counted_call("delete", partial(client().delete_tracking, ref.carrier_code, ref.tracking_number))
    except trackingmore.TrackingNotFoundError:
        logger.info("tracking already gone upstream", extra={"tracking": str(ref)})
    claims.clear(ref)
    store.delete(ref)
