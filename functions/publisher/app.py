"""TrackingsTable stream → events on the project bus. Thin: the logic lives in `shiptrack.services.publisher`."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from shiptrack import compose
from shiptrack.deadline import Deadline, bound
from shiptrack.observability import logger, metrics, trace_handler
from shiptrack.services.publisher import publish_stream_records

#: Kept back from the Lambda's timeout to answer which records failed.
RESERVE_MS = 2_000


@logger.inject_lambda_context(correlation_id_path="Records[0].eventID")
@metrics.log_metrics
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records") or []
    with bound(Deadline.for_invocation(context, reserve_ms=RESERVE_MS)):
        deps = compose.publisher()
        result = publish_stream_records(
            records,
            events_client=deps.events_client,
            bus_name=deps.bus_name,
            include_customer_data=deps.include_customer_data,
            deadline=deps.deadline,
        )
    metrics.add_metric(name="EventsPublished", unit=MetricUnit.Count, value=result.published)
    metrics.add_metric(name="StreamRecordsWithoutEvent", unit=MetricUnit.Count, value=result.skipped_records)
    metrics.add_metric(name="EventEntriesRetried", unit=MetricUnit.Count, value=result.retried_entries)
    metrics.add_metric(name="StreamRecordsFailed", unit=MetricUnit.Count, value=len(result.failed_sequence_numbers))
    logger.info(
        "stream batch published",
        extra={
            "records": len(records),
            "published": result.published,
            "skipped": result.skipped_records,
            "failed": len(result.failed_sequence_numbers),
        },
    )
    return result.response()
