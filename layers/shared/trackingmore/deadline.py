"""Deadlines: how long a piece of work may still take, as the seconds left.

A :class:`Deadline` only answers "how many seconds are left?", so anything that knows can be one: a Lambda context
(``Deadline.from_remaining_millis(context.get_remaining_time_in_millis)``), a fixed budget on a clock
(``Deadline.within(25.0)``), or any callable. It holds no mutable state, so one deadline may be shared by threads.
``TrackingMoreClient.with_deadline`` binds a client to one (see ``trackingmore.client``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

__all__ = ["DEFAULT_DEADLINE_MARGIN", "DEFAULT_MIN_ATTEMPT", "Deadline", "DeadlineLike", "as_deadline"]

#: Seconds a client bound to a deadline keeps for its caller to answer: it gives up this long before the deadline.
DEFAULT_DEADLINE_MARGIN: Final = 1.0
#: The least time worth starting a call with: with less left (after the margin), no attempt starts.
DEFAULT_MIN_ATTEMPT: Final = 1.0


@dataclass(frozen=True)
class Deadline:
    """The seconds left until a deadline, read from ``seconds_left`` each time (negative once it has passed)."""

    seconds_left: Callable[[], float]

    @classmethod
    def within(cls, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> Deadline:
        """A deadline ``seconds`` from now on ``clock`` (a monotonic clock in seconds)."""
        expires = clock() + seconds
        return cls(lambda: expires - clock())

    @classmethod
    def from_remaining_millis(cls, remaining_millis: Callable[[], int | float]) -> Deadline:
        """A deadline read from a callable giving milliseconds left (``context.get_remaining_time_in_millis``)."""
        return cls(lambda: remaining_millis() / 1000.0)

    def remaining(self) -> float:
        """Seconds left now."""
        return float(self.seconds_left())

    def earliest(self, other: Deadline) -> Deadline:
        """Whichever of the two deadlines comes first, read afresh each time."""
        return Deadline(lambda: min(self.remaining(), other.remaining()))


#: What ``with_deadline`` accepts: a :class:`Deadline`, or a callable giving the seconds left.
DeadlineLike = Deadline | Callable[[], float]


def as_deadline(deadline: DeadlineLike) -> Deadline:
    """``deadline`` as a :class:`Deadline` (a callable is taken to give the seconds left)."""
    if isinstance(deadline, Deadline):
        return deadline
    if not callable(deadline):
        raise TypeError("a deadline is a Deadline or a callable giving the seconds left")
    return Deadline(deadline)
