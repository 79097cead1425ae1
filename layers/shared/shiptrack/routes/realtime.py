"""Route of RealtimeFunction: ``POST /trackings/realtime`` (docs/design.md §3)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body

from shiptrack import compose
from shiptrack.http import json_response, model_response, route_responses
from shiptrack.models import RealtimeRequest, RealtimeResponse
from shiptrack.services import realtime as service

__all__ = ["router"]

router = Router()  # type: ignore[no-untyped-call]

_RESPONSES = route_responses(
    {200: model_response("The tracking (live, or stored: see `cache_reason`)", RealtimeResponse)}, upstream=True
)


@router.post(
    "/trackings/realtime",
    summary="Live carrier lookup",
    description=(
        "Asks the carrier now through TrackingMore, unless the stored copy was checked within `max_age_seconds` "
        "(default 15 minutes) or the number was looked up live less than 2 hours ago (TrackingMore allows one "
        "realtime query per number per 2 hours). `source` says which: `carrier` or `cache`; `fetched_at` when the "
        "copy was read from TrackingMore, `cache_reason` why a stored copy was served. A number not yet tracked is "
        "added. TrackingMore's realtime limit (3/s per account) is held across every instance: a lookup waits for "
        "its turn within the request's time; when none comes, the stored copy is served (`cache_reason: "
        "rate_limited`), or 429 with `Retry-After` when we hold none."
    ),
    tags=["Trackings"],
    operation_id="realtimeTracking",
    responses=_RESPONSES,
)
def realtime_tracking(request: Annotated[RealtimeRequest, Body()]) -> Response[str]:
    deps = compose.realtime()
    answer = service.realtime_lookup(
        request, store=deps.store, client=deps.client, default_max_age_seconds=deps.default_max_age_seconds
    )
    return json_response(answer)
