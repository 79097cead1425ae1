"""Order markers in CacheTable (``ORDER#{order id}#{tracking number}``): shipments of an order already turned into
trackings, so a redelivered Order Shipped message makes no upstream call for them (``shiptrack.services.orders``).

A marker is written only after the shipment's tracking is stored, and kept :data:`MARKER_TTL_SECONDS` (SQS's
longest retention: no redelivery can come later).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

from shiptrack.data.dynamodb import batch_get

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

__all__ = ["MARKER_PREFIX", "MARKER_TTL_SECONDS", "OrderMarkers"]

MARKER_PREFIX: Final = "ORDER#"
#: SQS keeps a message at most 14 days; a marker older than any possible redelivery is of no use.
MARKER_TTL_SECONDS: Final = 14 * 24 * 3600


class OrderMarkers:
    """The shipments of each order already handled. ``clock`` returns epoch seconds (tests move it)."""

    def __init__(self, table: Table, *, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._clock = clock

    @staticmethod
    def key(order_id: str, tracking_number: str) -> str:
        return f"{MARKER_PREFIX}{order_id}#{tracking_number}"

    def done(self, order_id: str, numbers: Sequence[str]) -> set[str]:
        """The ``numbers`` already handled for ``order_id`` (a live marker each; strongly consistent)."""
        if not numbers:
            return set()
        keys = [{"pk": self.key(order_id, number)} for number in dict.fromkeys(numbers)]
        now = int(self._clock())
        return {
            str(item["tracking_number"])
            for item in batch_get(self._table, keys)
            if int(item.get("expires_at", 0)) >= now
        }

    def mark(self, order_id: str, tracking_number: str, carrier_code: str | None) -> None:
        """Record that the shipment ``tracking_number`` of ``order_id`` is stored as a tracking."""
        item: dict[str, Any] = {
            "pk": self.key(order_id, tracking_number),
            "tracking_number": tracking_number,
            "expires_at": int(self._clock()) + MARKER_TTL_SECONDS,
        }
        if carrier_code:
            item["carrier_code"] = carrier_code
        self._table.put_item(Item=item)
