"""Every exception class of shiptrack, and the one table that turns errors into problem+json (RFC 9457).

Code raises the domain error where the failure happens (``TrackingNotFoundError`` …) or lets a
``trackingmore`` client error through; :func:`problem_for` is the single place that decides the HTTP
status, the machine-readable ``code`` and the text. The OpenAPI ``responses`` of every route come from
:data:`PROBLEM_RESPONSES`, so declared and returned codes cannot drift; the problems API Gateway answers by
itself (template.yaml ``GatewayResponses``) are :data:`GATEWAY_PROBLEMS`, and a test holds the template to it.

Errors that never reach an HTTP caller live here too: the event paths' (:class:`InvalidOrderEventError`,
:class:`RetryableOrderError`), the scheduled jobs' (:class:`JobConflictError`, :class:`JobInterruptedError`), the
storefront webhooks' queues (:class:`QueueSendError`) and the settings' (:class:`MissingSettingError`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any, Final, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

import trackingmore

__all__ = [
    "GATEWAY_PROBLEMS",
    "PROBLEM_CONTENT_TYPE",
    "PROBLEM_RESPONSES",
    "BadRequestError",
    "CarrierNotDetectedError",
    "ConflictError",
    "FieldError",
    "GatewayProblem",
    "HttpStatusError",
    "IdempotencyKeyReusedError",
    "ImportNotFoundError",
    "InvalidCursorError",
    "InvalidEncodingError",
    "InvalidImportError",
    "InvalidJsonError",
    "InvalidOrderEventError",
    "JobConflictError",
    "JobInterruptedError",
    "MissingSettingError",
    "NotFoundError",
    "PayloadTooLargeError",
    "Problem",
    "QueueSendError",
    "RequestInProgressError",
    "RetryableOrderError",
    "RouteNotFoundError",
    "ShiptrackError",
    "StorageBusyError",
    "TooManyItemsError",
    "TrackingExistsError",
    "TrackingMissingUpstreamError",
    "TrackingNotFoundError",
    "UnauthorizedError",
    "UnknownQueryParameterError",
    "UnreadableBodyError",
    "UnsupportedFiltersError",
    "UnsupportedMediaTypeError",
    "UpstreamError",
    "UpstreamRateLimitedError",
    "ValidationFailedError",
    "WebhookDeliveryNotFoundError",
    "WebhookDeliveryPendingError",
    "WebhookEndpointDisabledError",
    "WebhookEndpointLimitError",
    "WebhookEndpointNotFoundError",
    "WebhookUrlNotAllowedError",
    "field_errors",
    "printable",
    "problem_for",
    "responses",
    "retry_after_seconds",
    "upstream_detail",
    "upstream_outcome",
]

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://shiptrack.dev/problems/"


class FieldError(BaseModel):
    """One invalid input: where (``loc``), what is wrong (``msg``) and a machine-readable ``type``."""

    # Built on first use, not at import (cold start): most requests never answer a problem.
    model_config = ConfigDict(defer_build=True)

    loc: list[str | int]
    msg: str
    type: str


def field_errors(raw: Iterable[Mapping[str, Any]], *, prefix: Sequence[str] = ()) -> list[FieldError]:
    """pydantic's error dicts as :class:`FieldError` s (``prefix`` before each ``loc``, e.g. ``("query",)``)."""
    return [
        FieldError(
            loc=[*prefix, *(part if isinstance(part, int) else str(part) for part in error.get("loc", ()))],
            msg=str(error.get("msg", "invalid value")),
            type=str(error.get("type", "value_error")),
        )
        for error in raw
    ]


class Problem(BaseModel):
    """An RFC 9457 problem detail, with shiptrack's machine-readable ``code``."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    type: str = Field(description="URI identifying the problem type")
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable machine-readable error code, e.g. `tracking_not_found`")
    errors: list[FieldError] = Field(default_factory=list, description="Per-field problems (validation only)")
    retryable: bool = Field(default=False, description="True when the same request may succeed if retried later")

    @classmethod
    def build(
        cls,
        *,
        status: int,
        code: str,
        title: str,
        detail: str,
        errors: list[FieldError] | None = None,
        retryable: bool = False,
        **extra: Any,
    ) -> Problem:
        return cls(
            type=PROBLEM_TYPE_BASE + code.replace("_", "-"),
            title=title,
            status=status,
            detail=detail,
            code=code,
            errors=errors or [],
            retryable=retryable,
            **extra,
        )


class ShiptrackError(Exception):
    """Base of every domain error. Subclasses fix the HTTP status, the code and the title; a retryable one may set
    ``retry_after`` (seconds), answered as the ``Retry-After`` header."""

    status: int = 500
    code: str = "internal_error"
    title: str = "Internal error"
    retryable: bool = False
    retry_after: int | None = None

    def __init__(self, detail: str, *, errors: list[FieldError] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.extra = extra

    def to_problem(self) -> Problem:
        return Problem.build(
            status=self.status,
            code=self.code,
            title=self.title,
            detail=self.detail,
            errors=self.errors,
            retryable=self.retryable,
            **self.extra,
        )


class BadRequestError(ShiptrackError):
    status, code, title = 400, "bad_request", "Bad request"


class InvalidCursorError(BadRequestError):
    code, title = "invalid_cursor", "Invalid cursor"


class UnknownQueryParameterError(BadRequestError):
    """A query parameter the route does not take (a typo would otherwise be silently ignored)."""

    code, title = "unknown_query_parameter", "Unknown query parameter"


class InvalidJsonError(BadRequestError):
    """A request body that cannot be read safely as JSON (``shiptrack.jsonbody``): malformed, too deep, ``NaN``,
    repeated member names, unpaired surrogates."""

    code, title = "invalid_json", "Invalid JSON body"


class UnsupportedFiltersError(BadRequestError):
    """Filters that cannot be served together efficiently (``errors`` names each one)."""

    code, title = "unsupported_filters", "Unsupported combination of filters"


class UnreadableBodyError(InvalidJsonError):
    """The framework could not decode the request body (bad base64, bad text, multipart without a boundary)."""


class UnsupportedMediaTypeError(BadRequestError):
    code, title = "unsupported_media_type", "Unsupported media type"


class InvalidEncodingError(BadRequestError):
    """A text body (an import's CSV or JSON) that is not UTF-8."""

    code, title = "invalid_encoding", "Body is not UTF-8"


class UnauthorizedError(ShiptrackError):
    status, code, title = 401, "unauthorized", "Unauthorized"


class NotFoundError(ShiptrackError):
    status, code, title = 404, "not_found", "Not found"


class TrackingNotFoundError(NotFoundError):
    code, title = "tracking_not_found", "Tracking not found"


class RouteNotFoundError(NotFoundError):
    code = "route_not_found"


class ImportNotFoundError(NotFoundError):
    code, title = "import_not_found", "Import not found"


class ConflictError(ShiptrackError):
    status, code, title = 409, "conflict", "Conflict"


class TrackingExistsError(ConflictError):
    code, title = "tracking_exists", "Tracking already exists"


class TrackingMissingUpstreamError(ConflictError):
    """We hold the tracking but TrackingMore does not (deleted there): a resync has nothing to copy."""

    code, title = "tracking_missing_upstream", "Tracking missing at TrackingMore"


class RequestInProgressError(ConflictError):
    """The same create (same identity, or same ``Idempotency-Key``) is running right now; retry shortly."""

    code, title, retryable = "request_in_progress", "Request in progress", True
    retry_after = 1


class PayloadTooLargeError(ShiptrackError):
    status, code, title = 413, "payload_too_large", "Payload too large"


class TooManyItemsError(PayloadTooLargeError):
    """More items than a route takes in one request (the problem says the most, ``max_items``, and where to go)."""

    code, title = "too_many_items", "Too many items"


class ValidationFailedError(ShiptrackError):
    status, code, title = 422, "validation_failed", "Request validation failed"


class InvalidImportError(ValidationFailedError):
    """A body that is not an import as a whole (no items, a CSV without ``tracking_number`` …): nothing is created.
    One invalid item is not this: it fails alone, in the import's results."""

    code, title = "invalid_import", "Not an import"


class IdempotencyKeyReusedError(ShiptrackError):
    status, code, title = 422, "idempotency_key_reused", "Idempotency-Key reused with a different request"


class CarrierNotDetectedError(ShiptrackError):
    status, code, title = 422, "carrier_not_detected", "Carrier not detected"


class WebhookEndpointNotFoundError(NotFoundError):
    code, title = "webhook_endpoint_not_found", "Webhook endpoint not found"


class WebhookDeliveryNotFoundError(NotFoundError):
    code, title = "webhook_delivery_not_found", "Webhook delivery not found"


class WebhookDeliveryPendingError(ConflictError):
    """A retry was asked for a delivery that is still being retried on its schedule."""

    code, title = "webhook_delivery_pending", "Webhook delivery still pending"


class WebhookEndpointDisabledError(ConflictError):
    code, title = "webhook_endpoint_disabled", "Webhook endpoint disabled"


class WebhookEndpointLimitError(ConflictError):
    code, title = "webhook_endpoint_limit", "Too many webhook endpoints"


class WebhookUrlNotAllowedError(ValidationFailedError):
    """An endpoint URL that is malformed, not https, or resolves to an address we never send to (SSRF)."""

    code, title = "webhook_url_not_allowed", "Webhook URL not allowed"


class UpstreamError(ShiptrackError):
    """TrackingMore failed in a way the client cannot fix; retrying later may help."""

    status, code, title, retryable = 502, "upstream_error", "Upstream error", True


class UpstreamRateLimitedError(UpstreamError):
    status, code, title = 429, "upstream_rate_limited", "Upstream rate limit"

    def __init__(self, detail: str, *, retry_after: int, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.retry_after = retry_after


class StorageBusyError(ShiptrackError):
    """DynamoDB still left keys unprocessed (throttling) after the bounded retries of a batch read."""

    status, code, title, retryable = 503, "storage_busy", "Storage busy", True
    retry_after = 1


class HttpStatusError(ShiptrackError):
    """A bare HTTP status the framework raised (Powertools' ``ServiceError``): code and title from its phrase."""

    def __init__(self, status: int, detail: str | None = None) -> None:
        known = HTTPStatus(status)
        super().__init__(detail or known.description)
        self.status = known.value
        self.code = known.phrase.lower().replace(" ", "_")
        self.title = known.phrase


# ---------------------------------------------------------------------------------------------------------------------
# Errors that never reach an HTTP caller


class InvalidOrderEventError(Exception):
    """An Order Shipped message can never succeed as it is (invalid detail, or a shipment refused for good)."""


class RetryableOrderError(Exception):
    """A shipment failed in a way a later delivery may fix (upstream rate limit, timeout, server error)."""


class JobConflictError(Exception):
    """Another run saved the job's state since this run loaded it."""


class JobInterruptedError(Exception):
    """A scheduled job must stop here (time budget, a conflicting run, a transient upstream failure); ``why`` says
    which. The job saves its position and the next run resumes from it."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class QueueSendError(RuntimeError):
    """SQS did not take every message of a send (storefront webhooks); the caller fails and its input is retried."""


class MissingSettingError(RuntimeError):
    """A required environment variable is not set (template.yaml sets every one for every function)."""


# How each TrackingMore client error reaches our callers: (status, code, title, retryable), the first class that
# matches (subclasses first). Upstream auth and quota failures are *our* configuration problems, not the caller's:
# 502/503, never 401/402. A retryable one is answered with Retry-After (``retry_after_seconds``).
_UPSTREAM_MAP: list[tuple[type[trackingmore.TrackingMoreError], int, str, str, bool]] = [
    (trackingmore.RateLimitError, 429, "upstream_rate_limited", "Upstream rate limit", True),
    # The request's own deadline cut the call short (or left no time to start it): never the gateway's 504.
    (trackingmore.DeadlineExceededError, 504, "deadline_exceeded", "Deadline exceeded", True),
    (trackingmore.TimeoutError, 504, "upstream_timeout", "Upstream timeout", True),
    (trackingmore.TransportError, 502, "upstream_unreachable", "Upstream unreachable", True),
    (trackingmore.ServerError, 503, "upstream_unavailable", "Upstream unavailable", True),
    (trackingmore.AuthenticationError, 502, "upstream_auth_failed", "Upstream rejected our credentials", False),
    (trackingmore.QuotaExceededError, 503, "upstream_quota_exhausted", "Upstream quota exhausted", False),
    (trackingmore.TrackingNotFoundError, 404, "tracking_not_found", "Tracking not found", False),
    (trackingmore.TrackingAlreadyExistsError, 409, "tracking_exists_upstream", "Tracking already exists", False),
    (trackingmore.CarrierNotDetectedError, 422, "carrier_not_detected", "Carrier not detected", False),
    (trackingmore.InvalidRequestError, 422, "upstream_rejected", "Rejected by the carrier service", False),
]

#: The ``outcome`` dimension of the ``UpstreamCalls`` metric, one vocabulary for every caller.
UpstreamOutcome = Literal[
    "ok", "held_back", "rate_limited", "deadline", "timeout", "unreachable", "server_error", "rejected", "error"
]
_OUTCOMES: list[tuple[type[trackingmore.TrackingMoreError], UpstreamOutcome]] = [
    (trackingmore.RateLimitError, "rate_limited"),
    (trackingmore.DeadlineExceededError, "deadline"),
    (trackingmore.TimeoutError, "timeout"),
    (trackingmore.TransportError, "unreachable"),
    (trackingmore.ServerError, "server_error"),
    (trackingmore.InvalidRequestError, "rejected"),
]


def upstream_outcome(exc: BaseException | None) -> UpstreamOutcome:
    """How an upstream call ended, for metrics: ``ok`` (no exception) or the kind of failure. ``held_back``: the
    account-wide rate gate had no slot in time, nothing was sent; ``rate_limited``: TrackingMore itself said 429."""
    if exc is None:
        return "ok"
    if isinstance(exc, trackingmore.RateLimitError) and exc.code is None:
        return "held_back"
    return next((outcome for kind, outcome in _OUTCOMES if isinstance(exc, kind)), "error")


# Retry-After we advertise for a 429 that names no wait: TrackingMore's documented pause after a 429 (reference §8).
DEFAULT_RETRY_AFTER_SECONDS = 120
#: Retry-After for the other retryable upstream failures (timeouts, the deadline, 5xx, unreachable): TrackingMore is
#: slow or failing right now, and an immediate retry would most likely meet the same.
UPSTREAM_RETRY_AFTER_SECONDS = 5


def retry_after_seconds(exc: BaseException) -> int:
    """The Retry-After (whole seconds, at least 1) to advertise for a retryable upstream failure: the wait the
    error names (TrackingMore's ``Retry-After``, or when the rate gate's next slot is), else
    :data:`DEFAULT_RETRY_AFTER_SECONDS` for a 429 and :data:`UPSTREAM_RETRY_AFTER_SECONDS` for the rest."""
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, int | float) and retry_after >= 0:
        return max(1, math.ceil(retry_after))
    if isinstance(exc, trackingmore.RateLimitError):
        return DEFAULT_RETRY_AFTER_SECONDS
    return UPSTREAM_RETRY_AFTER_SECONDS


#: Longest piece of TrackingMore's own text a problem quotes (its messages are short phrases, reference §4.1).
MAX_QUOTED_UPSTREAM_CHARS = 200
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]+")


def printable(text: str, limit: int = 60) -> str:
    """``text`` from a caller or upstream, fit to quote in a problem: control characters replaced, cut to ``limit``."""
    cleaned = _UNPRINTABLE.sub("?", text)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def upstream_detail(exc: trackingmore.TrackingMoreError) -> str:
    """What TrackingMore did, in the caller's terms: "TrackingMore did not answer within 20 s.",
    "TrackingMore refused the request: Tracking No. does not exist (code 4031)."

    Never a host, port, URL or exception class: for failures without an answer the client's own ``message`` (our
    words, by construction); for answers, TrackingMore's message (API key already redacted by the client), cut
    short and without control characters. What a log needs is ``debug_detail`` (logged by the HTTP edge).
    """
    quoted = printable(exc.message or "", MAX_QUOTED_UPSTREAM_CHARS).strip().rstrip(". ")
    if isinstance(exc, trackingmore.TransportError) or (exc.code is None and quoted):
        return f"{quoted[:1].upper()}{quoted[1:]}." if quoted else "TrackingMore could not be reached."
    if exc.code is None:
        return "TrackingMore failed."
    if isinstance(exc, trackingmore.ServerError):
        what = "TrackingMore failed"
    elif isinstance(exc, trackingmore.RateLimitError):
        what = "TrackingMore rate-limited the request"
    else:
        what = "TrackingMore refused the request"
    return f"{what}: {quoted} (code {exc.code})." if quoted else f"{what} (code {exc.code})."


def problem_for(exc: BaseException) -> tuple[Problem, dict[str, str]]:
    """The problem document and extra headers for any exception. Unknown exceptions become an opaque 500."""
    headers: dict[str, str] = {}
    if isinstance(exc, ShiptrackError):
        if exc.retry_after is not None:
            headers["Retry-After"] = str(exc.retry_after)
        return exc.to_problem(), headers
    if isinstance(exc, trackingmore.TrackingMoreError):
        status, code, title, retryable = next(
            (row[1:] for row in _UPSTREAM_MAP if isinstance(exc, row[0])),
            (502, "upstream_error", "Upstream error", True),
        )
        if retryable:
            headers["Retry-After"] = str(retry_after_seconds(exc))
        problem = Problem.build(status=status, code=code, title=title, detail=upstream_detail(exc), retryable=retryable)
        return problem, headers
    unexpected = Problem.build(
        status=500, code="internal_error", title="Internal error", detail="An unexpected error occurred."
    )
    return unexpected, headers


def _problem_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_CONTENT_TYPE: {"model": Problem}}}


# The error responses a route may give, for the OpenAPI document: routes pick theirs with :func:`responses`.
PROBLEM_RESPONSES: dict[int, dict[str, Any]] = {
    400: _problem_response("Malformed request"),
    403: _problem_response("Missing or invalid API key (answered by API Gateway)"),
    404: _problem_response("Not found"),
    409: _problem_response("Conflict"),
    413: _problem_response("Body or number of items over the route's limit"),
    422: _problem_response("Invalid input"),
    429: _problem_response("TrackingMore's rate limit (held across every instance); see Retry-After"),
    500: _problem_response("Unexpected error"),
    502: _problem_response("TrackingMore failed, is unreachable, or rejected our credentials"),
    503: _problem_response("TrackingMore unavailable or its quota is exhausted, or our storage is throttled"),
    504: _problem_response("TrackingMore timed out, or did not answer within the request's deadline; see Retry-After"),
}

# What every API route can answer besides its own success and domain errors.
COMMON_ERROR_STATUSES = (400, 403, 413, 422, 500)
UPSTREAM_ERROR_STATUSES = (429, 502, 503, 504)


def responses(*statuses: int, upstream: bool = False) -> dict[int, dict[str, Any]]:
    """The OpenAPI error responses for a route: the common ones, ``statuses``, and the upstream ones if it calls out."""
    wanted = set(COMMON_ERROR_STATUSES) | set(statuses) | (set(UPSTREAM_ERROR_STATUSES) if upstream else set())
    return {status: PROBLEM_RESPONSES[status] for status in sorted(wanted)}


class GatewayProblem(NamedTuple):
    """A problem API Gateway answers by itself, before any function runs (template.yaml ``GatewayResponses``)."""

    status: int
    code: str
    title: str
    retryable: bool

    @property
    def type(self) -> str:
        return PROBLEM_TYPE_BASE + self.code.replace("_", "-")


#: Every gateway response type the template answers with a problem document. The template cannot import this
#: table, so tests/unit/test_core_http.py compares the two.
GATEWAY_PROBLEMS: Final[Mapping[str, GatewayProblem]] = {
    "INVALID_API_KEY": GatewayProblem(403, "forbidden", "Forbidden", retryable=False),
    "ACCESS_DENIED": GatewayProblem(403, "forbidden", "Forbidden", retryable=False),
    "MISSING_AUTHENTICATION_TOKEN": GatewayProblem(
        403, "missing_authentication_token", "Missing Authentication Token", retryable=False
    ),
    "REQUEST_TOO_LARGE": GatewayProblem(413, "payload_too_large", "Request too large", retryable=False),
    "THROTTLED": GatewayProblem(429, "throttled", "Too many requests", retryable=True),
    "QUOTA_EXCEEDED": GatewayProblem(429, "quota_exceeded", "API key quota exceeded", retryable=True),
    "BAD_REQUEST_BODY": GatewayProblem(400, "bad_request", "Bad request", retryable=False),
    "INTEGRATION_FAILURE": GatewayProblem(502, "integration_failure", "Bad gateway", retryable=True),
    "INTEGRATION_TIMEOUT": GatewayProblem(504, "integration_timeout", "Gateway timeout", retryable=True),
}
