"""The HTTP edge shared by every API function: one resolver factory, one way to answer an error.

Every API function builds its resolver with :func:`build_resolver`, so validation, the 1 MB body limit,
problem+json errors (RFC 9457) and the OpenAPI metadata are the same everywhere. No stack trace, and no
500 for input the client controls, ever leaves this module.
"""

from __future__ import annotations

import base64
import binascii
import sysconfig
import traceback
from collections.abc import Callable, Mapping
from functools import cache
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from shiptrack.errors import (
    PROBLEM_CONTENT_TYPE,
    PayloadTooLargeError,
    Problem,
    ShiptrackError,
    ValidationFailedError,
    field_errors,
    problem_for,
)
from shiptrack.observability import logger

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["MAX_BODY_BYTES", "build_resolver", "json_response", "model_response", "problem_response"]

# Our own limit on request bodies (the bound; API Gateway's hard limit is 10 MB).
MAX_BODY_BYTES = 1024 * 1024

API_TITLE = "shiptrack"
API_VERSION = "1.0.0"
API_DESCRIPTION = (
    "Shipment tracking for storefront backends, on the TrackingMore API v2. Every route but the webhook "
    "and the docs needs the `x-api-key` header. Errors are `application/problem+json` (RFC 9457)."
)


def json_response(model: BaseModel, status_code: int = 200) -> Response[str]:
    """A pydantic model as a JSON API Gateway response."""
    return Response(status_code=status_code, content_type="application/json", body=model.model_dump_json())


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
    status = HTTPStatus(exc.status_code)
    code = status.phrase.lower().replace(" ", "_")
    detail = exc.msg if isinstance(exc.msg, str) else status.description
    return problem_response(Problem.build(status=status.value, code=code, title=status.phrase, detail=detail))


@cache
def _framework_roots() -> tuple[Path, ...]:
    import aws_lambda_powertools

    return (Path(aws_lambda_powertools.__file__).resolve().parent, Path(sysconfig.get_paths()["stdlib"]).resolve())


def _raised_by_request_parsing(exc: BaseException) -> bool:
    """True when only Powertools and the standard library are on the traceback (besides this module's resolve):
    the resolver failed reading the request before any application code ran."""
    here = Path(__file__).resolve()
    for frame in traceback.extract_tb(exc.__traceback__):
        path = Path(frame.filename).resolve()
        if path != here and not any(path.is_relative_to(root) for root in _framework_roots()):
            return False
    return True


def _on_unreadable_body(exc: ValueError) -> Response[str]:
    # Body decoding failures (multipart without a boundary …) surface as ValueError from the resolver before
    # any route runs: the client sent something we cannot read. A ValueError from our routes or services
    # (a pydantic ValidationError is one too) is our bug, not bad input: that stays a 500.
    if not _raised_by_request_parsing(exc):
        return _on_any_error(exc)
    logger.info("unreadable request", extra={"error": type(exc).__name__})
    problem = Problem.build(
        status=400, code="bad_request", title="Bad request", detail="The request body could not be read."
    )
    return problem_response(problem)


def _on_unsupported_media_type(exc: RequestUnsupportedContentType) -> Response[str]:
    # Powertools reads JSON, form and multipart bodies only and raises this (a NotImplementedError, so no other
    # handler here matches) for any other Content-Type: bad input (docs/design.md §3): never a 500.
    logger.info("unsupported content type", extra={"error": type(exc).__name__})
    problem = Problem.build(
        status=400,
        code="unsupported_media_type",
        title="Unsupported media type",
        detail="Send the request body as application/json.",
    )
    return problem_response(problem)


def _on_any_error(exc: Exception) -> Response[str]:
    problem, headers = problem_for(exc)
    if problem.status >= 500 and not isinstance(exc, ShiptrackError):
        logger.exception("request failed", extra={"problem_code": problem.code})
    return problem_response(problem, headers)


def _on_route_not_found(exc: Exception) -> Response[str]:
    return problem_response(
        Problem.build(status=404, code="route_not_found", title="Not found", detail="No such route.")
    )


# Most specific first is not needed: Powertools picks the handler of the nearest class in the exception's MRO.
_ERROR_HANDLERS: list[tuple[type[Exception], Callable[[Any], Response[str]]]] = [
    (RequestValidationError, _on_validation_error),
    (RequestUnsupportedContentType, _on_unsupported_media_type),
    (ServiceError, _on_service_error),
    (ValueError, _on_unreadable_body),
    (Exception, _on_any_error),
]


class ShiptrackResolver(APIGatewayRestResolver):
    """The REST resolver with the body limit applied before anything parses the body.

    Powertools runs request validation ahead of global middlewares, so a size check there would come too late.
    """

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        if _body_size(event.get("body"), bool(event.get("isBase64Encoded"))) > MAX_BODY_BYTES:
            error = PayloadTooLargeError(f"The request body is larger than {MAX_BODY_BYTES} bytes.")
            response = problem_response(error.to_problem())
            return {
                "statusCode": response.status_code,
                "multiValueHeaders": {"Content-Type": [PROBLEM_CONTENT_TYPE]},
                "body": response.body,
                "isBase64Encoded": False,
            }
        resolved: dict[str, Any] = super().resolve(event, context)
        return resolved


def build_resolver(*routers: Router, configure: Callable[[APIGatewayRestResolver], None] | None = None) -> Any:
    """A REST API resolver with validation, the body limit and problem+json errors, serving ``routers``."""
    app = ShiptrackResolver(enable_validation=True)
    for exc_class, handler in _ERROR_HANDLERS:
        app.exception_handler(exc_class)(handler)
    app.not_found(_on_route_not_found)
    for router in routers:
        app.include_router(router)
    if configure is not None:
        configure(app)
    return app
