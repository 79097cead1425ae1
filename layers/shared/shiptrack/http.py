"""The HTTP edge shared by every API function: one resolver factory, one way to answer an error.

Every API function builds its resolver with :func:`build_resolver`, so validation, the 1 MB body limit,
problem+json errors (RFC 9457) and the OpenAPI metadata are the same everywhere. No stack trace, and no
500 for input the client controls, ever leaves this module.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.router import Router
from pydantic import ValidationError as PydanticValidationError

from shiptrack.errors import (
    PROBLEM_CONTENT_TYPE,
    FieldError,
    PayloadTooLargeError,
    Problem,
    ShiptrackError,
    ValidationFailedError,
    problem_for,
)
from shiptrack.observability import logger

__all__ = ["MAX_BODY_BYTES", "build_resolver", "problem_response"]

# Our own limit on request bodies (the bound; API Gateway's hard limit is 10 MB).
MAX_BODY_BYTES = 1024 * 1024

API_TITLE = "shiptrack"
API_VERSION = "1.0.0"
API_DESCRIPTION = (
    "Shipment tracking for storefront backends, on the TrackingMore API v2. Every route but the webhook "
    "and the docs needs the `x-api-key` header. Errors are `application/problem+json` (RFC 9457)."
)


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> Response[str]:
    """A problem document as an API Gateway response."""
    return Response(
        status_code=problem.status,
        content_type=PROBLEM_CONTENT_TYPE,
        body=problem.model_dump_json(exclude_none=True),
        headers=headers or {},
    )


def _field_errors(exc: RequestValidationError) -> list[FieldError]:
    errors = []
    for error in exc.errors():
        loc = [part if isinstance(part, int) else str(part) for part in error.get("loc", ())]
        errors.append(FieldError(loc=loc, msg=str(error.get("msg", "invalid value")), type=str(error.get("type"))))
    return errors


def _body_size(event_body: str | None, is_base64: bool) -> int:
    if not event_body:
        return 0
    if is_base64:
        try:
            return len(base64.b64decode(event_body, validate=False))
        except (binascii.Error, ValueError):
            return len(event_body)
    return len(event_body.encode())


def _limit_body_size(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
    event = app.current_event
    if _body_size(event.body, event.is_base64_encoded) > MAX_BODY_BYTES:
        raise PayloadTooLargeError(f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    return next_middleware(app)


def _register_error_handlers(app: APIGatewayRestResolver) -> None:
    @app.exception_handler(RequestValidationError)
    def _validation(exc: RequestValidationError) -> Response[str]:
        error = ValidationFailedError("The request is not valid; see errors.", errors=_field_errors(exc))
        return problem_response(error.to_problem())

    @app.exception_handler(ServiceError)
    def _service(exc: ServiceError) -> Response[str]:
        status = HTTPStatus(exc.status_code)
        code = status.phrase.lower().replace(" ", "_")
        problem = Problem.build(status=status.value, code=code, title=status.phrase, detail=exc.msg)
        return problem_response(problem)

    @app.exception_handler(ValueError)
    def _unparseable(exc: ValueError) -> Response[str]:
        # Body decoding failures (bad JSON, multipart without a boundary …) surface as ValueError from the
        # resolver before any route runs: the client sent something we cannot read. A pydantic
        # ValidationError is also a ValueError, but one raised inside our code is our bug, not bad input.
        if isinstance(exc, PydanticValidationError):
            return _any(exc)
        logger.info("unreadable request", extra={"error": type(exc).__name__})
        problem = Problem.build(
            status=400, code="bad_request", title="Bad request", detail="The request body could not be read."
        )
        return problem_response(problem)

    @app.exception_handler(Exception)
    def _any(exc: Exception) -> Response[str]:
        problem, headers = problem_for(exc)
        if problem.status >= 500 and not isinstance(exc, ShiptrackError):
            logger.exception("request failed", extra={"problem_code": problem.code})
        return problem_response(problem, headers)

    @app.not_found
    def _not_found(exc: Exception) -> Response[str]:
        problem = Problem.build(status=404, code="route_not_found", title="Not found", detail="No such route.")
        return problem_response(problem)


def build_resolver(*routers: Router, configure: Callable[[APIGatewayRestResolver], None] | None = None) -> Any:
    """A REST API resolver with validation, the body limit and problem+json errors, serving ``routers``."""
    app = APIGatewayRestResolver(enable_validation=True)
    app.use([_limit_body_size])
    _register_error_handlers(app)
    for router in routers:
        app.include_router(router)
    if configure is not None:
        configure(app)
    return app
