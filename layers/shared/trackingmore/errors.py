"""Exceptions raised by the TrackingMore client: one class per kind of failure.

TrackingMore v2 answers most errors with HTTP 200 and the outcome in ``meta.code`` (reference §1); a few
failures may also arrive as real HTTP statuses. Both are turned into an exception through one table,
``ERROR_CLASSES``, so the mapping lives in exactly one place.

Every ``message`` is safe to show to a user: it says what failed in the caller's terms ("TrackingMore did not answer
within 20 s") and never holds a host, port, URL, API key or exception class name. What a log needs to diagnose a
failure (the text of the underlying exception, the API key redacted) is in ``debug_detail``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, TypedDict, Unpack

__all__ = [
    "ERROR_CLASSES",
    "RETRYABLE_CODES",
    "AuthenticationError",
    "CarrierNotDetectedError",
    "DeadlineExceededError",
    "InvalidRequestError",
    "QuotaExceededError",
    "RateLimitError",
    "RequestTimeoutError",
    "ServerError",
    "TimeoutError",
    "TrackingAlreadyExistsError",
    "TrackingMoreError",
    "TrackingNotFoundError",
    "TransportError",
    "WebhookPayloadError",
    "error_class_for",
]


class _Details(TypedDict, total=False):
    """The keyword arguments every error takes besides ``message`` and ``code`` (see ``TrackingMoreError``)."""

    type: str | None
    http_status: int | None
    endpoint: str | None
    debug_detail: str | None


#: Codes (HTTP status or ``meta.code``) worth trying again: rate limited, or a transient server failure.
RETRYABLE_CODES: Final[frozenset[int]] = frozenset({429, 500, 502, 503, 504})


class TrackingMoreError(Exception):
    """Base class of every error the client raises about a call to TrackingMore.

    Attributes:
        code: ``meta.code`` from the response envelope, or the HTTP status when there was no usable envelope;
            ``None`` when no response arrived at all (transport failures).
        type: ``meta.type`` as sent (``"Bad Request"``, ``"Unauthorized"`` …), when present.
        message: what failed, safe to show (``meta.message`` as TrackingMore sent it, or our description of a
            transport failure); never a host, port, URL, API key or exception class name.
        http_status: the HTTP status of the response, ``None`` when none arrived.
        endpoint: the route called, as ``"POST /trackings/batch"`` (path templates, never concrete values).
        retried_after_ambiguous_failure: ``True`` when an earlier attempt of the same call failed in a way
            that may have reached the server (read timeout, reset connection, 5xx). A ``4016`` or ``4017`` seen
            then may describe the effect of that earlier attempt; ``create_tracking`` and ``delete_tracking``
            use it to tell a genuine duplicate from their own retry.
        debug_detail: diagnostic detail for logs, not for users: the underlying exception as
            ``"ReadTimeout: HTTPConnectionPool(...)"`` (API key redacted), or what made a response unreadable;
            ``None`` when ``message`` says it all.
    """

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        type: str | None = None,
        http_status: int | None = None,
        endpoint: str | None = None,
        debug_detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.type = type
        self.http_status = http_status
        self.endpoint = endpoint
        self.debug_detail = debug_detail
        self.retried_after_ambiguous_failure = False

    @property
    def retryable(self) -> bool:
        """Whether trying the same call again later may succeed (rate limits, transient server failures)."""
        return self.code in RETRYABLE_CODES

    def __str__(self) -> str:
        parts = [f"code={self.code}"] if self.code is not None else []
        if self.endpoint:
            parts.append(self.endpoint)
        return f"{self.message} ({', '.join(parts)})" if parts else self.message

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(message={self.message!r}, code={self.code!r}, type={self.type!r}, "
            f"http_status={self.http_status!r}, endpoint={self.endpoint!r})"
        )


class AuthenticationError(TrackingMoreError):
    """The API key is missing, invalid or deleted (401, 4001, 4002)."""


class InvalidRequestError(TrackingMoreError):
    """TrackingMore refused the request as malformed or not allowed (4012–4015, 4018, 4020, 4033, 4xx …)."""


class TrackingAlreadyExistsError(InvalidRequestError):
    """The tracking (carrier code + number) already exists in the account (4016)."""


class TrackingNotFoundError(InvalidRequestError):
    """The tracking does not exist (4017), or was never created (4031)."""


class CarrierNotDetectedError(InvalidRequestError):
    """Carrier detection found no courier for the number (4032)."""


class QuotaExceededError(TrackingMoreError):
    """The account has no quota or balance left, or its trial ended (402, 4019, 4021)."""


class RateLimitError(TrackingMoreError):
    """TrackingMore rate-limited the call (429), or the client's rate gate had no slot in the time it could wait.

    ``retry_after`` is how long to wait in seconds: the ``Retry-After`` header when sent, else the documented
    pause for the endpoint (120 s for realtime, reference §8), else ``None``. When the client itself held the call
    back (its rate gate had no slot within the client's ``rate_limit_wait`` or before the deadline), nothing was sent:
    ``code`` and ``http_status`` are ``None`` and ``retry_after`` is when the earliest slot is.
    """

    def __init__(
        self, message: str, *, retry_after: float | None = None, code: int | None = 429, **details: Unpack[_Details]
    ) -> None:
        super().__init__(message, code=code, **details)
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return True


class ServerError(TrackingMoreError):
    """TrackingMore failed on its side (5xx in HTTP or in ``meta.code``)."""


class TransportError(TrackingMoreError):
    """No usable answer: the connection failed, or the response was not a v2 JSON envelope.

    ``request_sent`` is ``False`` only when the request certainly never reached the server (the connection
    could not be opened); otherwise the server may have acted on it.
    """

    def __init__(
        self, message: str, *, request_sent: bool = True, code: int | None = None, **details: Unpack[_Details]
    ) -> None:
        super().__init__(message, code=code, **details)
        self.request_sent = request_sent

    @property
    def retryable(self) -> bool:
        return True


class TimeoutError(TransportError):
    """The server did not answer in time. Not the builtin ``TimeoutError``: also exported as ``RequestTimeoutError``."""


RequestTimeoutError = TimeoutError


class DeadlineExceededError(TimeoutError):
    """The deadline the client is bound to (``TrackingMoreClient.with_deadline``) cut the call short. Retryable:
    callers answer 503/504 with ``Retry-After`` rather than wait.

    ``request_sent=False``: too little time was left to start an attempt, nothing was sent. ``request_sent=True``:
    the attempt in flight was given only the time left and TrackingMore did not answer within it; it may have
    acted on the request.
    """


class WebhookPayloadError(ValueError):
    """A request body handed to ``webhooks.parse_push`` is not a TrackingMore v2 push."""


#: One table from code (``meta.code`` or HTTP status) to exception class (reference §4.1).
ERROR_CLASSES: Final[Mapping[int, type[TrackingMoreError]]] = {
    # "OK but the request exceeded a limit" — not a success code, the request was refused as sent.
    202: InvalidRequestError,
    400: InvalidRequestError,
    401: AuthenticationError,
    402: QuotaExceededError,
    403: InvalidRequestError,
    404: InvalidRequestError,
    405: InvalidRequestError,
    409: InvalidRequestError,
    429: RateLimitError,
    4001: AuthenticationError,
    4002: AuthenticationError,
    4012: InvalidRequestError,
    4013: InvalidRequestError,
    4014: InvalidRequestError,
    4015: InvalidRequestError,
    4016: TrackingAlreadyExistsError,
    4017: TrackingNotFoundError,
    4018: InvalidRequestError,
    4019: QuotaExceededError,
    4020: InvalidRequestError,
    4021: QuotaExceededError,
    4031: TrackingNotFoundError,
    4032: CarrierNotDetectedError,
    4033: InvalidRequestError,
}


def error_class_for(code: int) -> type[TrackingMoreError]:
    """The exception class for an error code; unknown 4xx/4xxx are invalid requests, 5xx server errors."""
    known = ERROR_CLASSES.get(code)
    if known is not None:
        return known
    if 500 <= code <= 599:
        return ServerError
    if 400 <= code <= 499 or 4000 <= code <= 4999:
        return InvalidRequestError
    return TrackingMoreError
