"""Deliveries and event payloads in WebhookDeliveriesTable (docs/data-model.md).

* Delivery — one event for one endpoint, with its attempts: ``pk = "DELIVERY#{endpoint id}"``, ``sk = <delivery
  id>``. The id is derived from the event id and the endpoint id (and sorts by the event's time), so the fan-out
  writes it with ``attribute_not_exists`` and a redelivered event finds it instead of making a second one.
  ``status_pk = "{endpoint id}#{status}"`` puts it in the ByStatus index (``?status=failed``).
* Payload — the signed body of one event, written once and shared by its deliveries: ``pk = "PAYLOAD#{event id}"``,
  ``sk = "PAYLOAD"``.

Both expire by TTL (``expires_at``) after the retention (``WebhookDeliveryRetentionDays``). Attempts run under a
lease: :meth:`WebhookDeliveryRepository.claim` moves ``attempt_count`` on by one only while no other worker holds
the delivery (and only when the attempt is due), and the outcome is written only by the holder of that claim, so
two copies of a queue message never make two attempts at once, nor record one twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from shiptrack.data.cursors import CursorSigner, decode_key, encode_cursor
from shiptrack.data.dynamodb import conditional
from shiptrack.models import format_utc, parse_utc
from shiptrack.webhook_models import DeliveryAttempt, WebhookDelivery

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

__all__ = [
    "DELIVERY_PREFIX",
    "PAYLOAD_PREFIX",
    "DeliveryRecord",
    "PayloadRecord",
    "WebhookDeliveryRepository",
    "attempt_item",
]

DELIVERY_PREFIX: Final = "DELIVERY#"
PAYLOAD_PREFIX: Final = "PAYLOAD#"
BY_STATUS: Final = "ByStatus"
#: The listings' names in their cursors (:mod:`shiptrack.data.cursors`): all deliveries, and by status.
_LISTING: Final = "WebhookDeliveries"
_LISTING_BY_STATUS: Final = "WebhookDeliveries.ByStatus"
#: Attempts kept on a delivery (newest first): 8 per cycle; manual retries add cycles, the oldest fall off.
MAX_KEPT_ATTEMPTS: Final = 24


@dataclass(frozen=True, slots=True)
class PayloadRecord:
    event_id: str
    event_type: str
    body: str
    expires_at: int


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """A stored delivery. ``cycle_start`` is ``attempt_count`` when the current retry cycle began (0, or the count
    at a manual retry): the retry schedule counts attempts from there."""

    endpoint_id: str
    id: str
    event_id: str
    event_type: str
    status: str
    created_at: datetime
    updated_at: datetime
    expires_at: int
    attempt_count: int = 0
    cycle_start: int = 0
    attempts: tuple[Mapping[str, Any], ...] = ()
    next_attempt_at: datetime | None = None
    lease_until: datetime | None = None
    note: str | None = None
    retry_request: str | None = None

    @property
    def attempts_in_cycle(self) -> int:
        return self.attempt_count - self.cycle_start

    def resource(self) -> WebhookDelivery:
        """The API resource: the record's fields that ``WebhookDelivery`` has; a next attempt only while pending."""
        delivery = WebhookDelivery.model_validate(self, from_attributes=True)
        if self.status != "pending":
            delivery.next_attempt_at = None
        return delivery


def _time(item: Mapping[str, Any], name: str) -> datetime | None:
    value = item.get(name)
    return parse_utc(str(value)) if value else None


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal: attempts are shown as JSON, so make them ints again."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Decimal):
        return int(value)
    return value


def delivery_from_item(item: Mapping[str, Any]) -> DeliveryRecord:
    return DeliveryRecord(
        endpoint_id=str(item["pk"]).removeprefix(DELIVERY_PREFIX),
        id=str(item["sk"]),
        event_id=str(item["event_id"]),
        event_type=str(item["event_type"]),
        status=str(item["status"]),
        created_at=parse_utc(str(item["created_at"])),
        updated_at=parse_utc(str(item["updated_at"])),
        expires_at=int(item["expires_at"]),
        attempt_count=int(item.get("attempt_count", 0)),
        cycle_start=int(item.get("cycle_start", 0)),
        attempts=tuple(_plain(attempt) for attempt in item.get("attempts", [])),
        next_attempt_at=_time(item, "next_attempt_at"),
        lease_until=_time(item, "lease_until"),
        note=str(item["note"]) if item.get("note") else None,
        retry_request=str(item["retry_request"]) if item.get("retry_request") else None,
    )


def _key(endpoint_id: str, delivery_id: str) -> dict[str, str]:
    return {"pk": DELIVERY_PREFIX + endpoint_id, "sk": delivery_id}


class WebhookDeliveryRepository:
    """Reads and writes deliveries and payloads; conditional failures come back as ``None`` / ``False``."""

    def __init__(self, table: Table, *, cursors: CursorSigner) -> None:
        self._table = table
        self._cursors = cursors

    # -------------------------------------------------------------------------------------------- payloads

    def put_payload(self, payload: PayloadRecord) -> None:
        """Store an event's body once; a second put of the same event (a redelivery) changes nothing."""
        item: dict[str, Any] = {
            "pk": PAYLOAD_PREFIX + payload.event_id,
            "sk": "PAYLOAD",
            "event_type": payload.event_type,
            "body": payload.body,
            "expires_at": payload.expires_at,
        }
        conditional(lambda: self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)"))

    def get_payload(self, event_id: str) -> PayloadRecord | None:
        item: Mapping[str, Any] | None = self._table.get_item(
            Key={"pk": PAYLOAD_PREFIX + event_id, "sk": "PAYLOAD"}
        ).get("Item")
        if not item:
            return None
        return PayloadRecord(event_id, str(item["event_type"]), str(item["body"]), int(item["expires_at"]))

    # ------------------------------------------------------------------------------------------ deliveries

    def create(self, record: DeliveryRecord) -> bool:
        """Store a new, pending delivery; ``False`` when it exists already (the event was seen before)."""
        item: dict[str, Any] = {
            **_key(record.endpoint_id, record.id),
            "status_pk": f"{record.endpoint_id}#{record.status}",
            "event_id": record.event_id,
            "event_type": record.event_type,
            "status": record.status,
            "created_at": format_utc(record.created_at),
            "updated_at": format_utc(record.updated_at),
            "expires_at": record.expires_at,
            "attempt_count": 0,
            "cycle_start": 0,
            "attempts": [],
        }
        if record.next_attempt_at:
            item["next_attempt_at"] = format_utc(record.next_attempt_at)
        return conditional(lambda: self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)"))

    def get(self, endpoint_id: str, delivery_id: str) -> DeliveryRecord | None:
        item = self._table.get_item(Key=_key(endpoint_id, delivery_id), ConsistentRead=True).get("Item")
        return delivery_from_item(item) if item else None

    def claim(
        self, endpoint_id: str, delivery_id: str, *, now: datetime, due: datetime, lease_until: datetime
    ) -> DeliveryRecord | None:
        """Take the next attempt of a pending delivery that is due by ``due`` and held by no one (``attempt_count``
        + 1, a lease until ``lease_until``), in one write; ``None`` when it is not (read it to learn why)."""
        key = DeliveryRecord(endpoint_id, delivery_id, "", "", "", now, now, 0)
        return self._update(
            key,
            "SET lease_until = :lease, updated_at = :now ADD attempt_count :one",
            "#s = :pending AND (attribute_not_exists(lease_until) OR lease_until < :now) "
            "AND (attribute_not_exists(next_attempt_at) OR next_attempt_at <= :due)",
            {
                ":lease": format_utc(lease_until),
                ":now": format_utc(now),
                ":due": format_utc(due),
                ":pending": "pending",
                ":one": 1,
            },
        )

    def finish_attempt(
        self,
        claimed: DeliveryRecord,
        attempt: Mapping[str, Any],
        *,
        status: str,
        now: datetime,
        next_attempt_at: datetime | None = None,
        note: str | None = None,
    ) -> DeliveryRecord | None:
        """Record the outcome of the attempt ``claimed`` holds; ``None`` if the claim was lost meanwhile."""
        attempts = [dict(attempt), *(dict(a) for a in claimed.attempts)][:MAX_KEPT_ATTEMPTS]
        values: dict[str, Any] = {
            ":attempts": attempts,
            ":status": status,
            ":status_pk": f"{claimed.endpoint_id}#{status}",
            ":now": format_utc(now),
            ":count": claimed.attempt_count,
            ":lease": format_utc(claimed.lease_until) if claimed.lease_until else "",
        }
        sets = "attempts = :attempts, #s = :status, status_pk = :status_pk, updated_at = :now"
        removes = ["lease_until"]
        if next_attempt_at is not None:
            sets += ", next_attempt_at = :next_at"
            values[":next_at"] = format_utc(next_attempt_at)
        else:
            removes.append("next_attempt_at")
        if note is not None:
            sets += ", note = :note"
            values[":note"] = note
        return self._update(
            claimed,
            f"SET {sets} REMOVE {', '.join(removes)}",
            "attempt_count = :count AND lease_until = :lease",
            values,
        )

    def cancel(self, endpoint_id: str, delivery_id: str, *, note: str, now: datetime) -> DeliveryRecord | None:
        """A pending delivery that will not be attempted (endpoint deleted or disabled, payload expired)."""
        key = DeliveryRecord(endpoint_id, delivery_id, "", "", "", now, now, 0)
        return self._update(
            key,
            "SET #s = :canceled, status_pk = :status_pk, note = :note, updated_at = :now REMOVE next_attempt_at",
            "#s = :pending",
            {
                ":canceled": "canceled",
                ":status_pk": f"{endpoint_id}#canceled",
                ":note": note,
                ":now": format_utc(now),
                ":pending": "pending",
            },
        )

    def reopen(
        self, record: DeliveryRecord, *, request_id: str, now: datetime, expires_at: int
    ) -> DeliveryRecord | None:
        """A finished delivery pending again for a new cycle of attempts (a manual retry, once per request)."""
        return self._update(
            record,
            "SET #s = :pending, status_pk = :status_pk, cycle_start = attempt_count, next_attempt_at = :now, "
            "retry_request = :request, updated_at = :now, expires_at = :expires REMOVE note",
            "#s = :read_status AND attempt_count = :count AND "
            "(attribute_not_exists(retry_request) OR retry_request <> :request)",
            {
                ":pending": "pending",
                ":status_pk": f"{record.endpoint_id}#pending",
                ":now": format_utc(now),
                ":request": request_id,
                ":expires": expires_at,
                ":read_status": record.status,
                ":count": record.attempt_count,
            },
        )

    def page(
        self, endpoint_id: str, status: str | None, limit: int, cursor: str | None
    ) -> tuple[list[DeliveryRecord], str | None]:
        """An endpoint's deliveries, newest first (only ``status`` ones when given), and the next page's cursor."""
        kwargs: dict[str, Any] = {"ScanIndexForward": False, "Limit": limit + 1}
        if status:
            listing, partition = _LISTING_BY_STATUS, ("status_pk", f"{endpoint_id}#{status}")
            fields = frozenset({"pk", "sk", "status_pk"})
            kwargs["IndexName"] = BY_STATUS
        else:
            listing, partition = _LISTING, ("pk", DELIVERY_PREFIX + endpoint_id)
            fields = frozenset({"pk", "sk"})
        kwargs["KeyConditionExpression"] = f"{partition[0]} = :p"
        kwargs["ExpressionAttributeValues"] = {":p": partition[1]}
        scope = {"index": listing, "filter_key": partition[1]}
        if cursor:
            kwargs["ExclusiveStartKey"] = decode_key(self._cursors, cursor, **scope, fields=fields, partition=partition)
        items = self._table.query(**kwargs).get("Items", [])
        records = [delivery_from_item(item) for item in items[:limit]]
        if len(items) <= limit:
            return records, None
        last = items[limit - 1]
        return records, encode_cursor(self._cursors, {name: str(last[name]) for name in fields}, **scope)

    # ------------------------------------------------------------------------------------------- plumbing

    def _update(
        self, record: DeliveryRecord, update: str, condition: str, values: dict[str, Any]
    ) -> DeliveryRecord | None:
        names: dict[str, Any] = {"ExpressionAttributeNames": {"#s": "status"}} if "#s" in update + condition else {}
        updated: dict[str, Any] = {}

        def write() -> None:
            response = self._table.update_item(
                Key=_key(record.endpoint_id, record.id),
                UpdateExpression=update,
                ConditionExpression=f"attribute_exists(pk) AND {condition}",
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                **names,
            )
            updated.update(response["Attributes"])

        return delivery_from_item(updated) if conditional(write) else None


def attempt_item(attempt: DeliveryAttempt) -> dict[str, Any]:
    """An attempt as stored (JSON-ready, no nulls)."""
    return {k: v for k, v in attempt.model_dump(mode="json").items() if v is not None}
