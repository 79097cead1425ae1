"""Client-side rate limits: the :class:`RateGate` the client asks before each call to a rate-limited route.

TrackingMore's limits belong to the account (reference §8): realtime 3/s, paused for 120 s after a 429; list 1/s.
A gate speaks for one account. Before a call to a limited route the client *reserves* a slot that must start within
the time it can wait; the gate answers with the wait (the client sleeps it, outside any lock) or refuses and says
when the earliest slot is. After a 429 the client tells the gate to *pause* the route, so every caller holds off.

Without a gate of its own, a client uses the process-wide gate of its account and base URL (:func:`shared_gate`):
the per-process limiter the client always had, windows only. It remembers no pauses, so a 429 never holds back
later calls of the whole process (as it did not before; retries still sit out the documented pause). An
:class:`InProcessRateGate` made by the caller keeps pauses too. Several processes (Lambda instances) need a shared
gate, e.g. a token bucket in a database: implement the two methods; a reservation is one conditional write that may
fail, and nothing calls back into the client while a lock is held.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, NamedTuple, Protocol, runtime_checkable

__all__ = [
    "RATE_LIMIT_MARGIN_SECONDS",
    "InProcessRateGate",
    "RateGate",
    "RateLimit",
    "RateLimiter",
    "Reservation",
    "shared_gate",
]

Clock = Callable[[], float]
Sleep = Callable[[float], None]

# The server counts *arrivals* in its window, we can only space *sends*: a request that waits a little longer
# in our socket or in the server's accept queue than the next one shrinks the gap the server sees below the
# limit (seen against the sandbox: two list calls sent 1.000 s apart earned a 429). Every window is widened by
# this much so a single process never earns a 429.
RATE_LIMIT_MARGIN_SECONDS: Final = 0.05


@dataclass(frozen=True)
class RateLimit:
    """At most ``requests`` calls in any window of ``per_seconds``.

    ``margin`` is how much wider than ``per_seconds`` a gate keeps each window, for the spread between a call's slot
    and its arrival; ``None`` leaves it to the gate. A limit TrackingMore enforces wants the gate's (a 429 on
    realtime pauses the account for 120 s); a limit the caller sets for itself (``batch_create_rate_limit``) may take
    a narrower one and lose less of its rate to it.
    """

    requests: int
    per_seconds: float = 1.0
    margin: float | None = None

    def __post_init__(self) -> None:
        if self.requests < 1 or self.per_seconds <= 0:
            raise ValueError("a rate limit needs requests >= 1 and per_seconds > 0")
        if self.margin is not None and self.margin < 0:
            raise ValueError("a rate limit's margin cannot be negative")


class Reservation(NamedTuple):
    """A gate's answer. Granted: call after ``wait`` seconds (the slot is taken). Refused: nothing was taken, and
    the earliest slot is ``wait`` seconds away.

    ``margin`` is how much wider than the limit the gate kept the slot's window. A caller that starts later than half
    of it after its slot (it slept past the slot: a busy host) would reach TrackingMore too close to the next slot's
    call; it reserves again instead and leaves that slot unused (``Transport`` does).
    """

    granted: bool
    wait: float
    margin: float = RATE_LIMIT_MARGIN_SECONDS


@runtime_checkable
class RateGate(Protocol):
    """Rate limits shared by every caller of one TrackingMore account. Implementations must be thread-safe."""

    def reserve(self, route: str, limit: RateLimit, *, within: float) -> Reservation:
        """Take the earliest slot of ``route`` (``"POST /trackings/realtime"``) that keeps it under ``limit`` and
        outside any pause, if it starts within ``within`` seconds; otherwise take nothing and refuse. Say in the
        reservation how much the gate widened the window (``Reservation.margin``): the caller retakes a slot it wakes
        later than half of it for."""
        ...

    def pause(self, route: str, seconds: float) -> None:
        """No slot of ``route`` starts in the next ``seconds`` (TrackingMore answered 429; a longer pause in
        force stays)."""
        ...


class RateLimiter:
    """One sliding window, thread-safe, on an injected clock: at most ``limit.requests`` slots in any window of
    ``limit.per_seconds`` (plus the limit's margin, by default ``RATE_LIMIT_MARGIN_SECONDS``)."""

    def __init__(self, limit: RateLimit, *, clock: Clock, sleep: Sleep = time.sleep) -> None:
        self._limit = limit
        self._clock = clock
        self._sleep = sleep
        self._slots: deque[float] = deque(maxlen=limit.requests)
        self._lock = threading.Lock()

    def reserve(self, *, within: float = float("inf"), not_before: float = float("-inf")) -> Reservation:
        """Take the earliest slot at or after ``not_before`` (clock time) if it starts within ``within`` seconds."""
        with self._lock:
            now = self._clock()
            slot = max(now, not_before)
            margin = RATE_LIMIT_MARGIN_SECONDS if self._limit.margin is None else self._limit.margin
            if len(self._slots) == self._limit.requests:
                slot = max(slot, self._slots[0] + self._limit.per_seconds + margin)
            wait = slot - now
            if wait > within:
                return Reservation(granted=False, wait=wait, margin=margin)
            self._slots.append(slot)
            return Reservation(granted=True, wait=wait, margin=margin)

    def acquire(self) -> float:
        """Wait (outside the lock) for the earliest slot; return how long that took."""
        wait = self.reserve().wait
        if wait > 0:
            self._sleep(wait)
        return max(wait, 0.0)


class InProcessRateGate:
    """A :class:`RateGate` for one process: a :class:`RateLimiter` per route, and the pauses in force (unless
    ``keep_pauses`` is false: then ``pause`` does nothing)."""

    def __init__(self, clock: Clock = time.monotonic, *, keep_pauses: bool = True) -> None:
        self._clock = clock
        self._keep_pauses = keep_pauses
        self._limiters: dict[tuple[str, RateLimit], RateLimiter] = {}
        self._paused_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def reserve(self, route: str, limit: RateLimit, *, within: float) -> Reservation:
        with self._lock:
            limiter = self._limiters.get((route, limit))
            if limiter is None:
                limiter = self._limiters[(route, limit)] = RateLimiter(limit, clock=self._clock)
            not_before = self._paused_until.get(route, float("-inf"))
        return limiter.reserve(within=within, not_before=not_before)

    def pause(self, route: str, seconds: float) -> None:
        if not self._keep_pauses:
            return
        with self._lock:
            until = self._clock() + seconds
            self._paused_until[route] = max(until, self._paused_until.get(route, until))


# Limits are per account (reference §8), so every client of the same account, base URL and clock in this process
# shares one gate.
_gates: dict[tuple[str, str, Clock], InProcessRateGate] = {}
_gates_lock = threading.Lock()


def shared_gate(account: str, base_url: str, clock: Clock) -> InProcessRateGate:
    """The process-wide gate of ``account`` (a digest of the API key) at ``base_url`` on ``clock``: windows only,
    no pauses (see the module docstring)."""
    key = (account, base_url, clock)
    with _gates_lock:
        gate = _gates.get(key)
        if gate is None:
            gate = _gates[key] = InProcessRateGate(clock, keep_pauses=False)
        return gate
