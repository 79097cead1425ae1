"""``TrackingMoreClient``: typed methods for every TrackingMore v2 endpoint (reference §2).

Retry decisions, per endpoint (``_transport.RetryMode``):

* Reads (GETs, carrier detection, remote-area and transit-time checks) and the naturally idempotent writes
  (``PUT`` update, deletes, ``notupdate``, ``updatemore``) are retried after transport errors, timeouts, 429
  and 5xx: repeating them leaves the same state.
* ``POST /trackings/post`` (create one) is retried the same way: if a lost attempt did create the tracking,
  the repeat answers 4016 "already exists", which ``create_tracking`` resolves by fetching the tracking.
  ``delete_tracking`` likewise treats a 4017 after such a retry as done, and ``change_carrier`` checks.
* ``POST /trackings/batch`` is never re-sent blindly after an ambiguous failure: the client first asks
  ``GET /trackings/get?numbers=…`` which items exist, then re-sends only the missing ones.
* ``POST /trackings/realtime`` is retried only when the request surely never reached TrackingMore (the
  connection could not be opened) or was refused with 429 (after the documented 120 s pause): the same
  number may be queried only once per 2 hours (reference §3.9), so a repeat of a call that did arrive would
  be refused or wasted for two hours.
* ``POST /trackings/aircargo`` is read-only but costs 20 quota per air waybill (reference §8); it is retried
  under the realtime rule, so a lost answer is not paid for twice without the caller deciding to.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar, Unpack
from urllib.parse import quote

import requests
from pydantic import BaseModel

from trackingmore import errors
from trackingmore._transport import (
    RateLimit,
    RetryMode,
    Route,
    Transport,
    as_int,
    may_have_taken_effect,
)
from trackingmore.models import (
    MAX_PAGE_LIMIT,
    AirCargo,
    BatchCreateItem,
    BatchCreateResult,
    BatchResult,
    Carrier,
    CarrierMatch,
    CreateTrackingRequest,
    ListTrackingsQuery,
    RealtimeRequest,
    RemoteCheck,
    RemoteCheckResult,
    StatusCounts,
    StatusCountsFilters,
    StatusCountsQuery,
    Tracking,
    TrackingListFilters,
    TrackingPage,
    TrackingRef,
    TransitTime,
    TransitTimeQuery,
    UpdateTrackingRequest,
    UpdateTrackingsItem,
    UserInfo,
)

__all__ = [
    "BATCH_CREATE_LIMIT",
    "BULK_LIMIT",
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "LIST_RATE_LIMIT",
    "REALTIME_RATE_LIMIT",
    "REALTIME_RATE_LIMIT_PAUSE",
    "TrackingMoreClient",
]

logger = logging.getLogger("trackingmore")

DEFAULT_BASE_URL: Final = "https://api.trackingmore.com/v2"
#: (connect, read) seconds.
DEFAULT_TIMEOUT: Final = (3.05, 20.0)
DEFAULT_MAX_RETRIES: Final = 3
#: Items per ``POST /trackings/batch`` (reference §3.2).
BATCH_CREATE_LIMIT: Final = 40
#: Items per ``updatemore``/``delete``/``notupdate`` call: undocumented; 4020 says "at most 200" (reference §4.1).
BULK_LIMIT: Final = 200
#: ``GET /trackings/get``: 1 request per second (reference §3.3, §8).
LIST_RATE_LIMIT: Final = RateLimit(requests=1, per_seconds=1.0)
#: ``POST /trackings/realtime``: 3 requests per second (reference §3.9, §8).
REALTIME_RATE_LIMIT: Final = RateLimit(requests=3, per_seconds=1.0)
#: Wait after a realtime 429 that names no ``Retry-After`` (reference §8).
REALTIME_RATE_LIMIT_PAUSE: Final = 120.0

_AWB = re.compile(r"^([0-9]{3})([ \-])?([0-9]{7,8})$")
_LANG = re.compile(r"^[a-z]{2}$")
_TRACKING_NUMBER = re.compile(r"^[0-9A-Za-z_-]{5,}$")

_CARRIERS = Route("GET", "/carriers")
_DETECT = Route("POST", "/carriers/detect")
_CREATE = Route("POST", "/trackings/post")
_GET = Route("GET", "/trackings/{carrier_code}/{tracking_number}")
_GET_IN_LANG = Route("GET", "/trackings/{carrier_code}/{tracking_number}/{lang}")
_UPDATE = Route("PUT", "/trackings/{carrier_code}/{tracking_number}")
_DELETE = Route("DELETE", "/trackings/{carrier_code}/{tracking_number}")
_BATCH_CREATE = Route("POST", "/trackings/batch", retry=RetryMode.UNPROCESSED_ONLY)
_LIST = Route("GET", "/trackings/get", rate_limit=LIST_RATE_LIMIT)
_UPDATE_MANY = Route("POST", "/trackings/updatemore")
_DELETE_MANY = Route("POST", "/trackings/delete")
_REALTIME = Route(
    "POST",
    "/trackings/realtime",
    retry=RetryMode.UNPROCESSED_ONLY,
    rate_limit=REALTIME_RATE_LIMIT,
    pause_after_rate_limit=REALTIME_RATE_LIMIT_PAUSE,
)
_CHANGE_CARRIER = Route("POST", "/trackings/update")
_USER_INFO = Route("GET", "/trackings/getuserinfo")
_STATUS_COUNTS = Route("GET", "/trackings/getstatusnumber")
_STOP_UPDATING = Route("POST", "/trackings/notupdate")
_REMOTE = Route("POST", "/trackings/remote")
_TRANSIT_TIMES = Route("POST", "/trackings/costtime")
_AIR_CARGO = Route("POST", "/trackings/aircargo", retry=RetryMode.UNPROCESSED_ONLY)

# Count keys seen (or expected) in bulk answers: notupdate "change", delete "delete" (reference §3.8, §3.13).
_SUCCESS_COUNT_KEYS: Final = ("succeeded", "success", "change", "changed", "delete", "deleted", "update", "updated")
# Errors that will hit every later chunk of a batch the same way: stop calling after the first.
_ACCOUNT_WIDE_ERRORS: Final = (errors.AuthenticationError, errors.QuotaExceededError)

_Model = TypeVar("_Model", bound=BaseModel)
_Key = tuple[str, str]


def _key(tracking_number: str | None, carrier_code: str | None) -> _Key:
    return ((tracking_number or "").strip().lower(), (carrier_code or "").strip().lower())


def _segment(value: str) -> str:
    return quote(value, safe="")


def _chunks(items: Sequence[_Model], size: int) -> Iterator[list[tuple[int, _Model]]]:
    for start in range(0, len(items), size):
        yield list(enumerate(items[start : start + size], start))


def _malformed(route: Route, what: str) -> errors.TransportError:
    return errors.TransportError(f"unexpected response shape: {what}", endpoint=route.name)


def _mapping(data: object, route: Route) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise _malformed(route, f"data is {type(data).__name__}, expected an object")
    return data


def _list_of_mappings(data: object) -> list[Mapping[str, Any]]:
    if isinstance(data, list):
        return [item for item in data if isinstance(item, Mapping)]
    return []


@dataclass
class _ChunkOutcome:
    items: dict[int, BatchCreateItem] = field(default_factory=dict)
    account_error: errors.TrackingMoreError | None = None


class TrackingMoreClient:
    """A typed client for TrackingMore API v2.

    Thread-safe; create one per process and reuse it. ``clock`` and ``sleep`` drive backoff and the client-side
    rate limits (inject fakes in tests); ``rng`` is the jitter source. The API key is sent only in the
    ``Trackingmore-Api-Key`` header and never appears in reprs, exception messages or logs.

    Every method raises a ``trackingmore.errors.TrackingMoreError`` subclass when TrackingMore refuses the call
    or cannot be reached after the retries the endpoint allows (see the module docstring), and
    ``ValueError`` (``pydantic.ValidationError``) for arguments that fail validation before any request.
    """

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if not isinstance(api_key, str) or not api_key.strip():
            raise ValueError("api_key must be a non-empty string")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self._transport = Transport(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            session=session,
            clock=clock,
            sleep=sleep,
            rng=rng,
        )

    def __repr__(self) -> str:
        return f"TrackingMoreClient(base_url={self._transport.base_url!r}, max_retries={self._transport.max_retries})"

    def close(self) -> None:
        """Release the HTTP session (only if the client created it)."""
        self._transport.close()

    def __enter__(self) -> TrackingMoreClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- carriers -------------------------------------------------------------------------------------------------

    def list_carriers(self, lang: str | None = None) -> list[Carrier]:
        """All couriers TrackingMore supports (``GET /carriers``); ``lang`` picks the names' language."""
        headers = {"Lang": _checked_lang(lang)} if lang is not None else None
        data = self._transport.request(_CARRIERS, headers=headers)
        return [Carrier.model_validate(item) for item in _list_of_mappings(data)]

    def detect_carrier(self, tracking_number: str) -> list[CarrierMatch]:
        """Couriers whose number format matches (``POST /carriers/detect``; costs 0.2 quota).

        Raises ``CarrierNotDetectedError`` (4032) when none does.
        """
        if not _TRACKING_NUMBER.match(tracking_number):
            raise ValueError("tracking_number must be 5 or more letters, digits, '-' or '_'")
        data = self._transport.request(_DETECT, json_body={"tracking_number": tracking_number})
        return [CarrierMatch.model_validate(item) for item in _list_of_mappings(data)]

    # -- single trackings -----------------------------------------------------------------------------------------

    def create_tracking(self, request: CreateTrackingRequest) -> Tracking:
        """Create one tracking (``POST /trackings/post``; 1 quota per new number).

        Raises ``TrackingAlreadyExistsError`` (4016) when it already existed before this call. If an earlier
        attempt of this same call was lost in transit and had in fact created it, the retry's 4016 is resolved
        by fetching the tracking, so the caller sees the success it caused.
        """
        try:
            data = self._transport.request(_CREATE, json_body=request.to_payload())
        except errors.TrackingAlreadyExistsError as exc:
            if not exc.retried_after_ambiguous_failure:
                raise
            logger.debug("create answered 4016 after an ambiguous attempt; fetching the tracking instead")
            return self.get_tracking(request.carrier_code, request.tracking_number)
        return _tracking_from(data, _CREATE)

    def get_tracking(self, carrier_code: str, tracking_number: str, *, lang: str | None = None) -> Tracking:
        """One tracking with its events (``GET /trackings/{carrier_code}/{tracking_number}[/{lang}]``).

        Raises ``TrackingNotFoundError`` (4031/4017) when the account does not hold it.
        """
        ref = TrackingRef(carrier_code=carrier_code, tracking_number=tracking_number)
        path = _single_path(ref)
        route = _GET
        if lang is not None:
            path = f"{path}/{_checked_lang(lang)}"
            route = _GET_IN_LANG
        return _tracking_from(self._transport.request(route, path), route)

    def update_tracking(self, carrier_code: str, tracking_number: str, request: UpdateTrackingRequest) -> Tracking:
        """Edit a tracking's extra fields, status (4/7/8) or archive flag (``PUT /trackings/{c}/{n}``)."""
        ref = TrackingRef(carrier_code=carrier_code, tracking_number=tracking_number)
        data = self._transport.request(_UPDATE, _single_path(ref), json_body=request.to_payload())
        return _tracking_from(data, _UPDATE)

    def delete_tracking(self, carrier_code: str, tracking_number: str) -> None:
        """Delete a tracking (``DELETE /trackings/{c}/{n}``). Raises ``TrackingNotFoundError`` if absent.

        A 4017 that follows a lost attempt of this same call means that attempt deleted it: not an error.
        """
        ref = TrackingRef(carrier_code=carrier_code, tracking_number=tracking_number)
        try:
            self._transport.request(_DELETE, _single_path(ref))
        except errors.TrackingNotFoundError as exc:
            if not exc.retried_after_ambiguous_failure:
                raise

    def realtime_tracking(self, request: RealtimeRequest) -> Tracking:
        """Query the carrier live and add the number to the account (``POST /trackings/realtime``).

        Kept under 3 requests/s. TrackingMore allows the same number once per 2 hours, so this call is only
        retried when it surely did not reach TrackingMore, or after the documented 120 s pause on a 429.
        """
        data = self._transport.request(_REALTIME, json_body=request.to_payload())
        payload = _mapping(data, _REALTIME)
        items = _list_of_mappings(payload.get("items"))
        if items:
            return Tracking.model_validate(items[0])
        if "tracking_number" in payload:
            return Tracking.model_validate(payload)
        raise _malformed(_REALTIME, "no tracking in data.items")

    def change_carrier(self, carrier_code: str, tracking_number: str, new_carrier_code: str) -> None:
        """Move a tracking to another courier (``POST /trackings/update``)."""
        ref = TrackingRef(carrier_code=carrier_code, tracking_number=tracking_number)
        new_ref = TrackingRef(carrier_code=new_carrier_code, tracking_number=tracking_number)
        body = {
            "tracking_number": ref.tracking_number,
            "carrier_code": ref.carrier_code,
            "update_carrier_code": new_ref.carrier_code,
        }
        try:
            self._transport.request(_CHANGE_CARRIER, json_body=body)
        except errors.TrackingNotFoundError as exc:
            # After a lost attempt, "not found under the old courier" may mean that attempt moved it: check.
            if not exc.retried_after_ambiguous_failure:
                raise
            try:
                self.get_tracking(new_ref.carrier_code, new_ref.tracking_number)
            except errors.TrackingNotFoundError:
                raise exc from None

    # -- many trackings -------------------------------------------------------------------------------------------

    def batch_create_trackings(self, requests: Sequence[CreateTrackingRequest]) -> BatchCreateResult:
        """Create any number of trackings, 40 per upstream call, one outcome per item in input order.

        Never raises for upstream failures: a chunk that still fails after the retries marks its items
        ``failed`` (``retryable=True`` for transport errors, timeouts, 429 and 5xx), other chunks go on.
        After an ambiguous failure (timeout, reset, 5xx) the chunk is reconciled with
        ``GET /trackings/get?numbers=…`` and only the items not found are sent again. After an authentication
        or quota error, the remaining chunks are not sent and fail with that error.
        """
        outcomes: dict[int, BatchCreateItem] = {}
        account_error: errors.TrackingMoreError | None = None
        for chunk in _chunks(requests, BATCH_CREATE_LIMIT):
            if account_error is not None:
                outcomes.update({index: _failed_item(req, account_error) for index, req in chunk})
                continue
            result = self._create_chunk(chunk)
            outcomes.update(result.items)
            account_error = result.account_error
        return BatchCreateResult(items=[outcomes[index] for index in range(len(requests))])

    def list_trackings(self, **filters: Unpack[TrackingListFilters]) -> TrackingPage:
        """One page of trackings (``GET /trackings/get``; kept under 1 request/s).

        Filters: ``page``, ``limit`` (≤ 2000), ``status``, ``created_at_min/max``, ``update_time_min/max``,
        ``order_created_time_min/max`` (aware datetimes or unix seconds), ``lang``, ``numbers`` and ``orders``
        (≤ 40 each), ``archived`` (``True`` archived only, ``False`` unarchived only, ``None`` both).
        """
        query = ListTrackingsQuery.model_validate(filters)
        try:
            data = self._transport.request(_LIST, params=query.to_params())
        except errors.TrackingNotFoundError as exc:
            if exc.code != 4031:
                raise
            data = None  # 4031 is "success but empty" (reference §4.1)
        page = query.page or 1
        if not isinstance(data, Mapping):
            return TrackingPage(page=page, limit=query.limit or 0, total=0, items=[])
        parsed = TrackingPage.model_validate(data)
        if "page" not in parsed.model_fields_set:
            parsed.page = page
        return parsed

    def iter_trackings(self, **filters: Unpack[TrackingListFilters]) -> Iterator[Tracking]:
        """Every tracking matching the filters, fetching pages lazily (same filters as ``list_trackings``)."""
        page_number = filters.get("page", 1)
        while True:
            current: TrackingListFilters = {**filters, "page": page_number}
            page = self.list_trackings(**current)
            yield from page.items
            if not page.has_more:
                return
            if page.page != page_number:
                logger.warning("TrackingMore answered page %s for page %s; stopping", page.page, page_number)
                return
            page_number += 1

    def update_trackings(self, requests: Sequence[UpdateTrackingsItem]) -> BatchResult:
        """Edit many trackings (``POST /trackings/updatemore``), ``BULK_LIMIT`` per upstream call."""
        return self._bulk(_UPDATE_MANY, requests)

    def delete_trackings(self, refs: Sequence[TrackingRef]) -> BatchResult:
        """Delete many trackings (``POST /trackings/delete``), ``BULK_LIMIT`` per upstream call."""
        return self._bulk(_DELETE_MANY, refs)

    def stop_updating(self, refs: Sequence[TrackingRef]) -> BatchResult:
        """Stop TrackingMore refreshing these trackings (``POST /trackings/notupdate``)."""
        return self._bulk(_STOP_UPDATING, refs)

    # -- account and tools ----------------------------------------------------------------------------------------

    def get_user_info(self) -> UserInfo:
        """Account e-mail, phone, balance and remaining numbers (``GET /trackings/getuserinfo``)."""
        return UserInfo.model_validate(_mapping(self._transport.request(_USER_INFO), _USER_INFO))

    def get_status_counts(self, **filters: Unpack[StatusCountsFilters]) -> StatusCounts:
        """How many trackings are in each status (``GET /trackings/getstatusnumber``)."""
        query = StatusCountsQuery.model_validate(filters)
        data = self._transport.request(_STATUS_COUNTS, params=query.to_params())
        return StatusCounts.model_validate(_mapping(data, _STATUS_COUNTS))

    def check_remote_areas(self, checks: Sequence[RemoteCheck]) -> RemoteCheckResult:
        """Whether (country, postcode) pairs are remote areas, per courier (``POST /trackings/remote``)."""
        if not checks:
            return RemoteCheckResult()
        data = self._transport.request(_REMOTE, json_body=[check.to_payload() for check in checks])
        return RemoteCheckResult.model_validate(_mapping(data, _REMOTE))

    def get_transit_times(self, queries: Sequence[TransitTimeQuery]) -> list[TransitTime]:
        """Courier transit-time statistics between countries (``POST /trackings/costtime``)."""
        if not queries:
            return []
        data = self._transport.request(_TRANSIT_TIMES, json_body=[query.to_payload() for query in queries])
        if isinstance(data, Mapping):
            data = data.get("items", list(data.values()))
        return [TransitTime.model_validate(item) for item in _list_of_mappings(data)]

    def track_air_cargo(self, awb_numbers: Sequence[str], *, lang: str | None = None) -> list[AirCargo]:
        """Track air waybills (``POST /trackings/aircargo``; 20 quota each), results in request order.

        Numbers must look like ``NNN-NNNNNNNN`` (official SDK rule); repeated numbers are sent once.
        """
        if isinstance(awb_numbers, str):
            raise ValueError("awb_numbers must be a sequence of air waybill numbers, not one string")
        unique = list(dict.fromkeys(awb_numbers))
        bad = [number for number in unique if not _AWB.match(number)]
        if bad:
            raise ValueError(f"not air waybill numbers (NNN-NNNNNNNN): {bad}")
        if not unique:
            return []
        body: dict[str, object] = {"track_number": unique}
        if lang is not None:
            body["lang"] = _checked_lang(lang)
        data = self._transport.request(_AIR_CARGO, json_body=body)
        if isinstance(data, Mapping):
            by_number = {str(key): value for key, value in data.items() if isinstance(value, Mapping)}
            ordered = [by_number.pop(number) for number in unique if number in by_number]
            return [AirCargo.model_validate(item) for item in [*ordered, *by_number.values()]]
        return [AirCargo.model_validate(item) for item in _list_of_mappings(data)]

    # -- internals ------------------------------------------------------------------------------------------------

    def _bulk(self, route: Route, items: Sequence[TrackingRef] | Sequence[UpdateTrackingsItem]) -> BatchResult:
        merged = BatchResult()
        for start in range(0, len(items), BULK_LIMIT):
            chunk = items[start : start + BULK_LIMIT]
            data = self._transport.request(route, json_body=[item.to_payload() for item in chunk])
            result = _bulk_result(data, submitted=len(chunk))
            merged.submitted += result.submitted
            merged.succeeded += result.succeeded
            merged.items.extend(result.items)
        return merged

    def _create_chunk(self, chunk: list[tuple[int, CreateTrackingRequest]]) -> _ChunkOutcome:
        outcome = _ChunkOutcome()
        pending = chunk
        resends = 0
        while pending:
            try:
                data = self._transport.request(_BATCH_CREATE, json_body=[req.to_payload() for _, req in pending])
                answered = _batch_answer(data)
            except errors.TrackingMoreError as exc:
                if not may_have_taken_effect(exc):
                    outcome.items.update({index: _failed_item(req, exc) for index, req in pending})
                    if isinstance(exc, _ACCOUNT_WIDE_ERRORS):
                        outcome.account_error = exc
                    return outcome
                pending = self._reconcile(pending, exc, outcome)
                if pending and resends >= self._transport.max_retries:
                    outcome.items.update({index: _failed_item(req, exc, retryable=True) for index, req in pending})
                    return outcome
                if pending:
                    resends += 1
                    self._transport.sleep(self._transport.backoff_delay(resends))
                continue
            _apply_batch_answer(pending, answered, outcome)
            return outcome
        return outcome

    def _reconcile(
        self,
        pending: list[tuple[int, CreateTrackingRequest]],
        failure: errors.TrackingMoreError,
        outcome: _ChunkOutcome,
    ) -> list[tuple[int, CreateTrackingRequest]]:
        """After an ambiguous failure, learn which items exist; record them and return the rest.

        Anything found is reported "created" (see ``BatchCreateItem``). If the lookup fails, every pending
        item is recorded failed and retryable, and nothing is left to send.
        """
        numbers = list(dict.fromkeys(req.tracking_number for _, req in pending))
        try:
            page = self.list_trackings(numbers=numbers, limit=MAX_PAGE_LIMIT)
        except errors.TrackingMoreError as lookup_error:
            logger.debug("batch reconciliation failed: %s", type(lookup_error).__name__)
            for index, req in pending:
                outcome.items[index] = _failed_item(
                    req,
                    failure,
                    retryable=True,
                    message=f"{failure.message}; reconciliation failed: {lookup_error.message}",
                )
            return []
        found = {_key(t.tracking_number, t.carrier_code): t for t in page.items}
        missing: list[tuple[int, CreateTrackingRequest]] = []
        for index, req in pending:
            tracking = found.get(_key(req.tracking_number, req.carrier_code))
            if tracking is None:
                missing.append((index, req))
            else:
                outcome.items[index] = BatchCreateItem(
                    tracking_number=req.tracking_number,
                    carrier_code=req.carrier_code,
                    outcome="created",
                    tracking=tracking,
                )
        logger.debug("batch reconciliation: %d found, %d to send again", len(pending) - len(missing), len(missing))
        return missing


# ---------------------------------------------------------------------------------------------------------------------


def _checked_lang(lang: str) -> str:
    if not _LANG.match(lang):
        raise ValueError("lang must be two lower-case letters, e.g. 'en'")
    return lang


def _single_path(ref: TrackingRef) -> str:
    return f"/trackings/{_segment(ref.carrier_code)}/{_segment(ref.tracking_number)}"


def _tracking_from(data: object, route: Route) -> Tracking:
    if isinstance(data, list) and data and isinstance(data[0], Mapping):
        data = data[0]
    return Tracking.model_validate(_mapping(data, route))


def _failed_item(
    req: CreateTrackingRequest,
    error: errors.TrackingMoreError,
    *,
    retryable: bool | None = None,
    message: str | None = None,
) -> BatchCreateItem:
    return BatchCreateItem(
        tracking_number=req.tracking_number,
        carrier_code=req.carrier_code,
        outcome="failed",
        error_code=error.code,
        error_message=message or error.message,
        retryable=error.retryable if retryable is None else retryable,
    )


@dataclass
class _BatchAnswer:
    trackings: list[Mapping[str, Any]]
    errors: list[Mapping[str, Any]]


def _batch_answer(data: object) -> _BatchAnswer:
    """``data`` of ``POST /trackings/batch``: ``{submitted, added, trackings[], errors[]}`` (reference §3.2)."""
    payload = _mapping(data, _BATCH_CREATE)
    return _BatchAnswer(
        trackings=_list_of_mappings(payload.get("trackings")),
        errors=_list_of_mappings(payload.get("errors")),
    )


def _apply_batch_answer(
    pending: list[tuple[int, CreateTrackingRequest]], answer: _BatchAnswer, outcome: _ChunkOutcome
) -> None:
    # Upstream reports per (tracking_number, carrier_code); a number asked twice is matched in input order.
    waiting: dict[_Key, deque[tuple[int, CreateTrackingRequest]]] = {}
    for index, req in pending:
        waiting.setdefault(_key(req.tracking_number, req.carrier_code), deque()).append((index, req))

    def take(entry: Mapping[str, Any]) -> tuple[int, CreateTrackingRequest] | None:
        queue = waiting.get(_key(str(entry.get("tracking_number") or ""), str(entry.get("carrier_code") or "")))
        return queue.popleft() if queue else None

    for entry in answer.trackings:
        taken = take(entry)
        if taken is not None:
            index, req = taken
            outcome.items[index] = BatchCreateItem(
                tracking_number=req.tracking_number,
                carrier_code=req.carrier_code,
                outcome="created",
                tracking=Tracking.model_validate(entry),
            )
    for entry in answer.errors:
        taken = take(entry)
        if taken is None:
            continue
        index, req = taken
        code = as_int(entry.get("code"))
        message = str(entry.get("message")) if entry.get("message") is not None else None
        if code == 4016:
            outcome.items[index] = BatchCreateItem(
                tracking_number=req.tracking_number,
                carrier_code=req.carrier_code,
                outcome="exists",
                error_code=code,
                error_message=message,
            )
        else:
            outcome.items[index] = BatchCreateItem(
                tracking_number=req.tracking_number,
                carrier_code=req.carrier_code,
                outcome="failed",
                error_code=code,
                error_message=message,
                retryable=code in errors.RETRYABLE_CODES,
            )
    for queue in waiting.values():
        for index, req in queue:
            outcome.items[index] = BatchCreateItem(
                tracking_number=req.tracking_number,
                carrier_code=req.carrier_code,
                outcome="failed",
                error_message="TrackingMore did not report this item",
                retryable=True,
            )


def _bulk_result(data: object, *, submitted: int) -> BatchResult:
    """Read the undocumented bulk answers tolerantly (reference §3.7, §3.8, §3.13)."""
    if isinstance(data, list):
        return BatchResult.model_validate({"submitted": submitted, "succeeded": submitted, "items": data})
    if not isinstance(data, Mapping):
        # "data": [] / null with a success meta: nothing more is known than that the call succeeded.
        return BatchResult(submitted=submitted, succeeded=submitted)
    items = [*_list_of_mappings(data.get("trackings")), *_list_of_mappings(data.get("errors"))]
    result = BatchResult.model_validate({"items": items})
    result.submitted = as_int(data.get("submitted")) or submitted
    counts = [as_int(data.get(key)) for key in _SUCCESS_COUNT_KEYS]
    known = [count for count in counts if count is not None]
    result.succeeded = known[0] if known else result.submitted - len(result.failed)
    return result
