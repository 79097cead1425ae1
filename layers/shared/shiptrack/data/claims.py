"""Create claims in CacheTable (``CLAIM#TRACKING#{pk}``): concurrent identical creates make ONE upstream call.

The first caller to claim an identity (a conditional put) creates upstream and stores; the others wait for the
stored tracking (``shiptrack.services.create``). A claim expires after :data:`CLAIM_TTL_SECONDS` so a crashed
claimer cannot block the identity for longer; expiry is checked in the condition, not left to DynamoDB's lazy TTL
deletion.

A successful create keeps its claim until it expires: a create that read "absent" just before the tracking was
stored then finds the identity claimed and waits for the stored copy, instead of creating upstream again
(without a second read after claiming, or a delete on success). A failed create releases it at once; removing
the tracking (DELETE, a carrier change) clears it, so the identity can be created again straight away.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from shiptrack.data.dynamodb import conditional
from shiptrack.models import TrackingRef
from shiptrack.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

__all__ = ["CLAIM_PREFIX", "CLAIM_TTL_SECONDS", "CreateClaims"]

CLAIM_PREFIX: Final = "CLAIM#TRACKING#"
# A claim outlives the slowest create the client can make (timeouts × retries) yet frees a crashed claimer's
# identity within a minute.
CLAIM_TTL_SECONDS: Final = 60


class CreateClaims:
    """Short-lived claims on tracking identities (see the module docstring). ``clock`` returns epoch seconds."""

    def __init__(self, table: Table, *, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._clock = clock

    @staticmethod
    def key(ref: TrackingRef) -> str:
        return CLAIM_PREFIX + ref.key

    def acquire(self, ref: TrackingRef, owner: str) -> bool:
        """Claim ``ref`` for ``owner``: ``False`` when someone else holds a live claim."""
        now = int(self._clock())
        return conditional(
            lambda: self._table.put_item(
                Item={"pk": self.key(ref), "owner": owner, "expires_at": now + CLAIM_TTL_SECONDS},
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
                ExpressionAttributeValues={":now": now},
            )
        )

    def release(self, ref: TrackingRef, owner: str) -> None:
        """Give ``ref`` up, if ``owner`` still holds it (a claim that expired and was taken over stays)."""
        conditional(
            lambda: self._table.delete_item(
                Key={"pk": self.key(ref)},
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":owner": owner},
            )
        )

    def clear(self, ref: TrackingRef) -> None:
        """Free ``ref`` whoever holds it: its tracking is being removed (call before removing it, so a create that
        read the tracking as absent claimed after this and keeps its claim).

        Best effort: it runs after TrackingMore has already been changed, and a claim left behind only makes a
        re-create of the identity wait (409, retryable) until it expires, so a DynamoDB error is logged, not raised.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._table.delete_item(Key={"pk": self.key(ref)})
        except (BotoCoreError, ClientError) as exc:
            extra = {"tracking": str(ref), "error": str(exc)}
            logger.warning("create claim not cleared; it expires by itself", extra=extra)

    def held(self, ref: TrackingRef) -> bool:
        """Whether someone holds a live claim on ``ref``."""
        item = self._table.get_item(Key={"pk": self.key(ref)}, ConsistentRead=True).get("Item")
        if not item:
            return False
        return int(str(item.get("expires_at", 0))) >= int(self._clock())
