"""The HTTP edge: every failure becomes problem+json with the right status, and nothing leaks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import BaseModel, Field

import trackingmore
from shiptrack.errors import PROBLEM_CONTENT_TYPE, TrackingNotFoundError, UpstreamRateLimitedError
from shiptrack.http import MAX_BODY_BYTES, build_resolver

pytestmark = pytest.mark.unit

router = Router()  # type: ignore[no-untyped-call]


class Echo(BaseModel):
    name: str = Field(min_length=1, max_length=10)


@router.post("/echo")
def echo(body: Echo) -> dict[str, str]:
    return {"name": body.name}


@router.get("/boom/<kind>")
def boom(kind: str) -> dict[str, str]:
    failures: dict[str, Exception] = {
        "missing": TrackingNotFoundError("No tracking ups/1Z."),
        "limited": UpstreamRateLimitedError("Slow down.", retry_after=42),
        "tm-429": trackingmore.RateLimitError(code=429, type="Too Many Requests", message="wait", retry_after=None),
        "tm-auth": trackingmore.AuthenticationError(code=4001, type="Unauthorized", message="Invalid API key"),
        "tm-5xx": trackingmore.ServerError(code=503, type="Service Unavailable", message="maintenance"),
        "bug": KeyError("secret internals"),
        "value-bug": ValueError("our own bug"),
    }
    raise failures[kind]


app = build_resolver(router)


def _event(method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
    headers = {"content-type": "application/json", **(headers or {})}
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"stage": "v1", "path": f"/v1{path}", "requestId": "r-1", "httpMethod": method},
        "body": body,
        "isBase64Encoded": False,
    }


def _call(method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return app.resolve(_event(method, path, body, headers), None)  # type: ignore[no-any-return]


def _problem(response: dict[str, Any]) -> dict[str, Any]:
    content_type = response["multiValueHeaders"].get("Content-Type", [None])[0]
    assert content_type == PROBLEM_CONTENT_TYPE
    body: dict[str, Any] = json.loads(response["body"])
    assert {"type", "title", "status", "detail", "code"} <= body.keys()
    assert body["status"] == response["statusCode"]
    return body


def test_valid_request_passes_through() -> None:
    response = _call("POST", "/echo", json.dumps({"name": "ann"}))

    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"name": "ann"}


def test_validation_errors_name_the_field_with_a_message() -> None:
    response = _call("POST", "/echo", json.dumps({"name": "x" * 11}))

    body = _problem(response)
    assert response["statusCode"] == 422
    assert body["code"] == "validation_failed"
    assert body["errors"][0]["loc"] == ["body", "name"]
    assert body["errors"][0]["msg"]
    assert body["errors"][0]["type"] == "string_too_long"


def test_malformed_json_is_a_client_error() -> None:
    response = _call("POST", "/echo", '{"name": ')

    assert response["statusCode"] in (400, 422)
    _problem(response)


def test_multipart_without_boundary_is_a_400_not_a_crash() -> None:
    response = _call("POST", "/echo", "--x\r\n", headers={"content-type": "multipart/form-data"})

    assert response["statusCode"] in (400, 422)
    _problem(response)


def test_body_over_one_megabyte_is_413() -> None:
    response = _call("POST", "/echo", json.dumps({"name": "a" * MAX_BODY_BYTES}))

    body = _problem(response)
    assert response["statusCode"] == 413
    assert body["code"] == "payload_too_large"


@pytest.mark.parametrize(
    ("kind", "status", "code", "retry_after"),
    [
        ("missing", 404, "tracking_not_found", None),
        ("limited", 429, "upstream_rate_limited", "42"),
        ("tm-429", 429, "upstream_rate_limited", "120"),
        ("tm-auth", 502, "upstream_auth_failed", None),
        ("tm-5xx", 503, "upstream_unavailable", None),
        ("bug", 500, "internal_error", None),
        ("value-bug", 500, "internal_error", None),
    ],
)
def test_errors_map_to_status_code_and_retry_after(kind: str, status: int, code: str, retry_after: str | None) -> None:
    response = _call("GET", f"/boom/{kind}")

    body = _problem(response)
    assert response["statusCode"] == status
    assert body["code"] == code
    assert response["multiValueHeaders"].get("Retry-After", [None])[0] == retry_after


def test_unexpected_errors_reveal_nothing() -> None:
    response = _call("GET", "/boom/bug")

    assert "secret internals" not in response["body"]
    assert "Traceback" not in response["body"]


def test_upstream_auth_failure_never_echoes_the_key() -> None:
    response = _call("GET", "/boom/tm-auth")

    assert _problem(response)["retryable"] is False


def test_unknown_route_is_a_problem_404() -> None:
    response = _call("GET", "/nope")

    assert response["statusCode"] == 404
    assert _problem(response)["code"] == "route_not_found"
