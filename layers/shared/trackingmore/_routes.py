"""Every TrackingMore v2 endpoint the client calls (reference §2), with its documented limits and retry rule.

Why each route retries as it does is the ``trackingmore.client`` module docstring.
"""

from __future__ import annotations

from typing import Final

from trackingmore._transport import RetryMode, Route
from trackingmore.ratelimit import RateLimit

__all__ = [
    "BATCH_CREATE_LIMIT",
    "BULK_LIMIT",
    "LIST_RATE_LIMIT",
    "REALTIME_RATE_LIMIT",
    "REALTIME_RATE_LIMIT_PAUSE",
]

#: Items per ``POST /trackings/batch`` (reference §3.2).
BATCH_CREATE_LIMIT: Final = 40
#: Items per ``updatemore``/``delete``/``notupdate`` call: undocumented; 4020 says "at most 200" (reference §4.1).
BULK_LIMIT: Final = 200
#: ``GET /trackings/get``: 1 request per second (reference §3.3, §8).
LIST_RATE_LIMIT: Final = RateLimit(requests=1, per_seconds=1.0)
#: ``POST /trackings/realtime``: 3 requests per second (reference §3.9, §8).
REALTIME_RATE_LIMIT: Final = RateLimit(requests=3, per_seconds=1.0)
#: Wait after a realtime 429 that names no ``Retry-After`` (reference §8).
REALTIME_RATE_LIMIT_PAUSE: Final = 120.0

CARRIERS: Final = Route("GET", "/carriers")
DETECT: Final = Route("POST", "/carriers/detect")
CREATE: Final = Route("POST", "/trackings/post")
GET: Final = Route("GET", "/trackings/{carrier_code}/{tracking_number}")
GET_IN_LANG: Final = Route("GET", "/trackings/{carrier_code}/{tracking_number}/{lang}")
UPDATE: Final = Route("PUT", "/trackings/{carrier_code}/{tracking_number}")
DELETE: Final = Route("DELETE", "/trackings/{carrier_code}/{tracking_number}")
# No documented limit; a client may set one (TrackingMoreClient(batch_create_rate_limit=...)).
BATCH_CREATE: Final = Route("POST", "/trackings/batch", retry=RetryMode.UNPROCESSED_ONLY)
LIST: Final = Route("GET", "/trackings/get", rate_limit=LIST_RATE_LIMIT)
UPDATE_MANY: Final = Route("POST", "/trackings/updatemore")
DELETE_MANY: Final = Route("POST", "/trackings/delete")
REALTIME: Final = Route(
    "POST",
    "/trackings/realtime",
    retry=RetryMode.UNPROCESSED_ONLY,
    rate_limit=REALTIME_RATE_LIMIT,
    pause_after_rate_limit=REALTIME_RATE_LIMIT_PAUSE,
)
CHANGE_CARRIER: Final = Route("POST", "/trackings/update")
USER_INFO: Final = Route("GET", "/trackings/getuserinfo")
STATUS_COUNTS: Final = Route("GET", "/trackings/getstatusnumber")
STOP_UPDATING: Final = Route("POST", "/trackings/notupdate")
REMOTE: Final = Route("POST", "/trackings/remote")
TRANSIT_TIMES: Final = Route("POST", "/trackings/costtime")
AIR_CARGO: Final = Route("POST", "/trackings/aircargo", retry=RetryMode.UNPROCESSED_ONLY)
