"""TrackingsTable items ↔ :class:`~shiptrack.models.Tracking`: the item codec, and the index keys it derives.

Key design (template.yaml, docs/data-model.md):

* ``pk`` = ``"{carrier_code}#{tracking_number}"`` (the normalised identity, :class:`~shiptrack.models.TrackingRef`).
* ``ByCreated``: ``list_pk`` = ``"LIST"`` (not archived) or ``"ARCHIVED"``; ``created_sk`` = ``"{created_at}#{pk}"``.
* ``ByStatus``: ``status_pk`` = status, only while not archived; ``ByCarrier``: ``carrier_pk``; ``ByOrder``:
  ``order_pk`` (any lifecycle). All three sort by ``created_sk``.
* ``ActiveByChecked`` (KEYS_ONLY): ``active_pk`` = ``"ACTIVE"`` only while lifecycle is active;
  ``checked_sk`` = ``"{last_checked_at}#{pk}"`` (never checked sorts first).
* ``TerminalByTime`` (KEYS_ONLY): ``terminal_pk`` = ``"TERMINAL"`` while the status is in
  :data:`~shiptrack.models.TERMINAL_STATUSES` and the tracking is not archived; ``terminal_sk`` =
  ``"{terminal_at}#{pk}"``, ``terminal_at`` being when it entered a terminal status.
* ``ByUpdated`` (KEYS_ONLY, the changes feed): ``updated_pk`` = ``"UPDATED"`` (every tracking, any lifecycle);
  ``updated_sk`` = ``"{updated_at}#{pk}"`` — ``updated_at`` moves exactly when something a subscriber sees changes.
* ``expires_at`` (TTL, epoch seconds): only on archived items, when a retention is configured.

Bookkeeping attributes (not part of the resource): ``revision`` (optimistic lock, +1 on every write),
``upstream_version`` (:func:`~shiptrack.upstream.upstream_version` of the last applied upstream copy),
``fingerprint`` (:func:`~shiptrack.models.content_fingerprint`: equal fingerprints = nothing a subscriber sees
changed), ``last_realtime_at`` (the last upstream realtime call, for TrackingMore's 2-hour rule),
``terminal_at``, ``expires_at``, ``created_by`` (who stored it first, when that writer needs to recognise its own
work after a crash: an import chunk, ``shiptrack.services.import_worker``).

:func:`item_from_tracking` and the index partition values here are the only places that know how items are laid
out in the indexes, so sharding a hot partition (docs/data-model.md) starts in this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from shiptrack.models import (
    TERMINAL_STATUSES,
    Checkpoint,
    Customer,
    Tracking,
    TrackingRef,
    TrackingSummary,
    content_fingerprint,
    format_utc,
    parse_utc,
)

__all__ = [
    "ACTIVE",
    "INDEX_KEYS",
    "LIST_ALL",
    "LIST_ARCHIVED",
    "SUMMARY_ATTRIBUTES",
    "TERMINAL",
    "UPDATED",
    "TrackingItem",
    "is_visible_change",
    "item_from_tracking",
    "summary_from_item",
    "tracking_from_item",
    "tracking_item_from_item",
]

LIST_ALL: Final = "LIST"
LIST_ARCHIVED: Final = "ARCHIVED"
ACTIVE: Final = "ACTIVE"
TERMINAL: Final = "TERMINAL"
UPDATED: Final = "UPDATED"
# Sorts before every real timestamp: a tracking never checked is the least recently checked.
NEVER: Final = "0000-00-00T00:00:00.000Z"

#: Each index's (partition, sort) attributes, as template.yaml declares them.
INDEX_KEYS: Final[Mapping[str, tuple[str, str]]] = {
    "ByCreated": ("list_pk", "created_sk"),
    "ByStatus": ("status_pk", "created_sk"),
    "ByCarrier": ("carrier_pk", "created_sk"),
    "ByOrder": ("order_pk", "created_sk"),
    "ActiveByChecked": ("active_pk", "checked_sk"),
    "TerminalByTime": ("terminal_pk", "terminal_sk"),
    "ByUpdated": ("updated_pk", "updated_sk"),
}


@dataclass(frozen=True, slots=True)
class TrackingItem:
    """A stored tracking: the resource plus the bookkeeping (see the module docstring)."""

    tracking: Tracking
    version: str = ""
    revision: int = 0
    last_realtime_at: datetime | None = None
    terminal_at: datetime | None = None
    expires_at: int | None = None
    created_by: str | None = None

    @property
    def ref(self) -> TrackingRef:
        return self.tracking.ref


def _text(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    return value if isinstance(value, str) and value != "" else None


def _int(item: Mapping[str, Any], name: str) -> int | None:
    value = item.get(name)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | Decimal | float):
        return int(value)
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return None


def _time(item: Mapping[str, Any], name: str) -> datetime | None:
    value = _text(item, name)
    return parse_utc(value) if value else None


def _without_none(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if value is not None}


def item_from_tracking(record: Tracking | TrackingItem, *, fingerprint: str | None = None) -> dict[str, Any]:
    """The TrackingsTable item for a tracking (or a stored record), with every index attribute derived here.

    ``None`` values are left out (index keys must never be empty). A bare :class:`Tracking` gets empty
    bookkeeping (``revision`` 0, no upstream version).
    """
    item_record = record if isinstance(record, TrackingItem) else TrackingItem(tracking=record)
    tracking = item_record.tracking
    ref = tracking.ref
    pk = ref.key
    created = format_utc(tracking.created_at)
    updated = format_utc(tracking.updated_at)
    archived = tracking.lifecycle == "archived"
    terminal = tracking.status in TERMINAL_STATUSES and not archived and item_record.terminal_at is not None
    checkpoints = [
        _without_none(checkpoint.model_dump(mode="json", exclude_none=True)) for checkpoint in tracking.checkpoints
    ]
    item: dict[str, Any] = {
        "pk": pk,
        "carrier_code": ref.carrier_code,
        "tracking_number": ref.tracking_number,
        "status": tracking.status,
        "substatus": tracking.substatus,
        "lifecycle": tracking.lifecycle,
        "order_id": tracking.order_id,
        "order_created_at": format_utc(tracking.order_created_at) if tracking.order_created_at else None,
        "title": tracking.title,
        "logistics_channel": tracking.logistics_channel,
        "comment": tracking.comment,
        "customer_name": tracking.customer.name,
        "customer_email": tracking.customer.email,
        "customer_phone": tracking.customer.phone,
        "destination_code": tracking.destination_code,
        "origin_country": tracking.origin_country,
        "destination_country": tracking.destination_country,
        "transit_days": tracking.transit_days,
        "last_event": tracking.last_event,
        "checkpoints": checkpoints,
        "upstream_id": tracking.upstream_id,
        "created_at": created,
        "updated_at": updated,
        "last_checked_at": format_utc(tracking.last_checked_at) if tracking.last_checked_at else None,
        "last_changed_at": format_utc(tracking.last_changed_at) if tracking.last_changed_at else None,
        # bookkeeping
        "revision": item_record.revision,
        "upstream_version": item_record.version or None,
        "fingerprint": fingerprint or content_fingerprint(tracking),
        "last_realtime_at": format_utc(item_record.last_realtime_at) if item_record.last_realtime_at else None,
        "terminal_at": format_utc(item_record.terminal_at) if item_record.terminal_at else None,
        "expires_at": item_record.expires_at if archived else None,
        "created_by": item_record.created_by,
        # index keys
        "list_pk": LIST_ARCHIVED if archived else LIST_ALL,
        "created_sk": f"{created}#{pk}",
        "status_pk": None if archived else tracking.status,
        "carrier_pk": ref.carrier_code,
        "order_pk": tracking.order_id,
        "active_pk": ACTIVE if tracking.lifecycle == "active" else None,
        "checked_sk": f"{format_utc(tracking.last_checked_at) if tracking.last_checked_at else NEVER}#{pk}",
        "terminal_pk": TERMINAL if terminal else None,
        "terminal_sk": f"{format_utc(item_record.terminal_at)}#{pk}" if terminal and item_record.terminal_at else None,
        "updated_pk": UPDATED,
        "updated_sk": f"{updated}#{pk}",
    }
    return _without_none(item)


def _summary_fields(item: Mapping[str, Any]) -> dict[str, Any]:
    """The fields a tracking and its summary share, from an item."""
    created_at = _time(item, "created_at")
    if created_at is None:
        msg = f"item {item.get('pk')!r} has no created_at"
        raise ValueError(msg)
    return {
        "carrier_code": str(item["carrier_code"]),
        "tracking_number": str(item["tracking_number"]),
        "status": item.get("status", "pending"),
        "substatus": _text(item, "substatus"),
        "lifecycle": item.get("lifecycle", "active"),
        "order_id": _text(item, "order_id"),
        "title": _text(item, "title"),
        "last_event": _text(item, "last_event"),
        "upstream_id": _text(item, "upstream_id"),
        "created_at": created_at,
        "updated_at": _time(item, "updated_at") or created_at,
        "last_checked_at": _time(item, "last_checked_at"),
        "last_changed_at": _time(item, "last_changed_at"),
    }


def tracking_from_item(item: Mapping[str, Any]) -> Tracking:
    """The resource for a TrackingsTable item or a deserialised stream image (numbers may be ``Decimal``)."""
    raw_checkpoints = item.get("checkpoints") or []
    checkpoints = [
        Checkpoint.model_validate({key: value for key, value in entry.items() if isinstance(key, str)})
        for entry in raw_checkpoints
        if isinstance(entry, Mapping)
    ]
    return Tracking(
        **_summary_fields(item),
        order_created_at=_time(item, "order_created_at"),
        logistics_channel=_text(item, "logistics_channel"),
        comment=_text(item, "comment"),
        customer=Customer(
            name=_text(item, "customer_name"),
            email=_text(item, "customer_email"),
            phone=_text(item, "customer_phone"),
        ),
        destination_code=_text(item, "destination_code"),
        origin_country=_text(item, "origin_country"),
        destination_country=_text(item, "destination_country"),
        transit_days=_int(item, "transit_days"),
        checkpoints=checkpoints,
    )


#: The item attributes a :class:`~shiptrack.models.TrackingSummary` is read from (each a resource field as is).
SUMMARY_ATTRIBUTES: Final = tuple(TrackingSummary.model_fields)


def summary_from_item(item: Mapping[str, Any]) -> TrackingSummary:
    """The summary of a tracking from its item, or from the :data:`SUMMARY_ATTRIBUTES` of it."""
    return TrackingSummary(**_summary_fields(item))


def tracking_item_from_item(item: Mapping[str, Any]) -> TrackingItem:
    """The stored record (resource + bookkeeping) for a TrackingsTable item."""
    return TrackingItem(
        tracking=tracking_from_item(item),
        version=_text(item, "upstream_version") or "",
        revision=_int(item, "revision") or 0,
        last_realtime_at=_time(item, "last_realtime_at"),
        terminal_at=_time(item, "terminal_at"),
        expires_at=_int(item, "expires_at"),
        created_by=_text(item, "created_by"),
    )


def is_visible_change(old_image: Mapping[str, Any] | None, new_image: Mapping[str, Any] | None) -> bool:
    """Whether a stream record changed anything a subscriber sees (the publisher's filter).

    Inserts and removes always do; a modify does when the content fingerprints differ, so writes that only
    move ``last_checked_at`` / ``last_realtime_at`` / ``revision`` emit nothing.
    """
    if not old_image or not new_image:
        return True

    def fingerprint(image: Mapping[str, Any]) -> str:
        stored = image.get("fingerprint")
        return stored if isinstance(stored, str) else content_fingerprint(tracking_from_item(image))

    return fingerprint(old_image) != fingerprint(new_image)
