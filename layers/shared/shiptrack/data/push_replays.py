"""The webhook replay cache in CacheTable (``PUSH#{digest}``): each TrackingMore push is acted on once.

TrackingMore v2 signs only ``verifyInfo.timeStr`` (reference §7.1), so a captured push can be sent again, with any
body, for as long as its ``timeStr`` is within the tolerance. The receiver records every push it accepts here — a
conditional put that fails when the same push was recorded before — and answers a repeat without doing anything.

The digest is the receiver's business (``shiptrack.services.webhooks``): it covers ``timeStr``, the signature and
the tracking the body names, because every push TrackingMore sends in the same second carries the same
``verifyInfo``. A record is kept until its push could no longer pass the freshness check anyway (``expires_at``,
checked in the condition, not left to DynamoDB's lazy TTL deletion).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Final

from shiptrack.data.dynamodb import conditional
from shiptrack.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

__all__ = ["PUSH_PREFIX", "PushReplays"]

PUSH_PREFIX: Final = "PUSH#"


class PushReplays:
    """Pushes already accepted, each until it could no longer pass the freshness check."""

    def __init__(self, table: Table) -> None:
        self._table = table

    @staticmethod
    def key(digest: str) -> str:
        return PUSH_PREFIX + digest

    def first_sighting(self, digest: str, *, now: datetime, until: datetime) -> bool:
        """Record the push ``digest``; ``False`` when it was recorded before and has not expired (a replay)."""
        seconds = int(now.timestamp())
        return conditional(
            lambda: self._table.put_item(
                Item={"pk": self.key(digest), "expires_at": int(until.timestamp()) + 1},
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
                ExpressionAttributeValues={":now": seconds},
            )
        )

    def forget(self, digest: str) -> None:
        """Drop the record of a push that failed (TrackingMore may send it again, and that retry must be acted on).

        Best effort: the request is failing already, and a record left behind only makes a retry of the same push
        a no-op until it expires (the refresh catches the change up), so a DynamoDB error is logged, not raised.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._table.delete_item(Key={"pk": self.key(digest)})
        except (BotoCoreError, ClientError) as exc:
            logger.warning("push replay record not dropped; it expires by itself", extra={"error": type(exc).__name__})
