"""What the cached lookups' routes declare alike (``/aircargo``, ``/remote-checks``, ``/transit-times``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeVar

from aws_lambda_powertools.event_handler.api_gateway import Router

from shiptrack.http import route_responses

__all__ = ["UPSTREAM_FAILURE", "lookup_route"]

RouteT = TypeVar("RouteT", bound=Callable[..., Any])

#: How every lookup fails when TrackingMore does, said in each route's description.
UPSTREAM_FAILURE: Final = (
    "If the upstream call fails as a whole, the request fails (429 with `Retry-After`, 502, 503, 504) and nothing "
    "is cached."
)


def lookup_route(
    router: Router, path: str, *, summary: str, description: str, operation_id: str, result_per: str
) -> Callable[[RouteT], RouteT]:
    """``POST path``, a lookup: its items deduplicated, answered from the cache or one upstream call, one result per
    distinct item (``result_per`` names one) in request order."""
    success = {200: {"description": f"One result per distinct {result_per}, in request order"}}
    decorator: Callable[[RouteT], RouteT] = router.post(
        path,
        summary=summary,
        description=description,
        tags=["Lookups"],
        operation_id=operation_id,
        responses=route_responses(success, upstream=True),
    )
    return decorator
