"""DocsFunction: the address Swagger UI shows for its document (``/docs?format=json``) answers with the document."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.lambda_context import LambdaContext

pytestmark = pytest.mark.unit

DOCS_EVENTS = Path(__file__).resolve().parents[2] / "events" / "docs"


def invoke(event_name: str) -> dict[str, Any]:
    app = importlib.import_module("functions.docs.app")
    event = json.loads((DOCS_EVENTS / f"{event_name}.json").read_text())
    response: dict[str, Any] = app.lambda_handler(event, LambdaContext("DocsFunction"))
    headers = {name: values[-1] for name, values in (response.get("multiValueHeaders") or {}).items()}
    return {**response, "headers": {**headers, **(response.get("headers") or {})}}


def test_the_document_link_of_the_swagger_page_answers_with_the_document() -> None:
    page = invoke("swagger_ui")
    linked = invoke("swagger_ui_format_json")
    document = invoke("openapi_json")

    assert 'updateUrl(currentUrl.pathname + "?format=json")' in page["body"]  # the address the page shows
    assert linked["statusCode"] == 200
    assert linked["headers"]["Content-Type"] == "application/json"
    assert json.loads(linked["body"]) == json.loads(document["body"])
    assert json.loads(linked["body"])["servers"] == [{"url": "/v1", "description": "This API"}]


def test_the_swagger_page_is_still_the_page_without_the_parameter() -> None:
    page = invoke("swagger_ui")

    assert (page["statusCode"], page["headers"]["Content-Type"]) == (200, "text/html")
    assert "SwaggerUIBundle" in page["body"]


def test_an_unknown_query_parameter_on_the_docs_routes_is_a_400_naming_it() -> None:
    app = importlib.import_module("functions.docs.app")
    for name in ("swagger_ui", "openapi_json"):
        event = json.loads((DOCS_EVENTS / f"{name}.json").read_text())
        event["queryStringParameters"] = {"format": "json", "debug": "1"}
        event["multiValueQueryStringParameters"] = {"format": ["json"], "debug": ["1"]}

        response = app.lambda_handler(event, LambdaContext("DocsFunction"))
        problem = json.loads(response["body"])

        assert (response["statusCode"], problem["code"]) == (400, "unknown_query_parameter"), name
        assert "debug" in problem["detail"]
