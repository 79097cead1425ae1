"""``batch_create_trackings``: any number of trackings, 40 per ``POST /trackings/batch``, one outcome per item.

A chunk is never re-sent blindly after an ambiguous failure (timeout, reset, 5xx): the creator first asks
``GET /trackings/get?numbers=…`` which items exist, records those, and re-sends only the missing ones (at most
``max_retries`` times, and only while the deadline leaves room for the backoff and an attempt). Some failures stop
the whole batch, because every later chunk would meet them too: authentication and quota errors, and the deadline
(no time left to send, or no rate-limit slot before it). The chunks not sent then fail with that error; with a
deadline they are ``retryable``, so the caller stores what was created and answers the rest ``failed``.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from trackingmore import errors
from trackingmore._responses import list_of_mappings, mapping
from trackingmore._routes import BATCH_CREATE, BATCH_CREATE_LIMIT
from trackingmore._transport import Transport, as_int, may_have_taken_effect
from trackingmore.models import (
    MAX_PAGE_LIMIT,
    BatchCreateItem,
    BatchCreateResult,
    CreateTrackingRequest,
    Tracking,
    TrackingPage,
)

__all__ = ["BatchCreator"]

logger = logging.getLogger("trackingmore")

_Key = tuple[str, str]
_Pending = list[tuple[int, CreateTrackingRequest]]
ListTrackings = Callable[..., TrackingPage]


def _key(tracking_number: str | None, carrier_code: str | None) -> _Key:
    return ((tracking_number or "").strip().lower(), (carrier_code or "").strip().lower())


def _chunks(items: Sequence[CreateTrackingRequest], size: int) -> Iterator[_Pending]:
    for start in range(0, len(items), size):
        yield list(enumerate(items[start : start + size], start))


def _stops_the_batch(error: errors.TrackingMoreError) -> bool:
    """Whether every later chunk would fail the same way, so none is sent."""
    if isinstance(error, errors.AuthenticationError | errors.QuotaExceededError):
        return True
    if isinstance(error, errors.DeadlineExceededError):
        return not error.request_sent
    # Our own rate gate had no slot before the deadline (a 429 from TrackingMore has an HTTP status).
    return isinstance(error, errors.RateLimitError) and error.http_status is None


def _item(
    req: CreateTrackingRequest,
    outcome: Literal["created", "exists", "failed"],
    *,
    tracking: Tracking | None = None,
    error: errors.TrackingMoreError | None = None,
    error_code: int | None = None,
    message: str | None = None,
    retryable: bool | None = None,
) -> BatchCreateItem:
    """The one place a ``BatchCreateItem`` is built: code, message and retryability default to ``error``'s."""
    return BatchCreateItem(
        tracking_number=req.tracking_number,
        carrier_code=req.carrier_code,
        outcome=outcome,
        tracking=tracking,
        error=error,
        error_code=error_code if error_code is not None or error is None else error.code,
        error_message=message if message is not None or error is None else error.message,
        retryable=(error.retryable if error is not None else False) if retryable is None else retryable,
    )


def _failed(
    req: CreateTrackingRequest,
    error: errors.TrackingMoreError,
    *,
    retryable: bool | None = None,
    message: str | None = None,
) -> BatchCreateItem:
    return _item(req, "failed", error=error, retryable=retryable, message=message)


@dataclass
class _ChunkOutcome:
    items: dict[int, BatchCreateItem] = field(default_factory=dict)
    stop: errors.TrackingMoreError | None = None


class BatchCreator:
    """Creates trackings in chunks through ``transport``; ``list_trackings`` (the client's) reconciles."""

    def __init__(self, transport: Transport, list_trackings: ListTrackings) -> None:
        self._transport = transport
        self._list_trackings = list_trackings

    def create(self, requests: Sequence[CreateTrackingRequest]) -> BatchCreateResult:
        """One outcome per request, in input order; never raises for upstream failures (see the module docstring)."""
        outcomes: dict[int, BatchCreateItem] = {}
        stop: errors.TrackingMoreError | None = None
        for chunk in _chunks(requests, BATCH_CREATE_LIMIT):
            if stop is not None:
                outcomes.update({index: _failed(req, stop) for index, req in chunk})
                continue
            result = self._create_chunk(chunk)
            outcomes.update(result.items)
            stop = result.stop
        return BatchCreateResult(items=[outcomes[index] for index in range(len(requests))])

    def _create_chunk(self, chunk: _Pending) -> _ChunkOutcome:
        outcome = _ChunkOutcome()
        pending = chunk
        resends = 0
        while pending:
            try:
                data = self._transport.request(BATCH_CREATE, json_body=[req.to_payload() for _, req in pending])
                answer = mapping(data, BATCH_CREATE)  # an answer of another shape is as ambiguous as none
            except errors.TrackingMoreError as exc:
                if not may_have_taken_effect(exc):
                    outcome.items.update({index: _failed(req, exc) for index, req in pending})
                    outcome.stop = exc if _stops_the_batch(exc) else None
                    return outcome
                pending = self._reconcile(pending, exc, outcome)
                if not pending:
                    return outcome
                delay = self._transport.backoff_delay(resends + 1)
                if resends >= self._transport.max_retries or not self._transport.time_for(delay):
                    outcome.items.update({index: _failed(req, exc, retryable=True) for index, req in pending})
                    return outcome
                resends += 1
                self._transport.sleep(delay)
                continue
            _apply_answer(pending, answer, outcome)
            return outcome
        return outcome

    def _reconcile(self, pending: _Pending, failure: errors.TrackingMoreError, outcome: _ChunkOutcome) -> _Pending:
        """After an ambiguous failure, learn which items exist; record them and return the rest.

        Anything found is reported "created" (see ``BatchCreateItem``). If the lookup fails, every pending
        item is recorded failed and retryable, and nothing is left to send.
        """
        numbers = list(dict.fromkeys(req.tracking_number for _, req in pending))
        try:
            page = self._list_trackings(numbers=numbers, limit=MAX_PAGE_LIMIT)
        except errors.TrackingMoreError as lookup_error:
            logger.debug("batch reconciliation failed: %s", type(lookup_error).__name__)
            message = f"{failure.message}; reconciliation failed: {lookup_error.message}"
            outcome.items.update(
                {index: _failed(req, failure, retryable=True, message=message) for index, req in pending}
            )
            return []
        found = {_key(t.tracking_number, t.carrier_code): t for t in page.items}
        missing: _Pending = []
        for index, req in pending:
            tracking = found.get(_key(req.tracking_number, req.carrier_code))
            if tracking is None:
                missing.append((index, req))
            else:
                outcome.items[index] = _item(req, "created", tracking=tracking)
        logger.debug("batch reconciliation: %d found, %d to send again", len(pending) - len(missing), len(missing))
        return missing


def _apply_answer(pending: _Pending, answer: Mapping[str, Any], outcome: _ChunkOutcome) -> None:
    """Match the answer of ``POST /trackings/batch`` (``{submitted, added, trackings[], errors[]}``, reference §3.2)
    to the requests: upstream reports per (tracking_number, carrier_code); a number asked twice matches in order."""
    waiting: dict[_Key, deque[tuple[int, CreateTrackingRequest]]] = {}
    for index, req in pending:
        waiting.setdefault(_key(req.tracking_number, req.carrier_code), deque()).append((index, req))

    def take(entry: Mapping[str, Any]) -> tuple[int, CreateTrackingRequest] | None:
        queue = waiting.get(_key(str(entry.get("tracking_number") or ""), str(entry.get("carrier_code") or "")))
        return queue.popleft() if queue else None

    for entry in list_of_mappings(answer.get("trackings")):
        if (taken := take(entry)) is not None:
            outcome.items[taken[0]] = _item(taken[1], "created", tracking=Tracking.model_validate(entry))
    for entry in list_of_mappings(answer.get("errors")):
        if (taken := take(entry)) is not None:
            outcome.items[taken[0]] = _item_error(taken[1], entry)
    unreported = errors.TransportError("TrackingMore did not report this item", endpoint=BATCH_CREATE.name)
    for queue in waiting.values():
        outcome.items.update({index: _failed(req, unreported) for index, req in queue})


def _item_error(req: CreateTrackingRequest, entry: Mapping[str, Any]) -> BatchCreateItem:
    """An item upstream reported in ``errors[]``: 4016 means it already exists; anything else failed it."""
    code = as_int(entry.get("code"))
    message = str(entry.get("message")) if entry.get("message") is not None else None
    if code == 4016:
        return _item(req, "exists", error_code=code, message=message)
    if code is None:
        refused = errors.InvalidRequestError(message or "TrackingMore refused this item", endpoint=BATCH_CREATE.name)
        return _failed(req, refused, message=message)
    error = errors.error_class_for(code)(message or f"error {code}", code=code, endpoint=BATCH_CREATE.name)
    return _failed(req, error, retryable=code in errors.RETRYABLE_CODES, message=message)
