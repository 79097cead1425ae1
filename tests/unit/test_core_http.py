"""The HTTP edge: every failure becomes problem+json with the right status, and nothing leaks."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import BaseModel, Field

import trackingmore
from shiptrack.errors import (
    GATEWAY_PROBLEMS,
    PROBLEM_CONTENT_TYPE,
    RequestInProgressError,
    TrackingNotFoundError,
    UpstreamRateLimitedError,
)
from shiptrack.http import MAX_BODY_BYTES, build_resolver
from tests.template_yaml import template

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
        "tm-timeout": trackingmore.TimeoutError("TrackingMore did not answer within 20 s"),
        "deadline": trackingmore.DeadlineExceededError("no time left to call TrackingMore", request_sent=False),
        "held-back": trackingmore.RateLimitError("no slot in time", retry_after=0.4, code=None),
        "in-progress": RequestInProgressError("Tracking ups/1Z is being created by another request."),
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
        ("tm-5xx", 503, "upstream_unavailable", "5"),
        ("tm-timeout", 504, "upstream_timeout", "5"),
        ("deadline", 504, "deadline_exceeded", "5"),
        ("held-back", 429, "upstream_rate_limited", "1"),
        ("in-progress", 409, "request_in_progress", "1"),
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


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        ("not base64 at all!", {"content-type": "application/json"}),  # binascii.Error
        (base64.b64encode(b"\xff\xfe{").decode(), {"content-type": "application/json"}),  # UnicodeDecodeError
    ],
    ids=["bad-base64", "not-utf8"],
)
def test_a_body_the_framework_cannot_decode_is_a_400(body: str, headers: dict[str, str]) -> None:
    event = {**_event("POST", "/echo", body, headers), "isBase64Encoded": True}

    response = app.resolve(event, None)

    assert response["statusCode"] == 400
    problem = _problem(response)
    assert (problem["code"], problem["detail"]) == ("bad_request", "The request body could not be read.")


def test_framework_problems_come_from_the_error_map() -> None:
    # The four problems the resolver answers by itself, each through shiptrack.errors.
    unsupported = _problem(_call("POST", "/echo", "name=ann", headers={"content-type": "text/plain"}))
    missing = _problem(_call("GET", "/nope"))

    assert (unsupported["code"], unsupported["title"]) == ("unsupported_media_type", "Unsupported media type")
    assert unsupported["type"] == "https://shiptrack.dev/problems/unsupported-media-type"
    assert (missing["code"], missing["title"], missing["type"]) == (
        "route_not_found",
        "Not found",
        "https://shiptrack.dev/problems/route-not-found",
    )


def test_the_gateway_responses_of_the_template_are_the_error_maps() -> None:
    api = next(resource for resource in template()["Resources"].values() if resource["Type"] == "AWS::Serverless::Api")
    answered = {}
    for kind, response in api["Properties"]["GatewayResponses"].items():
        assert response["ResponseParameters"]["Headers"]["Content-Type"] == f"'{PROBLEM_CONTENT_TYPE}'", kind
        body = (response.get("ResponseTemplates") or {}).get("application/json")
        if body is not None:  # DEFAULT_4XX / DEFAULT_5XX only set the content type
            answered[kind] = json.loads(body.replace("$context.error.messageString", '"detail"'))

    assert set(answered) == set(GATEWAY_PROBLEMS)
    for kind, problem in answered.items():
        expected = GATEWAY_PROBLEMS[kind]
        assert problem == {
            "type": expected.type,
            "title": expected.title,
            "status": expected.status,
            "detail": "detail",
            "code": expected.code,
            "errors": [],
            "retryable": expected.retryable,
        }, kind


def test_errors_the_client_raised_itself_read_as_its_own_words() -> None:
    body = _problem(_call("GET", "/boom/deadline"))

    assert body["detail"] == "no time left to call TrackingMore"
    assert body["retryable"] is True
