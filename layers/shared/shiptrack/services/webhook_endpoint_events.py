"""WebhookEndpointsTable stream → ``Webhook Endpoint Disabled`` on the project bus (no dual write).

An endpoint is disabled by one conditional write: by the delivery function when it has been failing for
``WebhookDisableAfterDays`` (``reason: failing``), or by a ``PATCH`` (``reason: user``). This module turns the
stream record of that write into the event, so the event cannot be lost between two writes, and its ``event_id``
(endpoint id + the time it was disabled) is the same when the record is delivered again.

Detail: ``{event_id, occurred_at, reason, endpoint}`` — the endpoint resource, never its secrets.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from shiptrack.data.webhook_endpoints import record_from_item
from shiptrack.events import EVENT_SOURCE
from shiptrack.models import format_utc
from shiptrack.observability import logger

__all__ = ["WEBHOOK_ENDPOINT_DISABLED", "endpoint_event_entries", "publish_endpoint_records"]

WEBHOOK_ENDPOINT_DISABLED: Final = "Webhook Endpoint Disabled"


def endpoint_event_entries(record: Mapping[str, Any], bus_name: str) -> list[dict[str, Any]]:
    """The PutEvents entries one stream record stands for: one when an endpoint went from enabled to disabled."""
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

    images = DynamoDBRecord(dict(record)).dynamodb
    old, new = (images.old_image, images.new_image) if images else ({}, {})
    if record.get("eventName") != "MODIFY" or not old or not new:
        return []
    if old.get("status") != "enabled" or new.get("status") != "disabled":
        return []
    endpoint = record_from_item(new)
    disabled_at = format_utc(endpoint.disabled_at or endpoint.updated_at)
    detail = {
        "event_id": hashlib.sha256(f"{endpoint.id}|disabled|{disabled_at}".encode()).hexdigest()[:32],
        "occurred_at": disabled_at,
        "reason": endpoint.disabled_reason or "user",
        "endpoint": endpoint.resource().model_dump(mode="json"),
    }
    return [
        {
            "Source": EVENT_SOURCE,
            "DetailType": WEBHOOK_ENDPOINT_DISABLED,
            "Detail": json.dumps(detail, separators=(",", ":")),
            "EventBusName": bus_name,
        }
    ]


def publish_endpoint_records(records: Sequence[Mapping[str, Any]], *, events_client: Any, bus_name: str) -> list[str]:
    """Publish the events of a stream batch; returns the sequence numbers to retry (from the first failure on)."""
    for index, record in enumerate(records):
        entries = endpoint_event_entries(record, bus_name)
        if not entries:
            continue
        response = events_client.put_events(Entries=entries)
        if response.get("FailedEntryCount"):
            logger.error("Webhook Endpoint Disabled not published; the stream retries it")
            return [str(r.get("dynamodb", {}).get("SequenceNumber", "")) for r in records[index:]]
    return []
