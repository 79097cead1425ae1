"""The trackings store: TrackingsTable items ↔ :class:`~shiptrack.models.Tracking`, Query/GetItem only (no Scan).

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
* ``expires_at`` (TTL, epoch seconds): only on archived items, when a retention is configured.

Bookkeeping attributes (not part of the resource): ``revision`` (optimistic lock, +1 on every write),
``upstream_version`` (:func:`~shiptrack.models.upstream_version` of the last applied upstream copy),
``fingerprint`` (:func:`~shiptrack.models.content_fingerprint`: equal fingerprints = nothing a subscriber sees
changed), ``last_realtime_at`` (the last upstream realtime call, for TrackingMore's 2-hour rule),
``terminal_at``, ``expires_at``.

Concurrency: every content write is a read-modify-write conditioned on ``revision``; a lost race is retried
from a fresh read. ``ConditionalCheckFailedException`` never leaves this module: it becomes an outcome.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any, Final, Literal

from shiptrack.errors import InvalidCursorError, RequestInProgressError, TrackingExistsError
from shiptrack.models import (
    SHIPMENT_FIELDS,
    TERMINAL_STATUSES,
    Checkpoint,
    Customer,
    Lifecycle,
    ListQuery,
    Tracking,
    TrackingList,
    TrackingRef,
    content_fingerprint,
    format_utc,
    parse_utc,
    to_millis,
    tracking_from_upstream,
    upstream_version,
    utc_now,
)
from shiptrack.observability import logger

if TYPE_CHECKING:
    from trackingmore.models import Tracking as UpstreamTracking

__all__ = [
    "UNREAD",
    "ApplyOutcome",
    "Expressions",
    "PutOutcome",
    "TrackingItem",
    "TrackingStore",
    "Unread",
    "consistent_batch_get",
    "is_visible_change",
    "item_from_tracking",
    "tracking_from_item",
    "tracking_item_from_item",
]

LIST_ALL: Final = "LIST"
LIST_ARCHIVED: Final = "ARCHIVED"
ACTIVE: Final = "ACTIVE"
TERMINAL: Final = "TERMINAL"
# Sorts before every real timestamp: a tracking never checked is the least recently checked.
NEVER: Final = "0000-00-00T00:00:00.000Z"

INDEX_KEYS: Final[Mapping[str, tuple[str, str]]] = {
    "ByCreated": ("list_pk", "created_sk"),
    "ByStatus": ("status_pk", "created_sk"),
    "ByCarrier": ("carrier_pk", "created_sk"),
    "ByOrder": ("order_pk", "created_sk"),
    "ActiveByChecked": ("active_pk", "checked_sk"),
    "TerminalByTime": ("terminal_pk", "terminal_sk"),
}

# How often a read-modify-write is retried after losing a race before giving up with a 409.
MAX_WRITE_ATTEMPTS: Final = 8
# A listing with sparse filters reads at most this many pages before answering with what it has and a cursor,
# so one request cannot run for the whole Lambda timeout.
MAX_LIST_PAGES: Final = 10
CURSOR_VERSION: Final = 1
#: DynamoDB refuses any request whose partition key is longer than this (a ValidationException, reads included).
MAX_KEY_BYTES: Final = 2048

# ---------------------------------------------------------------------------------------------------------------------
# Stored record


class Unread(Enum):
    """Marks a record the caller has not read (``None`` means read and absent)."""

    UNREAD = "unread"


UNREAD: Final = Unread.UNREAD


@dataclass(frozen=True, slots=True)
class TrackingItem:
    """A stored tracking: the resource plus the store's bookkeeping (see the module docstring)."""

    tracking: Tracking
    version: str = ""
    revision: int = 0
    last_realtime_at: datetime | None = None
    terminal_at: datetime | None = None
    expires_at: int | None = None

    @property
    def ref(self) -> TrackingRef:
        return self.tracking.ref


@dataclass(frozen=True, slots=True)
class ApplyOutcome:
    """What :meth:`TrackingStore.apply_upstream_update` did.

    ``changed`` is ``True`` only when something a subscriber sees was written. ``reason``:
    ``applied`` (written), ``unchanged`` (same content; at most ``last_checked_at`` moved), ``stale`` (older than
    the stored copy: refused by the monotonic rule), ``unknown`` (we do not hold this tracking), ``created`` (we
    did not hold it and ``create_missing`` was set). ``tracking`` is the stored copy after the call (``None`` when
    unknown); ``previous`` the copy before it.
    """

    changed: bool
    tracking: Tracking | None
    reason: Literal["applied", "unchanged", "stale", "unknown", "created"]
    previous: Tracking | None = None


@dataclass(frozen=True, slots=True)
class PutOutcome:
    """What :meth:`TrackingStore.put_new` did: ``created`` is ``False`` when the identity was already stored."""

    created: bool
    tracking: Tracking


# ---------------------------------------------------------------------------------------------------------------------
# Item ↔ domain mapping (also used by the publisher on stream images)


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
        "updated_at": format_utc(tracking.updated_at),
        "last_checked_at": format_utc(tracking.last_checked_at) if tracking.last_checked_at else None,
        "last_changed_at": format_utc(tracking.last_changed_at) if tracking.last_changed_at else None,
        # bookkeeping
        "revision": item_record.revision,
        "upstream_version": item_record.version or None,
        "fingerprint": fingerprint or content_fingerprint(tracking),
        "last_realtime_at": format_utc(item_record.last_realtime_at) if item_record.last_realtime_at else None,
        "terminal_at": format_utc(item_record.terminal_at) if item_record.terminal_at else None,
        "expires_at": item_record.expires_at if archived else None,
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
    }
    return _without_none(item)


def tracking_from_item(item: Mapping[str, Any]) -> Tracking:
    """The resource for a TrackingsTable item or a deserialised stream image (numbers may be ``Decimal``)."""
    raw_checkpoints = item.get("checkpoints") or []
    checkpoints = [
        Checkpoint.model_validate({key: value for key, value in entry.items() if isinstance(key, str)})
        for entry in raw_checkpoints
        if isinstance(entry, Mapping)
    ]
    created_at = _time(item, "created_at")
    if created_at is None:
        msg = f"item {item.get('pk')!r} has no created_at"
        raise ValueError(msg)
    return Tracking(
        carrier_code=str(item["carrier_code"]),
        tracking_number=str(item["tracking_number"]),
        status=item.get("status", "pending"),
        substatus=_text(item, "substatus"),
        lifecycle=item.get("lifecycle", "active"),
        order_id=_text(item, "order_id"),
        order_created_at=_time(item, "order_created_at"),
        title=_text(item, "title"),
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
        last_event=_text(item, "last_event"),
        checkpoints=checkpoints,
        upstream_id=_text(item, "upstream_id"),
        created_at=created_at,
        updated_at=_time(item, "updated_at") or created_at,
        last_checked_at=_time(item, "last_checked_at"),
        last_changed_at=_time(item, "last_changed_at"),
    )


def tracking_item_from_item(item: Mapping[str, Any]) -> TrackingItem:
    """The stored record (resource + bookkeeping) for a TrackingsTable item."""
    return TrackingItem(
        tracking=tracking_from_item(item),
        version=_text(item, "upstream_version") or "",
        revision=_int(item, "revision") or 0,
        last_realtime_at=_time(item, "last_realtime_at"),
        terminal_at=_time(item, "terminal_at"),
        expires_at=_int(item, "expires_at"),
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


# ---------------------------------------------------------------------------------------------------------------------
# Expressions


class Expressions:
    """Key and filter conditions written as strings with their own placeholders.

    boto3's condition objects (``Key(...)``, ``Attr(...)``) are turned into strings by one builder per client that is
    reset on every request, so two threads querying through one resource can swap each other's placeholders (seen in
    the concurrency suite as a query on one index carrying another's key names). Strings never touch that builder.
    """

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def compare(self, attribute: str, operator: str, value: Any) -> str:
        return f"{self._name(attribute)} {operator} {self._value(value)}"

    def between(self, attribute: str, low: Any, high: Any) -> str:
        return f"{self._name(attribute)} BETWEEN {self._value(low)} AND {self._value(high)}"

    def params(self) -> dict[str, Any]:
        """``ExpressionAttributeNames`` / ``ExpressionAttributeValues`` for every condition written so far."""
        return {"ExpressionAttributeNames": dict(self.names), "ExpressionAttributeValues": dict(self.values)}

    def _name(self, attribute: str) -> str:
        placeholder = f"#n{len(self.names)}"
        self.names[placeholder] = attribute
        return placeholder

    def _value(self, value: Any) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = value
        return placeholder


# ---------------------------------------------------------------------------------------------------------------------
# Cursors


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class _Plan:
    """How one listing is read: which index, which partition, which filters."""

    index: str
    partition_value: str
    filters: tuple[tuple[str, str, str], ...]  # (attribute, operator "="/"<>", value)


#: One page of an index query's items (a module-level name: ``TrackingStore.list`` shadows ``list`` in the class).
Page = list[dict[str, Any]]


# ---------------------------------------------------------------------------------------------------------------------
# The store


class TrackingStore:
    """Reads and writes trackings in TrackingsTable. Takes the boto3 ``Table`` resource it works on.

    ``cursor_key`` keys the HMAC that makes listing cursors tamper-evident (default: derived from the table
    name). Cursors are not secret — they hold the caller's own keys — but a cursor that was not issued by us
    (or was issued for other filters) is refused with a 400 instead of reaching DynamoDB.
    """

    def __init__(
        self,
        table: Any,
        *,
        clock: Callable[[], datetime] = utc_now,
        cursor_key: bytes | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._table = table
        self._clock = clock
        self._sleep = sleep
        name = str(getattr(table, "name", "trackings"))
        self._cursor_key = cursor_key or hashlib.sha256(f"shiptrack-cursor:{name}".encode()).digest()

    # ----------------------------------------------------------------------------------------------- reads

    def load(self, ref: TrackingRef) -> TrackingItem | None:
        """The stored record (resource + bookkeeping), strongly consistent; ``None`` when unknown.

        An identity whose key DynamoDB could never hold (over :data:`MAX_KEY_BYTES`) is unknown without asking:
        DynamoDB would refuse the read itself, and such identities reach us only in untrusted input (a push body).
        """
        if not _storable(ref):
            return None
        response = self._table.get_item(Key={"pk": ref.key}, ConsistentRead=True)
        item = response.get("Item")
        return tracking_item_from_item(item) if item else None

    def get(self, ref: TrackingRef) -> Tracking | None:
        """The stored tracking; ``None`` when unknown."""
        record = self.load(ref)
        return record.tracking if record else None

    def batch_get(self, refs: Iterable[TrackingRef]) -> dict[TrackingRef, Tracking]:
        """The stored trackings among ``refs`` (BatchGetItem, 100 keys a call, unprocessed keys retried)."""
        return {ref: record.tracking for ref, record in self.batch_load(refs).items()}

    def batch_load(self, refs: Iterable[TrackingRef]) -> dict[TrackingRef, TrackingItem]:
        """The stored records (resource + bookkeeping) among ``refs``, strongly consistent, as :meth:`batch_get`."""
        wanted = sorted({ref.key for ref in refs if _storable(ref)})
        found: dict[TrackingRef, TrackingItem] = {}
        for item in consistent_batch_get(self._table, [{"pk": key} for key in wanted], sleep=self._sleep):
            record = tracking_item_from_item(item)
            found[record.ref] = record
        return found

    def list(self, query: ListQuery) -> TrackingList:
        """Trackings newest first, filtered as ``query`` says, at most ``query.limit``, with an opaque cursor.

        ``order_id`` uses ByOrder, ``status`` ByStatus (not archived), ``carrier_code`` ByCarrier, else ByCreated;
        the other filters are FilterExpressions. The cursor is the key of the last item returned, so items
        inserted meanwhile (all newer, so before it) neither repeat nor shift the next page.
        """
        plan = self._plan(query)
        hash_attr, range_attr = INDEX_KEYS[plan.index]
        expressions = Expressions()
        key_condition = expressions.compare(hash_attr, "=", plan.partition_value)
        if query.created_after and query.created_before:
            after, before = format_utc(query.created_after), format_utc(query.created_before)
            key_condition += " AND " + expressions.between(range_attr, after, before)
        elif query.created_after:
            key_condition += " AND " + expressions.compare(range_attr, ">=", format_utc(query.created_after))
        elif query.created_before:
            key_condition += " AND " + expressions.compare(range_attr, "<", format_utc(query.created_before))
        filters = [expressions.compare(attribute, operator, value) for attribute, operator, value in plan.filters]
        filter_expression = " AND ".join(filters) or None

        start_key = self._decode_cursor(query.cursor, plan, query) if query.cursor else None
        # One more than asked tells whether a next page exists without an extra, empty, round trip.
        page_limit = query.limit + 1 if filter_expression is None else min(1000, (query.limit + 1) * 4)
        collected: list[dict[str, Any]] = []
        for _ in range(MAX_LIST_PAGES):
            kwargs: dict[str, Any] = {
                "IndexName": plan.index,
                "KeyConditionExpression": key_condition,
                "ScanIndexForward": False,
                "Limit": page_limit,
                **expressions.params(),
            }
            if filter_expression is not None:
                kwargs["FilterExpression"] = filter_expression
            if start_key:
                kwargs["ExclusiveStartKey"] = start_key
            response = self._query(kwargs)
            items: list[dict[str, Any]] = response.get("Items", [])
            last_evaluated = response.get("LastEvaluatedKey")
            for position, item in enumerate(items):
                collected.append(item)
                if len(collected) == query.limit:
                    more = position < len(items) - 1 or last_evaluated is not None
                    cursor = self._encode_cursor(self._key_of(item, plan.index), plan, query) if more else None
                    return TrackingList(items=[tracking_from_item(i) for i in collected], next_cursor=cursor)
            if not last_evaluated:
                return TrackingList(items=[tracking_from_item(i) for i in collected])
            start_key = last_evaluated
        # Sparse filters: answer with what was found and let the caller continue from where the reading stopped.
        cursor = self._encode_cursor(self._key_of(start_key, plan.index), plan, query) if start_key else None
        return TrackingList(items=[tracking_from_item(i) for i in collected], next_cursor=cursor)

    def _query(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        try:
            response: dict[str, Any] = self._table.query(**kwargs)
        except ClientError as exc:
            # Only a start key can make a well-formed query invalid: the cursor is at fault, not us.
            if exc.response.get("Error", {}).get("Code") == "ValidationException" and "ExclusiveStartKey" in kwargs:
                raise InvalidCursorError("The cursor does not belong to this listing.") from exc
            raise
        return response

    @staticmethod
    def _plan(query: ListQuery) -> _Plan:
        lifecycle_filter: tuple[str, str, str] | None
        if query.lifecycle is None:
            lifecycle_filter = ("lifecycle", "<>", "archived")
        else:
            lifecycle_filter = ("lifecycle", "=", query.lifecycle)
        filters: list[tuple[str, str, str]] = []
        if query.order_id is not None:
            index, value = "ByOrder", query.order_id
            filters.append(lifecycle_filter)
            if query.status:
                filters.append(("status", "=", query.status))
            if query.carrier_code:
                filters.append(("carrier_code", "=", query.carrier_code))
        elif query.status is not None and query.lifecycle != "archived":
            # ByStatus holds only non-archived items: the lifecycle filter is needed only to pick active/stopped.
            index, value = "ByStatus", query.status
            if query.lifecycle is not None:
                filters.append(lifecycle_filter)
            if query.carrier_code:
                filters.append(("carrier_code", "=", query.carrier_code))
        elif query.carrier_code is not None:
            index, value = "ByCarrier", query.carrier_code
            filters.append(lifecycle_filter)
            if query.status:
                filters.append(("status", "=", query.status))
        else:
            archived = query.lifecycle == "archived"
            index, value = "ByCreated", LIST_ARCHIVED if archived else LIST_ALL
            if query.lifecycle in ("active", "stopped"):
                filters.append(lifecycle_filter)
            if query.status:
                filters.append(("status", "=", query.status))
        return _Plan(index=index, partition_value=value, filters=tuple(filters))

    @staticmethod
    def _key_of(item: Mapping[str, Any], index: str) -> dict[str, str]:
        hash_attr, range_attr = INDEX_KEYS[index]
        return {"pk": str(item["pk"]), hash_attr: str(item[hash_attr]), range_attr: str(item[range_attr])}

    def _sign(self, payload: bytes) -> str:
        return _b64(hmac.new(self._cursor_key, payload, hashlib.sha256).digest()[:16])

    def _encode_cursor(self, key: dict[str, str], plan: _Plan, query: ListQuery) -> str:
        payload = json.dumps(
            {"v": CURSOR_VERSION, "i": plan.index, "f": query.filter_key(), "k": key},
            separators=(",", ":"),
            sort_keys=True,
        ).encode()
        return f"{_b64(payload)}.{self._sign(payload)}"

    def _decode_cursor(self, cursor: str, plan: _Plan, query: ListQuery) -> dict[str, str]:
        invalid = InvalidCursorError("The cursor is not valid for this listing; start again without it.")
        body, sep, signature = cursor.partition(".")
        try:
            payload = _unb64(body) if sep else b""
        except (binascii.Error, ValueError) as exc:
            raise invalid from exc
        if not payload or not hmac.compare_digest(signature, self._sign(payload)):
            raise invalid
        try:
            data = json.loads(payload)
        except ValueError as exc:
            raise invalid from exc
        hash_attr, range_attr = INDEX_KEYS[plan.index]
        if (
            not isinstance(data, dict)
            or data.get("v") != CURSOR_VERSION
            or data.get("i") != plan.index
            or data.get("f") != query.filter_key()
        ):
            raise invalid
        key = data.get("k")
        if (
            not isinstance(key, dict)
            or set(key) != {"pk", hash_attr, range_attr}
            or not all(isinstance(value, str) and 0 < len(value) <= 1024 for value in key.values())
            or key[hash_attr] != plan.partition_value
            or not key[range_attr].endswith("#" + key["pk"])
        ):
            raise invalid
        try:
            TrackingRef.from_key(key["pk"])
        except ValueError as exc:
            raise invalid from exc
        return {str(name): str(value) for name, value in key.items()}

    def iter_active_least_recently_checked(
        self, *, checked_before: datetime | None = None, page_size: int = 100
    ) -> Iterator[TrackingRef]:
        """Active trackings, least recently checked first (never-checked first of all); ActiveByChecked.

        ``checked_before`` stops at trackings checked at or after that time. Lazy: pages are read as the caller
        iterates, so a caller that stops early (Lambda time budget) reads no more than it used.
        """
        expressions = Expressions()
        condition = expressions.compare("active_pk", "=", ACTIVE)
        if checked_before is not None:
            condition += " AND " + expressions.compare("checked_sk", "<", format_utc(checked_before))
        for page in self._pages("ActiveByChecked", condition, expressions, page_size):
            yield from (TrackingRef.from_key(str(item["pk"])) for item in page)

    def iter_terminal_before(self, cutoff: datetime, *, page_size: int = 100) -> Iterator[TrackingRef]:
        """Non-archived trackings that entered a terminal status before ``cutoff``, oldest first; TerminalByTime."""
        for page in self.terminal_pages(before=cutoff, page_size=page_size):
            yield from (TrackingRef.from_key(str(item["pk"])) for item in page)

    def terminal_pages(self, *, before: datetime, after: str | None = None, page_size: int = 100) -> Iterator[Page]:
        """TerminalByTime keys (``pk``, ``terminal_sk``) with ``after < terminal_sk < before``, oldest first, a page
        at a time (lazy; empty pages skipped). ``after`` is a ``terminal_sk`` already processed (a cursor)."""
        expressions = Expressions()
        upper = format_utc(before)
        condition = expressions.compare("terminal_pk", "=", TERMINAL) + " AND "
        if after:
            condition += expressions.between("terminal_sk", after, upper)
        else:
            condition += expressions.compare("terminal_sk", "<", upper)
        for page in self._pages("TerminalByTime", condition, expressions, page_size):
            items = [item for item in page if str(item["terminal_sk"]) != after]
            if items:
                yield items

    def _pages(self, index: str, condition: str, expressions: Expressions, page_size: int) -> Iterator[Page]:
        """The pages of an index query in key order, read as the caller iterates."""
        start_key: dict[str, Any] | None = None
        while True:
            kwargs: dict[str, Any] = {
                "IndexName": index,
                "KeyConditionExpression": condition,
                "ScanIndexForward": True,
                "Limit": page_size,
                **expressions.params(),
            }
            if start_key:
                kwargs["ExclusiveStartKey"] = start_key
            response = self._table.query(**kwargs)
            yield response.get("Items", [])
            start_key = response.get("LastEvaluatedKey")
            if not start_key:
                return

    # ----------------------------------------------------------------------------------------------- writes

    def put_new(
        self,
        tracking: Tracking,
        *,
        version: str = "",
        last_realtime_at: datetime | None = None,
    ) -> PutOutcome:
        """Store a tracking we did not hold (conditional on the identity being absent).

        When it already exists nothing is written and the stored copy is returned (``created=False``).
        """
        from botocore.exceptions import ClientError

        terminal_at = (tracking.last_changed_at or tracking.created_at) if tracking.is_terminal else None
        record = TrackingItem(
            tracking=tracking,
            version=version,
            revision=1,
            last_realtime_at=last_realtime_at,
            terminal_at=terminal_at,
        )
        try:
            self._table.put_item(
                Item=item_from_tracking(record),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise
            existing = self.get(tracking.ref)
            if existing is None:  # deleted in between: a rare race, and storing it now is right
                return self.put_new(tracking, version=version, last_realtime_at=last_realtime_at)
            return PutOutcome(created=False, tracking=existing)
        return PutOutcome(created=True, tracking=tracking)

    def apply_upstream_update(
        self,
        upstream: UpstreamTracking,
        *,
        observed_at: datetime,
        source: str,
        ref: TrackingRef | None = None,
        create_missing: bool = False,
        realtime: bool = False,
        current: TrackingItem | Unread | None = UNREAD,
    ) -> ApplyOutcome:
        """Apply a copy of a tracking read from TrackingMore (webhook, refresh, realtime, create) — monotonically.

        * The copy is applied only if its :func:`~shiptrack.models.upstream_version` is ``>=`` the stored one
          (compared here and enforced again by the conditional write): a late webhook is ``stale``.
        * A delivered tracking keeps its status through upstream copies — so it can never go back to a
          non-terminal one, not even by way of ``exception`` (only an explicit PATCH can change it): carrier data
          is taken, the delivered status and substatus are kept.
        * Only real changes are written: with an equal content fingerprint, just ``last_checked_at`` (and the
          version) move, which subscribers do not see. Our metadata is kept (see ``tracking_from_upstream``).
        * ``realtime=True`` also records ``last_realtime_at`` (TrackingMore's once-per-2-hours rule), stale or not.
        * Races with other writers are retried from a fresh read.

        ``ref`` defaults to the copy's own (normalised) carrier code and number. ``source`` is for logs.
        Unknown trackings are ``unknown`` unless ``create_missing`` (then stored as new: ``created``).
        ``current``: the stored record (``None``: absent) when the caller has just read it, so the first attempt
        does not read it again; every write is conditional, so a stale one only costs a retry from a fresh read.
        """
        ref = ref or TrackingRef.of(upstream.carrier_code or "", upstream.tracking_number or "")
        version = upstream_version(upstream)
        observed_at = to_millis(observed_at)
        for attempt in range(MAX_WRITE_ATTEMPTS):
            if attempt or isinstance(current, Unread):
                current = self.load(ref)
            if current is None:
                if not create_missing:
                    return ApplyOutcome(changed=False, tracking=None, reason="unknown")
                tracking = tracking_from_upstream(upstream, now=observed_at, ref=ref)
                put = self.put_new(tracking, version=version, last_realtime_at=observed_at if realtime else None)
                if put.created:
                    return ApplyOutcome(changed=True, tracking=put.tracking, reason="created")
                continue
            outcome = self._apply_once(current, upstream, version, observed_at=observed_at, realtime=realtime)
            if outcome is not None:
                if outcome.reason != "unchanged":
                    logger.debug(
                        "upstream update", extra={"tracking": str(ref), "source": source, "outcome": outcome.reason}
                    )
                return outcome
            self._backoff(attempt)
        raise RequestInProgressError(f"Tracking {ref} is being changed concurrently; try again.")

    def _apply_once(
        self,
        current: TrackingItem,
        upstream: UpstreamTracking,
        version: str,
        *,
        observed_at: datetime,
        realtime: bool,
    ) -> ApplyOutcome | None:
        """One attempt; ``None`` when a concurrent write won the race."""
        before = current.tracking
        if version < current.version:
            newer_realtime = current.last_realtime_at is None or current.last_realtime_at < observed_at
            if realtime and newer_realtime and not self._touch(current, last_realtime_at=observed_at):
                return None
            return ApplyOutcome(changed=False, tracking=before, reason="stale", previous=before)

        proposed = tracking_from_upstream(upstream, now=observed_at, base=before)
        if before.status == "delivered" and proposed.status != "delivered":
            # Delivered is final for upstream copies. Letting it move to another terminal status (exception) would
            # open a path back to transit one copy later; a return after delivery still shows in the checkpoints,
            # and a PATCH can set the status explicitly.
            proposed = proposed.model_copy(update={"status": before.status, "substatus": before.substatus})
        # last_checked_at never moves backwards (an older-but-not-stale observation can arrive late).
        if before.last_checked_at and before.last_checked_at > observed_at:
            proposed = proposed.model_copy(update={"last_checked_at": before.last_checked_at})

        fingerprint = content_fingerprint(proposed)
        if fingerprint == content_fingerprint(before):
            moved = proposed.last_checked_at != before.last_checked_at
            new_realtime = observed_at if realtime else None
            if moved or version != current.version or new_realtime:
                written = self._touch(
                    current,
                    last_checked_at=proposed.last_checked_at if moved else None,
                    version=version if version != current.version else None,
                    last_realtime_at=new_realtime,
                )
                if not written:
                    return None
                after = before.model_copy(update={"last_checked_at": proposed.last_checked_at})
                return ApplyOutcome(changed=False, tracking=after, reason="unchanged", previous=before)
            return ApplyOutcome(changed=False, tracking=before, reason="unchanged", previous=before)

        updated = replace(
            current,
            tracking=proposed,
            version=version,
            last_realtime_at=observed_at if realtime else current.last_realtime_at,
        )
        # _finalize moves only volatile timestamps, so the final copy has the proposed copy's fingerprint.
        final = self._finalize(current, updated, now=observed_at, changed=True)
        if not self._write(current, final, monotonic_version=version, fingerprint=fingerprint):
            return None
        return ApplyOutcome(changed=True, tracking=final.tracking, reason="applied", previous=before)

    def update_fields(
        self,
        ref: TrackingRef,
        changes: Mapping[str, Any],
        *,
        now: datetime | None = None,
        version: str | None = None,
        expires_at: int | None = None,
        current: TrackingItem | Unread | None = UNREAD,
    ) -> Tracking | None:
        """Set resource fields (metadata, ``status``/``substatus`` from an explicit override, ``lifecycle``).

        This is the PATCH path: no monotonic check on status (a revert may go back from delivered), but the
        upstream ``version`` only ever moves forward. ``expires_at`` is kept only while archived.
        Returns the stored tracking, ``None`` when unknown. ``current``: as for :meth:`apply_upstream_update`.
        """
        now = to_millis(now or self._clock())
        for attempt in range(MAX_WRITE_ATTEMPTS):
            if attempt or isinstance(current, Unread):
                current = self.load(ref)
            if current is None:
                return None
            proposed = current.tracking.model_copy(update=dict(changes))
            updated = replace(
                current,
                tracking=proposed,
                version=max(current.version, version or ""),
                expires_at=expires_at if expires_at is not None else current.expires_at,
            )
            final = self._finalize(current, updated, now=now)
            if final == current:
                return current.tracking
            if self._write(current, final):
                return final.tracking
            self._backoff(attempt)
        raise RequestInProgressError(f"Tracking {ref} is being changed concurrently; try again.")

    def set_lifecycle(
        self,
        ref: TrackingRef,
        lifecycle: Lifecycle,
        *,
        now: datetime | None = None,
        expires_at: datetime | None = None,
        current: TrackingItem | Unread | None = UNREAD,
    ) -> Tracking | None:
        """Move a tracking to ``lifecycle`` (active → stopped → archived, or back by PATCH).

        Archived trackings leave the LIST, status, active and terminal index partitions; ``expires_at`` (the
        retention TTL) applies only to archived ones. Returns the stored tracking, ``None`` when unknown.
        """
        ttl = int(expires_at.timestamp()) if expires_at is not None and lifecycle == "archived" else None
        return self.update_fields(ref, {"lifecycle": lifecycle}, now=now, expires_at=ttl, current=current)

    def mark_checked(self, refs: Iterable[TrackingRef], at: datetime) -> int:
        """Record that these trackings were looked at upstream at ``at`` (and found unchanged).

        Moves only ``last_checked_at`` (and its index key): invisible to subscribers. Never moves it backwards;
        unknown trackings are skipped. Returns how many were updated.
        """
        from botocore.exceptions import ClientError

        stamp = format_utc(at)
        updated = 0
        for ref in refs:
            try:
                self._table.update_item(
                    Key={"pk": ref.key},
                    UpdateExpression="SET last_checked_at = :at, checked_sk = :sk ADD revision :one",
                    ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(last_checked_at) "
                    "OR last_checked_at < :at)",
                    ExpressionAttributeValues={":at": stamp, ":sk": f"{stamp}#{ref.key}", ":one": 1},
                )
            except ClientError as exc:
                if not _is_condition_failure(exc):
                    raise
                continue
            updated += 1
        return updated

    def mark_realtime(self, ref: TrackingRef, at: datetime) -> bool:
        """Record an upstream realtime call for ``ref`` at ``at`` (TrackingMore allows one per 2 hours)."""
        from botocore.exceptions import ClientError

        try:
            self._table.update_item(
                Key={"pk": ref.key},
                UpdateExpression="SET last_realtime_at = :at ADD revision :one",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":at": format_utc(at), ":one": 1},
            )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise
            return False
        return True

    def move_identity(self, old_ref: TrackingRef, new_carrier_code: str, *, now: datetime | None = None) -> Tracking:
        """Move a tracking to another carrier code (after upstream ``/trackings/update``, reference §3.10).

        One transaction: delete the old item (conditional on its revision) and put the new one (conditional on
        absence). The carrier's data does not carry over (status back to ``pending``, no checkpoints, no upstream
        version), so the next upstream copy for the new carrier applies in full; our metadata and ``created_at``
        stay. Raises :class:`~shiptrack.errors.TrackingNotFoundError` when the old one is unknown and
        :class:`~shiptrack.errors.TrackingExistsError` when the new identity is already stored.
        """
        from botocore.exceptions import ClientError

        from shiptrack.errors import TrackingNotFoundError

        now = to_millis(now or self._clock())
        new_ref = TrackingRef.of(new_carrier_code, old_ref.tracking_number)
        # The Table's own client (de)serialises Python values itself (boto3's resource transformation hooks).
        client = self._table.meta.client
        for attempt in range(MAX_WRITE_ATTEMPTS):
            current = self.load(old_ref)
            if current is None:
                raise TrackingNotFoundError(f"Tracking {old_ref} is not tracked.")
            moved = current.tracking.model_copy(
                update={
                    "carrier_code": new_ref.carrier_code,
                    "status": "pending",
                    "substatus": None,
                    "checkpoints": [],
                    "last_event": None,
                    "transit_days": None,
                    "origin_country": None,
                    "destination_country": None,
                    "updated_at": now,
                    "last_changed_at": now,
                    "last_checked_at": None,
                }
            )
            record = TrackingItem(tracking=moved, revision=1)
            try:
                client.transact_write_items(
                    TransactItems=[
                        {
                            "Delete": {
                                "TableName": self._table.name,
                                "Key": {"pk": old_ref.key},
                                "ConditionExpression": "revision = :rev",
                                "ExpressionAttributeValues": {":rev": current.revision},
                            }
                        },
                        {
                            "Put": {
                                "TableName": self._table.name,
                                "Item": item_from_tracking(record),
                                "ConditionExpression": "attribute_not_exists(pk)",
                            }
                        },
                    ]
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise
                reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
                if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                    raise TrackingExistsError(f"Tracking {new_ref} is already tracked.") from exc
                self._backoff(attempt)
                continue
            return moved
        raise RequestInProgressError(f"Tracking {old_ref} is being changed concurrently; try again.")

    def delete(self, ref: TrackingRef) -> Tracking | None:
        """Delete a tracking; returns what was stored (``None`` when there was nothing)."""
        response = self._table.delete_item(Key={"pk": ref.key}, ReturnValues="ALL_OLD")
        old = response.get("Attributes")
        return tracking_from_item(old) if old else None

    # ----------------------------------------------------------------------------------------------- internals

    def _finalize(
        self, before: TrackingItem, after: TrackingItem, *, now: datetime, changed: bool | None = None
    ) -> TrackingItem:
        """Derived bookkeeping: ``updated_at``/``last_changed_at`` on real changes, ``terminal_at``, TTL.

        ``changed``: whether the content fingerprints differ, when the caller has compared them already.
        """
        tracking = after.tracking
        if changed is None:
            changed = content_fingerprint(tracking) != content_fingerprint(before.tracking)
        if changed:
            update: dict[str, Any] = {"updated_at": now}
            if any(getattr(before.tracking, name) != getattr(tracking, name) for name in SHIPMENT_FIELDS):
                update["last_changed_at"] = now
            tracking = tracking.model_copy(update=update)
        if tracking.status in TERMINAL_STATUSES:
            was_terminal = before.tracking.status in TERMINAL_STATUSES and before.terminal_at is not None
            terminal_at = before.terminal_at if was_terminal else now
        else:
            terminal_at = None
        expires_at = after.expires_at if tracking.lifecycle == "archived" else None
        return replace(after, tracking=tracking, terminal_at=terminal_at, expires_at=expires_at)

    def _write(
        self,
        current: TrackingItem,
        new: TrackingItem,
        *,
        monotonic_version: str | None = None,
        fingerprint: str | None = None,
    ) -> bool:
        """Put ``new`` if the item is still at ``current.revision``; ``False`` when another write won.

        ``fingerprint``: ``new``'s content fingerprint when the caller has it."""
        from botocore.exceptions import ClientError

        condition = "revision = :rev"
        values: dict[str, Any] = {":rev": current.revision}
        if monotonic_version is not None:
            # The monotonic rule, enforced by DynamoDB itself (docs/design.md §5).
            condition += " AND (attribute_not_exists(upstream_version) OR upstream_version <= :ver)"
            values[":ver"] = monotonic_version
        record = replace(new, revision=current.revision + 1)
        try:
            self._table.put_item(
                Item=item_from_tracking(record, fingerprint=fingerprint),
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise
        return True

    def _touch(
        self,
        current: TrackingItem,
        *,
        last_checked_at: datetime | None = None,
        version: str | None = None,
        last_realtime_at: datetime | None = None,
    ) -> bool:
        """Update only bookkeeping attributes (nothing a subscriber sees), if still at ``current.revision``."""
        from botocore.exceptions import ClientError

        sets = ["revision = :next"]
        values: dict[str, Any] = {":rev": current.revision, ":next": current.revision + 1}
        if last_checked_at is not None:
            stamp = format_utc(last_checked_at)
            sets += ["last_checked_at = :checked", "checked_sk = :checked_sk"]
            values[":checked"] = stamp
            values[":checked_sk"] = f"{stamp}#{current.ref.key}"
        if version is not None:
            sets.append("upstream_version = :ver")
            values[":ver"] = version
        if last_realtime_at is not None:
            sets.append("last_realtime_at = :rt")
            values[":rt"] = format_utc(last_realtime_at)
        try:
            self._table.update_item(
                Key={"pk": current.ref.key},
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="revision = :rev",
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise
        return True

    def _backoff(self, attempt: int) -> None:
        # Jitter spreads writers that lost the same race; the cap keeps a request well inside API Gateway's 29 s.
        self._sleep(min(0.2, 0.005 * 2**attempt) * random.random())  # noqa: S311 - jitter, not security


def consistent_batch_get(
    table: Any, keys: Sequence[Mapping[str, Any]], *, sleep: Callable[[float], None] = time.sleep
) -> Iterator[dict[str, Any]]:
    """The items of ``table`` at ``keys`` (strongly consistent BatchGetItem, 100 keys a call), unprocessed keys
    retried with a backoff capped at 1 s until DynamoDB has answered them all."""
    # The Table's own client (de)serialises Python values itself (boto3's resource transformation hooks).
    client = table.meta.client
    for start in range(0, len(keys), 100):
        request: dict[str, Any] = {table.name: {"Keys": list(keys[start : start + 100]), "ConsistentRead": True}}
        attempt = 0
        while request:
            response = client.batch_get_item(RequestItems=request)
            yield from response.get("Responses", {}).get(table.name, [])
            request = response.get("UnprocessedKeys") or {}
            if request:
                attempt += 1
                sleep(min(0.05 * 2**attempt, 1.0))


def _storable(ref: TrackingRef) -> bool:
    """Whether DynamoDB can hold (and so be asked about) this identity's key."""
    return len(ref.key.encode()) <= MAX_KEY_BYTES


def _is_condition_failure(exc: Exception) -> bool:
    response = getattr(exc, "response", {}) or {}
    return bool(response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")
