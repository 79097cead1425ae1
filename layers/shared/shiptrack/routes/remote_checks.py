"""``POST /remote-checks`` and ``POST /transit-times``: cached pre-shipping lookups (RemoteChecksFunction)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from shiptrack import compose
from shiptrack.routes._lookups import UPSTREAM_FAILURE, lookup_route
from shiptrack.services import remote_checks as service

__all__ = ["router"]


router = Router()  # type: ignore[no-untyped-call]

_COUNTRIES = "Countries are ISO 3166-1 alpha-2 codes or English names, and are answered as codes."

_REMOTE_DESCRIPTION = f"""Checks 1 to {service.MAX_REMOTE_CHECKS} places: is (country, postcode) a remote delivery
area, and for which carriers (TrackingMore knows DHL, UPS, FedEx and TNT). {_COUNTRIES} Where a country has no
postcodes, give the city name.

Answers are cached per (country, postcode, carrier) for `RemoteCacheSeconds` (default 7 days); places not in the
cache are asked for in one upstream call. Results: one per distinct check, in request order, with `remote`,
`carriers` and `source` (cache or upstream). {UPSTREAM_FAILURE}"""

_TRANSIT_DESCRIPTION = f"""Transit-time statistics for 1 to {service.MAX_TRANSIT_ROUTES} (carrier, origin,
destination) routes: how many parcels TrackingMore has seen, how many were delivered, and the share delivered
within each band of days. {_COUNTRIES}

Answers are cached per route for `TransitCacheSeconds` (default 1 day); a route without statistics for at most
{service.ERROR_TTL_SECONDS // 60} minutes. Routes not in the cache are asked for in one upstream call. Results:
one per distinct route, in request order. {UPSTREAM_FAILURE}"""


@lookup_route(
    router,
    "/remote-checks",
    summary="Check remote delivery areas",
    description=_REMOTE_DESCRIPTION,
    operation_id="checkRemoteAreas",
    result_per="check",
)
def check_remote_areas(request: service.RemoteChecksRequest) -> service.RemoteChecksResponse:
    return service.check_remote_areas(request, compose.remote_checks().remote)


@lookup_route(
    router,
    "/transit-times",
    summary="Get carrier transit times",
    description=_TRANSIT_DESCRIPTION,
    operation_id="getTransitTimes",
    result_per="route",
)
def get_transit_times(request: service.TransitTimesRequest) -> service.TransitTimesResponse:
    return service.get_transit_times(request, compose.remote_checks().transit)
