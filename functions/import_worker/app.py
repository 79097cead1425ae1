"""ImportChunksQueue → each chunk's trackings created (one upstream batch create per chunk). Thin: the logic lives in
`shiptrack.services.import_worker`.

The messages of one invocation are worked side by side (each is one upstream call, mostly waiting), within the
account's shared rate gate (``BatchCreateRateLimit``) and the invocation's deadline: a chunk it leaves no time for
is queued again untouched. A message whose handling raised is reported in
``batchItemFailures``: SQS delivers it again, and after 5 receives it is in the DLQ. Retryable upstream failures
are not reported: the worker queues the chunk again itself (``shiptrack.services.import_worker``).
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from shiptrack import compose
from shiptrack.observability import logger, metrics, trace_handler
from shiptrack.services.import_dispatch import ChunkMessage
from shiptrack.services.import_worker import ChunkOutcome, process_chunk


def _work(record: dict[str, Any], deps: compose.ImportWorker) -> ChunkOutcome:
    return process_chunk(
        ChunkMessage.parse(str(record.get("body") or "")),
        imports=deps.imports,
        store=deps.store,
        client=deps.client,
        detections=deps.detections,
        queue=deps.queue,
        deadline=deps.deadline,
        retry_seconds=deps.retry_seconds,
    )


@logger.inject_lambda_context(correlation_id_path="Records[0].messageId")
@metrics.log_metrics
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records: list[dict[str, Any]] = list(event.get("Records") or [])
    deps = compose.import_worker(context.get_remaining_time_in_millis)
    outcomes: Counter[str] = Counter()
    failures: list[dict[str, str]] = []
    with ThreadPoolExecutor(max_workers=max(1, len(records))) as pool:
        futures = [(record, pool.submit(_work, record, deps)) for record in records]
        for record, future in futures:
            try:
                outcomes[future.result()] += 1
            except Exception:
                logger.exception("import chunk message failed", extra={"message_id": record.get("messageId")})
                failures.append({"itemIdentifier": str(record.get("messageId"))})
    for outcome, number in outcomes.items():
        metrics.add_metric(name=f"ImportChunks{outcome.capitalize()}", unit=MetricUnit.Count, value=number)
    logger.info("import chunk messages", extra={"messages": len(records), "failed": len(failures), **outcomes})
    return {"batchItemFailures": failures}
