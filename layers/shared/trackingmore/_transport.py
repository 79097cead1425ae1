"""The one HTTP transport of the client: session, envelope, error mapping, retries, rate limits and deadlines.

Every call goes through ``Transport.request``. It sends JSON with the API key header, unwraps the v2 envelope
``{"meta": {...}, "data": ...}`` (errors arrive as HTTP 200 with the code in ``meta.code``, reference §1),
raises the exception ``errors.error_class_for`` picks, retries what the route allows, and asks the rate gate
(``trackingmore.ratelimit``) for a slot before each call to a rate-limited route, sleeps until it, and takes another
when it woke too late for it.

A transport bound to a deadline (``Transport.bound``) fits every step into the time left minus a margin: no attempt
starts with less than a minimum attempt left (``DeadlineExceededError``, nothing sent); each attempt's connect and
read timeouts are at most what is left; a retry happens only if its backoff (or ``Retry-After``) plus a minimum
attempt fits, and a rate-limit wait only if it ends a minimum attempt before the end. A call that runs out of time
between attempts ends with its last attempt's error.
"""

from __future__ import annotations

import copy
import enum
import hashlib
import json
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError

from trackingmore import errors
from trackingmore.deadline import Deadline
from trackingmore.ratelimit import RATE_LIMIT_MARGIN_SECONDS, RateGate, RateLimit, RateLimiter, shared_gate

__all__ = [
    "BASE_DELAY",
    "DEFAULT_RATE_LIMIT_WAIT",
    "MAX_DELAY",
    "MAX_SLOT_RETAKES",
    "MIN_LATE_WAKE_SECONDS",
    "RATE_LIMIT_MARGIN_SECONDS",
    "RETRY_AFTER_CAP",
    "SUCCESS_CODES",
    "Budget",
    "RateLimit",
    "RateLimiter",
    "RetryMode",
    "Route",
    "Transport",
    "may_have_taken_effect",
]

logger = logging.getLogger("trackingmore")

#: First backoff bound in seconds; doubles per retry ("full jitter": the wait is uniform in [0, bound]).
BASE_DELAY: Final = 0.5
#: Largest backoff bound in seconds.
MAX_DELAY: Final = 8.0
#: Longest server-requested wait (``Retry-After`` or a documented pause) the client sleeps through itself before a
#: retry. 120 s is the documented pause after a realtime 429 (reference §8); a longer wait is not slept through: the
#: ``RateLimitError`` is raised with ``retry_after`` so the caller can schedule the retry.
RETRY_AFTER_CAP: Final = 120.0
#: Longest wait for a rate-limit slot before a call (the client's ``rate_limit_wait``) when no deadline bounds it:
#: unbounded, as the client always waited; a slot further away than a caller's own bound raises ``RateLimitError``.
DEFAULT_RATE_LIMIT_WAIT: Final = float("inf")
#: How many times a call takes a new rate-limit slot after waking too late for the one it slept until. A host busy
#: enough to oversleep every time sends on the last one anyway: the call is not held back forever.
MAX_SLOT_RETAKES: Final = 2
#: The least lateness after a slot that counts as waking late, whatever the gate's margin: every sleep overshoots a
#: little (timer slack, a thread switch), and a limit with no margin would otherwise retake every slot it waits for.
MIN_LATE_WAKE_SECONDS: Final = 0.005
#: ``meta.code`` values meaning success (reference §1).
SUCCESS_CODES: Final[frozenset[int]] = frozenset({200, 201})

# Raised for a bad base_url: a configuration mistake, retrying cannot help.
_CONFIGURATION_ERRORS = (
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
)

Clock = Callable[[], float]
Sleep = Callable[[float], None]
Timeout = float | tuple[float, float]


class RetryMode(enum.Enum):
    """Which failures a route may be retried after."""

    #: Repeating the call cannot do harm: retry transport errors, timeouts, 429 and 5xx.
    IDEMPOTENT = "idempotent"
    #: Repeating a call the server may already have acted on could do harm (or cost quota): retry only when
    #: the request certainly was not processed — the connection could not be opened, or a 429 refused it.
    UNPROCESSED_ONLY = "unprocessed_only"


@dataclass(frozen=True)
class Route:
    """An upstream endpoint and how to call it.

    ``path`` is the template (``/trackings/{carrier_code}/{tracking_number}``); ``name`` (``"GET /trackings/get"``)
    is what errors report, so concrete values never end up in exception text. ``rate_limit`` is the documented
    account limit (a client may set its own for a route); ``pause_after_rate_limit`` is the documented wait after
    a 429 that carries no ``Retry-After``.
    """

    method: str
    path: str
    retry: RetryMode = RetryMode.IDEMPOTENT
    rate_limit: RateLimit | None = None
    pause_after_rate_limit: float | None = None

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class Budget:
    """A deadline, the margin kept for the caller to answer, and the least time worth starting an attempt with."""

    deadline: Deadline
    margin: float
    min_attempt: float

    def left(self) -> float:
        """Seconds the client may still spend."""
        return self.deadline.remaining() - self.margin

    def fits(self, wait: float) -> bool:
        """Whether waiting ``wait`` seconds still leaves a minimum attempt."""
        return wait + self.min_attempt <= self.left()


def may_have_taken_effect(error: errors.TrackingMoreError) -> bool:
    """Whether the server may have acted on a request that ended in ``error``.

    True for read timeouts, connections lost after sending, unreadable answers and 5xx; false when the
    connection never opened, nothing was sent, and for definite answers (429 refusals, ``meta.code`` errors).
    """
    if isinstance(error, errors.TransportError):
        return error.request_sent
    return isinstance(error, errors.ServerError)


def _certainly_unprocessed(error: errors.TrackingMoreError) -> bool:
    if isinstance(error, errors.RateLimitError):
        return True
    return isinstance(error, errors.TransportError) and not error.request_sent


def _connection_never_opened(exc: requests.RequestException) -> bool:
    """A connect timeout or refused/unresolvable connection: nothing was sent."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError) or not exc.args:
        return False
    reason: object = exc.args[0]
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, NewConnectionError)


def _retry_after_seconds(response: requests.Response) -> float | None:
    # TrackingMore documents no Retry-After format; only delta-seconds is honoured, an HTTP-date is ignored.
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _pair(timeout: Timeout) -> tuple[float, float]:
    return timeout if isinstance(timeout, tuple) else (timeout, timeout)


def as_int(value: object) -> int | None:
    """An integer the API sent as a number or a digit string (codes, counts); ``None`` for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


@dataclass(frozen=True)
class _Call:
    """One request as sent, the same for every attempt."""

    route: Route
    path: str
    url: str
    params: Mapping[str, str] | None
    body: bytes | None
    headers: Mapping[str, str]


class Transport:
    """Sends requests for ``TrackingMoreClient``; see the module docstring. Thread-safe."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        timeout: Timeout,
        max_retries: int,
        session: requests.Session | None,
        clock: Clock,
        sleep: Sleep,
        rng: random.Random | None,
        rate_gate: RateGate | None = None,
        rate_limits: Mapping[str, RateLimit] | None = None,
        rate_limit_wait: float = DEFAULT_RATE_LIMIT_WAIT,
    ) -> None:
        self._api_key = api_key
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._connect_timeout, self._read_timeout = _pair(timeout)
        self._max_retries = max_retries
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()
        self._clock = clock
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()  # noqa: S311 - jitter, not security
        account = hashlib.sha256(api_key.encode()).hexdigest()
        self._gate: RateGate = rate_gate if rate_gate is not None else shared_gate(account, self._base_url, clock)
        self._rate_limits = dict(rate_limits or {})
        self._rate_limit_wait = rate_limit_wait
        self._budget: Budget | None = None

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def max_retries(self) -> int:
        return self._max_retries

    @property
    def budget(self) -> Budget | None:
        """The deadline this transport is bound to, if any."""
        return self._budget

    def __repr__(self) -> str:
        return f"Transport(base_url={self._base_url!r}, max_retries={self._max_retries})"

    def bound(self, budget: Budget) -> Transport:
        """A view of this transport (same session, gate, limits and policy) that works against ``budget``."""
        view = copy.copy(self)
        view._budget = budget
        view._owns_session = False
        return view

    def close(self) -> None:
        """Close the session if this transport created it (a bound view never does)."""
        if self._owns_session:
            self._session.close()

    def backoff_delay(self, retry_number: int) -> float:
        """Full-jitter exponential backoff before retry number ``retry_number`` (1-based)."""
        bound = min(MAX_DELAY, BASE_DELAY * 2.0 ** (retry_number - 1))
        return bound * self._rng.random()

    def time_for(self, wait: float) -> bool:
        """Whether waiting ``wait`` seconds leaves a minimum attempt before the deadline (always, without one)."""
        return self._budget is None or self._budget.fits(wait)

    def sleep(self, seconds: float) -> None:
        self._sleep(seconds)

    def request(
        self,
        route: Route,
        path: str | None = None,
        *,
        params: Mapping[str, str] | None = None,
        json_body: object = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Call ``route`` (at ``path``, default the route's path) and return the envelope's ``data``.

        Raises the ``TrackingMoreError`` subclass for the outcome once the retries the route (and the deadline)
        allow are spent; ``DeadlineExceededError`` or ``RateLimitError`` (``code=None``) when no attempt could start.
        """
        path = path or route.path
        body = None if json_body is None else json.dumps(json_body, ensure_ascii=False, separators=(",", ":"))
        call = _Call(
            route=route,
            path=path,
            url=f"{self._base_url}{path}",
            params=params,
            body=body.encode("utf-8") if body is not None else None,
            headers={
                "Trackingmore-Api-Key": self._api_key,
                "Content-Type": "application/json",
                "Accept": "application/json",
                **(headers or {}),
            },
        )
        ambiguous_earlier = False
        retries = 0
        last_error: errors.TrackingMoreError | None = None
        while True:
            try:
                self._check_time_left(route)
                self._wait_for_slot(route)
            except errors.TrackingMoreError as held_back:
                if last_error is None:
                    raise
                logger.debug("%s no retry: %s", route.name, held_back.message)
                raise last_error  # noqa: B904 - the call ends with what its last attempt met
            timeout = self._attempt_timeout()
            try:
                return self._attempt(call, timeout, attempt=retries + 1)
            except errors.TrackingMoreError as error:
                error.retried_after_ambiguous_failure = ambiguous_earlier
                self._pause_after_rate_limit(route, error)
                delay = self._retry_delay(route, error, retries)
                if delay is None:
                    raise
                last_error = error
            ambiguous_earlier = ambiguous_earlier or may_have_taken_effect(last_error)
            retries += 1
            logger.debug(
                "%s %s retry %d in %.3fs after %s", route.method, path, retries, delay, type(last_error).__name__
            )
            self._sleep(delay)

    # -----------------------------------------------------------------------------------------------------------------

    def _attempt(self, call: _Call, timeout: Timeout, *, attempt: int) -> Any:
        started = self._clock()
        outcome = "?"
        try:
            response = self._session.request(
                call.route.method, call.url, params=call.params, data=call.body, headers=call.headers, timeout=timeout
            )
            outcome = f"HTTP {response.status_code}"
            return self._unwrap(call.route, response)
        except requests.RequestException as exc:
            outcome = type(exc).__name__
            raise self._transport_error(call.route, exc, timeout) from exc
        except errors.TrackingMoreError as exc:
            outcome = f"{outcome} code={exc.code}"
            raise
        finally:
            elapsed = self._clock() - started
            logger.debug(
                "%s %s -> %s attempt=%d elapsed=%.3fs", call.route.method, call.path, outcome, attempt, elapsed
            )

    def _check_time_left(self, route: Route) -> None:
        """Raise ``DeadlineExceededError`` when less than a minimum attempt is left."""
        budget = self._budget
        if budget is None:
            return
        left = budget.left()
        if left < budget.min_attempt:
            raise errors.DeadlineExceededError(
                "no time left to call TrackingMore before the deadline",
                request_sent=False,
                endpoint=route.name,
                debug_detail=f"{left:.3f} s left after a {budget.margin:g} s margin, {budget.min_attempt:g} s needed",
            )

    def _attempt_timeout(self) -> Timeout:
        """The (connect, read) timeouts of the next attempt: the configured ones, cut to the time left."""
        if self._budget is None:
            return self._timeout
        left = max(self._budget.left(), 0.0)
        if left >= self._connect_timeout and left >= self._read_timeout:
            return self._timeout
        return (min(self._connect_timeout, left), min(self._read_timeout, left))

    def _wait_for_slot(self, route: Route) -> None:
        """Take a rate-limit slot for ``route`` and sleep until it starts; raise when none starts in time.

        A sleep that ends more than half the gate's margin after the slot (a busy host) leaves the slot unused and
        takes another, at most ``MAX_SLOT_RETAKES`` times: sent late, the call would reach TrackingMore closer than a
        window to the call of the next slot. The slot left unused stays counted, so the gate only ever lets fewer
        calls through, never more. A retake must start within what is left of ``rate_limit_wait`` and the deadline,
        like the first slot: when it cannot, the call ends with ``RateLimitError``, nothing sent.
        """
        limit = self._rate_limits.get(route.name, route.rate_limit)
        if limit is None:
            return
        started = self._clock()
        for retake in range(MAX_SLOT_RETAKES + 1):
            within = max(0.0, self._rate_limit_wait - (self._clock() - started))  # a retake waits what is left of it
            if self._budget is not None:
                within = min(within, max(0.0, self._budget.left() - self._budget.min_attempt))
            reservation = self._gate.reserve(route.name, limit, within=within)
            if not reservation.granted:
                raise errors.RateLimitError(
                    f"TrackingMore's rate limit allows this call again in {reservation.wait:.1f} s",
                    retry_after=reservation.wait,
                    code=None,
                    endpoint=route.name,
                    debug_detail=f"no slot within the {within:.3f} s this call could wait",
                )
            if reservation.wait <= 0:
                return
            due = self._clock() + reservation.wait
            self._sleep(reservation.wait)
            late = self._clock() - due
            if late <= max(reservation.margin / 2, MIN_LATE_WAKE_SECONDS) or retake == MAX_SLOT_RETAKES:
                return
            logger.debug("%s woke %.3fs after its slot (retake %d)", route.name, late, retake + 1)

    def _pause_after_rate_limit(self, route: Route, error: errors.TrackingMoreError) -> None:
        """A 429 from TrackingMore on a rate-limited route pauses the route for every caller of the account."""
        if not isinstance(error, errors.RateLimitError) or error.http_status is None or not error.retry_after:
            return  # not a 429 from TrackingMore, or no pause to keep
        if route.name in self._rate_limits or route.rate_limit is not None:
            self._gate.pause(route.name, error.retry_after)

    def _retry_delay(self, route: Route, error: errors.TrackingMoreError, retries: int) -> float | None:
        """Seconds to wait before retrying, or ``None`` to give up."""
        if retries >= self._max_retries or not error.retryable:
            return None
        if route.retry is RetryMode.UNPROCESSED_ONLY and not _certainly_unprocessed(error):
            return None
        if isinstance(error, errors.RateLimitError) and error.retry_after is not None:
            delay = error.retry_after
            if delay > RETRY_AFTER_CAP:
                return None
        else:
            delay = self.backoff_delay(retries + 1)
        if not self.time_for(delay):
            logger.debug("%s no retry: %.3fs of backoff leaves too little before the deadline", route.name, delay)
            return None
        return delay

    def _unwrap(self, route: Route, response: requests.Response) -> Any:
        status = response.status_code
        try:
            envelope = json.loads(response.content)
        except ValueError:
            envelope = None
        meta = envelope.get("meta") if isinstance(envelope, dict) else None
        code = as_int(meta.get("code")) if isinstance(meta, dict) else None
        if 200 <= status < 300:
            if not isinstance(meta, dict) or code is None:
                raise errors.TransportError(
                    f"TrackingMore answered HTTP {status} without a v2 JSON envelope",
                    http_status=status,
                    endpoint=route.name,
                    debug_detail=self._redact(f"body starts {response.content[:120]!r}"),
                )
            if code in SUCCESS_CODES:
                return envelope.get("data") if isinstance(envelope, dict) else None
        elif code is None or code in SUCCESS_CODES:
            code = status
        meta_map: Mapping[str, object] = meta if isinstance(meta, dict) else {}
        raise self._api_error(route, code, meta_map, response)

    def _api_error(
        self, route: Route, code: int, meta: Mapping[str, object], response: requests.Response
    ) -> errors.TrackingMoreError:
        type_ = meta.get("type")
        type_text = str(type_) if type_ is not None else None
        raw_message = meta.get("message") or type_text or response.reason or f"error {code}"
        message = self._redact(str(raw_message))
        cls = errors.error_class_for(code)
        if cls is errors.RateLimitError:
            retry_after = _retry_after_seconds(response)
            return errors.RateLimitError(
                message,
                retry_after=retry_after if retry_after is not None else route.pause_after_rate_limit,
                code=code,
                type=type_text,
                http_status=response.status_code,
                endpoint=route.name,
            )
        return cls(message, code=code, type=type_text, http_status=response.status_code, endpoint=route.name)

    def _transport_error(
        self, route: Route, exc: requests.RequestException, timeout: Timeout
    ) -> errors.TrackingMoreError:
        """Our words for a failure with no usable answer; ``requests``' own text goes to ``debug_detail``."""
        detail = self._redact(f"{type(exc).__name__}: {exc}")
        if isinstance(exc, _CONFIGURATION_ERRORS):
            return errors.TrackingMoreError(
                "the TrackingMore base URL is not usable", endpoint=route.name, debug_detail=detail
            )
        never_opened = _connection_never_opened(exc)
        if isinstance(exc, requests.Timeout):
            connect, read = _pair(timeout)
            waited, configured = (connect, self._connect_timeout) if never_opened else (read, self._read_timeout)
            what = "could not connect to TrackingMore" if never_opened else "TrackingMore did not answer"
            cut_short = waited < configured  # the deadline, not our timeout, ended the wait
            cls = errors.DeadlineExceededError if cut_short else errors.TimeoutError
            message = f"{what} within {waited:.3g} s" + (", the time left before the deadline" if cut_short else "")
            return cls(message, request_sent=not never_opened, endpoint=route.name, debug_detail=detail)
        if never_opened:
            message = "could not connect to TrackingMore"
        elif isinstance(exc, requests.ConnectionError):
            message = "the connection to TrackingMore broke before it answered"
        else:
            message = "TrackingMore's answer could not be read"
        return errors.TransportError(message, request_sent=not never_opened, endpoint=route.name, debug_detail=detail)

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text
