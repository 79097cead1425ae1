"""Deadlines: how long an invocation may still work, and the one place every function's budget is derived.

Every function works against the time it has left (docs/operations.md "Deadlines"), through one object,
:class:`Deadline`: a countdown in milliseconds (``remaining_ms``) minus a ``reserve`` kept for what must happen after
the work stops (answering, saving a checkpoint). Two ways to make one:

* :meth:`Deadline.for_api` — an API request. API Gateway gives up :data:`GATEWAY_TIMEOUT_MS` after it received the
  request, whatever the Lambda's ``Timeout``, and its clock starts before the handler (gateway overhead, a cold
  start): the countdown starts from ``requestContext.requestTimeEpoch``, and :data:`ANSWER_RESERVE_MS` is kept for
  the answer to get back through the gateway. So a route answers before the gateway's 504 whatever upstream does.
* :meth:`Deadline.for_invocation` — a job or an event consumer: the Lambda context's remaining time, minus a reserve
  for the final checkpoint.

The deadline of the invocation being handled is *bound* (:func:`bound`; the API resolver does it for every route, the
event handlers for themselves) and the composition root reads it (:func:`current`) to bind every TrackingMore client it
builds (``shiptrack.compose``), so every service — whoever writes it — calls upstream within the invocation's time.

No wall clock in tests: ``remaining_ms`` is any callable, and ``for_api`` takes its clocks as arguments.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Final

__all__ = [
    "ANSWER_RESERVE_MS",
    "GATEWAY_TIMEOUT_MS",
    "UNKNOWN_START_MS",
    "Deadline",
    "bound",
    "current",
]

#: API Gateway's integration timeout for REST APIs: it answers 504 this long after it received the request.
GATEWAY_TIMEOUT_MS: Final = 29_000
#: Kept back from an API request's budget for answering once the work stops: the route shapes its answer, Lambda
#: returns it (up to 6 MB), the gateway relays it. Work — upstream calls, waits — ends this long before the gateway's
#: limit.
ANSWER_RESERVE_MS: Final = 1_500
#: When an event does not say when the gateway received it (or says something implausible: a sample event replayed,
#: clocks apart), the handler assumes it started this long after: the gateway's own overhead and a cold start (the
#: execution environment, then the function's init: well under a second for every function, docs/benchmarks.md
#: "Cold start"), with room to spare. On AWS every proxy event carries the stamp.
UNKNOWN_START_MS: Final = 3_000
#: A gateway clock this far ahead of ours is clock skew, not time travel: the elapsed time counts as zero.
_SKEW_TOLERANCE_MS: Final = 1_000

_current: ContextVar[Deadline | None] = ContextVar("shiptrack_deadline", default=None)


def _epoch_ms() -> float:
    return time.time() * 1000.0


class Deadline:
    """When work must stop: ``remaining_ms()`` (a countdown in milliseconds) minus ``reserve_ms``.

    ``remaining_ms`` is ``context.get_remaining_time_in_millis`` for a job (:meth:`for_invocation`), a countdown built
    by :meth:`for_api` for a request, and any callable in tests. Thread-safe: it holds no mutable state.
    """

    def __init__(self, remaining_ms: Callable[[], float], *, reserve_ms: int = 0) -> None:
        self._remaining_ms = remaining_ms
        self.reserve_ms = reserve_ms

    def __repr__(self) -> str:
        return f"Deadline(left_ms={self.left_ms()}, reserve_ms={self.reserve_ms})"

    # -- making one ---------------------------------------------------------------------------------------------------

    @classmethod
    def for_invocation(cls, context: Any, *, reserve_ms: int) -> Deadline:
        """A job's or an event consumer's deadline: the Lambda's remaining time, ``reserve_ms`` kept for the end."""
        return cls(context.get_remaining_time_in_millis, reserve_ms=reserve_ms)

    @classmethod
    def for_api(
        cls,
        event: Mapping[str, Any] | None,
        context: Any,
        *,
        epoch_ms: Callable[[], float] = _epoch_ms,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> Deadline:
        """An API request's deadline: the earlier of API Gateway's limit and the Lambda's, less the answer's reserve.

        The gateway's limit runs from ``requestContext.requestTimeEpoch`` (when it received the request); see
        :func:`gateway_elapsed_ms` for what happens when the event does not say. ``context`` may be ``None`` (a
        resolver called directly): then only the gateway's limit applies. ``epoch_ms`` (wall clock, to compare with
        the gateway's stamp) and ``monotonic`` (seconds, to count down) are injectable.
        """
        gateway_left_ms = GATEWAY_TIMEOUT_MS - gateway_elapsed_ms(event, now_ms=epoch_ms())
        expires = monotonic() + gateway_left_ms / 1000.0

        def gateway_remaining_ms() -> float:
            return (expires - monotonic()) * 1000.0

        lambda_remaining = getattr(context, "get_remaining_time_in_millis", None)
        if lambda_remaining is None:
            return cls(gateway_remaining_ms, reserve_ms=ANSWER_RESERVE_MS)
        return cls(lambda: min(gateway_remaining_ms(), lambda_remaining()), reserve_ms=ANSWER_RESERVE_MS)

    # -- reading it ---------------------------------------------------------------------------------------------------

    def remaining_ms(self) -> int:
        """Milliseconds until the hard end (the gateway's or the Lambda's), the reserve included."""
        return int(self._remaining_ms())

    def left_ms(self) -> int:
        """Milliseconds work may still take: the remaining time less the reserve (negative once past)."""
        return self.remaining_ms() - self.reserve_ms

    def seconds_left(self) -> float:
        """:meth:`left_ms` in seconds: what a TrackingMore client bound to this deadline reads
        (``client.with_deadline(deadline.seconds_left)``)."""
        return (self._remaining_ms() - self.reserve_ms) / 1000.0

    def allows(self, needed_ms: int = 0) -> bool:
        """True when ``needed_ms`` more work still leaves the reserve before the end."""
        return self.left_ms() >= needed_ms


def gateway_elapsed_ms(event: Mapping[str, Any] | None, *, now_ms: float) -> float:
    """How long ago API Gateway received the request of ``event``, by its ``requestContext.requestTimeEpoch``.

    A stamp up to a second in the future is clock skew (0 ms); a missing stamp, one further in the future, or one
    older than the gateway's whole timeout (a sample event replayed) says nothing: :data:`UNKNOWN_START_MS`.
    """
    context = (event or {}).get("requestContext")
    stamp = context.get("requestTimeEpoch") if isinstance(context, Mapping) else None
    if isinstance(stamp, bool) or not isinstance(stamp, int | float):
        return UNKNOWN_START_MS
    elapsed = now_ms - float(stamp)
    if -_SKEW_TOLERANCE_MS <= elapsed <= GATEWAY_TIMEOUT_MS:
        return max(elapsed, 0.0)
    return UNKNOWN_START_MS


@contextmanager
def bound(deadline: Deadline) -> Iterator[Deadline]:
    """Make ``deadline`` the current invocation's (:func:`current`) for the ``with`` block."""
    token = _current.set(deadline)
    try:
        yield deadline
    finally:
        _current.reset(token)


def current() -> Deadline | None:
    """The deadline of the invocation being handled (``None`` outside a handler: tests calling services directly)."""
    return _current.get()
