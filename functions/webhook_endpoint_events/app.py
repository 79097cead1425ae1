"""WebhookEndpointsTable stream → ``Webhook Endpoint Disabled`` on the bus.

Thin: the logic lives in `shiptrack.services.webhook_endpoint_events`.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from shiptrack import compose
from shiptrack.observability import logger, trace_handler
from shiptrack.services.webhook_endpoint_events import publish_endpoint_records


@logger.inject_lambda_context(correlation_id_path="Records[0].eventID")
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deps = compose.webhook_endpoint_events()
    failed = publish_endpoint_records(
        event.get("Records") or [], events_client=deps.events_client, bus_name=deps.bus_name
    )
    return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in failed]}
