"""Reading the ``data`` of TrackingMore's answers: shapes checked, the unexpected reported in safe words."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from trackingmore import errors
from trackingmore._transport import Route, as_int
from trackingmore.models import BatchResult, Tracking
from trackingmore.models.trackings import find_tracking

# Count keys seen (or expected) in bulk answers: notupdate "change", delete "delete" (reference §3.8, §3.13).
_SUCCESS_COUNT_KEYS: Final = ("succeeded", "success", "change", "changed", "delete", "deleted", "update", "updated")


def malformed(route: Route, what: str) -> errors.TransportError:
    """The error for an answer whose ``data`` is not what the endpoint returns; ``what`` goes to the logs only."""
    return errors.TransportError(
        "TrackingMore's answer had an unexpected shape", endpoint=route.name, debug_detail=what
    )


def mapping(data: object, route: Route) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise malformed(route, f"data is {type(data).__name__}, expected an object")
    return data


def list_of_mappings(data: object) -> list[Mapping[str, Any]]:
    if isinstance(data, list):
        return [item for item in data if isinstance(item, Mapping)]
    return []


def tracking_from(data: object, route: Route) -> Tracking:
    """The one tracking in ``data``, in any of its shapes (``models.trackings.find_tracking``)."""
    found = find_tracking(data)
    if found is None:
        raise malformed(route, f"no tracking in data ({type(data).__name__})")
    return Tracking.model_validate(found)


def bulk_result(data: object, *, submitted: int) -> BatchResult:
    """Read the undocumented bulk answers tolerantly (reference §3.7, §3.8, §3.13)."""
    if isinstance(data, list):
        return BatchResult.model_validate({"submitted": submitted, "succeeded": submitted, "items": data})
    if not isinstance(data, Mapping):
        # "data": [] / null with a success meta: nothing more is known than that the call succeeded.
        return BatchResult(submitted=submitted, succeeded=submitted)
    items = [*list_of_mappings(data.get("trackings")), *list_of_mappings(data.get("errors"))]
    result = BatchResult.model_validate({"items": items})
    result.submitted = as_int(data.get("submitted")) or submitted
    counts = [as_int(data.get(key)) for key in _SUCCESS_COUNT_KEYS]
    known = [count for count in counts if count is not None]
    result.succeeded = known[0] if known else result.submitted - len(result.failed)
    return result
