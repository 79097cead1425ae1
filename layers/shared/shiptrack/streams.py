"""DynamoDB stream records as Lambda delivers them: their images as plain values, and their sequence numbers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["record_images", "sequence_number"]


def record_images(record: Mapping[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The record's old and new images as plain Python values (``None`` when absent), through Powertools'
    public stream data class (numbers are ``Decimal``, as boto3 gives them)."""
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

    stream = DynamoDBRecord(dict(record)).dynamodb
    if stream is None:
        return None, None
    return stream.old_image or None, stream.new_image or None


def sequence_number(record: Mapping[str, Any]) -> str:
    """The record's sequence number: what ``ReportBatchItemFailures`` reports ("" when missing)."""
    return str((record.get("dynamodb") or {}).get("SequenceNumber") or "")
