"""Outbound events (docs/design.md §6): what subscribers of the project bus receive, derived from table stream records.

Every event has ``source: "shiptrack"`` and one of these detail-types:

* ``Tracking Created`` — a tracking was stored for the first time (stream INSERT);
* ``Tracking Status Changed`` — ``status`` or ``substatus`` changed; the detail carries the previous and new values;
* ``Tracking Archived`` — the lifecycle became ``archived``;
* ``Tracking Updated`` — anything else a subscriber sees changed (new checkpoints with the same status, metadata,
  ``lifecycle`` → ``stopped`` …), so that subscribers hear about every visible change, not only status moves.

A write that changed nothing a subscriber sees (only ``last_checked_at``, the upstream version, the realtime
stamp …) produces no event: :func:`shiptrack.data.codec.is_visible_change` compares the content fingerprints of the
old and new images. A delete (API ``DELETE`` or the retention TTL) produces none either.

Event ids are derived from the change itself — the item key, its ``created_at`` (so a deleted and re-created
tracking does not reuse ids) and the store's ``revision`` (+1 on every write) — plus the detail-type. A stream
record redelivered after a failure, or replayed, yields the same ids, so subscribers can deduplicate on
``detail.event_id``. Records without a revision fall back to the stream sequence number, which is also stable.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, Field

from shiptrack.data.codec import is_visible_change, tracking_from_item
from shiptrack.models import Customer, Lifecycle, Status, Tracking, UtcTimestamp, format_utc

__all__ = [
    "DETAIL_TYPES",
    "EVENT_SOURCE",
    "IMPORT_COMPLETED",
    "MAX_ENTRY_BYTES",
    "TRACKING_ARCHIVED",
    "TRACKING_CREATED",
    "TRACKING_STATUS_CHANGED",
    "TRACKING_UPDATED",
    "DetailType",
    "EventDetail",
    "OutboundEvent",
    "entry_size",
    "event_id",
    "events_for_record",
]

EVENT_SOURCE: Final = "shiptrack"
TRACKING_CREATED: Final = "Tracking Created"
TRACKING_STATUS_CHANGED: Final = "Tracking Status Changed"
TRACKING_ARCHIVED: Final = "Tracking Archived"
TRACKING_UPDATED: Final = "Tracking Updated"
#: A bulk import's every item has its outcome (``shiptrack.import_events``; from the ImportsTable stream).
IMPORT_COMPLETED: Final = "Import Completed"
DetailType = Literal["Tracking Created", "Tracking Status Changed", "Tracking Archived", "Tracking Updated"]
DETAIL_TYPES: Final = (TRACKING_CREATED, TRACKING_STATUS_CHANGED, TRACKING_ARCHIVED, TRACKING_UPDATED)

#: EventBridge's limit on one PutEvents entry (and on the whole request): 256 KB. A tracking with many long
#: checkpoints can exceed it, so the detail is trimmed (newest checkpoints kept) to stay below with a margin.
MAX_ENTRY_BYTES: Final = 256 * 1024
_ENTRY_BUDGET: Final = MAX_ENTRY_BYTES - 8 * 1024


class EventDetail(BaseModel):
    """The ``detail`` of every outbound event."""

    event_id: str = Field(description="Stable id of this change: the same on every redelivery; deduplicate on it")
    occurred_at: UtcTimestamp = Field(description="When the change was stored (the tracking's updated_at)")
    tracking: Tracking
    status: Status
    previous_status: Status | None = Field(default=None, description="Tracking Status Changed only")
    substatus: str | None = None
    previous_substatus: str | None = Field(default=None, description="Tracking Status Changed only")
    lifecycle: Lifecycle
    previous_lifecycle: Lifecycle | None = None
    checkpoints_truncated: bool = Field(
        default=False, description="True when older checkpoints were left out to fit EventBridge's 256 KB limit"
    )


class OutboundEvent(BaseModel):
    """One event for the bus, before it is sent."""

    detail_type: DetailType
    detail: EventDetail

    @property
    def event_id(self) -> str:
        return self.detail.event_id

    def to_entry(self, bus_name: str) -> dict[str, Any]:
        """The PutEvents entry, with the detail trimmed to fit :data:`MAX_ENTRY_BYTES` if it must be."""
        detail = self.detail
        body = detail.model_dump_json()
        keep = len(detail.tracking.checkpoints)
        while entry_size(self.detail_type, body) > _ENTRY_BUDGET and keep > 0:
            keep //= 2
            tracking = detail.tracking.model_copy(update={"checkpoints": detail.tracking.checkpoints[:keep]})
            body = detail.model_copy(update={"tracking": tracking, "checkpoints_truncated": True}).model_dump_json()
        return {
            "Source": EVENT_SOURCE,
            "DetailType": self.detail_type,
            "Detail": body,
            "EventBusName": bus_name,
            "Time": self.detail.occurred_at,
            "Resources": [],
        }


def entry_size(detail_type: str, detail: str) -> int:
    """How EventBridge counts one of our entries: Source + DetailType + Detail (UTF-8) + 14 bytes for Time."""
    return len(EVENT_SOURCE) + len(detail_type.encode()) + len(detail.encode()) + 14


def event_id(pk: str, created_at: str, change: str, detail_type: str) -> str:
    """A stable id for one event of one change: sha256 over the item key, its creation, the change and the type."""
    material = json.dumps([pk, created_at, change, detail_type], separators=(",", ":"))
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def _change_marker(image: Mapping[str, Any], sequence_number: str | None) -> str:
    revision = image.get("revision")
    if revision is not None and not isinstance(revision, bool):
        return f"r{int(revision)}"
    if sequence_number:
        return f"s{sequence_number}"
    msg = f"stream record for {image.get('pk')!r} has neither a revision nor a sequence number"
    raise ValueError(msg)


def events_for_record(
    event_name: str,
    old_image: Mapping[str, Any] | None,
    new_image: Mapping[str, Any] | None,
    *,
    sequence_number: str | None = None,
    include_customer_data: bool = False,
) -> list[OutboundEvent]:
    """The events one stream record stands for (zero, one or two), from its deserialised images.

    ``event_name`` is the stream's ``INSERT`` / ``MODIFY`` / ``REMOVE``. Raises ``ValueError`` (or a pydantic
    ``ValidationError``) for an image that is not a tracking: that record can never be published.

    ``include_customer_data`` (template parameter ``EventsIncludeCustomerData``, off by default): whether the
    tracking in the detail keeps its ``customer`` (name, e-mail, phone). Off, it is empty — events reach every bus
    subscriber and, through storefront webhooks, leave AWS, so contact data goes out only when asked for.
    """
    if event_name == "REMOVE" or not new_image:
        return []
    if event_name == "MODIFY" and old_image and not is_visible_change(old_image, new_image):
        return []
    new = tracking_from_item(new_image)
    old = tracking_from_item(old_image) if event_name == "MODIFY" and old_image else None
    shown = new if include_customer_data else new.model_copy(update={"customer": Customer()})
    pk = str(new_image.get("pk") or new.ref.key)
    created = format_utc(new.created_at)
    change = _change_marker(new_image, sequence_number)
    occurred_at = new.updated_at.astimezone(UTC) if new.updated_at else datetime.now(UTC)

    def make(detail_type: DetailType, **extra: Any) -> OutboundEvent:
        detail = EventDetail(
            event_id=event_id(pk, created, change, detail_type),
            occurred_at=occurred_at,
            tracking=shown,
            status=new.status,
            substatus=new.substatus,
            lifecycle=new.lifecycle,
            **extra,
        )
        return OutboundEvent(detail_type=detail_type, detail=detail)

    if old is None:
        return [make(TRACKING_CREATED)]

    events: list[OutboundEvent] = []
    if (old.status, old.substatus) != (new.status, new.substatus):
        events.append(make(TRACKING_STATUS_CHANGED, previous_status=old.status, previous_substatus=old.substatus))
    if new.lifecycle == "archived" and old.lifecycle != "archived":
        events.append(make(TRACKING_ARCHIVED, previous_lifecycle=old.lifecycle))
    if not events:
        previous_lifecycle = old.lifecycle if old.lifecycle != new.lifecycle else None
        events.append(make(TRACKING_UPDATED, previous_lifecycle=previous_lifecycle))
    return events
