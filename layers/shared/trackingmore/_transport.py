"""The one HTTP transport of the client: session, envelope, error mapping, retries and rate limits.

Every call goes through ``Transport.request``. It sends JSON with the API key header, unwraps the v2 envelope
``{"meta": {...}, "data": ...}`` (errors arrive as HTTP 200 with the code in ``meta.code``, reference §1),
raises the exception ``errors.error_class_for`` picks, retries what the route allows, and keeps each
rate-limited route under its documented rate so that a single process never earns a 429.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import random
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError

from trackingmore import errors

__all__ = [
    "BASE_DELAY",
    "MAX_DELAY",
    "RETRY_AFTER_CAP",
    "SUCCESS_CODES",
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
#: Longest server-requested wait (``Retry-After`` or a documented pause) the client sleeps through itself.
#: 120 s is the documented pause after a realtime 429 (reference §8); a longer request is not slept through:
#: the ``RateLimitError`` is raised with ``retry_after`` so the caller can schedule the retry.
RETRY_AFTER_CAP: Final = 120.0
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


class RetryMode(enum.Enum):
    """Which failures a route may be retried after."""

    #: Repeating the call cannot do harm: retry transport errors, timeouts, 429 and 5xx.
    IDEMPOTENT = "idempotent"
    #: Repeating a call the server may already have acted on could do harm (or cost quota): retry only when
    #: the request certainly was not processed — the connection could not be opened, or a 429 refused it.
    UNPROCESSED_ONLY = "unprocessed_only"


@dataclass(frozen=True)
class RateLimit:
    """At most ``requests`` calls in any window of ``per_seconds``."""

    requests: int
    per_seconds: float = 1.0


@dataclass(frozen=True)
class Route:
    """An upstream endpoint and how to call it.

    ``path`` is the template (``/trackings/{carrier_code}/{tracking_number}``); ``name`` (``"GET /trackings/get"``)
    is what errors report, so concrete values never end up in exception text.
    ``pause_after_rate_limit`` is the documented wait after a 429 that carries no ``Retry-After``.
    """

    method: str
    path: str
    retry: RetryMode = RetryMode.IDEMPOTENT
    rate_limit: RateLimit | None = None
    pause_after_rate_limit: float | None = None

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


# The server counts *arrivals* in its window, we can only space *sends*: a request that waits a little longer
# in our socket or in the server's accept queue than the next one shrinks the gap the server sees below the
# limit (seen against the sandbox: two list calls sent 1.000 s apart earned a 429). Every window is widened by
# this much so a single process never earns a 429.
RATE_LIMIT_MARGIN_SECONDS: Final = 0.05


class RateLimiter:
    """A thread-safe sliding-window limiter driven by an injected clock and sleep.

    Each caller reserves the earliest slot that keeps at most ``limit.requests`` calls in any window of
    ``limit.per_seconds`` (plus ``RATE_LIMIT_MARGIN_SECONDS``), then sleeps (outside the lock) until its slot.
    """

    def __init__(self, limit: RateLimit, *, clock: Clock, sleep: Sleep) -> None:
        self._limit = limit
        self._clock = clock
        self._sleep = sleep
        self._slots: deque[float] = deque(maxlen=limit.requests)
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Wait for a slot; return how long that took."""
        with self._lock:
            now = self._clock()
            slot = now
            if len(self._slots) == self._limit.requests:
                slot = max(now, self._slots[0] + self._limit.per_seconds + RATE_LIMIT_MARGIN_SECONDS)
            self._slots.append(slot)
        wait = slot - now
        if wait > 0:
            self._sleep(wait)
        return max(wait, 0.0)


# Limits are per account (reference §8), so every client of the same account, base URL and clock in this
# process shares one limiter per route.
_limiters: dict[tuple[str, str, Clock, Sleep, str], RateLimiter] = {}
_limiters_lock = threading.Lock()


def _shared_limiter(account: str, base_url: str, route: Route, clock: Clock, sleep: Sleep) -> RateLimiter | None:
    if route.rate_limit is None:
        return None
    key = (account, base_url, clock, sleep, route.name)
    with _limiters_lock:
        limiter = _limiters.get(key)
        if limiter is None:
            limiter = _limiters[key] = RateLimiter(route.rate_limit, clock=clock, sleep=sleep)
        return limiter


def may_have_taken_effect(error: errors.TrackingMoreError) -> bool:
    """Whether the server may have acted on a request that ended in ``error``.

    True for read timeouts, connections lost after sending, unreadable answers and 5xx; false when the
    connection never opened, and for definite answers (429 refusals, ``meta.code`` errors).
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


def as_int(value: object) -> int | None:
    """An integer the API sent as a number or a digit string (codes, counts); ``None`` for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


class Transport:
    """Sends requests for ``TrackingMoreClient``; see the module docstring."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        timeout: float | tuple[float, float],
        max_retries: int,
        session: requests.Session | None,
        clock: Clock,
        sleep: Sleep,
        rng: random.Random | None,
    ) -> None:
        self._api_key = api_key
        self._account = hashlib.sha256(api_key.encode()).hexdigest()
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._max_retries = max_retries
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()
        self._clock = clock
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()  # noqa: S311 - jitter, not security

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def max_retries(self) -> int:
        return self._max_retries

    def __repr__(self) -> str:
        return f"Transport(base_url={self._base_url!r}, max_retries={self._max_retries})"

    def close(self) -> None:
        """Close the session if this transport created it."""
        if self._owns_session:
            self._session.close()

    def backoff_delay(self, retry_number: int) -> float:
        """Full-jitter exponential backoff before retry number ``retry_number`` (1-based)."""
        bound = min(MAX_DELAY, BASE_DELAY * 2.0 ** (retry_number - 1))
        return bound * self._rng.random()

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

        Raises the ``TrackingMoreError`` subclass for the outcome once retries allowed by the route are spent.
        """
        path = path or route.path
        url = f"{self._base_url}{path}"
        body = None if json_body is None else json.dumps(json_body, ensure_ascii=False, separators=(",", ":"))
        send_headers = {
            "Trackingmore-Api-Key": self._api_key,
            "Content-Type": "application/json",
            "Accept": "application/json",
            **(headers or {}),
        }
        limiter = _shared_limiter(self._account, self._base_url, route, self._clock, self._sleep)
        ambiguous_earlier = False
        retries = 0
        while True:
            if limiter is not None:
                limiter.acquire()
            started = self._clock()
            outcome = "?"
            try:
                response = self._session.request(
                    route.method,
                    url,
                    params=params,
                    data=body.encode("utf-8") if body is not None else None,
                    headers=send_headers,
                    timeout=self._timeout,
                )
                outcome = f"HTTP {response.status_code}"
                return self._unwrap(route, response)
            except requests.RequestException as exc:
                outcome = type(exc).__name__
                error = self._transport_error(route, exc)
                error.__cause__ = exc
            except errors.TrackingMoreError as exc:
                outcome = f"{outcome} code={exc.code}"
                error = exc
            finally:
                logger.debug(
                    "%s %s -> %s attempt=%d elapsed=%.3fs",
                    route.method,
                    path,
                    outcome,
                    retries + 1,
                    self._clock() - started,
                )
            error.retried_after_ambiguous_failure = ambiguous_earlier
            delay = self._retry_delay(route, error, retries)
            if delay is None:
                raise error
            ambiguous_earlier = ambiguous_earlier or may_have_taken_effect(error)
            retries += 1
            logger.debug("%s %s retry %d in %.3fs after %s", route.method, path, retries, delay, type(error).__name__)
            self._sleep(delay)

    # -----------------------------------------------------------------------------------------------------------------

    def _retry_delay(self, route: Route, error: errors.TrackingMoreError, retries: int) -> float | None:
        """Seconds to wait before retrying, or ``None`` to give up."""
        if retries >= self._max_retries or not error.retryable:
            return None
        if route.retry is RetryMode.UNPROCESSED_ONLY and not _certainly_unprocessed(error):
            return None
        if isinstance(error, errors.RateLimitError) and error.retry_after is not None:
            return error.retry_after if error.retry_after <= RETRY_AFTER_CAP else None
        return self.backoff_delay(retries + 1)

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
                    f"HTTP {status} without a v2 JSON envelope",
                    http_status=status,
                    endpoint=route.name,
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

    def _transport_error(self, route: Route, exc: requests.RequestException) -> errors.TrackingMoreError:
        detail = self._redact(f"{type(exc).__name__}: {exc}")
        if isinstance(exc, _CONFIGURATION_ERRORS):
            return errors.TrackingMoreError(f"cannot send request: {detail}", endpoint=route.name)
        never_opened = _connection_never_opened(exc)
        if isinstance(exc, requests.Timeout):
            return errors.TimeoutError(f"timed out: {detail}", request_sent=not never_opened, endpoint=route.name)
        return errors.TransportError(f"connection failed: {detail}", request_sent=not never_opened, endpoint=route.name)

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text
