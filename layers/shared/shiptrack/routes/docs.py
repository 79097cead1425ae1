"""``GET /openapi.json`` and ``GET /docs``: the OpenAPI document of the whole API and Swagger UI (DocsFunction).

Both are public (template.yaml: ``Auth: {ApiKeyRequired: false}``). The document is built once per execution
environment from every router (``shiptrack.openapi``); its ``servers`` is the base path of the request, so
Swagger UI's "Try it out" calls the same stage or domain the page was loaded from.

The page shows its document's address as ``/docs?format=json`` (Powertools' Swagger UI template): that address
answers with the document itself, as ``/openapi.json`` does.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from shiptrack.errors import PROBLEM_RESPONSES

__all__ = ["router"]

router = APIGatewayRouter()  # type: ignore[no-untyped-call]

# Any query parameter a route does not take is a 400 (shiptrack.http), here as everywhere.
_UNKNOWN_QUERY: Any = PROBLEM_RESPONSES[400]


def _base_path() -> str:
    # API Gateway puts the stage in the path (/v1/openapi.json); a custom domain or the local stack do not.
    context = router.current_event.request_context
    stage = context.stage
    if stage and stage != "$default" and (context.path or "").startswith(f"/{stage}/"):
        return f"/{stage}"
    return ""


@cache
def _document_json(base_path: str) -> str:
    """The served document as JSON, built once per base path (a stage or a custom domain: a handful at most)."""
    from shiptrack.openapi import served_document  # imports every router: only this function pays for it

    return json.dumps(served_document(base_path))


@cache
def _swagger_page(base_path: str) -> str:
    """Swagger UI with the document and its ~1.7 MB of assets inlined, built once per base path."""
    import aws_lambda_powertools.event_handler.openapi.swagger_ui as swagger_ui_assets
    from aws_lambda_powertools.event_handler.openapi.swagger_ui.html import generate_swagger_html

    assets = Path(swagger_ui_assets.__file__).parent
    # </ must not close the inline <script>: the same escaping Powertools' enable_swagger() applies.
    spec = _document_json(base_path).replace("</", "<\\/")
    return generate_swagger_html(
        spec,
        (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
        (assets / "swagger-ui.min.css").read_text(encoding="utf-8"),
        "",
        None,
    )


@router.get(
    "/openapi.json",
    summary="OpenAPI document",
    description="The OpenAPI 3.1 document of the whole API (the committed copy is docs/openapi.json).",
    tags=["Docs"],
    operation_id="getOpenApiDocument",
    responses={
        200: {"description": "OpenAPI 3.1 document", "content": {"application/json": {"schema": {"type": "object"}}}},
        400: _UNKNOWN_QUERY,
    },
)
def openapi_document() -> Response[str]:
    return Response(status_code=200, content_type="application/json", body=_document_json(_base_path()))


@router.get(
    "/docs",
    summary="Swagger UI",
    description=(
        "An interactive page for the OpenAPI document. Works offline: Swagger UI is inlined. With `format=json`, the "
        "document itself (the address the page shows for it)."
    ),
    tags=["Docs"],
    operation_id="getSwaggerUi",
    responses={
        200: {
            "description": "Swagger UI page, or the OpenAPI 3.1 document with `format=json`",
            "content": {
                "text/html": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "object"}},
            },
        },
        400: _UNKNOWN_QUERY,
    },
    # Declared here, not as a validated argument: the page must answer whatever `format` it gets (a repeated or odd
    # one is the page), never a 422. Any other query parameter is a 400 (shiptrack.http), as on every route.
    openapi_extensions={
        "parameters": [
            {
                "name": "format",
                "in": "query",
                "required": False,
                "schema": {"type": "string"},
                "description": "`json`: the document",
            }
        ]
    },
)
def swagger_ui() -> Response[str]:
    if router.current_event.get_query_string_value("format") == "json":
        return openapi_document()
    return Response(status_code=200, content_type="text/html", body=_swagger_page(_base_path()))
