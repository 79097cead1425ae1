"""The HTTP edge shared by every API function: one resolver factory, one way to answer an error.

Every API function builds its resolver with :func:`build_resolver`, so validation, the 1 MB body limit,
problem+json errors (RFC 9457), the request's deadline (:meth:`shiptrack.deadline.Deadline.for_api`, bound for the
whole request: every TrackingMore client the routes get is bound to it) and the OpenAPI metadata are the same
everywhere. No stack trace, and no
500 for input the client controls, ever leaves this module. Every problem comes from the error map
(:mod:`shiptrack.errors`); this module only decides which error a framework failure is.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Header
from aws_lambda_powertools.logging import correlation_paths

import trackingmore
from shiptrack.deadline import Deadline, bound
from shiptrack.errors import (
    PROBLEM_CONTENT_TYPE,
    FieldError,
    HttpStatusError,
    PayloadTooLargeError,
    Problem,
    RouteNotFoundError,
    ShiptrackError,
    UnknownQueryParameterError,
    UnreadableBodyError,
    UnsupportedMediaTypeError,
    ValidationFailedError,
    field_errors,
    printable,
    problem_for,
)
from shiptrack.errors import responses as error_responses
from shiptrack.jsonbody import loads_bounded
from shiptrack.observability import logger, metrics, trace_handler

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from pydantic import BaseModel

__all__ = [
    "MAX_BODY_BYTES",
    "IdempotencyKeyHeader",
    "LambdaHandler",
    "api_handler",
    "build_resolver",
    "json_response",
    "model_response",
    "problem_response",
    "route_responses",
]

# Our own limit on request bodies (the bound; API Gateway's hard limit is 10 MB). A function whose routes
# take more (bulk imports) builds its resolver with its own limit.
MAX_BODY_BYTES = 1024 * 1024

#: The ``Idempotency-Key`` header of the keyed POST routes (``shiptrack.idempotency``).
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Any client-chosen key (printable ASCII): a repeat with the same body replays the first answer",
    ),
]

#: What Lambda calls: an API Gateway proxy event and the context in, the proxy response out.
LambdaHandler = Callable[[dict[str, Any], "LambdaContext"], dict[str, Any]]

API_TITLE = "shiptrack"
API_VERSION = "1.0.0"
#: Set in the routing context once Powertools has read and validated the request, before any route runs.
REQUEST_READ = "shiptrack_request_read"

API_DESCRIPTION = (
    "Shipment tracking for storefront backends, on the TrackingMore API v2. Every route but the webhook "
    "and the docs needs the `x-api-key` header. Errors are `application/problem+json` (RFC 9457)."
)


def json_response(model: BaseModel, status_code: int = 200) -> Response[str]:
    """A pydantic model as a JSON API Gateway response."""
    return Response(status_code=status_code, content_type="application/json", body=model.model_dump_json())


def route_responses(success: Mapping[int, Any], *statuses: int, upstream: bool = False) -> dict[int, Any]:
    """A route's OpenAPI responses: ``success``, then the problems it answers (:func:`shiptrack.errors.responses`)."""
    return {**success, **error_responses(*statuses, upstream=upstream)}


def model_response(description: str, model: type[BaseModel]) -> dict[str, Any]:
    """An OpenAPI success response whose JSON body is ``model``."""
    return {"description": description, "content": {"application/json": {"model": model}}}


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> Response[str]:
    """A problem document as an API Gateway response."""
    return Response(
        status_code=problem.status,
        content_type=PROBLEM_CONTENT_TYPE,
        body=problem.model_dump_json(exclude_none=True),
        headers=headers or {},
    )


def _body_size(event_body: str | None, is_base64: bool) -> int:
    if not event_body:
        return 0
    if is_base64:
        try:
            return len(base64.b64decode(event_body, validate=False))
        except (binascii.Error, ValueError):
            return len(event_body)
    return len(event_body.encode())


def _on_validation_error(exc: RequestValidationError) -> Response[str]:
    error = ValidationFailedError("The request is not valid; see errors.", errors=field_errors(exc.errors()))
    return problem_response(error.to_problem())


def _on_service_error(exc: ServiceError) -> Response[str]:
    return _on_any_error(HttpStatusError(exc.status_code, exc.msg if isinstance(exc.msg, str) else None))


def _on_unsupported_media_type(exc: RequestUnsupportedContentType) -> Response[str]:
    # Powertools reads JSON, form and multipart bodies only and raises this (a NotImplementedError, so no other
    # handler here matches) for any other Content-Type: bad input (docs/design.md §3): never a 500.
    logger.info("unsupported content type", extra={"error": type(exc).__name__})
    return _on_any_error(UnsupportedMediaTypeError("Send the request body as application/json."))


def _on_any_error(exc: Exception) -> Response[str]:
    problem, headers = problem_for(exc)
    if isinstance(exc, trackingmore.TrackingMoreError):
        # The caller's detail says what failed in its terms; what an operator needs (the client's own text, the
        # route) goes to the log, which carries the request id (Logger.inject_lambda_context). TrackingMore slow,
        # failing or refusing is a warning, not a bug of ours; our credentials or quota refused is an error.
        detail = {
            "problem_code": problem.code,
            "error": type(exc).__name__,
            "endpoint": exc.endpoint,
            "debug_detail": exc.debug_detail,
        }
        if problem.retryable or problem.status < 500:
            logger.warning("upstream failed", extra=detail)
        else:
            logger.error("upstream failed", extra=detail)
    elif problem.status >= 500 and not isinstance(exc, ShiptrackError):
        logger.exception("request failed", extra={"problem_code": problem.code})
    return problem_response(problem, headers)


def _on_route_not_found(exc: Exception) -> Response[str]:
    return _on_any_error(RouteNotFoundError("No such route."))


def _on_value_error(app: APIGatewayRestResolver) -> Callable[[ValueError], Response[str]]:
    """The handler for ``ValueError``: whose fault it is depends on when it was raised.

    Powertools raises these while it reads a request body, before any route runs: a plain ``ValueError`` for a
    multipart body without a boundary, ``binascii.Error`` for bad base64, ``UnicodeDecodeError`` /
    ``UnicodeEncodeError`` for bytes that are not the text they claim (all ``ValueError`` s). The client sent
    something we cannot read: 400. Once the request is read (:data:`REQUEST_READ`, set by
    :func:`_mark_request_read`), a ``ValueError`` — a pydantic ``ValidationError`` is one too — is our bug: 500.
    """

    def on_value_error(exc: ValueError) -> Response[str]:
        if app.context.get(REQUEST_READ):
            return _on_any_error(exc)
        logger.info("unreadable request", extra={"error": type(exc).__name__})
        return _on_any_error(UnreadableBodyError("The request body could not be read."))

    return on_value_error


def _mark_request_read(app: APIGatewayRestResolver, next_middleware: Callable[..., Response[Any]]) -> Response[Any]:
    # A global middleware: Powertools runs it after request validation (the body is read) and before the route.
    app.context[REQUEST_READ] = True
    return next_middleware(app)


def _declared_query_parameters(route: Any) -> frozenset[str]:
    """The query parameters a route takes: its validated arguments and any it documents by hand (``/docs``)."""
    names = {param.alias or param.name for param in route.dependant.query_params}
    extra = (getattr(route, "openapi_extensions", None) or {}).get("parameters", [])
    names.update(param["name"] for param in extra if param.get("in") == "query")
    return frozenset(names)


def _refuse_unknown_query(app: APIGatewayRestResolver, next_middleware: Callable[..., Response[Any]]) -> Response[Any]:
    # A misspelt filter (?stauts=transit) silently ignored answers a different question than the caller asked.
    given = {
        *(app.current_event.query_string_parameters or {}),
        *(app.current_event.multi_value_query_string_parameters or {}),
    }
    unknown = sorted(given - _declared_query_parameters(app.context["_route"]))
    if unknown:
        shown = [printable(name) for name in unknown]
        errors = [
            FieldError(loc=["query", name], msg="unknown query parameter", type="unknown_parameter") for name in shown
        ]
        raise UnknownQueryParameterError(f"Unknown query parameter: {', '.join(shown)}.", errors=errors)
    return next_middleware(app)


# Most specific first is not needed: Powertools picks the handler of the nearest class in the exception's MRO.
_ERROR_HANDLERS: list[tuple[type[Exception], Callable[[Any], Response[str]]]] = [
    (RequestValidationError, _on_validation_error),
    (RequestUnsupportedContentType, _on_unsupported_media_type),
    (ServiceError, _on_service_error),
    (Exception, _on_any_error),
]


class ShiptrackResolver(APIGatewayRestResolver):
    """The REST resolver with the body limit applied before anything parses the body, and the request's deadline
    bound around everything a route does.

    Powertools runs request validation ahead of global middlewares, so a size check there would come too late.
    """

    max_body_bytes = MAX_BODY_BYTES

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        with bound(Deadline.for_api(event, context)):
            return self._resolve_within_limits(event, context)

    def _resolve_within_limits(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        if _body_size(event.get("body"), bool(event.get("isBase64Encoded"))) > self.max_body_bytes:
            error = PayloadTooLargeError(f"The request body is larger than {self.max_body_bytes} bytes.")
            response = problem_response(error.to_problem())
            return {
                "statusCode": response.status_code,
                "multiValueHeaders": {"Content-Type": [PROBLEM_CONTENT_TYPE]},
                "body": response.body,
                "isBase64Encoded": False,
            }
        resolved: dict[str, Any] = super().resolve(event, context)
        return resolved


def build_resolver(
    *routers: Router,
    configure: Callable[[APIGatewayRestResolver], None] | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> Any:
    """A REST API resolver with validation, the body limit and problem+json errors, serving ``routers``."""
    # Every JSON body Powertools reads goes through the bounded reader: a body it refuses is a 400 invalid_json.
    app = ShiptrackResolver(enable_validation=True, json_body_deserializer=loads_bounded)
    app.max_body_bytes = max_body_bytes
    for exc_class, handler in _ERROR_HANDLERS:
        app.exception_handler(exc_class)(handler)
    app.exception_handler(ValueError)(_on_value_error(app))
    app.use([_mark_request_read, _refuse_unknown_query])
    app.not_found(_on_route_not_found)
    for router in routers:
        app.include_router(router)
    if configure is not None:
        configure(app)
    return app


def api_handler(app: Any, *, emit_metrics: bool = True) -> LambdaHandler:
    """The Lambda handler of an API function whose resolver is ``app`` (from :func:`build_resolver`): the request's
    correlation id and Lambda context in every log line, the invocation's metrics flushed (unless ``emit_metrics`` is
    false: a function that emits none), the invocation traced when tracing is on."""

    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        response: dict[str, Any] = app.resolve(event, context)
        return response

    handler: LambdaHandler = trace_handler(lambda_handler)
    if emit_metrics:
        handler = metrics.log_metrics(handler)
    with_context: LambdaHandler = logger.inject_lambda_context(
        handler, correlation_id_path=correlation_paths.API_GATEWAY_REST
    )
    return with_context
