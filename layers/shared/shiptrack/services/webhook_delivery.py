"""Delivery: one attempt per received message, retries on a growing schedule, endpoint health (docs/operations.md).

For each message of a batch (in parallel, so a slow endpoint holds up no other delivery):

1. read the delivery; a finished one is acknowledged (a manual retry — ``retry_request`` — reopens it once);
2. an endpoint that is gone or disabled cancels it: disabled endpoints receive nothing;
3. an attempt that is not due yet (a copy of the message, or a visibility change that did not happen) waits, and
   so does a copy that finds another worker holding the attempt (until its lease ends);
4. the attempt is **claimed** (``attempt_count`` + 1 under a lease), so copies of a message never attempt twice;
5. the URL rules run again on a fresh resolution, and the body is POSTed to the checked address, signed with the
   endpoint's secret(s), within ``attempt_timeout`` (10 s); 2xx is success, anything else a failure;
6. the outcome is recorded; a failure within the schedule makes the message invisible until the next attempt
   (:data:`RETRY_DELAYS_SECONDS` × ``WebhookRetryScale``) and reports it failed, so it comes back by itself; after
   the last one the delivery is ``failed`` and a copy goes to the DLQ (alarmed, redrivable).

Endpoint health: the first failed attempt since the last success sets ``failing_since``; a success clears it; a
failure when ``failing_since`` is ``disable_after`` old disables the endpoint (``disabled_reason: failing``). That
write is the only one: the endpoints table's stream turns it into ``Webhook Endpoint Disabled`` on the bus.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Final, Literal, NamedTuple

from shiptrack.data.webhook_deliveries import DeliveryRecord, PayloadRecord, WebhookDeliveryRepository, attempt_item
from shiptrack.data.webhook_endpoints import EndpointRecord, WebhookEndpointRepository
from shiptrack.errors import WebhookUrlNotAllowedError
from shiptrack.models import utc_now
from shiptrack.observability import logger
from shiptrack.services.webhook_http import HttpOutcome, Poster, post
from shiptrack.services.webhook_queue import DeliveryMessage, WebhookQueues
from shiptrack.services.webhook_signing import delivery_headers
from shiptrack.services.webhook_urls import Resolver, check_url, system_resolver
from shiptrack.webhook_models import DeliveryAttempt

__all__ = [
    "LEASE",
    "MAX_ATTEMPTS",
    "RETRY_DELAYS_SECONDS",
    "BatchResult",
    "DeliveryContext",
    "Disposition",
    "RetryPolicy",
    "deliver",
    "process_batch",
]

#: Waits before the 2nd … 8th attempt: about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h — a day and 3.6 hours in all.
RETRY_DELAYS_SECONDS: Final = (5, 300, 1800, 7200, 18000, 36000, 36000)
MAX_ATTEMPTS: Final = len(RETRY_DELAYS_SECONDS) + 1
#: How long a claimed attempt is held: longer than the function's timeout (60 s), shorter than the queue's
#: visibility timeout (360 s), so a crashed worker's delivery is free again when its message comes back.
LEASE: Final = timedelta(seconds=90)
#: An attempt this close to its due time is made now (visibility is counted in whole seconds).
_DUE_SLACK: Final = timedelta(seconds=1)

Outcome = Literal[
    "succeeded", "retrying", "failed", "canceled", "finished", "duplicate", "waiting", "missing", "invalid"
]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """The retry schedule, scaled (``WebhookRetryScale``: 1 on AWS; ``make dev`` runs a hundredth of it)."""

    scale: float = 1.0

    def delay_after(self, attempts_in_cycle: int) -> int | None:
        """Seconds to wait after the ``attempts_in_cycle``-th failed attempt; ``None`` after the last one."""
        if attempts_in_cycle >= MAX_ATTEMPTS:
            return None
        return math.ceil(RETRY_DELAYS_SECONDS[attempts_in_cycle - 1] * self.scale)


class DeliveryContext(NamedTuple):
    """Everything the delivery function works with: its bundle, built per invocation by ``shiptrack.compose``."""

    deliveries: WebhookDeliveryRepository
    endpoints: WebhookEndpointRepository
    queues: WebhookQueues
    retry: RetryPolicy
    allow_loopback: bool
    disable_after: timedelta
    attempt_timeout: float
    clock: Callable[[], datetime] = utc_now
    poster: Poster = post
    resolver: Resolver = system_resolver


@dataclass(frozen=True, slots=True)
class Disposition:
    """What to do with the message: acknowledge it (``delay`` None), or let it come back in ``delay`` seconds."""

    outcome: Outcome
    delay: int | None = None


@dataclass
class BatchResult:
    failed_message_ids: list[str] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)

    def response(self) -> dict[str, Any]:
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in self.failed_message_ids]}


class _Cache:
    """Endpoints and payloads read once per batch (many deliveries of a batch share them)."""

    def __init__(self, ctx: DeliveryContext) -> None:
        self._ctx = ctx
        self._lock = threading.Lock()
        self._endpoints: dict[str, EndpointRecord | None] = {}
        self._payloads: dict[str, PayloadRecord | None] = {}

    def endpoint(self, endpoint_id: str) -> EndpointRecord | None:
        with self._lock:
            if endpoint_id not in self._endpoints:
                self._endpoints[endpoint_id] = self._ctx.endpoints.get(endpoint_id)
            return self._endpoints[endpoint_id]

    def payload(self, event_id: str) -> PayloadRecord | None:
        with self._lock:
            if event_id not in self._payloads:
                self._payloads[event_id] = self._ctx.deliveries.get_payload(event_id)
            return self._payloads[event_id]


def deliver(message: DeliveryMessage, ctx: DeliveryContext, cache: _Cache | None = None) -> Disposition:
    """Handle one delivery message (steps 1–6 of the module docstring)."""
    cache = cache or _Cache(ctx)
    now = ctx.clock()
    if message.retry_request and not _reopen(message, ctx, now):
        return Disposition("finished")
    endpoint = cache.endpoint(message.endpoint_id)
    if endpoint is None or not endpoint.enabled:
        note = "endpoint deleted" if endpoint is None else "endpoint disabled"
        canceled = ctx.deliveries.cancel(message.endpoint_id, message.delivery_id, note=note, now=now)
        return Disposition("canceled" if canceled else "finished")
    # The common case in one write: a due, pending delivery nobody holds. Otherwise, read it to learn why not.
    claimed = ctx.deliveries.claim(
        message.endpoint_id, message.delivery_id, now=now, due=now + _DUE_SLACK, lease_until=now + LEASE
    )
    if claimed is None:
        return _not_claimed(message, ctx, now)
    payload = cache.payload(claimed.event_id)
    if payload is None:
        ctx.deliveries.cancel(claimed.endpoint_id, claimed.id, note="event payload expired", now=now)
        return Disposition("canceled")
    if claimed.attempts_in_cycle > MAX_ATTEMPTS:  # attempts used up by crashes: give up without one more
        outcome = HttpOutcome(None, 0, "not sent: no attempts left")
    else:
        outcome = _attempt(endpoint, payload, ctx, now)
    return _record(message=message, claimed=claimed, endpoint=endpoint, outcome=outcome, ctx=ctx, now=now)


def _reopen(message: DeliveryMessage, ctx: DeliveryContext, now: datetime) -> bool:
    """A manual retry (or DLQ redrive): reopen the finished delivery once per request; ``False`` if nothing to do."""
    delivery = ctx.deliveries.get(message.endpoint_id, message.delivery_id)
    if delivery is None or delivery.retry_request == message.retry_request:
        return False
    if delivery.status == "pending":
        return True
    expires_at = int(now.timestamp()) + (delivery.expires_at - int(delivery.created_at.timestamp()))
    request = str(message.retry_request)
    return ctx.deliveries.reopen(delivery, request_id=request, now=now, expires_at=expires_at) is not None


def _not_claimed(message: DeliveryMessage, ctx: DeliveryContext, now: datetime) -> Disposition:
    delivery = ctx.deliveries.get(message.endpoint_id, message.delivery_id)
    if delivery is None:
        return Disposition("missing")
    if delivery.status != "pending":
        return Disposition("finished")
    if delivery.lease_until is not None and delivery.lease_until > now:
        # Another worker holds the attempt. This copy waits out the lease rather than go: if that worker died
        # (its message may be this very one, back early), the delivery must still have a message to drive it.
        return Disposition("duplicate", math.ceil((delivery.lease_until - now).total_seconds()) + 1)
    if delivery.next_attempt_at is not None and delivery.next_attempt_at > now + _DUE_SLACK:
        return Disposition("waiting", math.ceil((delivery.next_attempt_at - now).total_seconds()))
    return Disposition("duplicate", 1)  # claimed by another worker between the two reads: look again soon


def _attempt(endpoint: EndpointRecord, payload: PayloadRecord, ctx: DeliveryContext, now: datetime) -> HttpOutcome:
    try:
        target = check_url(endpoint.url, allow_loopback=ctx.allow_loopback, resolver=ctx.resolver)
    except WebhookUrlNotAllowedError as exc:
        reason = exc.errors[0].msg if exc.errors else exc.detail
        return HttpOutcome(None, 0, f"not sent: {reason}")
    headers = delivery_headers(endpoint.signing_secrets(now), payload.event_id, int(now.timestamp()), payload.body)
    return ctx.poster(target, payload.body.encode(), headers, ctx.attempt_timeout)


def _record(
    *,
    message: DeliveryMessage,
    claimed: DeliveryRecord,
    endpoint: EndpointRecord,
    outcome: HttpOutcome,
    ctx: DeliveryContext,
    now: datetime,
) -> Disposition:
    attempt = attempt_item(
        DeliveryAttempt(
            attempt=claimed.attempt_count,
            at=now,
            outcome="succeeded" if outcome.ok else "failed",
            status_code=outcome.status,
            latency_ms=outcome.latency_ms,
            error=outcome.error,
        )
    )
    finished_at = ctx.clock()
    if outcome.ok:
        recorded = ctx.deliveries.finish_attempt(claimed, attempt, status="succeeded", now=finished_at)
        _health(ctx, endpoint, failed=False, now=finished_at)
        return Disposition("succeeded" if recorded else "duplicate")
    delay = ctx.retry.delay_after(claimed.attempts_in_cycle)
    _health(ctx, endpoint, failed=True, now=finished_at)
    if delay is None:
        # The DLQ copy first: if the process dies before the delivery is marked failed, the message comes back
        # and this runs again (a second DLQ copy is harmless); the other way round a failure could go unparked.
        ctx.queues.dead_letter(message, f"dlq:{claimed.id}:{claimed.attempt_count}")
        note = f"gave up after {claimed.attempts_in_cycle} attempts"
        ctx.deliveries.finish_attempt(claimed, attempt, status="failed", now=finished_at, note=note)
        return Disposition("failed")
    next_at = finished_at + timedelta(seconds=delay)
    recorded = ctx.deliveries.finish_attempt(
        claimed, attempt, status="pending", now=finished_at, next_attempt_at=next_at
    )
    return Disposition("retrying", delay) if recorded else Disposition("duplicate")


def _health(ctx: DeliveryContext, endpoint: EndpointRecord, *, failed: bool, now: datetime) -> None:
    """Move ``failing_since`` (and disable the endpoint when it is too old). Starts from the copy the batch read
    (no read at all for a success on a healthy endpoint); a lost race re-reads, a few times, best effort."""
    current: EndpointRecord | None = endpoint
    for _ in range(3):
        if current is None or not current.enabled:
            return
        changed = _health_change(current, failed=failed, now=now, disable_after=ctx.disable_after)
        if changed is None or ctx.endpoints.replace(changed) is not None:
            if changed is not None and changed.status == "disabled":
                logger.warning("webhook endpoint disabled: failing too long", extra={"endpoint_id": endpoint.id})
            return
        current = ctx.endpoints.get(endpoint.id)
    logger.warning("webhook endpoint health not updated (concurrent changes)", extra={"endpoint_id": endpoint.id})


def _health_change(
    endpoint: EndpointRecord, *, failed: bool, now: datetime, disable_after: timedelta
) -> EndpointRecord | None:
    if not failed:
        return replace(endpoint, failing_since=None, updated_at=now) if endpoint.failing_since else None
    if endpoint.failing_since is None:
        return replace(endpoint, failing_since=now, updated_at=now)
    if now - endpoint.failing_since >= disable_after:
        return replace(endpoint, status="disabled", disabled_reason="failing", disabled_at=now, updated_at=now)
    return None


def process_batch(records: Sequence[Mapping[str, Any]], ctx: DeliveryContext) -> BatchResult:
    """Deliver an SQS batch in parallel; the messages to retry are made invisible for their delay and reported
    failed (``ReportBatchItemFailures``), the others are acknowledged."""
    result = BatchResult()
    cache = _Cache(ctx)

    def one(record: Mapping[str, Any]) -> Disposition:
        try:
            message = DeliveryMessage.parse(str(record["body"]))
        except (ValueError, KeyError):
            logger.error("not a delivery message; dropped", extra={"message_id": record.get("messageId")})
            return Disposition("invalid")
        disposition = deliver(message, ctx, cache)
        if disposition.delay is not None:
            ctx.queues.delay(str(record["receiptHandle"]), disposition.delay)
        return disposition

    with ThreadPoolExecutor(max_workers=max(1, min(10, len(records)))) as pool:
        futures = [(record, pool.submit(one, record)) for record in records]
    for record, future in futures:
        message_id = str(record.get("messageId"))
        try:
            disposition = future.result()
        except Exception:
            # DynamoDB or SQS trouble: the message comes back after the queue's visibility timeout and tries again.
            logger.exception("delivery failed unexpectedly", extra={"message_id": message_id})
            result.failed_message_ids.append(message_id)
            continue
        result.outcomes[disposition.outcome] = result.outcomes.get(disposition.outcome, 0) + 1
        if disposition.delay is not None:
            result.failed_message_ids.append(message_id)
    return result
