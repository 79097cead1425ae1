"""Live carrier lookups (``POST /trackings/realtime``), spending TrackingMore's realtime budget only when it helps.

The stored copy is served (``source: cache``) when it was checked upstream within ``max_age_seconds``, or when
the number was looked up live less than 2 hours ago: TrackingMore answers the same number at most once per two
hours (reference §3.9, §8), so asking again would only earn a 429. Otherwise the carrier is asked
(``source: carrier``) and the answer stored through the monotonic rule, so a live answer can never move a
stored tracking backwards either.

The client factory the caller passes must never retry (``shiptrack.compose.realtime``): the shared client sleeps
through a realtime 429 for the documented 120 s before retrying (reference §8); behind API Gateway's 29 s limit the
caller must get our 429 with ``Retry-After`` instead, and a realtime call that reached TrackingMore must not be
repeated anyway (once per 2 hours).

TrackingMore's realtime limit (3/s, and 120 s of silence after a 429) belongs to the account, and the client's rate
gate holds it across every instance (``shiptrack.data.rate_limits``): a lookup waits for its slot as long as the
request's deadline allows. When no slot comes in time — or TrackingMore refuses with a 429 all the same — the stored
copy is served (``source: cache``, ``cache_reason: rate_limited``) when we hold one; otherwise the caller gets our
429 with ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

from aws_lambda_powertools.metrics import MetricUnit

from shiptrack.errors import UpstreamRateLimitedError, retry_after_seconds
from shiptrack.models import CacheReason, RealtimeRequest, RealtimeResponse, TrackingRef, to_millis, utc_now
from shiptrack.observability import counted_call, logger, metrics
from shiptrack.upstream import tracking_from_upstream

if TYPE_CHECKING:
    from shiptrack.data.codec import TrackingItem
    from shiptrack.data.trackings import TrackingsRepository
    from trackingmore import TrackingMoreClient

__all__ = ["REALTIME_REPEAT_INTERVAL", "realtime_lookup"]

#: TrackingMore answers a realtime query for the same number at most once in this interval (reference §3.9).
REALTIME_REPEAT_INTERVAL: Final = timedelta(hours=2)


def _cache_reason(record: TrackingItem, max_age: timedelta, now: datetime) -> CacheReason | None:
    checked = record.tracking.last_checked_at
    if checked is not None and now - checked <= max_age:
        return "fresh"
    if record.last_realtime_at is not None and now - record.last_realtime_at < REALTIME_REPEAT_INTERVAL:
        return "realtime_interval"
    return None


def realtime_lookup(
    request: RealtimeRequest,
    *,
    store: TrackingsRepository,
    client: Callable[[], TrackingMoreClient],
    default_max_age_seconds: int,
    now: datetime | None = None,
) -> RealtimeResponse:
    """A live lookup, or the stored copy when that is fresh enough or TrackingMore's 2-hour rule forbids a call.

    ``default_max_age_seconds`` applies when the request gives no ``max_age_seconds``. When the account's realtime
    rate limit allows no call in time, the stored copy is served (``cache_reason: rate_limited``), or, when we hold
    none, our 429 with ``Retry-After``. A number we do not hold is added (the realtime call adds it upstream too,
    SUP-rt).
    """
    import trackingmore

    now = to_millis(now or utc_now())
    max_age = request.max_age_seconds if request.max_age_seconds is not None else default_max_age_seconds
    ref = TrackingRef.of(request.carrier_code, request.tracking_number)
    record = store.load(ref)

    if record is not None:
        reason = _cache_reason(record, timedelta(seconds=max_age), now)
        if reason is not None:
            return _from_store(record, reason)

    upstream_request = trackingmore.RealtimeRequest(
        tracking_number=ref.tracking_number,
        carrier_code=ref.carrier_code,
        destination_code=request.destination_code,
    )
    try:
        upstream = counted_call("realtime", lambda: client().realtime_tracking(upstream_request))
    except trackingmore.RateLimitError as exc:
        if record is not None:
            return _from_store(record, "rate_limited")
        raise UpstreamRateLimitedError(
            "TrackingMore's realtime rate limit allows no lookup now (or this number was looked up in the last 2 "
            "hours); retry after Retry-After.",
            retry_after=retry_after_seconds(exc),
        ) from exc
    metrics.add_metric(name="RealtimeCarrierLookups", unit=MetricUnit.Count, value=1)
    outcome = store.apply_upstream_update(
        upstream, observed_at=now, source="realtime", ref=ref, create_missing=True, realtime=True, current=record
    )
    tracking = outcome.tracking
    if tracking is None:  # deleted between the lookup and the write: answer with what the carrier said
        tracking = tracking_from_upstream(upstream, now=now, ref=ref)
    return RealtimeResponse(source="carrier", fetched_at=now, tracking=tracking)


def _from_store(record: TrackingItem, reason: CacheReason) -> RealtimeResponse:
    metrics.add_metric(name="RealtimeCacheHits", unit=MetricUnit.Count, value=1)
    logger.info("realtime served from store", extra={"tracking": str(record.ref), "reason": reason})
    fetched_at = record.tracking.last_checked_at or record.tracking.created_at
    return RealtimeResponse(source="cache", fetched_at=fetched_at, cache_reason=reason, tracking=record.tracking)
