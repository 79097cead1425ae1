"""TrackingMore's account-wide rate limits, shared by every Lambda instance: one CacheTable item per limited route.

TrackingMore counts calls per *account* (reference §8: realtime 3/s with a 120 s pause after a 429, list 1/s; batch
creates have a limit of our choosing, ``BatchCreateRateLimit``). Each Lambda instance limiting itself lets N
instances send N times the limit, so the windows live here, in ``RATE#{route}`` items (``route`` as the client names
it: ``RATE#POST /trackings/realtime``), and :class:`SharedRateGate` implements the client's
:class:`~trackingmore.ratelimit.RateGate` on them.

An item holds the route's last slots (epoch milliseconds; as many as the limit allows per window), the end of a pause
in force, and a ``revision``. Reserving a slot is the in-process limiter's sliding window, made shared by optimistic
concurrency:

1. compute the earliest slot from the state this instance last saw (or "no item yet"): at least a window (plus the
   limit's margin, by default :data:`SHARED_WINDOW_MARGIN_SECONDS`) after the oldest of the last ``n`` slots, not
   before a pause ends, and not before the write that takes it is likely done (the slowest of this gate's last
   writes: a slot that has passed when the caller learns it is one its request reaches TrackingMore late for; one
   that has passed by more than half the margin anyway is left unused, and the next taken);
2. if it starts later than the caller can wait, refuse — nothing is written (the real state can only be busier, so
   the refusal holds);
3. otherwise write the new slot list conditionally on the revision seen. If another instance wrote first, DynamoDB
   answers the current item with the refusal (``ReturnValuesOnConditionCheckFailure``) and the next attempt starts
   from it. The caller sleeps until the slot itself, so what the write took is not added to it.

So an uncontended reservation costs one conditional write, a contended one a write per instance that got in first;
there is no lock across instances and no read before the write. Within one instance, the threads reserving a route
take turns (a lock per route, held for the write): they would otherwise race each other for the same revision, and
an instance working many calls at once (the import worker's ten chunks) would lose most of its writes to itself
and give up on contention it made. :meth:`SharedRateGate.pause` moves the pause's end forward for every
instance (one ``UpdateItem``), and every later reservation sees it.

Clocks: the slots are wall-clock times compared across instances (NTP-synchronised to within milliseconds); the
margin absorbs that and, mostly, the variation in how long a request takes to reach TrackingMore after its slot,
which is what TrackingMore counts (docs/operations.md "Shared rate limits"). Half of it is what a caller may start
late: one that wakes later after its slot takes another (``trackingmore``'s transport), so a busy host sends fewer
calls, never closer ones.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from shiptrack.data.dynamodb import is_condition_failure
from shiptrack.errors import StorageBusyError
from shiptrack.observability import logger
from trackingmore.ratelimit import RateLimit, Reservation

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

__all__ = [
    "FIRST_WRITE_LEAD_MS",
    "MAX_RESERVE_ATTEMPTS",
    "OWN_LIMIT_MARGIN_SECONDS",
    "RATE_PREFIX",
    "SHARED_WINDOW_MARGIN_SECONDS",
    "WRITE_TIMES_KEPT",
    "RouteState",
    "SharedRateGate",
]

RATE_PREFIX: Final = "RATE#"
#: Every window is widened by this much. TrackingMore counts arrivals; we can only space slots, and a request reaches
#: TrackingMore some time after its slot (a new TLS connection, a busy host). Requests sent late after earlier slots
#: and on time after later ones would otherwise squeeze more than the limit into one of TrackingMore's windows. The
#: in-process limiter's 50 ms suits one process on a warm connection; instances across AZs need more. A caller that
#: wakes more than half of it after its slot (a busy host) does not send on it but takes another.
SHARED_WINDOW_MARGIN_SECONDS: Final = 0.2
#: The margin of the limit we set ourselves (``BatchCreateRateLimit``: TrackingMore documents no limit on batch
#: creates), the in-process limiter's: a call that reaches TrackingMore a few ms early against our own limit costs
#: nothing, while 0.2 s of every 1 s window would cost a sixth of the rate an import is paced at.
OWN_LIMIT_MARGIN_SECONDS: Final = 0.05
#: Conditional writes per reservation before giving up: each lost one means another instance got a slot meanwhile,
#: so this many in a row is dozens of instances racing for one route. The caller is then refused (429, retryable).
MAX_RESERVE_ATTEMPTS: Final = 32
#: After each lost race a reservation waits a random moment, up to this many seconds per race lost so far, before it
#: writes again. Without it the instance that just won, which knows the current revision, tends to win again at
#: once, and the same loser loses every race (eight instances at once exhausted 12 attempts one run in two).
CONTENTION_BACKOFF_SECONDS: Final = 0.002
#: How many of its last writes a gate remembers the duration of (the slowest is the lead it gives a new slot), and
#: the most lead it gives: a write slower than that is DynamoDB in trouble, not a slot to plan for.
WRITE_TIMES_KEPT: Final = 8
MAX_WRITE_LEAD_MS: Final = 1_000
#: The lead before a gate has timed a write of its own: a new instance's first write also opens its connection (a
#: TLS handshake with DynamoDB). It delays only a call to an idle route, by at most this less the write's own time.
FIRST_WRITE_LEAD_MS: Final = 100
#: How soon a caller refused for contention is told to try again.
CONTENTION_RETRY_SECONDS: Final = 1.0
#: An item outlives its last slot or pause by a day, then DynamoDB's TTL removes it (an idle route costs nothing).
EXPIRY_SECONDS: Final = 24 * 3600
# DynamoDB answers these when the table (or the account) is throttled: the gate cannot decide, the caller may retry.
_BUSY_CODES: Final = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded", "InternalServerError"}
)


@dataclass(frozen=True, slots=True)
class RouteState:
    """What a ``RATE#`` item holds: the last slots (epoch ms, oldest first), the end of a pause, the revision."""

    revision: int = 0
    slots: tuple[int, ...] = ()
    paused_until: int = 0

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> RouteState:
        return cls(
            revision=int(item.get("revision", 0)),
            slots=tuple(sorted(int(slot) for slot in item.get("slots", []))),
            paused_until=int(item.get("paused_until", 0)),
        )

    def earliest_slot(self, limit: RateLimit, now: int, margin_ms: int) -> int:
        """The earliest slot (epoch ms) at or after ``now`` that keeps ``limit`` (each window widened by
        ``margin_ms``) and respects the pause."""
        slot = max(now, self.paused_until)
        recent = self.slots[-limit.requests :]
        if len(recent) >= limit.requests:
            slot = max(slot, recent[0] + int(limit.per_seconds * 1000) + margin_ms)
        return slot

    def with_slot(self, slot: int, limit: RateLimit) -> RouteState:
        """This state with ``slot`` taken (only the last ``limit.requests`` slots matter later)."""
        slots = tuple(sorted((*self.slots, slot)))[-limit.requests :]
        return RouteState(revision=self.revision + 1, slots=slots, paused_until=self.paused_until)


def _epoch_ms(clock: Callable[[], float]) -> int:
    return int(clock() * 1000)


class SharedRateGate:
    """A :class:`~trackingmore.ratelimit.RateGate` over CacheTable, shared by every instance (see the module doc).

    ``clock`` is wall-clock epoch seconds (``time.time``; tests inject one). Thread-safe: what it remembers between
    calls (the state last seen per route) is only a first guess, and every write is conditional; the threads of one
    gate reserve a route one at a time, so they never contend with each other.
    """

    def __init__(
        self,
        table: Table,
        *,
        clock: Callable[[], float] = time.time,
        margin_seconds: float = SHARED_WINDOW_MARGIN_SECONDS,
        max_attempts: int = MAX_RESERVE_ATTEMPTS,
        first_lead_ms: int = FIRST_WRITE_LEAD_MS,
    ) -> None:
        self._table = table
        self._clock = clock
        self._margin_ms = int(margin_seconds * 1000)
        self._max_attempts = max_attempts
        self._seen: dict[str, RouteState | None] = {}
        self._write_ms: deque[int] = deque(maxlen=WRITE_TIMES_KEPT)
        self._first_lead_ms = first_lead_ms
        self._lock = threading.Lock()
        self._route_locks: dict[str, threading.Lock] = {}

    @staticmethod
    def key(route: str) -> str:
        return RATE_PREFIX + route

    def reserve(self, route: str, limit: RateLimit, *, within: float) -> Reservation:
        """Take the earliest slot of ``route`` under ``limit`` if it starts within ``within`` seconds."""
        with self._lock:
            route_lock = self._route_locks.setdefault(route, threading.Lock())
        with route_lock:
            return self._reserve(route, limit, within=within)

    def _reserve(self, route: str, limit: RateLimit, *, within: float) -> Reservation:
        margin_ms = self._margin_ms if limit.margin is None else int(limit.margin * 1000)
        for attempt in range(self._max_attempts):
            if attempt:
                time.sleep(random.uniform(0, CONTENTION_BACKOFF_SECONDS * attempt))  # noqa: S311 - jitter, not secrets
            with self._lock:
                seen = self._seen.get(route)
                lead = min(max(self._write_ms, default=self._first_lead_ms), MAX_WRITE_LEAD_MS)
            now = _epoch_ms(self._clock)
            state = seen or RouteState()
            slot = state.earliest_slot(limit, now + lead, margin_ms)
            wait = (slot - now) / 1000.0
            if wait > within:
                return Reservation(granted=False, wait=wait, margin=margin_ms / 1000)
            taken = state.with_slot(slot, limit)
            written, current = self._write(route, expected=seen, new=taken)
            done = _epoch_ms(self._clock)
            with self._lock:
                self._seen[route] = taken if written else current
                self._write_ms.append(done - now)
            if written and done - slot > margin_ms // 2:
                # The write outlasted its lead (DynamoDB got slower): a call sent now reaches TrackingMore closer than
                # a window to the next one. The slot is left unused and the next one taken, with the longer lead.
                logger.debug("rate gate slot passed during its write", extra={"route": route, "late_ms": done - slot})
                continue
            if written:
                return Reservation(granted=True, wait=max((slot - done) / 1000.0, 0.0), margin=margin_ms / 1000)
        logger.warning("rate gate contended: no slot taken", extra={"route": route, "attempts": self._max_attempts})
        return Reservation(granted=False, wait=CONTENTION_RETRY_SECONDS, margin=margin_ms / 1000)

    def pause(self, route: str, seconds: float) -> None:
        """No slot of ``route`` starts in the next ``seconds``, for any instance (a longer pause in force stays)."""
        until = _epoch_ms(self._clock) + int(seconds * 1000)
        self._call(
            lambda: self._table.update_item(
                Key={"pk": self.key(route)},
                UpdateExpression="SET paused_until = :until, expires_at = :expires ADD revision :one",
                ConditionExpression="attribute_not_exists(paused_until) OR paused_until < :until",
                ExpressionAttributeValues={
                    ":until": until,
                    ":expires": until // 1000 + EXPIRY_SECONDS,
                    ":one": 1,
                },
            ),
            route,
        )
        with self._lock:
            self._seen.pop(route, None)  # the next reservation learns the pause from its first (failing) write

    def state(self, route: str) -> RouteState | None:
        """The stored state of ``route`` (strongly consistent), ``None`` when it has none (tests, operations)."""
        item = self._table.get_item(Key={"pk": self.key(route)}, ConsistentRead=True).get("Item")
        return RouteState.from_item(item) if item else None

    # -- internals --------------------------------------------------------------------------------------------------

    def _write(self, route: str, *, expected: RouteState | None, new: RouteState) -> tuple[bool, RouteState | None]:
        """Store ``new`` if the item is still as ``expected`` (absent when ``None``): ``(True, None)``, or
        ``(False, the current state)`` (``None``: no item) when another writer got in first."""
        last = max(new.slots[-1] if new.slots else 0, new.paused_until)
        item: dict[str, Any] = {
            "pk": self.key(route),
            "slots": list(new.slots),
            "paused_until": new.paused_until,
            "revision": new.revision,
            "expires_at": last // 1000 + EXPIRY_SECONDS,
        }
        condition: dict[str, Any] = (
            {"ConditionExpression": "attribute_not_exists(pk)"}
            if expected is None
            else {"ConditionExpression": "revision = :rev", "ExpressionAttributeValues": {":rev": expected.revision}}
        )
        refused = self._call(
            lambda: self._table.put_item(Item=item, ReturnValuesOnConditionCheckFailure="ALL_OLD", **condition),
            route,
        )
        if refused is None:
            return True, None
        current = refused.get("Item")
        if current is None:  # the engine did not say (or the item is gone): read it
            return False, self.state(route)
        return False, RouteState.from_item(_from_wire(current))

    def _call(self, request: Callable[[], object], route: str) -> dict[str, Any] | None:
        """Run one conditional request: ``None`` when applied, the error response when its condition failed."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            request()
        except ClientError as exc:
            if is_condition_failure(exc):
                return dict(exc.response)
            if exc.response.get("Error", {}).get("Code") in _BUSY_CODES:
                raise StorageBusyError("The shared rate limits could not be read; retry shortly.") from exc
            raise
        except BotoCoreError as exc:  # a timeout or a broken connection to DynamoDB
            logger.warning("rate gate unreachable", extra={"route": route, "error": type(exc).__name__})
            raise StorageBusyError("The shared rate limits could not be read; retry shortly.") from exc
        return None


def _from_wire(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item as DynamoDB's wire format gives it in an error response (``{"N": "…"}``), as plain values."""
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {name: deserializer.deserialize(value) for name, value in item.items()}
