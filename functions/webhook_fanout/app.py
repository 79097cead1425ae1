"""SQS (every shiptrack event from the bus, and pings) → one delivery per subscribed endpoint.

Thin: the logic lives in `shiptrack.services.webhook_fanout`. Each message succeeds or fails on its own
(``ReportBatchItemFailures``); a message that is not an event fails until the queue moves it to its DLQ.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from shiptrack import compose
from shiptrack.models import utc_now
from shiptrack.observability import logger, metrics, trace_handler
from shiptrack.services.webhook_fanout import fan_out, parse_bus_event

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord) -> None:
    event = parse_bus_event(record.body)
    if event is None:
        return  # a shiptrack event no endpoint can subscribe to
    deps = compose.webhook_fanout()
    result = fan_out(
        event,
        endpoints=deps.endpoints,
        deliveries=deps.deliveries,
        queues=deps.queues,
        clock=utc_now,
        retention_days=deps.retention_days,
    )
    metrics.add_metric(name="WebhookDeliveriesCreated", unit=MetricUnit.Count, value=result.created)
    logger.debug("event fanned out", extra={"event_id": event.event_id, "created": result.created})


@logger.inject_lambda_context(correlation_id_path="Records[0].messageId")
@metrics.log_metrics
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
