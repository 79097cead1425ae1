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

from shiptrack import runtime
from shiptrack.data.webhook_deliveries import WebhookDeliveryRepository
from shiptrack.data.webhook_endpoints import WebhookEndpointRepository
from shiptrack.models import utc_now
from shiptrack.observability import logger, metrics, trace_handler
from shiptrack.services.webhook_fanout import fan_out, parse_bus_event
from shiptrack.services.webhook_wiring import webhook_queues
from shiptrack.settings import get_settings

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord) -> None:
    event = parse_bus_event(record.body)
    if event is None:
        return  # a shiptrack event no endpoint can subscribe to
    result = fan_out(
        event,
        endpoints=WebhookEndpointRepository(runtime.webhook_endpoints_table()),
        deliveries=WebhookDeliveryRepository(runtime.webhook_deliveries_table()),
        queues=webhook_queues(),
        clock=utc_now,
        retention_days=get_settings().webhook_delivery_retention_days,
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
