"""Rate limits (reference §8): sliding one-second windows on the real monotonic clock."""

from __future__ import annotations

import time
from collections import deque

LIST_PER_SECOND = 1  # GET /trackings/get (reference §3.3, §8)
REALTIME_PER_SECOND = 3  # POST /trackings/realtime, account-wide (reference §3.9, §8)
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
