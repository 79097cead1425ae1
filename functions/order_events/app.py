"""SQS ("Order Shipped" events from the bus) → trackings. Thin: the logic lives in `shiptrack.services.orders`.

Powertools BatchProcessor reports each failed message in ``batchItemFailures`` (``ReportBatchItemFailures``), so
one bad message never holds up the others; after the queue's maxReceiveCount it moves to the DLQ. The invocation's
deadline is bound for every message: messages it leaves no time for are reported failed, not started.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from shiptrack import compose
from shiptrack.deadline import Deadline, bound
from shiptrack.errors import InvalidOrderEventError, RetryableOrderError
from shiptrack.observability import logger, metrics, trace_handler
from shiptrack.services.orders import handle_order_shipped

# A batch in which every message failed is still answered with batchItemFailures, not an exception: the
# messages are retried (and dead-lettered) one by one either way, and the function's Errors alarm stays for bugs.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
#: Kept back from the Lambda's timeout to answer the batch response.
RESERVE_MS = 2_000


def record_handler(record: SQSRecord) -> None:
    receive_count = int(record.attributes.approximate_receive_count or 0)
    try:
        deps = compose.order_events()
        result = handle_order_shipped(
            record.body, markers=deps.markers, create_trackings=deps.create_trackings, deadline=deps.deadline
        )
    except InvalidOrderEventError as exc:
        metrics.add_metric(name="OrderEventsInvalid", unit=MetricUnit.Count, value=1)
        logger.error(
            "Order Shipped message refused; it will reach the DLQ",
            extra={"message_id": record.message_id, "receive_count": receive_count, "reason": str(exc)},
        )
        raise
    except RetryableOrderError as exc:
        metrics.add_metric(name="OrderEventsRetried", unit=MetricUnit.Count, value=1)
        logger.warning(
            "Order Shipped message left for retry",
            extra={"message_id": record.message_id, "receive_count": receive_count, "reason": str(exc)},
        )
        raise
    metrics.add_metric(name="TrackingsCreatedFromOrders", unit=MetricUnit.Count, value=result.created)


@logger.inject_lambda_context(correlation_id_path="Records[0].messageId")
@metrics.log_metrics
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with bound(Deadline.for_invocation(context, reserve_ms=RESERVE_MS)):
        response = process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    return dict(response)
