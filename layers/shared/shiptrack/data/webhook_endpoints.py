"""Webhook endpoints in WebhookEndpointsTable: ``pk = "ENDPOINT"``, ``sk = <endpoint id>`` (docs/data-model.md).

All endpoints share one partition: a storefront has a handful (the API caps them at
:data:`~shiptrack.services.webhook_endpoints.MAX_ENDPOINTS`), the fan-out reads them all with one strongly
consistent Query per event, and ids sort by creation, so a descending Query lists newest first. The table's
stream feeds WebhookEndpointEventsFunction (``Webhook Endpoint Disabled``), so every write here is the whole truth:
nothing else is written beside it.

Secrets are stored as they are sent (the table is encrypted at rest and readable only by the webhook functions);
:meth:`EndpointRecord.resource` never includes them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from shiptrack.data.cursors import CursorSigner, decode_key, encode_cursor
from shiptrack.data.dynamodb import conditional
from shiptrack.models import format_utc, parse_utc
from shiptrack.webhook_models import WebhookEndpoint

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

__all__ = ["ENDPOINT_PARTITION", "EndpointRecord", "WebhookEndpointRepository"]

ENDPOINT_PARTITION: Final = "ENDPOINT"
#: The listing's name in its cursors (:mod:`shiptrack.data.cursors`).
_LISTING: Final = "WebhookEndpoints"
_KEY_FIELDS: Final = frozenset({"pk", "sk"})


@dataclass(frozen=True, slots=True)
class EndpointRecord:
    """A stored endpoint: the resource, its secrets, its health, and ``revision`` (+1 on every change)."""

    id: str
    url: str
    events: tuple[str, ...] | None
    description: str | None
    status: str
    created_at: datetime
    updated_at: datetime
    secret: str = field(repr=False)
    previous_secret: str | None = field(default=None, repr=False)
    previous_secret_expires_at: datetime | None = None
    disabled_reason: str | None = None
    disabled_at: datetime | None = None
    failing_since: datetime | None = None
    revision: int = 1

    @property
    def enabled(self) -> bool:
        return self.status == "enabled"

    def subscribes(self, event_type: str) -> bool:
        """Whether this endpoint wants ``event_type`` (no list means every type)."""
        return self.events is None or event_type in self.events

    def signing_secrets(self, now: datetime) -> list[str]:
        """The secrets a delivery is signed with now: the current one, and the previous one during its overlap."""
        keep_previous = (
            self.previous_secret and self.previous_secret_expires_at and now < self.previous_secret_expires_at
        )
        return [self.secret, self.previous_secret] if keep_previous and self.previous_secret else [self.secret]

    def resource(self) -> WebhookEndpoint:
        """The API resource: the record's fields that ``WebhookEndpoint`` has (never a secret)."""
        return WebhookEndpoint.model_validate(self, from_attributes=True)


def _time(item: Mapping[str, Any], name: str) -> datetime | None:
    value = item.get(name)
    return parse_utc(str(value)) if value else None


def record_from_item(item: Mapping[str, Any]) -> EndpointRecord:
    """An endpoint from its item (also used on stream images)."""
    events = item.get("events")
    return EndpointRecord(
        id=str(item["sk"]),
        url=str(item["url"]),
        events=tuple(str(e) for e in events) if events is not None else None,
        description=str(item["description"]) if item.get("description") is not None else None,
        status=str(item["status"]),
        created_at=parse_utc(str(item["created_at"])),
        updated_at=parse_utc(str(item["updated_at"])),
        secret=str(item["secret"]),
        previous_secret=str(item["previous_secret"]) if item.get("previous_secret") else None,
        previous_secret_expires_at=_time(item, "previous_secret_expires_at"),
        disabled_reason=str(item["disabled_reason"]) if item.get("disabled_reason") else None,
        disabled_at=_time(item, "disabled_at"),
        failing_since=_time(item, "failing_since"),
        revision=int(item.get("revision", 1)),
    )


def item_from_record(record: EndpointRecord) -> dict[str, Any]:
    times = {
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "previous_secret_expires_at": record.previous_secret_expires_at,
        "disabled_at": record.disabled_at,
        "failing_since": record.failing_since,
    }
    item: dict[str, Any] = {
        "pk": ENDPOINT_PARTITION,
        "sk": record.id,
        "url": record.url,
        "events": list(record.events) if record.events is not None else None,
        "description": record.description,
        "status": record.status,
        "secret": record.secret,
        "previous_secret": record.previous_secret,
        "disabled_reason": record.disabled_reason,
        "revision": record.revision,
        **{name: format_utc(value) if value else None for name, value in times.items()},
    }
    return {name: value for name, value in item.items() if value is not None}


class WebhookEndpointRepository:
    """Reads and writes endpoints. Every change is a put conditioned on the revision that was read."""

    def __init__(self, table: Table, *, cursors: CursorSigner) -> None:
        self._table = table
        self._cursors = cursors

    def get(self, endpoint_id: str) -> EndpointRecord | None:
        """The endpoint, strongly consistent; ``None`` when unknown."""
        item = self._table.get_item(Key={"pk": ENDPOINT_PARTITION, "sk": endpoint_id}, ConsistentRead=True).get("Item")
        return record_from_item(item) if item else None

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        start: dict[str, Any] | None = None
        while True:
            paging: dict[str, Any] = {"ExclusiveStartKey": start} if start else {}
            page = self._table.query(
                KeyConditionExpression="pk = :p",
                ExpressionAttributeValues={":p": ENDPOINT_PARTITION},
                ConsistentRead=True,
                **kwargs,
                **paging,
            )
            yield from page.get("Items", [])
            start = page.get("LastEvaluatedKey")
            if not start:
                return

    def all(self) -> list[EndpointRecord]:
        """Every endpoint (one partition, a handful of items), oldest first."""
        return [record_from_item(item) for item in self._query()]

    def page(self, limit: int, cursor: str | None) -> tuple[list[EndpointRecord], str | None]:
        """Endpoints newest first, at most ``limit``, and the cursor of the next page (``None`` on the last)."""
        kwargs: dict[str, Any] = {"ScanIndexForward": False, "Limit": limit + 1}
        if cursor:
            kwargs["ExclusiveStartKey"] = decode_key(
                self._cursors,
                cursor,
                index=_LISTING,
                filter_key=ENDPOINT_PARTITION,
                fields=_KEY_FIELDS,
                partition=("pk", ENDPOINT_PARTITION),
            )
        items = self._table.query(
            KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": ENDPOINT_PARTITION}, **kwargs
        ).get("Items", [])
        records = [record_from_item(item) for item in items[:limit]]
        if len(items) <= limit:
            return records, None
        last = {"pk": ENDPOINT_PARTITION, "sk": records[-1].id}
        return records, encode_cursor(self._cursors, last, index=_LISTING, filter_key=ENDPOINT_PARTITION)

    def create(self, record: EndpointRecord) -> None:
        """Store a new endpoint (ids are random: a collision would be refused, never overwritten)."""
        self._table.put_item(Item=item_from_record(record), ConditionExpression="attribute_not_exists(pk)")

    def replace(self, record: EndpointRecord) -> EndpointRecord | None:
        """Store ``record`` as the next revision of the one it was derived from; ``None`` if that one changed."""
        updated = replace(record, revision=record.revision + 1)
        stored = conditional(
            lambda: self._table.put_item(
                Item=item_from_record(updated),
                ConditionExpression="revision = :read",
                ExpressionAttributeValues={":read": record.revision},
            )
        )
        return updated if stored else None

    def delete(self, endpoint_id: str) -> bool:
        """Remove the endpoint; ``False`` when there was none."""
        response = self._table.delete_item(Key={"pk": ENDPOINT_PARTITION, "sk": endpoint_id}, ReturnValues="ALL_OLD")
        return bool(response.get("Attributes"))
