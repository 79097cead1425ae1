"""SQS (one message per delivery) → signed POSTs to storefront endpoints, retried on the schedule.

Thin: the logic lives in `shiptrack.services.webhook_delivery`. Messages to retry are made invisible until their
next attempt and reported in ``batchItemFailures``; the others are acknowledged.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from shiptrack import compose
from shiptrack.observability import logger, metrics, trace_handler
from shiptrack.services.webhook_delivery import process_batch


@logger.inject_lambda_context(correlation_id_path="Records[0].messageId")
@metrics.log_metrics
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = process_batch(event.get("Records") or [], compose.webhook_delivery())
    for outcome, count in result.outcomes.items():
        metrics.add_metric(name=f"WebhookDeliveries_{outcome}", unit=MetricUnit.Count, value=count)
    logger.info("delivery batch done", extra={"outcomes": result.outcomes, "retry": len(result.failed_message_ids)})
    return result.response()
