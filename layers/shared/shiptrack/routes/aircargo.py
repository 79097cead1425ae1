"""``POST /aircargo``: air-waybill tracking, cached per waybill (AircargoFunction)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from shiptrack import compose
from shiptrack.errors import responses
from shiptrack.services.aircargo import ERROR_TTL_SECONDS, MAX_AWBS, AirCargoRequest, AirCargoResponse
from shiptrack.services.aircargo import track_air_cargo as track_air_cargo_service

__all__ = ["router"]


def _responses(success: str) -> dict[int, Any]:
    return {200: {"description": success}, **responses(upstream=True)}


router = Router()  # type: ignore[no-untyped-call]

_DESCRIPTION = f"""Tracks 1 to {MAX_AWBS} air waybills (`NNN-NNNNNNNN`; the dash is optional).

Each waybill costs TrackingMore 20 quota, so answers are cached per waybill for `AircargoCacheSeconds`
(default 30 minutes); a per-waybill error (unknown airline, not found) for at most
{ERROR_TTL_SECONDS // 60} minutes.
Waybills not in the cache are asked for in one upstream call. A waybill whose check digit is wrong is refused
without a lookup (`invalid_awb_check_digit`).

Results: one per distinct waybill, in request order, each `found` (with the `waybill`) or `failed` (with a
`problem`), and `source` saying whether it came from the cache. Event and flight times are airport-local
(ISO date-time without offset). If the upstream call fails as a whole, the request fails (429 with
`Retry-After`, 502, 503, 504) and nothing is cached."""


@router.post(
    "/aircargo",
    summary="Track air waybills",
    description=_DESCRIPTION,
    tags=["Lookups"],
    operation_id="trackAirCargo",
    responses=_responses("One result per distinct waybill, in request order"),
)
def track_air_cargo(request: AirCargoRequest) -> AirCargoResponse:
    deps = compose.aircargo()
    return track_air_cargo_service(request, client=deps.client, cache=deps.cache, ttl_seconds=deps.ttl_seconds)
