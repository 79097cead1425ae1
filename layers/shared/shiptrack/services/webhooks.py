"""TrackingMore v2 push receiver (docs/design.md §6, reference §7.1): authenticate, then apply with the monotonic rule.

A push must pass three checks, in this order, or nothing is read from it and nothing changes (401):

1. the secret token in the URL path equals the configured one (constant-time compare) — checked before the
   body is even parsed, so a scanner learns nothing about what we accept;
2. ``verifyInfo.signature`` is ``hex(HMAC-SHA256(key=account e-mail, msg=verifyInfo.timeStr))``;
3. ``timeStr`` (unix seconds) is within ``tolerance`` of our clock, in either direction: an old one is a replay
   of a captured push, and one from the future would let a captured push be replayed for longer.

A body that is not a v2 push (not JSON, no ``verifyInfo``, no tracking) is a 400 — after the token check.

**What the signature does not cover.** v2 signs only ``timeStr``, not the body (reference §4, §7.1): whoever
captures one push (and knows the URL) can send a *different* body with the same ``verifyInfo`` until the
tolerance runs out. The secret path token and the short tolerance narrow that window; ``confirm`` closes it:
the pushed tracking is then re-read from TrackingMore (``GET /trackings/{carrier}/{number}``) and that copy is
applied, the body only saying *which* tracking to look at. The price is one upstream call per push (and a push
that fails when TrackingMore does). Off by default (``WebhookConfirmMode``); docs/operations.md.

The same push twice changes nothing the second time: the store's monotonic rule refuses an older copy and
writes nothing for an identical one. A push about a tracking we do not hold is acknowledged and ignored: the
body is not authenticated, so it must never create a tracking.
"""

from __future__ import annotations

import hmac
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from shiptrack.data.trackings import UNREAD, Unread
from shiptrack.errors import BadRequestError, UnauthorizedError
from shiptrack.models import TrackingRef
from shiptrack.observability import logger

if TYPE_CHECKING:
    from shiptrack.data.codec import TrackingItem
    from shiptrack.data.trackings import TrackingsRepository
    from trackingmore import TrackingMoreClient
    from trackingmore.models import WebhookPush

__all__ = ["WebhookOutcome", "authenticate_push", "parse_time_str", "receive_push"]

# Unix times above this are milliseconds, not seconds (year 5138 in seconds; 1973 in milliseconds).
_MILLISECONDS_THRESHOLD = 100_000_000_000


@dataclass(frozen=True, slots=True)
class WebhookOutcome:
    """What a valid push did: ``applied`` (stored), ``unchanged``, ``stale`` (older than ours), ``unknown``."""

    outcome: Literal["applied", "unchanged", "stale", "unknown"]
    carrier_code: str
    tracking_number: str
    confirmed: bool = False


def parse_time_str(value: str) -> datetime | None:
    """``verifyInfo.timeStr`` as an aware UTC time; ``None`` when it is not a time we can trust.

    TrackingMore sends unix seconds (reference §7.1: "string or int", inferred); milliseconds are recognised
    by size. An ISO-8601 time with an offset is accepted too; one without an offset is not (its zone would be a
    guess, and a wrong guess of eight hours would turn every push into a replay, or every replay into a push).
    """
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
        return parsed.astimezone(UTC) if parsed.tzinfo is not None else None
    if math.isnan(number) or number < 0:
        return None
    if number >= _MILLISECONDS_THRESHOLD:
        number /= 1000
    try:
        return datetime.fromtimestamp(number, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def authenticate_push(
    raw_body: bytes,
    path_token: str,
    *,
    expected_token: str,
    account_email: str,
    now: datetime,
    tolerance_seconds: int,
) -> WebhookPush:
    """The parsed push if the token, the signature and the time all check out.

    Raises :class:`~shiptrack.errors.UnauthorizedError` (401) for a wrong token, a wrong signature or a
    ``timeStr`` outside ``tolerance_seconds`` (either way), and :class:`~shiptrack.errors.BadRequestError` (400)
    for a body that is not a v2 push. Error details never say which secret was wrong beyond what the caller sent.
    """
    from trackingmore.webhooks import WebhookPayloadError, parse_push, verify_signature

    # An empty configured token must never match an empty path segment.
    if not expected_token or not hmac.compare_digest(path_token.encode(), expected_token.encode()):
        raise UnauthorizedError("The webhook URL is not valid.")
    try:
        push = parse_push(raw_body)
    except WebhookPayloadError as exc:
        raise BadRequestError(f"The body is not a TrackingMore v2 push: {exc}") from exc
    if not verify_signature(push.time_str, push.signature, account_email):
        raise UnauthorizedError("The push signature does not verify.")
    sent_at = parse_time_str(push.time_str)
    if sent_at is None:
        raise UnauthorizedError("The push timeStr is not a unix time.")
    skew = abs((now - sent_at).total_seconds())
    if skew > tolerance_seconds:
        raise UnauthorizedError(
            f"The push timeStr is more than {tolerance_seconds} seconds from now; refused as a replay."
        )
    return push


def receive_push(
    raw_body: bytes,
    path_token: str,
    *,
    store: TrackingsRepository,
    client: Callable[[], TrackingMoreClient],
    expected_token: str,
    account_email: str,
    now: datetime,
    tolerance_seconds: int,
    confirm: bool = False,
) -> WebhookOutcome:
    """Authenticate a push and apply the tracking it carries (or, with ``confirm``, TrackingMore's current copy).

    ``client`` is a factory (only called in confirm mode). Upstream failures in confirm mode propagate (the
    error map turns them into 502/503/504): nothing is applied, and the refresh job picks the change up later.
    """
    push = authenticate_push(
        raw_body,
        path_token,
        expected_token=expected_token,
        account_email=account_email,
        now=now,
        tolerance_seconds=tolerance_seconds,
    )
    pushed = push.tracking
    ref = TrackingRef.of(pushed.carrier_code or "", pushed.tracking_number or "")
    upstream: Any = pushed
    stored: TrackingItem | Unread | None = UNREAD
    if confirm:
        stored = store.load(ref)
        if stored is None:
            # Not ours: do not spend an upstream call on a tracking the body merely names.
            logger.info("push for an unknown tracking ignored", extra={"tracking": str(ref)})
            return WebhookOutcome("unknown", ref.carrier_code, ref.tracking_number, confirmed=False)
        upstream = client().get_tracking(ref.carrier_code, ref.tracking_number)
    outcome = store.apply_upstream_update(upstream, observed_at=now, source="webhook", ref=ref, current=stored)
    reason: Literal["applied", "unchanged", "stale", "unknown"]
    reason = "applied" if outcome.reason in ("applied", "created") else outcome.reason  # type: ignore[assignment]
    if reason == "unknown":
        logger.info("push for an unknown tracking ignored", extra={"tracking": str(ref)})
    return WebhookOutcome(reason, ref.carrier_code, ref.tracking_number, confirmed=confirm)
