"""Rate limits (reference §8): sliding windows on a monotonic clock, and the account's pause after a realtime 429."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

LIST_PER_SECOND = 1  # GET /trackings/get (reference §3.3, §8)
REALTIME_PER_SECOND = 3  # POST /trackings/realtime, account-wide (reference §3.9, §8)
REALTIME_PENALTY_S = 120.0  # more than 3/s trips the limiter and the account must wait 120 s (reference §3.9, §8)
REALTIME_SAME_NUMBER_HOURS = 2  # the same number once per 2 hours (FAQ, reference §3.9) — on the simulated clock
BATCH_MAX = 40  # reference §3.2
NUMBERS_MAX = 40  # `numbers` / `orders` filters (reference §3.3)
LIST_LIMIT_MAX = 2000  # reference §3.3
MANY_MAX = 200  # updatemore, delete, notupdate, remote, costtime, aircargo: 4020 "up to 200 at a time" (§4.1)


class SlidingWindow:
    """At most ``limit`` accepted calls in any ``window`` seconds of monotonic time."""

    def __init__(self, limit: int, window: float = 1.0) -> None:
        self.limit = limit
        self.window = window
        self._accepted: deque[float] = deque()

    def try_acquire(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        while self._accepted and now - self._accepted[0] >= self.window:
            self._accepted.popleft()
        if len(self._accepted) >= self.limit:
            return False
        self._accepted.append(now)
        return True

    def clear(self) -> None:
        self._accepted.clear()


class AccountLimits:
    """The account's per-second limits: list 1/s, realtime 3/s with its pause after a 429, and an optional
    batch-create limit (TrackingMore documents none; tests set one to prove a client stays under it).

    Not thread-safe: the engine calls it under its lock. ``clock`` is monotonic seconds (injectable in tests).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.list_window = SlidingWindow(LIST_PER_SECOND)
        self.realtime_window = SlidingWindow(REALTIME_PER_SECOND)
        self.realtime_paused_until = float("-inf")
        self.batch_window: SlidingWindow | None = None

    def allow_list(self) -> bool:
        return self.list_window.try_acquire(self.clock())

    def allow_realtime(self, penalty_s: float) -> bool:
        """A realtime call over 3/s is refused and pauses the account's realtime calls for ``penalty_s``; calls
        refused during the pause do not extend it (the reference says nothing either way)."""
        now = self.clock()
        if now < self.realtime_paused_until:
            return False
        if self.realtime_window.try_acquire(now):
            return True
        self.realtime_paused_until = now + penalty_s
        return False

    def allow_batch(self, limit: int | None, window_s: float) -> bool:
        if limit is None:
            return True
        if self.batch_window is None or (self.batch_window.limit, self.batch_window.window) != (limit, window_s):
            self.batch_window = SlidingWindow(limit, window_s)
        return self.batch_window.try_acquire(self.clock())

    def pauses(self) -> dict[str, float]:
        """Seconds left of each pause in force, by endpoint."""
        left = self.realtime_paused_until - self.clock()
        return {"POST /trackings/realtime": round(left, 3)} if left > 0 else {}
