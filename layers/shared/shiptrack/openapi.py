"""The OpenAPI 3.1 document of the whole API, built from every router in ``shiptrack.routes``.

Each API function serves only its own routers, so no single resolver knows every route; this module builds a
schema-only resolver with all of them. The document is

- served at ``GET /openapi.json`` (with Swagger UI at ``GET /docs``) by DocsFunction, with ``servers`` set to the
  base path the request came in on, so "Try it out" works on any stage or domain;
- committed as ``docs/openapi.json`` (``make openapi``) and rendered to ``docs/api.md``
  (``python -m shiptrack.openapi --markdown``); tests/contract/test_openapi.py fails when either is stale.

Every operation requires the ``x-api-key`` header (API Gateway checks it) except the TrackingMore webhook, which
authenticates itself, and the docs.

Usage: ``python -m shiptrack.openapi`` prints the JSON document; ``--markdown`` prints docs/api.md.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import sys
from functools import cache
from typing import Any, Final

from aws_lambda_powertools.event_handler.api_gateway import Router

from shiptrack.http import API_DESCRIPTION, API_TITLE, API_VERSION, build_resolver

__all__ = [
    "API_KEY_HEADER",
    "PUBLIC_PATHS",
    "ROUTER_MODULES",
    "SECURITY_SCHEME",
    "build_document",
    "document_json",
    "is_public",
    "render_markdown",
    "routers",
]

#: Every router module of the API. tests/contract/test_openapi.py fails when a module in ``shiptrack/routes/``
#: is missing here, and when a template route has no operation.
ROUTER_MODULES: Final = (
    "shiptrack.routes.trackings",
    "shiptrack.routes.imports",
    "shiptrack.routes.realtime",
    "shiptrack.routes.aircargo",
    "shiptrack.routes.remote_checks",
    "shiptrack.routes.webhooks",
    "shiptrack.routes.webhook_endpoints",
    "shiptrack.routes.docs",
)

SECURITY_SCHEME: Final = "ApiKeyAuth"
API_KEY_HEADER: Final = "x-api-key"
#: Paths API Gateway serves without an API key (template.yaml: ``Auth: {ApiKeyRequired: false}``).
PUBLIC_PATHS: Final = ("/openapi.json", "/docs")
PUBLIC_PATH_PREFIXES: Final = ("/webhooks/",)

# The committed document's servers. The served one replaces them with the request's own base path.
DEFAULT_SERVERS: Final[list[dict[str, Any]]] = [
    {
        "url": "https://{restApiId}.execute-api.{region}.amazonaws.com/{stage}",
        "description": "AWS (the ApiUrl output of the stack)",
        "variables": {
            "restApiId": {"default": "your-api-id", "description": "API Gateway REST API id"},
            "region": {"default": "us-east-1"},
            "stage": {"default": "v1"},
        },
    },
    {"url": "http://127.0.0.1:3000", "description": "Local stack (`make dev`)"},
]

TAGS: Final[list[dict[str, str]]] = [
    {"name": "Trackings", "description": "Register parcels and read their status"},
    {"name": "Imports", "description": "Bulk imports: many parcels at once, in the background, with progress"},
    {"name": "Lookups", "description": "Air waybills, remote areas and transit times (cached, cost quota upstream)"},
    {"name": "Webhooks", "description": "TrackingMore push receiver (no API key: token and signature instead)"},
    {
        "name": "Webhook endpoints",
        "description": "Storefront webhooks: every change POSTed to your endpoints, signed per Standard Webhooks",
    },
    {"name": "Docs", "description": "This document and Swagger UI (no API key)"},
]

_METHODS: Final = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def is_public(path: str) -> bool:
    """Whether API Gateway serves ``path`` without an API key."""
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PATH_PREFIXES)


def routers() -> list[Router]:
    """The ``router`` of every module in :data:`ROUTER_MODULES`, in that order."""
    return [importlib.import_module(name).router for name in ROUTER_MODULES]


def build_document(*, servers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route, as a JSON-ready dict."""
    from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, Server

    app = build_resolver(*routers())
    schema = app.get_openapi_schema(
        title=API_TITLE,
        version=API_VERSION,
        description=API_DESCRIPTION,
        servers=[Server.model_validate(server) for server in servers or DEFAULT_SERVERS],
        security_schemes={
            SECURITY_SCHEME: APIKey.model_validate(
                {
                    "type": "apiKey",
                    "in": APIKeyIn.header,
                    "name": API_KEY_HEADER,
                    "description": "The API key of your usage plan (local stack: `local-dev-key`)",
                }
            )
        },
        security=[{SECURITY_SCHEME: []}],
    )
    document: dict[str, Any] = schema.model_dump(mode="json", by_alias=True, exclude_none=True)
    _add_request_bodies(document)
    used = {tag for item in document.get("paths", {}).values() for op in item.values() for tag in op.get("tags", [])}
    if used:
        # Descriptions for the tags the routers use, in TAGS order; a tag TAGS does not know is listed bare.
        document["tags"] = [tag for tag in TAGS if tag["name"] in used] + [
            {"name": name} for name in sorted(used - {tag["name"] for tag in TAGS})
        ]
    for path, item in document.get("paths", {}).items():
        for method in _METHODS:
            if method not in item:
                continue
            if is_public(path):
                item[method]["security"] = []  # overrides the document-wide API-key requirement
            # Powertools derives a body for every success status from the route's return annotation, but a 204
            # has no content (RFC 9110 §15.3.5): declaring one tells clients to parse an empty body as JSON.
            item[method].get("responses", {}).get("204", {}).pop("content", None)
    return document


def _add_request_bodies(document: dict[str, Any]) -> None:
    """The request bodies of routes that read their body themselves (``OPENAPI_REQUEST_BODIES`` of a router
    module: e.g. ``POST /imports`` takes JSON or CSV), with the schemas they refer to."""
    from pydantic.json_schema import models_json_schema

    from shiptrack.models import CreateTrackingRequest

    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name in ROUTER_MODULES:
        module = importlib.import_module(name)
        models = getattr(module, "OPENAPI_BODY_MODELS", ())
        if models:
            # With CreateTrackingRequest among them: the models' own references to it (json_schema_extra) resolve.
            wanted = [(model, "validation") for model in (*models, CreateTrackingRequest)]
            _keys, generated = models_json_schema(wanted, ref_template="#/components/schemas/{model}")  # type: ignore[arg-type]
            for def_name, definition in generated.get("$defs", {}).items():
                schemas.setdefault(def_name, definition)
        for (path, method), body in getattr(module, "OPENAPI_REQUEST_BODIES", {}).items():
            document["paths"][path][method]["requestBody"] = copy.deepcopy(body)


@cache
def _cached_document() -> dict[str, Any]:
    return build_document()


def document_json(document: dict[str, Any]) -> str:
    """The document as committed: 2-space indented JSON, UTF-8 kept as is, a final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def served_document(base_path: str) -> dict[str, Any]:
    """The document as served: built once per execution environment, with the caller's base path as server."""
    document = copy.deepcopy(_cached_document())
    document["servers"] = [{"url": base_path or "/", "description": "This API"}]
    return document


# -- docs/api.md ------------------------------------------------------------------------------------------------


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _anchor(name: str) -> str:
    return name.lower()


_MAX_ENUM_SHOWN: Final = 12
_MAX_PATTERN_SHOWN: Final = 80


def _type(schema: dict[str, Any]) -> str:
    """A short human type for a JSON schema: ``string``, ``[Flight](#flight)[]``, ``integer | null`` …"""
    named = _named_type(schema)
    if named is not None:
        return named
    for combinator in ("anyOf", "oneOf", "allOf"):
        if combinator in schema:
            return " \\| ".join(_type(option) for option in schema[combinator])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " \\| ".join(_type({**schema, "type": k}) for k in kind)
    if kind == "array":
        return f"{_type(schema.get('items', {}))}[]"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"map of {_type(schema['additionalProperties'])}"
    text = str(kind or "any")
    if "format" in schema:
        text += f" ({schema['format']})"
    return text


def _named_type(schema: dict[str, Any]) -> str | None:
    """The type of a schema that names it outright (a reference, constant, enum or long pattern), else ``None``."""
    if "pattern" in schema and len(schema["pattern"]) > _MAX_PATTERN_SHOWN:
        return (
            f"{schema.get('type', 'string')} (a pattern of {len(schema['pattern'])} characters, in docs/openapi.json)"
        )
    if "$ref" in schema:
        name = _ref_name(schema["$ref"])
        return f"[{name}](#{_anchor(name)})"
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    if "enum" in schema:
        if len(schema["enum"]) > _MAX_ENUM_SHOWN:
            return f"one of {len(schema['enum'])} {schema.get('type', 'value')}s (listed in docs/openapi.json)"
        return " \\| ".join(f"`{json.dumps(value)}`" for value in schema["enum"])
    return None


_CONSTRAINTS: Final = (
    ("minItems", "min items {}"),
    ("maxItems", "max items {}"),
    ("minLength", "min length {}"),
    ("maxLength", "max length {}"),
    ("minimum", "≥ {}"),
    ("maximum", "≤ {}"),
    ("exclusiveMinimum", "> {}"),
    ("exclusiveMaximum", "< {}"),
    ("pattern", "pattern `{}`"),
    ("default", "default `{}`"),
)


def _constraints(schema: dict[str, Any]) -> str:
    parts = []
    for source in (schema, schema.get("items") or {}):
        for key, template in _CONSTRAINTS:
            if key in source:
                value = json.dumps(source[key]) if key == "default" else source[key]
                parts.append(template.format(value))
    return "; ".join(parts)


def _cell(text: Any) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _schema_section(name: str, schema: dict[str, Any]) -> list[str]:
    lines = [f"### {name}", ""]
    if schema.get("description"):
        lines += [" ".join(str(schema["description"]).split()), ""]
    properties: dict[str, Any] = schema.get("properties") or {}
    if properties:
        required = set(schema.get("required") or [])
        lines += ["| Field | Type | Required | Description |", "|---|---|---|---|"]
        for field, spec in properties.items():
            notes = "; ".join(part for part in (spec.get("description", ""), _constraints(spec)) if part)
            yes = "yes" if field in required else ""
            lines.append(f"| `{field}` | {_type(spec)} | {yes} | {_cell(notes)} |")
        if schema.get("additionalProperties") is False:
            lines += ["", "Unknown fields are refused."]
    else:
        lines.append(f"Type: {_type(schema)}")
    lines.append("")
    return lines


def _operation_section(method: str, path: str, operation: dict[str, Any]) -> list[str]:
    title = f"### `{method.upper()} {path}`"
    if operation.get("summary"):
        title += f" — {operation['summary']}"
    lines = [title, ""]
    if operation.get("description"):
        lines += [str(operation["description"]).strip(), ""]
    auth = "none" if operation.get("security") == [] else f"`{API_KEY_HEADER}` header"
    lines += [f"**Authentication:** {auth}", ""]
    parameters = operation.get("parameters") or []
    if parameters:
        lines += ["**Parameters**", "", "| Name | In | Type | Required | Description |", "|---|---|---|---|---|"]
        for parameter in parameters:
            schema = parameter.get("schema") or {}
            notes = "; ".join(part for part in (parameter.get("description", ""), _constraints(schema)) if part)
            required = "yes" if parameter.get("required") else ""
            lines.append(
                f"| `{parameter['name']}` | {parameter['in']} | {_type(schema)} | {required} | {_cell(notes)} |"
            )
        lines.append("")
    body = operation.get("requestBody")
    if body:
        for content_type, media in (body.get("content") or {}).items():
            lines += [f"**Request body** (`{content_type}`): {_type(media.get('schema') or {})}", ""]
    lines += ["**Responses**", "", "| Status | Description | Body |", "|---|---|---|"]
    for status, response in sorted((operation.get("responses") or {}).items()):
        bodies = ", ".join(
            f"`{content_type}` {_type(media.get('schema') or {})}".strip()
            for content_type, media in (response.get("content") or {}).items()
        )
        lines.append(f"| {status} | {_cell(response.get('description', ''))} | {bodies} |")
    lines.append("")
    return lines


def render_markdown(document: dict[str, Any]) -> str:
    """docs/api.md: the operations by tag, then every schema, from the OpenAPI document."""
    info = document.get("info", {})
    lines = [
        f"# {info.get('title', 'API')} API {info.get('version', '')}".rstrip(),
        "",
        "<!-- Generated from the OpenAPI document by `python -m shiptrack.openapi --markdown`. Do not edit. -->",
        "",
        " ".join(str(info.get("description", "")).split()),
        "",
        f"OpenAPI {document.get('openapi')}: `docs/openapi.json`, also served at `GET /openapi.json` "
        "(Swagger UI at `GET /docs`).",
        "",
        "## Servers",
        "",
    ]
    lines += [f"- `{server['url']}` — {server.get('description', '')}" for server in document.get("servers", [])]
    lines += ["", "## Operations", "", "| Method | Path | Summary | API key |", "|---|---|---|---|"]
    operations: list[tuple[str, str, str, dict[str, Any]]] = []
    for path, item in document.get("paths", {}).items():
        for method in _METHODS:
            if method in item:
                tags = item[method].get("tags") or ["Other"]
                operations.append((tags[0], path, method, item[method]))
    for _tag, path, method, operation in operations:
        key = "no" if operation.get("security") == [] else "yes"
        lines.append(f"| {method.upper()} | `{path}` | {_cell(operation.get('summary', ''))} | {key} |")
    lines.append("")
    tag_order = [tag["name"] for tag in document.get("tags", [])]
    seen = list(dict.fromkeys(op[0] for op in operations))
    for tag in [t for t in tag_order if t in seen] + [t for t in seen if t not in tag_order]:
        lines += [f"## {tag}", ""]
        for op_tag, path, method, operation in operations:
            if op_tag == tag:
                lines += _operation_section(method, path, operation)
    schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
    if schemas:
        lines += ["## Schemas", ""]
        for name in sorted(schemas):
            lines += _schema_section(name, schemas[name])
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shiptrack.openapi", description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print docs/api.md instead of the JSON document")
    args = parser.parse_args(argv)
    document = build_document()
    sys.stdout.write(render_markdown(document) if args.markdown else document_json(document))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
