"""Pure rules of the scheduled jobs and the order consumer: retirement, the deadline, Order Shipped parsing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from shiptrack.deadline import Deadline
from shiptrack.errors import InvalidOrderEventError
from shiptrack.models import Tracking
from shiptrack.services.orders import parse_order_shipped
from shiptrack.services.refresh import retirement_reason

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)
GRACE = timedelta(days=3)
SILENT = timedelta(days=30)


def tracking(status: str, *, changed_days_ago: float, lifecycle: str = "active") -> Tracking:
    changed = NOW - timedelta(days=changed_days_ago)
    return Tracking.model_validate(
        {
            "carrier_code": "ups",
            "tracking_number": "1Z999AA10123456784",
            "status": status,
            "lifecycle": lifecycle,
            "created_at": changed - timedelta(days=1),
            "updated_at": changed,
            "last_changed_at": changed,
        }
    )


@pytest.mark.parametrize(
    ("status", "days", "lifecycle", "expected"),
    [
        ("delivered", 2.9, "active", None),
        ("delivered", 3.0, "active", "delivered"),
        ("delivered", 10, "stopped", None),  # already stopped
        ("expired", 0, "active", "expired"),  # no grace: TrackingMore gave up on it
        ("transit", 29.9, "active", None),
        ("transit", 30, "active", "silent"),
        ("exception", 31, "active", "silent"),
        ("pending", 45, "archived", None),
    ],
)
def test_retirement_reason(status: str, days: float, lifecycle: str, expected: str | None) -> None:
    subject = tracking(status, changed_days_ago=days, lifecycle=lifecycle)
    assert retirement_reason(subject, now=NOW, delivered_grace=GRACE, silent_after=SILENT) == expected


def test_delivered_uses_the_terminal_time_when_known() -> None:
    subject = tracking("delivered", changed_days_ago=0)
    terminal_at = NOW - timedelta(days=4)
    assert retirement_reason(subject, now=NOW, delivered_grace=GRACE, silent_after=SILENT, terminal_at=terminal_at)


def test_deadline_keeps_its_reserve() -> None:
    remaining = iter([10_000, 10_000, 4_999])
    deadline = Deadline(lambda: next(remaining), reserve_ms=5_000)
    assert deadline.allows(5_000)
    assert not deadline.allows(5_001)
    assert not deadline.allows(0)


def envelope(detail: object, detail_type: str = "Order Shipped") -> str:
    return json.dumps(
        {
            "version": "0",
            "id": "e1",
            "detail-type": detail_type,
            "source": "storefront.orders",
            "account": "123456789012",
            "time": "2026-11-22T14:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": detail,
        }
    )


def test_order_shipped_detail_is_normalised_and_tolerates_new_fields() -> None:
    event = parse_order_shipped(
        envelope(
            {
                "order_id": "SO-1",
                "channel": "web",  # a field added by the producer later: ignored
                "destination_code": "gb",
                "customer": {"name": "Ada", "loyalty_tier": "gold"},
                "shipments": [{"tracking_number": " 1z999aa1 0123456784 ", "carrier_code": "UPS"}],
            }
        )
    )
    assert event.detail.destination_code == "GB"
    assert event.detail.shipments[0].tracking_number == "1Z999AA10123456784"
    assert event.detail.shipments[0].carrier_code == "ups"
    assert event.detail.customer is not None
    assert event.detail.customer.name == "Ada"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json", "Invalid JSON"),
        (envelope({"order_id": "SO-1", "shipments": []}), "shipments"),
        (envelope({"shipments": [{"tracking_number": "1Z999AA10123456784"}]}), "order_id"),
        (envelope({"order_id": "SO-1", "shipments": [{"tracking_number": "x"}]}), "tracking_number"),
        (
            envelope({"order_id": "SO-1", "shipments": [{"tracking_number": "1Z999AA10123456784"}]}, "Order Paid"),
            "detail-type",
        ),
        (
            envelope(
                {
                    "order_id": "SO-1",
                    "customer": {"email": "no-at-sign"},
                    "shipments": [{"tracking_number": "1Z999AA10123456784"}],
                }
            ),
            "email",
        ),
    ],
)
def test_invalid_order_events_say_why(body: str, reason: str) -> None:
    with pytest.raises(InvalidOrderEventError, match=reason):
        parse_order_shipped(body)
