"""POST/GET /imports, GET /imports/{import_id}[/results]: bulk imports. Thin: the routes live in
`shiptrack.routes.imports`, the behaviour in `shiptrack.services.imports` and `shiptrack.services.import_results`.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from shiptrack.http import build_resolver
from shiptrack.observability import logger, metrics, trace_handler
from shiptrack.routes.imports import MAX_IMPORT_BODY_BYTES, router

app = build_resolver(router, max_body_bytes=MAX_IMPORT_BODY_BYTES)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response: dict[str, Any] = app.resolve(event, context)
    return response
