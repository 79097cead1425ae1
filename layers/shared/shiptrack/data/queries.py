"""Queries on TrackingsTable's indexes (Query only, never Scan): the listing planner and the index pagers.

**Listing** (``GET /trackings``) picks the most selective index for the filters — ``order_id`` → ByOrder,
``status`` → ByStatus, ``carrier_code`` → ByCarrier, otherwise ByCreated — and applies the remaining filters as a
``FilterExpression`` (docs/data-model.md "Indexes"). ``updated_after`` makes it the **changes feed**
(:func:`changes`, ByUpdated): oldest change first, alone (no other filter can be served from that index without
reading what it throws away). A page holds at most ``limit`` trackings and at most
:data:`~shiptrack.payloads.PAGE_BUDGET_BYTES` of them as Lambda counts bytes: a page that would be larger ends
early, with a cursor that continues after its last item. **Pagers** read the sparse KEYS_ONLY indexes the jobs walk
(ActiveByChecked, TerminalByTime) a page at a time, as the caller iterates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from shiptrack.data.codec import (
    ACTIVE,
    INDEX_KEYS,
    LIST_ALL,
    LIST_ARCHIVED,
    TERMINAL,
    UPDATED,
    tracking_from_item,
)
from shiptrack.data.cursors import CursorSigner, decode_cursor, encode_cursor
from shiptrack.data.dynamodb import Item, batch_get
from shiptrack.data.expressions import Expressions
from shiptrack.errors import FieldError, InvalidCursorError, UnsupportedFiltersError
from shiptrack.models import ListQuery, TrackingList, format_utc
from shiptrack.payloads import fitting

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

__all__ = [
    "MAX_LIST_PAGES",
    "ListPlan",
    "Page",
    "active_least_recently_checked",
    "changes",
    "fit_page",
    "list_trackings",
    "plan",
    "terminal",
]

# A listing with sparse filters reads at most this many pages before answering with what it has and a cursor,
# so one request cannot run for the whole Lambda timeout.
MAX_LIST_PAGES: Final = 10
#: With a FilterExpression a page reads this many times the items asked for (capped at 1000): fewer round trips
#: when the filter keeps few of them.
FILTERED_PAGE_FACTOR: Final = 4

#: One page of an index query's items.
Page = list[Item]
Filter = tuple[str, str, str]  # (attribute, operator "="/"<>", value)


@dataclass(frozen=True, slots=True)
class ListPlan:
    """How one listing is read: which index, which partition, which filters."""

    index: str
    partition_value: str
    filters: tuple[Filter, ...]


#: The filters of a plain listing, none of which the changes feed takes (see :func:`plan`).
PLAIN_FILTERS: Final = ("status", "carrier_code", "order_id", "lifecycle", "created_after", "created_before")


def plan(query: ListQuery) -> ListPlan:
    """The index, partition and remaining filters for a listing (the most selective index first).

    The changes feed (``updated_after``) takes no other filter: ByUpdated is ordered by change time only, so any
    filter would read, and pay for, every change it throws away — a rare status could read the whole table for one
    page. Such a query is a 400 ``unsupported_filters`` naming them.
    """
    if query.updated_after is not None:
        combined = [name for name in PLAIN_FILTERS if getattr(query, name) is not None]
        if combined:
            raise UnsupportedFiltersError(
                f"updated_after (the changes feed) cannot be combined with {', '.join(combined)}: it serves every "
                "change in order; filter the changes on your side.",
                errors=[
                    FieldError(loc=["query", name], msg="not supported with updated_after", type="unsupported_filter")
                    for name in combined
                ],
            )
        return ListPlan("ByUpdated", UPDATED, ())
    lifecycle: Filter = (
        ("lifecycle", "<>", "archived") if query.lifecycle is None else ("lifecycle", "=", query.lifecycle)
    )
    status: list[Filter] = [("status", "=", query.status)] if query.status else []
    carrier: list[Filter] = [("carrier_code", "=", query.carrier_code)] if query.carrier_code else []
    if query.order_id is not None:
        return ListPlan("ByOrder", query.order_id, (lifecycle, *status, *carrier))
    if query.status is not None and query.lifecycle != "archived":
        # ByStatus holds only non-archived items: the lifecycle filter is needed only to pick active/stopped.
        return ListPlan("ByStatus", query.status, (*([lifecycle] if query.lifecycle else []), *carrier))
    if query.carrier_code is not None:
        return ListPlan("ByCarrier", query.carrier_code, (lifecycle, *status))
    partition = LIST_ARCHIVED if query.lifecycle == "archived" else LIST_ALL
    return ListPlan(
        "ByCreated", partition, (*([lifecycle] if query.lifecycle in ("active", "stopped") else []), *status)
    )


def _key_condition(listing: ListPlan, query: ListQuery, expressions: Expressions) -> str:
    hash_attr, range_attr = INDEX_KEYS[listing.index]
    condition = expressions.compare(hash_attr, "=", listing.partition_value)
    if query.created_after and query.created_before:
        after, before = format_utc(query.created_after), format_utc(query.created_before)
        condition += " AND " + expressions.between(range_attr, after, before)
    elif query.created_after:
        condition += " AND " + expressions.compare(range_attr, ">=", format_utc(query.created_after))
    elif query.created_before:
        condition += " AND " + expressions.compare(range_attr, "<", format_utc(query.created_before))
    return condition


def list_trackings(
    table: Table, query: ListQuery, cursors: CursorSigner, *, changes_until: datetime | None = None
) -> TrackingList:
    """Trackings newest first, filtered as ``query`` says, at most ``query.limit`` (fewer when they would not fit
    Lambda's response limit), with an opaque cursor; with ``updated_after``, the changes feed (:func:`changes`,
    up to ``changes_until``).

    The cursor is the key of the last item *returned* (not ``LastEvaluatedKey``), so items inserted meanwhile
    (all newer, so before it) neither repeat nor shift the next page.
    """
    listing = plan(query)
    if listing.index == "ByUpdated":
        return changes(table, query, cursors, until=changes_until)
    expressions = Expressions()
    request: dict[str, Any] = {
        "IndexName": listing.index,
        "KeyConditionExpression": _key_condition(listing, query, expressions),
        "ScanIndexForward": False,
    }
    filters = [expressions.compare(attribute, operator, value) for attribute, operator, value in listing.filters]
    if filters:
        request["FilterExpression"] = " AND ".join(filters)
    # One more than asked tells whether a next page exists without an extra, empty, round trip.
    request["Limit"] = min(1000, (query.limit + 1) * FILTERED_PAGE_FACTOR) if filters else query.limit + 1
    request.update(expressions.params())

    def cursor_after(item: Mapping[str, Any]) -> str:
        return encode_cursor(cursors, _key_of(item, listing.index), index=listing.index, filter_key=query.filter_key())

    start_key: Mapping[str, Any] | None = None
    if query.cursor:
        scope = {"index": listing.index, "partition_value": listing.partition_value, "filter_key": query.filter_key()}
        start_key = decode_cursor(cursors, query.cursor, **scope)
    collected: list[Item] = []
    for _ in range(MAX_LIST_PAGES):
        response = _query(table, {**request, **({"ExclusiveStartKey": start_key} if start_key else {})})
        items: Page = response.get("Items", [])
        last_evaluated = response.get("LastEvaluatedKey")
        for position, item in enumerate(items):
            collected.append(item)
            if len(collected) == query.limit:
                more = position < len(items) - 1 or last_evaluated is not None
                return fit_page(collected, cursor_after(item) if more else None, cursor_after)
        if not last_evaluated:
            return fit_page(collected, None, cursor_after)
        start_key = last_evaluated
    # Sparse filters: answer with what was found and let the caller continue from where the reading stopped.
    return fit_page(collected, cursor_after(start_key) if start_key else None, cursor_after)


def fit_page(items: list[Item], cursor: str | None, cursor_after: Callable[[Item], str]) -> TrackingList:
    """The page of ``items`` continuing at ``cursor`` — or, when they would not fit Lambda's response limit, of as
    many as fit, continuing after the last of them (none is lost: the next page starts with the first left out)."""
    trackings = [tracking_from_item(item) for item in items]
    count = fitting(tracking.model_dump_json() for tracking in trackings)
    if count < len(trackings):
        return TrackingList(items=trackings[:count], next_cursor=cursor_after(items[count - 1]))
    return TrackingList(items=trackings, next_cursor=cursor)


def changes(table: Table, query: ListQuery, cursors: CursorSigner, *, until: datetime | None) -> TrackingList:
    """The changes feed: trackings whose last visible change is at or after ``query.updated_after`` (and before
    ``until``), oldest change first (ByUpdated), each as stored now (docs/data-model.md "The changes feed").

    ``until`` holds back the newest changes (``ChangesFeedDelaySeconds``): a change is stamped when the work that
    makes it starts and reaches the index later (that work, then the index's propagation), so a change stamped
    before one already served could still appear; served only once stamped longer ago than that, none can fall
    behind a poller's cursor. An entry whose tracking changed again since (its item's ``updated_sk`` moved on) is
    skipped: the tracking comes at its newest change. The cursor is after the last entry read, served or skipped;
    when nothing new was read, it is the cursor given — a poller always continues with ``next_cursor``.
    """
    index = "ByUpdated"
    filter_key = query.filter_key()

    def cursor_after(entry: Mapping[str, Any]) -> str:
        return encode_cursor(cursors, _key_of(entry, index), index=index, filter_key=filter_key)

    start_key: Mapping[str, Any] | None = None
    if query.cursor:
        start_key = decode_cursor(cursors, query.cursor, index=index, partition_value=UPDATED, filter_key=filter_key)
    after = format_utc(query.updated_after) if query.updated_after else ""
    upper = format_utc(until) if until is not None else "9999"
    if after >= upper:
        return TrackingList(items=[], next_cursor=query.cursor)
    expressions = Expressions()
    condition = (
        expressions.compare("updated_pk", "=", UPDATED) + " AND " + expressions.between("updated_sk", after, upper)
    )
    collected: list[Item] = []
    last_entry: Mapping[str, Any] | None = None
    for _ in range(MAX_LIST_PAGES):
        request: dict[str, Any] = {
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ScanIndexForward": True,
            "Limit": query.limit - len(collected),
            **expressions.params(),
        }
        if start_key:
            request["ExclusiveStartKey"] = start_key
        response = _query(table, request)
        entries: Page = response.get("Items", [])
        collected += _current(table, entries)
        last_entry = entries[-1] if entries else last_entry
        start_key = response.get("LastEvaluatedKey")
        if len(collected) >= query.limit or not start_key:
            break
    return fit_page(collected, cursor_after(last_entry) if last_entry else query.cursor, cursor_after)


def _current(table: Table, entries: Page) -> list[Item]:
    """The stored items of ByUpdated ``entries``, in their order, less those deleted or changed again since."""
    if not entries:
        return []
    stored = {str(item["pk"]): item for item in batch_get(table, [{"pk": entry["pk"]} for entry in entries])}
    fresh = [stored.get(str(entry["pk"])) for entry in entries]
    return [
        item
        for item, entry in zip(fresh, entries, strict=True)
        if item and item.get("updated_sk") == entry["updated_sk"]
    ]


def _query(table: Table, request: dict[str, Any]) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    try:
        response: dict[str, Any] = dict(table.query(**request))
    except ClientError as exc:
        # Only a start key can make a well-formed query invalid: the cursor is at fault, not us.
        if exc.response.get("Error", {}).get("Code") == "ValidationException" and "ExclusiveStartKey" in request:
            raise InvalidCursorError("The cursor does not belong to this listing.") from exc
        raise
    return response


def _key_of(item: Mapping[str, Any], index: str) -> dict[str, str]:
    hash_attr, range_attr = INDEX_KEYS[index]
    return {"pk": str(item["pk"]), hash_attr: str(item[hash_attr]), range_attr: str(item[range_attr])}


def pages(table: Table, index: str, condition: str, expressions: Expressions, page_size: int) -> Iterator[Page]:
    """The pages of an index query in ascending key order, read as the caller iterates."""
    start_key: Mapping[str, Any] | None = None
    while True:
        request: dict[str, Any] = {
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ScanIndexForward": True,
            "Limit": page_size,
            **expressions.params(),
        }
        if start_key:
            request["ExclusiveStartKey"] = start_key
        response = table.query(**request)
        yield list(response.get("Items", []))
        start_key = response.get("LastEvaluatedKey")
        if not start_key:
            return


def active_least_recently_checked(table: Table, *, checked_before: datetime | None, page_size: int) -> Iterator[Page]:
    """ActiveByChecked keys, least recently checked first (never-checked first of all), a page at a time.
    ``checked_before`` stops at trackings checked at or after that time."""
    expressions = Expressions()
    condition = expressions.compare("active_pk", "=", ACTIVE)
    if checked_before is not None:
        condition += " AND " + expressions.compare("checked_sk", "<", format_utc(checked_before))
    return pages(table, "ActiveByChecked", condition, expressions, page_size)


def terminal(table: Table, *, before: datetime, after: str | None, page_size: int) -> Iterator[Page]:
    """TerminalByTime keys (``pk``, ``terminal_sk``) with ``after < terminal_sk < before``, oldest first, a page
    at a time (empty pages skipped). ``after`` is a ``terminal_sk`` already processed (a cursor)."""
    expressions = Expressions()
    upper = format_utc(before)
    condition = expressions.compare("terminal_pk", "=", TERMINAL) + " AND "
    if after:
        condition += expressions.between("terminal_sk", after, upper)
    else:
        condition += expressions.compare("terminal_sk", "<", upper)
    for page in pages(table, "TerminalByTime", condition, expressions, page_size):
        items = [item for item in page if str(item["terminal_sk"]) != after]
        if items:
            yield items
