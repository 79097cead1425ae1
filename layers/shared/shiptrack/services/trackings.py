"""Creating, reading, updating and deleting trackings: the behaviour behind TrackingsFunction.

Every function takes its dependencies (store, client, claims, clock) as optional keyword arguments; the
defaults are the warm-environment ones from :mod:`shiptrack.runtime`. Upstream first, then ours: when
TrackingMore refuses a change, our copy is left as it was.

Entry points: :func:`create_tracking`, :func:`create_trackings` (batch route and the Order Shipped consumer),
:func:`get_tracking`, :func:`list_trackings`, :func:`update_tracking`, :func:`delete_tracking`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import ValidationError

from shiptrack.errors import (
    CarrierNotDetectedError,
    Problem,
    RequestInProgressError,
    ShiptrackError,
    TrackingExistsError,
    TrackingNotFoundError,
    ValidationFailedError,
    field_errors,
    problem_for,
    upstream_outcome,
)
from shiptrack.models import (
    BatchCreateResponse,
    BatchItemResult,
    BatchSummary,
    CreateContext,
    CreateTrackingRequest,
    Customer,
    ListQuery,
    Tracking,
    TrackingList,
    TrackingRef,
    UpdateTrackingRequest,
    normalize_tracking_number,
    to_millis,
    tracking_from_upstream,
    upstream_version,
    utc_now,
)
from shiptrack.observability import logger, metrics
from shiptrack.store import TrackingStore

T = TypeVar("T")

if TYPE_CHECKING:
    import trackingmore
    from trackingmore import TrackingMoreClient

__all__ = [
    "CreateClaims",
    "CreateResult",
    "create_tracking",
    "create_trackings",
    "delete_tracking",
    "detect_carrier",
    "get_tracking",
    "list_trackings",
    "record_upstream_call",
    "trackings_store",
    "update_tracking",
]

# A claim outlives the slowest create the client can make (timeouts × retries) yet frees a crashed claimer's
# identity within a minute.
CLAIM_TTL_SECONDS: Final = 60
# How long a concurrent identical create waits for the claimer's result before answering 409 (retryable).
CLAIM_WAIT_SECONDS: Final = 20.0
CLAIM_PREFIX: Final = "CLAIM#TRACKING#"
# TrackingMore's PUT status values (reference §3.5).
STATUS_OVERRIDE_CODES: Final[dict[str, Literal[4, 7, 8]]] = {"delivered": 4, "exception": 7, "revert": 8}


@dataclass(frozen=True, slots=True)
class CreateResult:
    """The outcome of a single create: ``created`` is ``False`` when we already held the tracking."""

    created: bool
    tracking: Tracking


# ---------------------------------------------------------------------------------------------------------------------
# Dependencies


def trackings_store() -> TrackingStore:
    """The store over this deployment's TrackingsTable (``shiptrack.runtime`` caches the table; a store is cheap)."""
    from shiptrack.runtime import trackings_table

    return TrackingStore(trackings_table())


def _client(client: TrackingMoreClient | None) -> TrackingMoreClient:
    if client is not None:
        return client
    from shiptrack.runtime import trackingmore_client

    return trackingmore_client()


def record_upstream_call(endpoint: str, outcome: str, count: int = 1) -> None:
    """Count upstream calls by endpoint and outcome (``errors.upstream_outcome``, or ``partial`` for a batch with
    failed items), one small dimension set."""
    from aws_lambda_powertools.metrics import single_metric

    with single_metric(
        name="UpstreamCalls",
        unit=MetricUnit.Count,
        value=count,
        namespace=metrics.namespace,
        default_dimensions={"service": metrics.service or "shiptrack"},
    ) as metric:
        metric.add_dimension(name="endpoint", value=endpoint)
        metric.add_dimension(name="outcome", value=outcome)


def _call(endpoint: str, fn: Callable[[], T]) -> T:
    """Call upstream, counting the call by endpoint and outcome."""
    import trackingmore

    try:
        result = fn()
    except trackingmore.TrackingMoreError as exc:
        record_upstream_call(endpoint, upstream_outcome(exc))
        raise
    record_upstream_call(endpoint, "ok")
    return result


class CreateClaims:
    """Short-lived claims on an identity in the CacheTable, so concurrent identical creates make ONE upstream call.

    The first caller to claim ``CLAIM#TRACKING#{pk}`` (a conditional put) creates upstream and stores; the others
    wait for the stored tracking. A claim expires after ``CLAIM_TTL_SECONDS`` so a crashed claimer cannot block
    the identity for longer (expiry is checked in the condition, not left to DynamoDB's lazy TTL deletion).

    A successful create keeps its claim until it expires: a create that read "absent" just before the tracking was
    stored then finds the identity claimed and waits for the stored copy, instead of creating upstream again
    (without a second read after claiming, or a delete on success). A failed create releases it at once; removing
    the tracking (DELETE, a carrier change) clears it, so the identity can be created again straight away.
    """

    def __init__(self, table: Any, *, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._clock = clock

    def acquire(self, ref: TrackingRef, owner: str) -> bool:
        from botocore.exceptions import ClientError

        now = int(self._clock())
        try:
            self._table.put_item(
                Item={"pk": CLAIM_PREFIX + ref.key, "owner": owner, "expires_at": now + CLAIM_TTL_SECONDS},
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
                ExpressionAttributeValues={":now": now},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release(self, ref: TrackingRef, owner: str) -> None:
        from botocore.exceptions import ClientError

        try:
            self._table.delete_item(
                Key={"pk": CLAIM_PREFIX + ref.key},
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":owner": owner},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    def clear(self, ref: TrackingRef) -> None:
        """Free ``ref`` whoever holds it: its tracking is being removed (call before removing it, so a create that
        read the tracking as absent claimed after this and keeps its claim).

        Best effort: it runs after TrackingMore has already been changed, and a claim left behind only makes a
        re-create of the identity wait (409, retryable) until it expires, so a DynamoDB error is logged, not raised.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._table.delete_item(Key={"pk": CLAIM_PREFIX + ref.key})
        except (BotoCoreError, ClientError) as exc:
            extra = {"tracking": str(ref), "error": str(exc)}
            logger.warning("create claim not cleared; it expires by itself", extra=extra)

    def held(self, ref: TrackingRef) -> bool:
        item = self._table.get_item(Key={"pk": CLAIM_PREFIX + ref.key}, ConsistentRead=True).get("Item")
        return bool(item) and int(item.get("expires_at", 0)) >= int(self._clock())


def _claims(claims: CreateClaims | None) -> CreateClaims:
    if claims is not None:
        return claims
    from shiptrack.runtime import cache_table

    return CreateClaims(cache_table())


# ---------------------------------------------------------------------------------------------------------------------
# Create


def detect_carrier(tracking_number: str, *, client: TrackingMoreClient | None = None) -> str:
    """The carrier code for a number: the first match of ``POST /carriers/detect`` (reference §3.18, SUP-cat).

    Raises :class:`~shiptrack.errors.CarrierNotDetectedError` (422) when TrackingMore finds none (4032).
    """
    import trackingmore

    number = normalize_tracking_number(tracking_number)
    try:
        matches = _call("detect", lambda: _client(client).detect_carrier(number))
    except trackingmore.CarrierNotDetectedError as exc:
        raise CarrierNotDetectedError(f"No carrier recognises the tracking number {number}.") from exc
    codes: list[str] = [match.code for match in matches if match.code]
    if not codes:
        raise CarrierNotDetectedError(f"No carrier recognises the tracking number {number}.")
    return codes[0].strip().lower()


def _upstream_create_request(request: CreateTrackingRequest, carrier_code: str) -> trackingmore.CreateTrackingRequest:
    from trackingmore import CreateTrackingRequest as UpstreamCreate

    customer = request.customer
    return UpstreamCreate(
        tracking_number=request.tracking_number,
        carrier_code=carrier_code,
        title=request.title,
        logistics_channel=request.logistics_channel,
        customer_name=customer.name if customer else None,
        customer_email=customer.email if customer else None,
        customer_phone=customer.phone if customer else None,
        order_id=request.order_id,
        # v2 takes the order time as text; we send UTC "YYYY-MM-DD HH:MM" (reference §3.1).
        order_create_time=f"{request.order_created_at:%Y-%m-%d %H:%M}" if request.order_created_at else None,
        destination_code=request.destination_code,
        comment=request.comment,
    )


def _base_tracking(request: CreateTrackingRequest, ref: TrackingRef, now: datetime) -> Tracking:
    """Our resource for a create, before any carrier data: the caller's metadata."""
    customer = request.customer
    return Tracking(
        carrier_code=ref.carrier_code,
        tracking_number=ref.tracking_number,
        order_id=request.order_id,
        order_created_at=request.order_created_at,
        title=request.title,
        logistics_channel=request.logistics_channel,
        comment=request.comment,
        customer=Customer(
            name=customer.name if customer else None,
            email=customer.email if customer else None,
            phone=customer.phone if customer else None,
        ),
        destination_code=request.destination_code,
        created_at=now,
        updated_at=now,
        last_changed_at=now,
    )


def _store_created(
    store: TrackingStore,
    request: CreateTrackingRequest,
    ref: TrackingRef,
    upstream: trackingmore.Tracking,
    now: datetime,
) -> CreateResult:
    tracking = tracking_from_upstream(upstream, now=now, base=_base_tracking(request, ref, now))
    put = store.put_new(tracking, version=upstream_version(upstream))
    if put.created:
        metrics.add_metric(name="TrackingsCreated", unit=MetricUnit.Count, value=1)
    return CreateResult(created=put.created, tracking=put.tracking)


def _create_upstream(
    store: TrackingStore,
    client: TrackingMoreClient,
    request: CreateTrackingRequest,
    ref: TrackingRef,
    now: datetime,
) -> CreateResult:
    """Create upstream and store (the caller holds the claim on ``ref``)."""
    import trackingmore

    upstream_request = _upstream_create_request(request, ref.carrier_code)
    try:
        upstream = _call("create", partial(client.create_tracking, upstream_request))
    except trackingmore.TrackingAlreadyExistsError:
        # The account holds it (created elsewhere, or by us before a lost write): adopt it (reference §3.1).
        upstream = _call("get", partial(client.get_tracking, ref.carrier_code, ref.tracking_number))
    return _store_created(store, request, ref, upstream, now)


def create_tracking(
    request: CreateTrackingRequest,
    *,
    store: TrackingStore | None = None,
    client: TrackingMoreClient | None = None,
    claims: CreateClaims | None = None,
    now: datetime | None = None,
    wait_seconds: float = CLAIM_WAIT_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> CreateResult:
    """Track one parcel; idempotent by identity.

    * No carrier code: detected (first match), 422 ``carrier_not_detected`` when none.
    * Already stored: the stored tracking, ``created=False``, no upstream call.
    * Otherwise one caller claims the identity and creates upstream (``POST /trackings/post``); an upstream
      4016 for a number we do not hold is fetched (``GET``) and stored. Concurrent identical creates wait for
      that result instead of calling upstream themselves (409 ``request_in_progress`` if it takes too long).
    """

    store = store or trackings_store()
    claims = _claims(claims)
    now = to_millis(now or utc_now())
    carrier_code = request.carrier_code or detect_carrier(request.tracking_number, client=client)
    ref = TrackingRef.of(carrier_code, request.tracking_number)

    existing = store.get(ref)
    if existing is not None:
        return CreateResult(created=False, tracking=existing)

    owner = uuid.uuid4().hex
    deadline = time.monotonic() + wait_seconds
    delay = 0.05
    while True:
        if claims.acquire(ref, owner):
            # Nobody stored it through a claim since our read: a claimer that succeeded keeps its claim (CreateClaims).
            # A copy stored otherwise meanwhile (the batch route takes no claims, or a claim expired) is still met:
            # upstream answers 4016, we adopt it, and put_new returns the stored one (created=False).
            try:
                return _create_upstream(store, _client(client), request, ref, now)
            except BaseException:
                claims.release(ref, owner)
                raise
        existing = store.get(ref)
        if existing is not None:
            return CreateResult(created=False, tracking=existing)
        if time.monotonic() >= deadline:
            raise RequestInProgressError(f"Tracking {ref} is being created by another request; retry shortly.")
        sleep(delay)
        delay = min(delay * 1.5, 0.5)


def _validation_problem(exc: ValidationError) -> Problem:
    errors = field_errors(exc.errors(include_url=False))
    return ValidationFailedError("This item is not valid; see errors.", errors=errors).to_problem()


def _problem(exc: BaseException) -> Problem:
    problem, _ = problem_for(exc)
    return problem


def _item_problem(item: trackingmore.BatchCreateItem) -> Problem:
    """The problem object for an item the upstream batch could not create, through the one error map."""
    import trackingmore
    from trackingmore.errors import error_class_for

    message = item.error_message or "TrackingMore could not create this tracking."
    exc: trackingmore.TrackingMoreError
    if item.error_code is None:
        exc = trackingmore.TransportError(message)
    else:
        exc = error_class_for(item.error_code)(message, code=item.error_code)
    problem, _ = problem_for(exc)
    return problem.model_copy(update={"retryable": item.retryable})


def create_trackings(
    items: Sequence[Any],
    *,
    context: CreateContext | None = None,
    store: TrackingStore | None = None,
    client: TrackingMoreClient | None = None,
    now: datetime | None = None,
) -> BatchCreateResponse:
    """Track many parcels (the batch route and the Order Shipped consumer): one result per item, in order.

    * Each item is validated alone as a :class:`CreateTrackingRequest` (with ``context`` filling order id, order
      time, customer and destination where the item has none): an invalid item fails alone with its problem.
    * Missing carriers are detected per distinct number.
    * Items with the same identity collapse: one upstream create, every input gets the result.
    * Already-stored identities are ``existing`` and not sent upstream.
    * The rest go upstream in ⌈n/40⌉ calls (the client chunks, reference §3.2); an item upstream already holds
      (4016) is fetched and stored (``created``, as for a single create). A chunk that failed after the client's
      retries leaves its items ``failed`` with a retryable problem and nothing stored for them.
    """
    import trackingmore

    store = store or trackings_store()
    now = to_millis(now or utc_now())
    results: list[BatchItemResult | None] = [None] * len(items)

    requests: dict[int, CreateTrackingRequest] = {}
    for index, raw in enumerate(items):
        try:
            requests[index] = CreateTrackingRequest.model_validate(raw).with_context(context)
        except ValidationError as exc:
            results[index] = BatchItemResult(index=index, outcome="failed", problem=_validation_problem(exc))

    # Detect carriers once per distinct number.
    detected: dict[str, str | BaseException] = {}
    for request in requests.values():
        if request.carrier_code is None and request.tracking_number not in detected:
            try:
                detected[request.tracking_number] = detect_carrier(request.tracking_number, client=client)
            except (ShiptrackError, trackingmore.TrackingMoreError) as exc:
                detected[request.tracking_number] = exc

    refs: dict[int, TrackingRef] = {}
    for index, request in requests.items():
        carrier = request.carrier_code or detected[request.tracking_number]
        if isinstance(carrier, BaseException):
            results[index] = BatchItemResult(
                index=index,
                outcome="failed",
                tracking_number=request.tracking_number,
                problem=_problem(carrier),
            )
            continue
        refs[index] = TrackingRef.of(carrier, request.tracking_number)

    # Duplicates collapse onto their first occurrence.
    first: dict[TrackingRef, int] = {}
    for index, ref in refs.items():
        first.setdefault(ref, index)

    stored = store.batch_get(first)
    to_create = [(index, ref) for ref, index in first.items() if ref not in stored]
    outcome: dict[TrackingRef, BatchItemResult] = {
        ref: BatchItemResult(
            index=index,
            outcome="existing",
            carrier_code=ref.carrier_code,
            tracking_number=ref.tracking_number,
            tracking=stored[ref],
        )
        for ref, index in first.items()
        if ref in stored
    }

    if to_create:
        upstream_client = _client(client)
        upstream_requests = [_upstream_create_request(requests[index], ref.carrier_code) for index, ref in to_create]
        result = upstream_client.batch_create_trackings(upstream_requests)
        chunks = -(-len(upstream_requests) // 40)
        record_upstream_call("batch_create", "ok" if not result.failed else "partial", chunks)
        for (index, ref), item in zip(to_create, result.items, strict=True):
            base = BatchItemResult(
                index=index, outcome="failed", carrier_code=ref.carrier_code, tracking_number=ref.tracking_number
            )
            try:
                if item.outcome == "created" and item.tracking is not None:
                    upstream = item.tracking
                elif item.outcome in ("created", "exists"):
                    # Upstream holds it but we do not (4016): adopt its copy, as a single create does.
                    upstream = _call(
                        "get", partial(upstream_client.get_tracking, ref.carrier_code, ref.tracking_number)
                    )
                else:
                    outcome[ref] = base.model_copy(update={"problem": _item_problem(item)})
                    continue
                created = _store_created(store, requests[index], ref, upstream, now)
            except (ShiptrackError, trackingmore.TrackingMoreError) as exc:
                outcome[ref] = base.model_copy(update={"problem": _problem(exc)})
                continue
            outcome[ref] = base.model_copy(
                update={"outcome": "created" if created.created else "existing", "tracking": created.tracking}
            )

    for index, ref in refs.items():
        results[index] = outcome[ref].model_copy(update={"index": index})

    final = [result for result in results if result is not None]
    summary = BatchSummary(
        created=sum(1 for r in final if r.outcome == "created"),
        existing=sum(1 for r in final if r.outcome == "existing"),
        failed=sum(1 for r in final if r.outcome == "failed"),
    )
    logger.info(
        "batch create",
        extra={
            "items": len(items),
            "items_created": summary.created,
            "items_existing": summary.existing,
            "items_failed": summary.failed,
        },
    )
    return BatchCreateResponse(results=final, summary=summary)


# ---------------------------------------------------------------------------------------------------------------------
# Read


def get_tracking(ref: TrackingRef, *, store: TrackingStore | None = None) -> Tracking:
    """The stored tracking; 404 ``tracking_not_found`` when we do not hold it."""
    tracking = (store or trackings_store()).get(ref)
    if tracking is None:
        raise TrackingNotFoundError(f"Tracking {ref} is not tracked.")
    return tracking


def list_trackings(query: ListQuery, *, store: TrackingStore | None = None) -> TrackingList:
    """Stored trackings, newest first, filtered, one page (see :meth:`TrackingStore.list`)."""
    return (store or trackings_store()).list(query)


# ---------------------------------------------------------------------------------------------------------------------
# Update and delete


def _retention_expiry(now: datetime) -> datetime | None:
    from shiptrack.settings import get_settings

    days = get_settings().retention_days
    return now + timedelta(days=days) if days > 0 else None


def update_tracking(
    ref: TrackingRef,
    request: UpdateTrackingRequest,
    *,
    store: TrackingStore | None = None,
    client: TrackingMoreClient | None = None,
    claims: CreateClaims | None = None,
    now: datetime | None = None,
) -> Tracking:
    """PATCH: metadata, status override, archive flag and carrier change — upstream first, then ours.

    * Metadata / ``status_override`` (TrackingMore status 4 / 7 / 8) / ``archived``: one ``PUT`` upstream
      (reference §3.5). ``comment`` is ours only (v2 PUT has no such field).
    * ``carrier_code``: ``POST /trackings/update`` upstream (reference §3.10), then the stored identity moves
      (the carrier's data starts over; our metadata stays).
    * Any upstream failure leaves our copy unchanged. A carrier change onto an identity we already hold is a
      409 before anything is sent.
    """
    from trackingmore import UpdateTrackingRequest as UpstreamUpdate

    store = store or trackings_store()
    now = to_millis(now or utc_now())
    record = store.load(ref)
    if record is None:
        raise TrackingNotFoundError(f"Tracking {ref} is not tracked.")
    new_ref = TrackingRef.of(request.carrier_code, ref.tracking_number) if request.carrier_code else None
    if new_ref == ref:
        new_ref = None
    if new_ref is not None and store.get(new_ref) is not None:
        raise TrackingExistsError(f"Tracking {new_ref} is already tracked; delete one of them first.")

    current = record.tracking
    customer = current.customer
    if request.customer is not None:
        customer = Customer(
            name=request.customer.name or customer.name,
            email=request.customer.email or customer.email,
            phone=request.customer.phone or customer.phone,
        )
    changes: dict[str, Any] = dict(request.metadata)
    if customer != current.customer:
        changes["customer"] = customer
    if request.archived is not None:
        changes["lifecycle"] = "archived" if request.archived else "active"

    upstream_client = _client(client)
    upstream: trackingmore.Tracking | None = None
    # v2's PUT has no comment field (reference §3.5): a comment-only change is ours alone.
    needs_put = (
        any(name != "comment" for name in request.metadata)
        or request.customer is not None
        or request.status_override is not None
        or request.archived is not None
    )
    if needs_put:
        put = UpstreamUpdate(
            title=request.title,
            logistics_channel=request.logistics_channel,
            order_id=request.order_id,
            destination_code=request.destination_code,
            customer_name=request.customer.name if request.customer else None,
            customer_email=request.customer.email if request.customer else None,
            customer_phone=request.customer.phone if request.customer else None,
            status=STATUS_OVERRIDE_CODES[request.status_override] if request.status_override else None,
            archived=request.archived,
        )
        upstream = _call("update", lambda: upstream_client.update_tracking(ref.carrier_code, ref.tracking_number, put))
    recomputed: Tracking | None = None
    if request.status_override == "revert":
        # 8 = back to the status TrackingMore computes from the events (reference §3.5). The PUT answer echoes the
        # code, not the status, so read the tracking back to learn it.
        upstream = _call("get", partial(upstream_client.get_tracking, ref.carrier_code, ref.tracking_number))
        recomputed = tracking_from_upstream(upstream, now=now, base=current)
    if new_ref is not None:
        _call(
            "change_carrier",
            lambda: upstream_client.change_carrier(ref.carrier_code, ref.tracking_number, new_ref.carrier_code),
        )

    if request.status_override in ("delivered", "exception"):
        changes["status"] = request.status_override
        same = upstream is not None and (upstream.status or "").lower() == request.status_override
        changes["substatus"] = upstream.substatus if same and upstream is not None else None
    elif request.status_override == "revert" and recomputed is not None:
        changes["status"] = recomputed.status
        changes["substatus"] = recomputed.substatus

    version = upstream_version(upstream) if upstream is not None else None
    expires_at = _retention_expiry(now) if changes.get("lifecycle") == "archived" else None
    ttl = int(expires_at.timestamp()) if expires_at else None
    updated = (
        store.update_fields(ref, changes, now=now, version=version, expires_at=ttl, current=record)
        if changes
        else current
    )
    if updated is None:
        raise TrackingNotFoundError(f"Tracking {ref} is not tracked.")
    if new_ref is not None:
        _claims(claims).clear(ref)  # the old identity may be created again at once
        updated = store.move_identity(ref, new_ref.carrier_code, now=now)
    logger.info("tracking updated", extra={"tracking": str(new_ref or ref), "fields": sorted(request.model_fields_set)})
    return updated


def delete_tracking(
    ref: TrackingRef,
    *,
    store: TrackingStore | None = None,
    client: TrackingMoreClient | None = None,
    claims: CreateClaims | None = None,
) -> None:
    """Stop tracking: delete upstream, then ours (and the identity's create claim, so it can be created again).

    404 when we do not hold it; an upstream 4017 (already gone there) still deletes ours. Any other upstream failure
    leaves ours in place."""
    import trackingmore

    store = store or trackings_store()
    if store.get(ref) is None:
        raise TrackingNotFoundError(f"Tracking {ref} is not tracked.")
    upstream_client = _client(client)
    try:
        _call("delete", lambda: upstream_client.delete_tracking(ref.carrier_code, ref.tracking_number))
    except trackingmore.TrackingNotFoundError:
        logger.info("tracking already gone upstream", extra={"tracking": str(ref)})
    _claims(claims).clear(ref)
    store.delete(ref)
