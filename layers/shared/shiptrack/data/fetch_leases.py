"""Coalesced fetches in CacheTable (``FETCH#{carrier}#{number}``): pushes for one parcel share one upstream read.

A push only says "this tracking changed"; the receiver reads TrackingMore's copy (``shiptrack.services.webhooks``).
When pushes for the same parcel arrive close together (TrackingMore's retries, a burst of checkpoints, or someone
replaying captured pushes with different timestamps), one read serves them all — without losing a change that
happened after that read began. One item per tracking holds:

* ``requested`` — a counter every push increments (``ADD``), whether or not it gets to fetch;
* ``owner`` / ``lease_until`` — the push currently fetching (epoch milliseconds; an expired lease is free).

A push increments ``requested`` and takes the lease if it is free (one conditional update), remembering the count
it saw. If the lease is held, the push counts itself (an unconditional ``ADD``) and is done: ``coalesced``. The
holder fetches, applies, and releases only if ``requested`` still equals what it saw; otherwise more pushes arrived
during its read and it reads again (single flight with a trailing fetch). A push's increment therefore always lands
either before the holder's release check (the holder reads again) or after the release (the push finds the lease
free and fetches itself) — no push is left unserved. A holder that crashes frees the lease when it expires.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from shiptrack.data.dynamodb import conditional, is_condition_failure
from shiptrack.models import TrackingRef

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

__all__ = ["FETCH_PREFIX", "LEASE_SECONDS", "FetchLease", "FetchLeases"]

FETCH_PREFIX: Final = "FETCH#"
#: A lease outlives the longest invocation of WebhookFunction (its 29 s timeout), so a live holder never loses it,
#: and a crashed holder's parcel is fetched again by the first push after this.
LEASE_SECONDS: Final = 30
#: The counter item itself is dropped by DynamoDB's TTL a day after its last push.
ITEM_TTL_SECONDS: Final = 24 * 3600


@dataclass(frozen=True, slots=True)
class FetchLease:
    """The right to fetch ``ref`` now: held by ``owner``, granted when ``requested`` was ``seen``."""

    ref: TrackingRef
    owner: str
    seen: int


class FetchLeases:
    """Single-flight fetches per tracking (see the module docstring). ``clock`` returns epoch seconds."""

    def __init__(self, table: Table, *, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._clock = clock

    @staticmethod
    def key(ref: TrackingRef) -> str:
        return FETCH_PREFIX + ref.key

    def request(self, ref: TrackingRef, owner: str) -> FetchLease | None:
        """Count one push for ``ref`` and take the lease if it is free; ``None`` when another holder will serve it."""
        taken = self._take(ref, owner)
        if taken is not None:
            return taken
        counted = self._update(ref, "SET expires_at = :ttl ADD requested :one", {":one": 1, ":ttl": self._ttl()})
        if self._held(counted):
            return None  # the holder's release check comes after our count: it reads again for us
        # The holder released between our two writes, after which our count landed: take the lease ourselves. If
        # someone else takes it first, they took it after our count, so their read serves us too.
        return self._take(ref, owner)

    def finish(self, lease: FetchLease) -> FetchLease | None:
        """Release after a fetch; when more pushes came meanwhile, renew instead and return the renewed lease (the
        caller fetches again). ``None`` also when the lease was lost (expired and taken: the new holder reads)."""
        names = {"#owner": "owner"}
        released = conditional(
            lambda: self._table.update_item(
                Key={"pk": self.key(lease.ref)},
                UpdateExpression="REMOVE lease_until, #owner",
                ConditionExpression="#owner = :me AND requested = :seen",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={":me": lease.owner, ":seen": lease.seen},
            )
        )
        if released:
            return None
        from botocore.exceptions import ClientError

        try:
            renewed = self._update(
                lease.ref,
                "SET lease_until = :until, expires_at = :ttl",
                {":me": lease.owner, ":until": self._lease_until(), ":ttl": self._ttl()},
                condition="#owner = :me",
                names=names,
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return None
            raise
        return FetchLease(lease.ref, lease.owner, int(renewed.get("requested", 0)))

    def abandon(self, lease: FetchLease) -> None:
        """Give the lease up without claiming the pushes served (the fetch failed): the next push fetches."""
        conditional(
            lambda: self._table.update_item(
                Key={"pk": self.key(lease.ref)},
                UpdateExpression="REMOVE lease_until, #owner",
                ConditionExpression="#owner = :me",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":me": lease.owner},
            )
        )

    # -- internals -------------------------------------------------------------------------------------------------

    def _take(self, ref: TrackingRef, owner: str) -> FetchLease | None:
        from botocore.exceptions import ClientError

        try:
            item = self._update(
                ref,
                "SET #owner = :me, lease_until = :until, expires_at = :ttl ADD requested :one",
                {
                    ":me": owner,
                    ":one": 1,
                    ":now": self._now_ms(),
                    ":until": self._lease_until(),
                    ":ttl": self._ttl(),
                },
                condition="attribute_not_exists(lease_until) OR lease_until < :now",
                names={"#owner": "owner"},
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return None
            raise
        return FetchLease(ref, owner, int(item.get("requested", 0)))

    def _held(self, item: dict[str, Any]) -> bool:
        until = item.get("lease_until")
        return until is not None and int(until) >= self._now_ms()

    def _update(
        self,
        ref: TrackingRef,
        expression: str,
        values: dict[str, Any],
        *,
        condition: str | None = None,
        names: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """One UpdateItem on ``ref``'s item; the item after it."""
        request: dict[str, Any] = {
            "Key": {"pk": self.key(ref)},
            "UpdateExpression": expression,
            "ExpressionAttributeValues": values,
            "ReturnValues": "ALL_NEW",
        }
        if condition is not None:
            request["ConditionExpression"] = condition
        if names:
            request["ExpressionAttributeNames"] = names
        attributes: dict[str, Any] = self._table.update_item(**request).get("Attributes", {})
        return attributes

    def _lease_until(self) -> int:
        return int((self._clock() + LEASE_SECONDS) * 1000)

    def _ttl(self) -> int:
        return int(self._clock()) + ITEM_TTL_SECONDS

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)
