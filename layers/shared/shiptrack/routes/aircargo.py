"""``POST /aircargo``: air-waybill tracking, cached per waybill (AircargoFunction)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from shiptrack import compose
from shiptrack.routes._lookups import UPSTREAM_FAILURE, lookup_route
from shiptrack.services.aircargo import ERROR_TTL_SECONDS, MAX_AWBS, AirCargoRequest, AirCargoResponse
from shiptrack.services.aircargo import track_air_cargo as track_air_cargo_service

__all__ = ["router"]


router = Router()  # type: ignore[no-untyped-call]

_DESCRIPTION = f"""Tracks 1 to {MAX_AWBS} air waybills (`NNN-NNNNNNNN`; the dash is optional).

Each waybill costs TrackingMore 20 quota, so answers are cached per waybill for `AircargoCacheSeconds`
(default 30 minutes); a per-waybill error (unknown airline, not found) for at most
{ERROR_TTL_SECONDS // 60} minutes.
Waybills not in the cache are asked for in one upstream call. A waybill whose check digit is wrong is refused
without a lookup (`invalid_awb_check_digit`).

Results: one per distinct waybill, in request order, each `found` (with the `waybill`) or `failed` (with a
`problem`), and `source` saying whether it came from the cache. Event and flight times are airport-local
(ISO date-time without offset). {UPSTREAM_FAILURE}"""


@lookup_route(
    router,
    "/aircargo",
    summary="Track air waybills",
    description=_DESCRIPTION,
    operation_id="trackAirCargo",
    result_per="waybill",
)
def track_air_cargo(request: AirCargoRequest) -> AirCargoResponse:
    return track_air_cargo_service(request, compose.aircargo())
