"""Scheduled refresh (delta pull, stale sweep, retirement). Thin: the job lives in `shiptrack.services.refresh`."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from shiptrack import compose
from shiptrack.models import utc_now
from shiptrack.observability import logger, metrics, trace_handler
from shiptrack.services.refresh import run_refresh


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@metrics.log_metrics
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deps = compose.refresh(context.get_remaining_time_in_millis)
    report = run_refresh(
        store=deps.store, jobs=deps.jobs, client=deps.client, deadline=deps.deadline, clock=utc_now, config=deps.config
    )
    counts = {
        "TrackingsPulled": report.pulled,
        "TrackingsChanged": report.changed,
        "TrackingsUnchanged": report.unchanged,
        "TrackingsStaleSwept": report.swept,
        "TrackingsStopped": report.stopped,
        "UpstreamCalls": report.upstream_calls,
        "RefreshInterrupted": 0 if report.completed else 1,
    }
    for name, value in counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    if report.watermark_lag_seconds is not None:
        metrics.add_metric(name="WatermarkLag", unit=MetricUnit.Seconds, value=report.watermark_lag_seconds)
    summary = report.summary()
    logger.info("refresh run finished", extra=summary)
    return summary
