"""The OpenAPI document: committed == generated, every router in it, template routes == operations, API keys.

When a route changes, regenerate both committed files:

    make openapi
    PYTHONPATH=layers/shared:. .venv/bin/python -m shiptrack.openapi --markdown > docs/api.md
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from pathlib import Path
from typing import Any

import pytest

import shiptrack.routes
from local.template import DEFAULT_TEMPLATE, load_template
from shiptrack.openapi import ROUTER_MODULES, build_document, document_json, is_public, render_markdown
from tests.lambda_context import LambdaContext

pytestmark = pytest.mark.contract

ROOT = Path(__file__).resolve().parents[2]
COMMITTED_JSON = ROOT / "docs" / "openapi.json"
COMMITTED_MARKDOWN = ROOT / "docs" / "api.md"
DOCS_EVENTS = ROOT / "events" / "docs"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
REGENERATE = (
    "run `make openapi` and "
    "`PYTHONPATH=layers/shared:. .venv/bin/python -m shiptrack.openapi --markdown > docs/api.md`, then commit both"
)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_document()


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (path, method.upper()): item[method]
        for path, item in document["paths"].items()
        for method in METHODS
        if method in item
    }


def requires_api_key(document: dict[str, Any], operation: dict[str, Any]) -> bool:
    security = operation.get("security", document.get("security") or [])
    return any("ApiKeyAuth" in requirement for requirement in security)


def test_the_committed_document_is_the_generated_one(document: dict[str, Any]) -> None:
    assert COMMITTED_JSON.exists(), f"docs/openapi.json is missing: {REGENERATE}"
    committed = COMMITTED_JSON.read_text(encoding="utf-8")

    assert committed == document_json(document), f"docs/openapi.json is stale: {REGENERATE}"


def test_the_committed_markdown_is_generated_from_the_document(document: dict[str, Any]) -> None:
    assert COMMITTED_MARKDOWN.exists(), f"docs/api.md is missing: {REGENERATE}"

    assert COMMITTED_MARKDOWN.read_text(encoding="utf-8") == render_markdown(document), (
        f"docs/api.md is stale: {REGENERATE}"
    )


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    from openapi_spec_validator import validate

    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_router_module_is_in_the_document_list() -> None:
    modules = {
        f"shiptrack.routes.{info.name}"
        for info in pkgutil.iter_modules(shiptrack.routes.__path__)
        if not info.name.startswith("_")  # what several routers declare alike, not a router
    }

    missing = modules - set(ROUTER_MODULES)
    assert not missing, f"add {sorted(missing)} to shiptrack.openapi.ROUTER_MODULES"
    for name in modules:
        assert hasattr(importlib.import_module(name), "router"), f"{name} must export `router`"


def test_every_template_api_event_has_an_operation_and_vice_versa(document: dict[str, Any]) -> None:
    routes = {(route.path, route.method) for route in load_template(DEFAULT_TEMPLATE).routes}
    documented = set(operations(document))

    assert routes - documented == set(), "template routes with no operation (is the router in ROUTER_MODULES?)"
    assert documented - routes == set(), "operations no template Api event routes to"


def test_only_the_webhook_and_the_docs_go_without_an_api_key(document: dict[str, Any]) -> None:
    for (path, method), operation in operations(document).items():
        assert requires_api_key(document, operation) != is_public(path), f"{method} {path}"
    assert document["components"]["securitySchemes"]["ApiKeyAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
        "description": document["components"]["securitySchemes"]["ApiKeyAuth"]["description"],
    }


def test_the_template_and_the_document_agree_on_api_keys(document: dict[str, Any]) -> None:
    ops = operations(document)
    for route in load_template(DEFAULT_TEMPLATE).routes:
        operation = ops.get((route.path, route.method))
        if operation is not None:
            assert requires_api_key(document, operation) == route.api_key_required, f"{route.method} {route.path}"


def test_error_responses_are_problem_documents(document: dict[str, Any]) -> None:
    for (path, method), operation in operations(document).items():
        if is_public(path):
            continue
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert "application/problem+json" in response.get("content", {}), f"{method} {path} {status}"


# -- DocsFunction, with its events ------------------------------------------------------------------------------


def invoke_docs(event_name: str) -> dict[str, Any]:
    app = importlib.import_module("functions.docs.app")
    event = json.loads((DOCS_EVENTS / f"{event_name}.json").read_text())
    response: dict[str, Any] = app.lambda_handler(event, LambdaContext("DocsFunction"))
    response["headers"] = {
        **{name: values[-1] for name, values in (response.get("multiValueHeaders") or {}).items()},
        **(response.get("headers") or {}),
    }
    return response


def test_the_served_document_is_the_committed_one_with_the_callers_base_path(document: dict[str, Any]) -> None:
    response = invoke_docs("openapi_json")

    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "application/json"
    served = json.loads(response["body"])
    assert served["servers"] == [{"url": "/v1", "description": "This API"}]  # the event came in on stage v1
    assert {**served, "servers": document["servers"]} == document


def test_swagger_ui_is_served_with_the_document_inlined() -> None:
    response = invoke_docs("swagger_ui")

    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "text/html"
    assert "SwaggerUIBundle" in response["body"]
    assert '"/aircargo"' in response["body"]
