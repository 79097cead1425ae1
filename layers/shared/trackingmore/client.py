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
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Final, Unpack
from urllib.parse import quote

import requests

from trackingmore import _routes as routes
from trackingmore import errors
from trackingmore._batch import BatchCreator
from trackingmore._responses import bulk_result, list_of_mappings, mapping, tracking_from
from trackingmore._routes import (
    BATCH_CREATE_LIMIT,
    BULK_LIMIT,
    LIST_RATE_LIMIT,
    REALTIME_RATE_LIMIT,
    REALTIME_RATE_LIMIT_PAUSE,
)
from trackingmore._transport import DEFAULT_RATE_LIMIT_WAIT, Budget, Route, Transport
from trackingmore.deadline import DEFAULT_DEADLINE_MARGIN, DEFAULT_MIN_ATTEMPT, Deadline, DeadlineLike, as_deadline
from trackingmore.models import (
    AirCargo,
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
from trackingmore.ratelimit import RateGate, RateLimit

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

_AWB = re.compile(r"^([0-9]{3})([ \-])?([0-9]{7,8})$")
_LANG = re.compile(r"^[a-z]{2}$")
_TRACKING_NUMBER = re.compile(r"^[0-9A-Za-z_-]{5,}$")


def _segment(value: str) -> str:
    return quote(value, safe="")


class TrackingMoreClient:
    """A typed client for TrackingMore API v2.

    Thread-safe; create one per process and reuse it. ``clock`` and ``sleep`` drive backoff, rate-limit waits and
    deadlines (inject fakes in tests); ``rng`` is the jitter source. The API key is sent only in the
    ``Trackingmore-Api-Key`` header and never appears in reprs, exception messages or logs.

    Rate limits: before each call to a rate-limited route (list 1/s, realtime 3/s, and batch creates when
    ``batch_create_rate_limit`` is given) the client reserves a slot from ``rate_gate`` and sleeps until it starts
    (waking more than half the gate's margin late, it leaves that slot and takes another: ``MAX_SLOT_RETAKES``);
    after a 429 it asks the gate to pause the route (120 s for realtime). A slot further away than
    ``rate_limit_wait`` seconds (default: no bound) or than the deadline allows is not waited for:
    ``RateLimitError`` with ``retry_after``, nothing sent. Without ``rate_gate``, every client of the same account
    in the process shares one in-process gate that keeps the windows but no pauses (the limiter this client always
    had); pass an ``InProcessRateGate()`` to keep pauses in one process, or a gate shared by every process
    (``trackingmore.ratelimit.RateGate``) to keep the limits account-wide.

    Deadlines: ``with_deadline`` gives a view of the client that fits every call into the time left (see there).

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
        rate_gate: RateGate | None = None,
        batch_create_rate_limit: RateLimit | None = None,
        rate_limit_wait: float = DEFAULT_RATE_LIMIT_WAIT,
    ) -> None:
        if not isinstance(api_key, str) or not api_key.strip():
            raise ValueError("api_key must be a non-empty string")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        limits = {routes.BATCH_CREATE.name: batch_create_rate_limit} if batch_create_rate_limit is not None else {}
        self._transport = Transport(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            session=session,
            clock=clock,
            sleep=sleep,
            rng=rng,
            rate_gate=rate_gate,
            rate_limits=limits,
            rate_limit_wait=rate_limit_wait,
        )
        self._clock = clock

    def __repr__(self) -> str:
        return f"TrackingMoreClient(base_url={self._transport.base_url!r}, max_retries={self._transport.max_retries})"

    def close(self) -> None:
        """Release the HTTP session (only if the client created it; a view from ``with_deadline`` never does)."""
        self._transport.close()

    def __enter__(self) -> TrackingMoreClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- deadlines ------------------------------------------------------------------------------------------------

    def with_deadline(
        self,
        deadline: DeadlineLike,
        *,
        margin: float = DEFAULT_DEADLINE_MARGIN,
        min_attempt: float = DEFAULT_MIN_ATTEMPT,
    ) -> TrackingMoreClient:
        """A view of this client (same session, rate gate and retry policy) whose calls fit before ``deadline``.

        ``deadline`` is a ``trackingmore.Deadline`` or a callable giving the seconds left, e.g.
        ``Deadline.from_remaining_millis(context.get_remaining_time_in_millis)`` in a Lambda function. The view
        keeps ``margin`` seconds for the caller to answer and:

        * starts no attempt with less than ``min_attempt`` seconds left: ``DeadlineExceededError``
          (``request_sent=False``, retryable);
        * gives each attempt at most the time left as connect and read timeout; an attempt the deadline cuts short
          ends in ``DeadlineExceededError`` (``request_sent=True``);
        * retries only when the backoff (or ``Retry-After``) plus ``min_attempt`` fits; otherwise the call ends with
          the error of its last attempt;
        * waits for a rate-limit slot only if it comes ``min_attempt`` before the end; otherwise ``RateLimitError``
          (``code=None``) with ``retry_after`` when the slot comes;
        * in ``batch_create_trackings``, sends no chunk once time is short: the unsent items fail, retryable, with
          that ``DeadlineExceededError``.

        A view binds one deadline; it is cheap, so make one per invocation. Calling it again replaces the deadline.
        """
        if margin < 0 or min_attempt <= 0:
            raise ValueError("margin must be >= 0 and min_attempt > 0")
        view = object.__new__(TrackingMoreClient)
        view.__dict__.update(self.__dict__)
        view._transport = self._transport.bound(Budget(as_deadline(deadline), margin, min_attempt))
        return view

    def deadline_in(self, seconds: float) -> Deadline:
        """A deadline ``seconds`` from now on this client's clock (for ``with_deadline``)."""
        return Deadline.within(seconds, clock=self._clock)

    @property
    def deadline(self) -> Deadline | None:
        """The deadline this view is bound to (``with_deadline``); ``None`` for the client itself."""
        budget = self._transport.budget
        return budget.deadline if budget is not None else None

    # -- carriers -------------------------------------------------------------------------------------------------

    def list_carriers(self, lang: str | None = None) -> list[Carrier]:
        """All couriers TrackingMore supports (``GET /carriers``); ``lang`` picks the names' language."""
        headers = {"Lang": _checked_lang(lang)} if lang is not None else None
        data = self._transport.request(routes.CARRIERS, headers=headers)
        return [Carrier.model_validate(item) for item in list_of_mappings(data)]

    def detect_carrier(self, tracking_number: str) -> list[CarrierMatch]:
        """Couriers whose number format matches (``POST /carriers/detect``; costs 0.2 quota).

        Raises ``CarrierNotDetectedError`` (4032) when none does.
        """
        if not _TRACKING_NUMBER.match(tracking_number):
            raise ValueError("tracking_number must be 5 or more letters, digits, '-' or '_'")
        data = self._transport.request(routes.DETECT, json_body={"tracking_number": tracking_number})
        return [CarrierMatch.model_validate(item) for item in list_of_mappings(data)]

    # -- single trackings -----------------------------------------------------------------------------------------

    def create_tracking(self, request: CreateTrackingRequest) -> Tracking:
        """Create one tracking (``POST /trackings/post``; 1 quota per new number).

        Raises ``TrackingAlreadyExistsError`` (4016) when it already existed before this call. If an earlier
        attempt of this same call was lost in transit and had in fact created it, the retry's 4016 is resolved
        by fetching the tracking, so the caller sees the success it caused.
        """
        try:
            data = self._transport.request(routes.CREATE, json_body=request.to_payload())
        except errors.TrackingAlreadyExistsError as exc:
            if not exc.retried_after_ambiguous_failure:
                raise
            logger.debug("create answered 4016 after an ambiguous attempt; fetching the tracking instead")
            return self.get_tracking(request.carrier_code, request.tracking_number)
        return tracking_from(data, routes.CREATE)

    def get_tracking(self, carrier_code: str, tracking_number: str, *, lang: str | None = None) -> Tracking:
        """One tracking with its events (``GET /trackings/{carrier_code}/{tracking_number}[/{lang}]``).

        Raises ``TrackingNotFoundError`` (4031/4017) when the account does not hold it.
        """
        ref = TrackingRef(carrier_code=carrier_code, tracking_number=tracking_number)
        path = _single_path(ref)
        route = routes.GET
        if lang is not None:
            path = f"{path}/{_checked_lang(lang)}"
            route = routes.GET_IN_LANG
        return tracking_from(self._transport.request(route, path), route)

    def update_tracking(self, carrier_code: str, tracking_number: str, request: UpdateTrackingRequest) -> Tracking:
        """Edit a tracking's extra fields, status (4/7/8) or archive flag (``PUT /trackings/{c}/{n}``)."""
        ref = TrackingRef(carrier_code=carrier_code, tracking_number=tracking_number)
        data = self._transport.request(routes.UPDATE, _single_path(ref), json_body=request.to_payload())
        return tracking_from(data, routes.UPDATE)

    def delete_tracking(self, carrier_code: str, tracking_number: str) -> None:
        """Delete a tracking (``DELETE /trackings/{c}/{n}``). Raises ``TrackingNotFoundError`` if absent.

        A 4017 that follows a lost attempt of this same call means that attempt deleted it: not an error.
        """
        ref = TrackingRef(carrier_code=carrier_code, tracking_number=tracking_number)
        try:
            self._transport.request(routes.DELETE, _single_path(ref))
        except errors.TrackingNotFoundError as exc:
            if not exc.retried_after_ambiguous_failure:
                raise

    def realtime_tracking(self, request: RealtimeRequest) -> Tracking:
        """Query the carrier live and add the number to the account (``POST /trackings/realtime``).

        Kept under 3 requests/s. TrackingMore allows the same number once per 2 hours, so this call is only
        retried when it surely did not reach TrackingMore, or after the documented 120 s pause on a 429.
        """
        data = self._transport.request(routes.REALTIME, json_body=request.to_payload())
        return tracking_from(data, routes.REALTIME)

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
            self._transport.request(routes.CHANGE_CARRIER, json_body=body)
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
        or quota error, the remaining chunks are not sent and fail with that error. On a view bound to a deadline
        (``with_deadline``), no chunk is sent once too little time is left: the unsent items fail, retryable, with
        a ``DeadlineExceededError`` in ``error``; everything sent before keeps its outcome.
        """
        return BatchCreator(self._transport, self.list_trackings).create(requests)

    def list_trackings(self, **filters: Unpack[TrackingListFilters]) -> TrackingPage:
        """One page of trackings (``GET /trackings/get``; kept under 1 request/s).

        Filters: ``page``, ``limit`` (≤ 2000), ``status``, ``created_at_min/max``, ``update_time_min/max``,
        ``order_created_time_min/max`` (aware datetimes or unix seconds), ``lang``, ``numbers`` and ``orders``
        (≤ 40 each), ``archived`` (``True`` archived only, ``False`` unarchived only, ``None`` both).
        """
        query = ListTrackingsQuery.model_validate(filters)
        try:
            data = self._transport.request(routes.LIST, params=query.to_params())
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
        return self._bulk(routes.UPDATE_MANY, requests)

    def delete_trackings(self, refs: Sequence[TrackingRef]) -> BatchResult:
        """Delete many trackings (``POST /trackings/delete``), ``BULK_LIMIT`` per upstream call."""
        return self._bulk(routes.DELETE_MANY, refs)

    def stop_updating(self, refs: Sequence[TrackingRef]) -> BatchResult:
        """Stop TrackingMore refreshing these trackings (``POST /trackings/notupdate``)."""
        return self._bulk(routes.STOP_UPDATING, refs)

    # -- account and tools ----------------------------------------------------------------------------------------

    def get_user_info(self) -> UserInfo:
        """Account e-mail, phone, balance and remaining numbers (``GET /trackings/getuserinfo``)."""
        return UserInfo.model_validate(mapping(self._transport.request(routes.USER_INFO), routes.USER_INFO))

    def get_status_counts(self, **filters: Unpack[StatusCountsFilters]) -> StatusCounts:
        """How many trackings are in each status (``GET /trackings/getstatusnumber``)."""
        query = StatusCountsQuery.model_validate(filters)
        data = self._transport.request(routes.STATUS_COUNTS, params=query.to_params())
        return StatusCounts.model_validate(mapping(data, routes.STATUS_COUNTS))

    def check_remote_areas(self, checks: Sequence[RemoteCheck]) -> RemoteCheckResult:
        """Whether (country, postcode) pairs are remote areas, per courier (``POST /trackings/remote``)."""
        if not checks:
            return RemoteCheckResult()
        data = self._transport.request(routes.REMOTE, json_body=[check.to_payload() for check in checks])
        return RemoteCheckResult.model_validate(mapping(data, routes.REMOTE))

    def get_transit_times(self, queries: Sequence[TransitTimeQuery]) -> list[TransitTime]:
        """Courier transit-time statistics between countries (``POST /trackings/costtime``)."""
        if not queries:
            return []
        data = self._transport.request(routes.TRANSIT_TIMES, json_body=[query.to_payload() for query in queries])
        if isinstance(data, Mapping):
            data = data.get("items", list(data.values()))
        return [TransitTime.model_validate(item) for item in list_of_mappings(data)]

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
        data = self._transport.request(routes.AIR_CARGO, json_body=body)
        if isinstance(data, Mapping):
            by_number = {str(key): value for key, value in data.items() if isinstance(value, Mapping)}
            ordered = [by_number.pop(number) for number in unique if number in by_number]
            return [AirCargo.model_validate(item) for item in [*ordered, *by_number.values()]]
        return [AirCargo.model_validate(item) for item in list_of_mappings(data)]

    # -- internals ------------------------------------------------------------------------------------------------

    def _bulk(self, route: Route, items: Sequence[TrackingRef] | Sequence[UpdateTrackingsItem]) -> BatchResult:
        merged = BatchResult()
        for start in range(0, len(items), BULK_LIMIT):
            chunk = items[start : start + BULK_LIMIT]
            data = self._transport.request(route, json_body=[item.to_payload() for item in chunk])
            result = bulk_result(data, submitted=len(chunk))
            merged.submitted += result.submitted
            merged.succeeded += result.succeeded
            merged.items.extend(result.items)
        return merged


def _checked_lang(lang: str) -> str:
    if not _LANG.match(lang):
        raise ValueError("lang must be two lower-case letters, e.g. 'en'")
    return lang


def _single_path(ref: TrackingRef) -> str:
    return f"/trackings/{_segment(ref.carrier_code)}/{_segment(ref.tracking_number)}"
