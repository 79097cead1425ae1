"""Routes of ImportsFunction: bulk imports (``POST /imports``, ``GET /imports``, ``GET /imports/{import_id}``,
``GET /imports/{import_id}/results``; docs/design.md §3).

Thin: read the request, call one service (:mod:`shiptrack.services.imports`, :mod:`shiptrack.services.import_results`)
with the function's dependencies (:func:`shiptrack.compose.imports`), shape the answer. ``POST /imports`` reads its
body itself — JSON or CSV — rather than through a declared body model, so its request body is added to the OpenAPI
document from :data:`OPENAPI_REQUEST_BODIES`.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Final

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from shiptrack import compose
from shiptrack import deadline as deadlines
from shiptrack.http import IdempotencyKeyHeader, json_response, model_response, route_responses
from shiptrack.import_models import (
    DEFAULT_RESULTS_LIMIT,
    MAX_IMPORT_ITEMS,
    MAX_IMPORTS_LIMIT,
    MAX_RESULTS_LIMIT,
    Import,
    ImportList,
    ImportOutcome,
    ImportRequest,
    ImportResults,
)
from shiptrack.routes._params import CursorQuery

__all__ = ["MAX_IMPORT_BODY_BYTES", "OPENAPI_REQUEST_BODIES", "router"]

router = Router()  # type: ignore[no-untyped-call]

TAGS = ["Imports"]
JSON = "application/json"
#: The largest body ImportsFunction reads: Lambda's request payload limit (6 MB for the whole proxy event); API
#: Gateway refuses a larger event itself (413).
MAX_IMPORT_BODY_BYTES: Final = 6 * 1024 * 1024

ImportIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_-]+$", description="Import id")]

_CSV_DESCRIPTION = (
    "A CSV (RFC 4180, comma-separated, UTF-8) with a header row: `tracking_number` (required), `carrier_code`, "
    "`order_id`, `order_created_at`, `title`, `logistics_channel`, `comment`, `customer_name`, `customer_email`, "
    "`customer_phone`, `destination_code`; `problem_code` and `problem_detail` are ignored. One item per row."
)
#: The request bodies of routes that read their body themselves: (path, method) → OpenAPI ``requestBody``.
OPENAPI_REQUEST_BODIES: Final[dict[tuple[str, str], dict[str, Any]]] = {
    ("/imports", "post"): {
        "required": True,
        "content": {
            JSON: {"schema": {"$ref": "#/components/schemas/ImportRequest"}},
            "text/csv": {"schema": {"type": "string", "description": _CSV_DESCRIPTION}},
        },
    },
}
#: The models those bodies refer to, for the document's components.
OPENAPI_BODY_MODELS: Final = (ImportRequest,)


@router.post(
    "/imports",
    summary=f"Import up to {MAX_IMPORT_ITEMS:,} parcels",
    description=(
        "Accepts the items at once — `202`, `Location: /imports/{id}`, the import `queued` — and creates the "
        "trackings in the background, 40 per TrackingMore call, within the account's limits; follow it with "
        "`GET /imports/{id}`. JSON (`{items, context}`, each item a `CreateTrackingRequest`) or CSV "
        "(`Content-Type: text/csv`). Each item is validated alone: an invalid one fails in the results, never the "
        "import. A repeat of an earlier item's tracking is not sent again: it is `existing` once the first is done. "
        "A body that is not an import creates nothing: 4xx. More than "
        f"{MAX_IMPORT_ITEMS:,} items is a 413. The request must fit Lambda's 6 MB request payload, counted as the "
        "JSON event API Gateway sends (quotes and line ends escaped, non-ASCII as `\\uXXXX`): 50,000 CSV rows of up "
        "to ~120 bytes fit (a number, a carrier code, an order id, a short title and a customer), and 50,000 minimal "
        "JSON items (~75 bytes each); JSON items with an order, a title and a customer (~200 bytes) fit about 30,000 "
        "to a request. API Gateway answers a larger request 413 itself: split it into several imports. "
        "`Idempotency-Key` (with the same body) answers the first import again."
    ),
    tags=TAGS,
    operation_id="createImport",
    status_code=202,
    responses=route_responses({202: model_response("Accepted: the import, queued", Import)}, 409, 413, 422),
)
def create_import(idempotency_key: IdempotencyKeyHeader = None) -> Response[str]:
    from shiptrack.idempotency import CreateResponse, run_idempotent
    from shiptrack.services.import_input import read_import
    from shiptrack.services.imports import accept_import

    event = router.current_event
    content_type = event.headers.get("content-type") or event.headers.get("Content-Type")

    def run() -> CreateResponse:
        raw = read_import(event.body, content_type=content_type, is_base64=bool(event.is_base64_encoded))
        deps = compose.imports()
        accepted = accept_import(raw, imports=deps.imports, retention_days=deps.retention_days)
        return CreateResponse(status_code=202, body=accepted.model_dump(mode="json"))

    if idempotency_key is None:
        answer = run()
    else:
        digest = hashlib.sha256((event.body or "").encode()).hexdigest()
        body = {"content_type": content_type or "", "body_sha256": digest}
        answer = run_idempotent(
            idempotency_key, body, run, lambda_context=router.lambda_context, deadline=deadlines.current()
        )
    accepted = Import.model_validate(answer.body)
    response = json_response(accepted, 202)
    response.headers["Location"] = f"/imports/{accepted.id}"
    return response


@router.get(
    "/imports",
    summary="List imports",
    description="Recent imports, newest first (imports are kept for the `ImportRetentionDays` parameter).",
    tags=TAGS,
    operation_id="listImports",
    responses=route_responses({200: model_response("One page", ImportList)}),
)
def list_imports(
    limit: Annotated[int, Query(ge=1, le=MAX_IMPORTS_LIMIT)] = 25,
    cursor: CursorQuery = None,
) -> Response[str]:
    from shiptrack.services.imports import list_imports as list_recent

    deps = compose.imports()
    return json_response(list_recent(limit=limit, cursor=cursor, imports=deps.imports, signer=deps.signer))


@router.get(
    "/imports/<import_id>",
    summary="Get an import",
    description=(
        "Where the import stands: `queued`, `running`, `completed` (every item has its outcome) or `failed` (every "
        "item has its outcome and none was created or existing); `summary` counts items by outcome "
        "(`created + existing + failed + pending = total`)."
    ),
    tags=TAGS,
    operation_id="getImport",
    responses=route_responses({200: model_response("The import", Import)}, 404),
)
def get_import(import_id: ImportIdPath) -> Response[str]:
    from shiptrack.services.imports import get_import as get_one

    return json_response(get_one(import_id, imports=compose.imports().imports))


@router.get(
    "/imports/<import_id>/results",
    summary="The items of an import and their outcomes",
    description=(
        "One result per input item, in input order (`index` from 0): `created`, `existing`, `failed` with a "
        "problem, or `pending` while its chunk is being created; created and existing ones carry the tracking as "
        "stored now (without checkpoints). `outcome` keeps only one kind; a page may hold fewer than `limit` "
        "results and still have a `next_cursor` (a filter that matches little)."
    ),
    tags=TAGS,
    operation_id="getImportResults",
    responses=route_responses({200: model_response("One page", ImportResults)}, 404),
)
def get_import_results(
    import_id: ImportIdPath,
    outcome: Annotated[ImportOutcome | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_RESULTS_LIMIT)] = DEFAULT_RESULTS_LIMIT,
    cursor: CursorQuery = None,
) -> Response[str]:
    from shiptrack.services.import_results import import_results

    deps = compose.imports()
    page = import_results(
        import_id,
        outcome=outcome,
        limit=limit,
        cursor=cursor,
        imports=deps.imports,
        store=deps.store,
        signer=deps.signer,
    )
    return json_response(page)
