"""Reading trackings (``GET /trackings``, ``GET /trackings/{carrier_code}/{tracking_number}``): ours only, no
upstream call."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shiptrack.errors import TrackingNotFoundError
from shiptrack.models import ListQuery, Tracking, TrackingList, TrackingRef

if TYPE_CHECKING:
    from shiptrack.data.trackings import TrackingsRepository

__all__ = ["get_tracking", "list_trackings"]


def get_tracking(ref: TrackingRef, *, store: TrackingsRepository) -> Tracking:
    """The stored tracking; 404 ``tracking_not_found`` when we do not hold it."""
    tracking = store.get(ref)
    if tracking is None:
        raise TrackingNotFoundError(f"Tracking {ref} is not tracked.")
    return tracking


def list_trackings(query: ListQuery, *, store: TrackingsRepository) -> TrackingList:
    """Stored trackings, newest first, filtered, one page (see :meth:`TrackingsRepository.list`)."""
    return store.list(query)
