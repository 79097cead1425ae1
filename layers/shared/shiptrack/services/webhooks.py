"""TrackingMore v2 push receiver (docs/design.md §6, reference §7.1): a push is a notification, not the truth.

A push must pass these checks, in this order, or nothing changes (docs/security.md, "Forged or replayed TrackingMore
pushes"):

1. the secret token in the URL path equals a configured one (constant-time; the previous token too while a rotation
   is in progress) — checked before the body is even parsed, so a scanner learns nothing about what we accept (401);
2. the body is a v2 push, read within bounds (``shiptrack.jsonbody``): otherwise 400;
3. ``verifyInfo.signature`` is ``hex(HMAC-SHA256(key=account e-mail, msg=verifyInfo.timeStr))`` (401);
4. ``timeStr`` (unix seconds) is within ``tolerance`` of our clock, in either direction: an old one is a replay of a
   captured push, and one from the future would let a captured push be replayed for longer (401);
5. it names a tracking we hold — otherwise 200 ``unknown``, and nothing is written or read upstream: a body must
   never create a tracking, nor make us spend calls on what it merely names;
6. the push was not seen before (:class:`~shiptrack.data.push_replays.PushReplays`): a repeat answers 200
   ``duplicate`` and does nothing.

**What the signature does not cover.** v2 signs only ``timeStr``, not the body (reference §4, §7.1): whoever captures
one push, or knows the account e-mail, can sign any body. So by default the body only says *which* tracking changed:
the receiver reads TrackingMore's own copy (``GET /trackings/{carrier}/{number}``) and applies that, with the
store's monotonic rule. Pushes for the same parcel arriving close together share one read
(:class:`~shiptrack.data.fetch_leases.FetchLeases`): a push that finds a read in flight answers 200 ``coalesced``,
and the reader reads again if pushes arrived during its read.

If the read fails, the push fails with a retryable problem (503/504, or 429 with ``Retry-After``) and its replay
record is dropped, so a retry of the same push is acted on; TrackingMore documents no retries for v2 (reference
§7.1), and the refresh job reconciles whatever a failed push missed.

**Trusting push bodies** (``WebhookTrustPushBody=true``) applies the body instead of reading TrackingMore: documented
unsafe (docs/security.md). Even then a body whose ``updated_at`` is later than now + ``FUTURE_SKEW`` is refused (400),
and the repository clamps every stored version to the present, so no push can freeze a parcel.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Final, Literal

from shiptrack.data.monotonic import FUTURE_SKEW
from shiptrack.data.trackings import UNREAD, ApplyOutcome, Unread
from shiptrack.errors import BadRequestError, UnauthorizedError
from shiptrack.models import TrackingRef
from shiptrack.observability import counted_call, logger

if TYPE_CHECKING:
    from shiptrack.data.codec import TrackingItem
    from shiptrack.data.fetch_leases import FetchLease, FetchLeases
    from shiptrack.data.push_replays import PushReplays
    from shiptrack.data.trackings import TrackingsRepository
    from trackingmore import TrackingMoreClient
    from trackingmore.models import WebhookPush

__all__ = [
    "MAX_FETCH_ROUNDS",
    "PushReceiver",
    "WebhookOutcome",
    "authenticate_push",
    "parse_time_str",
    "receive_push",
    "replay_digest",
]

# Unix times above this are milliseconds, not seconds (year 5138 in seconds; 1973 in milliseconds).
_MILLISECONDS_THRESHOLD = 100_000_000_000
#: Reads one lease holder makes for pushes that keep arriving during its reads; then it lets go (the next push,
#: or the refresh, picks up anything later). A parcel genuinely changes every few hours (reference §8).
MAX_FETCH_ROUNDS: Final = 3

Outcome = Literal["applied", "unchanged", "stale", "unknown", "coalesced", "duplicate"]


@dataclass(frozen=True, slots=True)
class WebhookOutcome:
    """What an accepted push did: ``applied`` (stored), ``unchanged``, ``stale`` (older than ours), ``unknown`` (not
    ours, or gone upstream), ``coalesced`` (another push's read serves it), ``duplicate`` (seen before: nothing
    done). ``confirmed``: this push read the tracking from TrackingMore."""

    outcome: Outcome
    carrier_code: str
    tracking_number: str
    confirmed: bool = False


@dataclass(frozen=True, slots=True)
class PushReceiver:
    """What the receiver works with (built by ``shiptrack.compose.webhook``).

    ``client`` is a factory, called only when a read is needed. ``tokens``: the accepted path tokens (current, and
    previous during a rotation); empty ones never match. ``trust_body``: apply the push body instead of reading
    TrackingMore (unsafe: docs/security.md).
    """

    store: TrackingsRepository
    replays: PushReplays
    leases: FetchLeases
    client: Callable[[], TrackingMoreClient]
    tokens: tuple[str, ...]
    account_email: str
    tolerance_seconds: int
    trust_body: bool = False


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


def _token_matches(path_token: str, tokens: tuple[str, ...]) -> bool:
    # Every token is compared (no early exit), so the time taken does not say which one matched.
    offered = path_token.encode("utf-8", "surrogatepass")
    matches = [hmac.compare_digest(offered, token.encode()) for token in tokens if token]
    return any(matches)


def authenticate_push(
    raw_body: bytes,
    path_token: str,
    *,
    tokens: tuple[str, ...],
    account_email: str,
    now: datetime,
    tolerance_seconds: int,
) -> WebhookPush:
    """The parsed push if the token, the signature and the time all check out.

    Raises :class:`~shiptrack.errors.UnauthorizedError` (401) for a wrong token, a wrong signature or a
    ``timeStr`` outside ``tolerance_seconds`` (either way), :class:`~shiptrack.errors.InvalidJsonError` (400) for a
    body that cannot be read, and :class:`~shiptrack.errors.BadRequestError` (400) for one that is not a v2 push.
    Error details never say which secret was wrong beyond what the caller sent.
    """
    from shiptrack.jsonbody import loads_bounded
    from trackingmore.webhooks import WebhookPayloadError, push_from_body, verify_signature

    if not _token_matches(path_token, tokens):
        raise UnauthorizedError("The webhook URL is not valid.")
    try:
        push = push_from_body(loads_bounded(raw_body))
    except WebhookPayloadError as exc:
        raise BadRequestError(f"The body is not a TrackingMore v2 push: {exc}.") from exc
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


def replay_digest(push: WebhookPush, ref: TrackingRef) -> str:
    """What makes a push the same push: its ``timeStr`` and signature, and the tracking it names (every push sent
    in the same second carries the same ``verifyInfo``, so without the tracking genuine pushes would collide)."""
    blob = "\n".join((push.time_str, push.signature.lower(), ref.key))
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


def receive_push(raw_body: bytes, path_token: str, *, receiver: PushReceiver, now: datetime) -> WebhookOutcome:
    """Authenticate a push, refuse a replay, and apply TrackingMore's copy of the tracking it names (or, trusting
    bodies, the body). Upstream and storage failures propagate (the error map answers them; retryable ones with
    ``Retry-After``) after the push's replay record is dropped."""
    push = authenticate_push(
        raw_body,
        path_token,
        tokens=receiver.tokens,
        account_email=receiver.account_email,
        now=now,
        tolerance_seconds=receiver.tolerance_seconds,
    )
    ref = TrackingRef.of(push.tracking.carrier_code or "", push.tracking.tracking_number or "")
    if receiver.trust_body:
        _refuse_future_body(push, now)
    stored = receiver.store.load(ref)
    if stored is None:
        # Not ours: nothing is written, and no upstream call is spent on a tracking the body merely names.
        logger.info("push for an unknown tracking ignored", extra={"tracking": str(ref)})
        return WebhookOutcome("unknown", ref.carrier_code, ref.tracking_number)
    digest = replay_digest(push, ref)
    fresh_until = (parse_time_str(push.time_str) or now) + timedelta(seconds=receiver.tolerance_seconds)
    if not receiver.replays.first_sighting(digest, now=now, until=fresh_until):
        logger.info("push replay ignored", extra={"tracking": str(ref)})
        return WebhookOutcome("duplicate", ref.carrier_code, ref.tracking_number)
    try:
        if receiver.trust_body:
            applied = receiver.store.apply_upstream_update(
                push.tracking, observed_at=now, source="webhook", ref=ref, current=stored
            )
            return _outcome(applied, ref, confirmed=False)
        return _fetch_and_apply(receiver, ref, stored, now)
    except BaseException:
        receiver.replays.forget(digest)
        raise


def _refuse_future_body(push: WebhookPush, now: datetime) -> None:
    updated_at = push.tracking.updated_at
    if updated_at is not None and updated_at > now + FUTURE_SKEW:
        raise BadRequestError(
            f"The pushed tracking's updated_at is more than {int(FUTURE_SKEW.total_seconds())} seconds in the future."
        )


def _fetch_and_apply(receiver: PushReceiver, ref: TrackingRef, stored: TrackingItem, now: datetime) -> WebhookOutcome:
    """Read TrackingMore's copy and apply it, one reader per parcel at a time (see the module docstring)."""
    lease: FetchLease | None = receiver.leases.request(ref, owner=uuid.uuid4().hex)
    if lease is None:
        logger.info("push coalesced with a read in flight", extra={"tracking": str(ref)})
        return WebhookOutcome("coalesced", ref.carrier_code, ref.tracking_number)
    try:
        return _read_until_quiet(receiver, lease, stored, now)
    except BaseException:
        receiver.leases.abandon(lease)
        raise


def _read_until_quiet(receiver: PushReceiver, lease: FetchLease, stored: TrackingItem, now: datetime) -> WebhookOutcome:
    """Read and apply, again while pushes keep arriving during the reads (at most :data:`MAX_FETCH_ROUNDS`)."""
    import trackingmore

    ref = lease.ref
    get = partial(receiver.client().get_tracking, ref.carrier_code, ref.tracking_number)
    current: TrackingItem | Unread = stored
    held = lease
    for rounds in range(1, MAX_FETCH_ROUNDS + 1):
        try:
            upstream = counted_call("get", get)
        except trackingmore.TrackingNotFoundError:
            # We hold it, TrackingMore does not (deleted there): nothing to apply; POST …/resync says so plainly.
            logger.warning("pushed tracking not found upstream", extra={"tracking": str(ref)})
            receiver.leases.abandon(lease)
            return WebhookOutcome("unknown", ref.carrier_code, ref.tracking_number, confirmed=True)
        applied = receiver.store.apply_upstream_update(
            upstream, observed_at=now, source="webhook", ref=ref, current=current
        )
        current = UNREAD
        renewed = receiver.leases.finish(held)
        if renewed is None:
            break
        if rounds == MAX_FETCH_ROUNDS:
            logger.warning("pushes kept arriving during reads; letting go", extra={"tracking": str(ref)})
            receiver.leases.abandon(renewed)
        held = renewed
    return _outcome(applied, ref, confirmed=True)


def _outcome(applied: ApplyOutcome, ref: TrackingRef, *, confirmed: bool) -> WebhookOutcome:
    reason: Outcome = "applied" if applied.reason in ("applied", "created") else applied.reason  # type: ignore[assignment]
    if reason == "unknown":
        logger.info("push for an unknown tracking ignored", extra={"tracking": str(ref)})
    return WebhookOutcome(reason, ref.carrier_code, ref.tracking_number, confirmed=confirmed)
