"""When work must stop: a Lambda invocation's remaining time, minus a reserve for saving what was done."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Deadline"]


class Deadline:
    """When a job must stop: the Lambda context's remaining time, minus a reserve for the final checkpoint.

    ``remaining_ms`` is ``context.get_remaining_time_in_millis`` in Lambda and any callable in tests, so no
    test depends on the wall clock.
    """

    def __init__(self, remaining_ms: Callable[[], int], *, reserve_ms: int) -> None:
        self._remaining_ms = remaining_ms
        self.reserve_ms = reserve_ms

    def remaining_ms(self) -> int:
        return int(self._remaining_ms())

    def allows(self, needed_ms: int = 0) -> bool:
        """True when ``needed_ms`` more work still leaves the reserve before the timeout."""
        return self.remaining_ms() - self.reserve_ms >= needed_ms
