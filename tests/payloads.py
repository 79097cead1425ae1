"""The largest tracking the store keeps, and what Lambda measures of a response (tests of the payload limits)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from shiptrack.models import MAX_CHECKPOINT_TEXT, MAX_STORED_CHECKPOINTS, Checkpoint, Customer, Tracking

LAMBDA_RESPONSE_LIMIT = 6_291_556
NOW = datetime(2026, 12, 6, tzinfo=UTC)
# Carrier text is often not ASCII (Chinese postal events): the runtime's json.dumps writes each such character as a
# 6-byte escape. Latin text is the best case of the worst cases.
TEXTS = {"ascii": "x", "cjk": "運"}


def largest_tracking(char: str, index: int = 0) -> Tracking:
    checkpoint = Checkpoint(
        time="2026-12-06T10:00:00",
        description=char * MAX_CHECKPOINT_TEXT,
        location=char * MAX_CHECKPOINT_TEXT,
        status="transit",
        substatus="s" * 50,
        source="destination",
    )
    return Tracking(
        carrier_code="c" * 60,
        tracking_number=f"{index:0100d}",
        status="transit",
        substatus="s" * 50,
        order_id="o" * 100,
        order_created_at=NOW,
        title=char * 200,
        logistics_channel=char * 100,
        comment=char * 500,
        customer=Customer(name=char * 100, email="e" * 242 + "@example.com", phone="+" + "1" * 31),
        destination_code="US",
        origin_country=char * 100,
        destination_country=char * 100,
        transit_days=999,
        last_event=char * MAX_CHECKPOINT_TEXT,
        checkpoints=[checkpoint] * MAX_STORED_CHECKPOINTS,
        upstream_id="u" * 64,
        created_at=NOW,
        updated_at=NOW,
        last_checked_at=NOW,
        last_changed_at=NOW,
    )


def lambda_payload_bytes(body: str) -> int:
    """The bytes Lambda measures for a proxy result carrying `body`, as the Python runtime serialises it."""
    result = {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": body}
    return len(json.dumps({**result, "isBase64Encoded": False}).encode())
