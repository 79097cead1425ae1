"""ImportsTable stream (new import headers) → one ImportChunksQueue message per chunk. Thin: the logic lives in
`shiptrack.services.import_dispatch`."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from shiptrack import compose
from shiptrack.observability import logger, metrics, trace_handler
from shiptrack.services.import_dispatch import dispatch_new_imports


@logger.inject_lambda_context(correlation_id_path="Records[0].eventID")
@metrics.log_metrics
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deps = compose.import_dispatch()
    result = dispatch_new_imports(event.get("Records") or [], queue=deps.queue, imports=deps.imports)
    metrics.add_metric(name="ImportsDispatched", unit=MetricUnit.Count, value=result.imports)
    metrics.add_metric(name="ImportChunksQueued", unit=MetricUnit.Count, value=result.messages)
    return result.response()
