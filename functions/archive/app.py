"""Scheduled archive of old terminal trackings. Thin: the job lives in `shiptrack.services.archive`."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from shiptrack import compose
from shiptrack.models import utc_now
from shiptrack.observability import logger, metrics, trace_handler
from shiptrack.services.archive import run_archive


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@metrics.log_metrics
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deps = compose.archive(context.get_remaining_time_in_millis)
    report = run_archive(
        store=deps.store,
        jobs=deps.jobs,
        client=deps.client,
        deadline=deps.deadline,
        clock=utc_now,
        archive_after_days=deps.archive_after_days,
        retention_days=deps.retention_days,
    )
    metrics.add_metric(name="TrackingsArchived", unit=MetricUnit.Count, value=report.archived)
    metrics.add_metric(name="ArchiveRefusedUpstream", unit=MetricUnit.Count, value=report.refused_upstream)
    metrics.add_metric(name="UpstreamCalls", unit=MetricUnit.Count, value=report.upstream_calls)
    metrics.add_metric(name="ArchiveInterrupted", unit=MetricUnit.Count, value=0 if report.completed else 1)
    summary = report.summary()
    logger.info("archive run finished", extra=summary)
    return summary
