"""Creating trackings: one (``POST /trackings``) or many (``POST /trackings/batch``, the Order Shipped consumer and
each chunk of a bulk import: one pipeline for all three).

Upstream first, then ours: a tracking is stored only once TrackingMore holds it. Dependencies are arguments, wired
by the caller (``shiptrack.compose``): the trackings repository, a TrackingMore client *factory* (called only when
upstream is needed: building the client reads the secret; bound to the request's deadline by the caller) and, for a
single create, the create claims.

A batch is a pipeline of named steps, each a function here:

1. :func:`validate_items` — each item alone, as a :class:`~shiptrack.models.CreateTrackingRequest` (with the
   batch context filling its gaps); an invalid item fails alone;
2. :func:`detect_carriers` — once per distinct number that has no carrier code, concurrently, through the detection
   cache when the caller has one (:mod:`shiptrack.services.detection`);
3. :func:`resolve_identities` — each item's identity; duplicates collapse onto their first occurrence;
4. :func:`read_stored` — identities already stored are ``existing`` and go no further (``created`` when the
   caller stored them itself on an earlier attempt: ``created_by``);
5. :func:`create_chunk`, per :data:`CHUNK_SIZE` identities — one upstream batch create, an item upstream already
   holds (4016) adopted, each stored; up to :data:`CHUNK_CONCURRENCY` chunks in flight at once, within the
   client's rate gate (the account's batch-create limit) and deadline;
6. :func:`summarise` — one result per input item, in order. A repeated identity's later occurrences are
   ``existing`` and carry the first occurrence's tracking (or fail with its problem), so ``summary.created``
   counts the trackings created.

:func:`create_chunk` is the unit of upstream work, reusable alone. Chunks share nothing but the repository and the
client, so they run side by side; the one thing they learn from each other is an account-wide refusal
(:attr:`ChunkResult.account_problem`: credentials or quota), after which no chunk not yet started is sent: it would
only fail the same way. When the client's deadline stops a chunk from being sent, its items fail with a retryable
``deadline_exceeded`` problem and everything sent before is stored.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from pydantic import ValidationError

from shiptrack.errors import (
    Problem,
    RequestInProgressError,
    ShiptrackError,
    ValidationFailedError,
    field_errors,
    problem_for,
)
from shiptrack.models import (
    BatchCreateResponse,
    BatchItemResult,
    BatchSummary,
    CreateContext,
    CreateTrackingRequest,
    Customer,
    Tracking,
    TrackingRef,
    TrackingSummary,
    to_millis,
    utc_now,
)
from shiptrack.observability import count, counted_call, logger, record_upstream_call
from shiptrack.services.detection import detect_carrier, detect_carriers
from shiptrack.upstream import tracking_from_upstream, upstream_version

if TYPE_CHECKING:
    import trackingmore
    from shiptrack.data.cache import TtlCache
    from shiptrack.data.claims import CreateClaims
    from shiptrack.data.trackings import TrackingsRepository
    from shiptrack.deadline import Deadline
    from shiptrack.services.detection import DetectedCarrier
    from trackingmore import TrackingMoreClient

__all__ = [
    "CHUNK_CONCURRENCY",
    "CHUNK_SIZE",
    "CLAIM_WAIT_SECONDS",
    "ChunkResult",
    "CreateResult",
    "PendingCreate",
    "create_chunk",
    "create_tracking",
    "create_trackings",
    "detect_carrier",
    "detect_carriers",
    "invalid_item_problem",
    "read_stored",
    "repeated",
    "resolve_identities",
    "summarise",
    "validate_items",
]

#: Identities per upstream batch create: TrackingMore's limit (reference §3.2).
CHUNK_SIZE: Final = 40
#: Chunks of one pipeline run in flight at once. The account's batch-create rate is the client's rate gate's to keep;
#: this bounds one request's share of the function's threads and connections (docs/benchmarks.md measured 5).
CHUNK_CONCURRENCY: Final = 5
# How long a concurrent identical create waits for the claimer's result before answering 409 (retryable), at most:
# never past its own deadline.
CLAIM_WAIT_SECONDS: Final = 20.0


@dataclass(frozen=True, slots=True)
class CreateResult:
    """The outcome of a single create: ``created`` is ``False`` when we already held the tracking."""

    created: bool
    tracking: Tracking


class PendingCreate(NamedTuple):
    """An identity to create upstream: the position of its first input item, the identity and the validated
    request."""

    position: int
    ref: TrackingRef
    request: CreateTrackingRequest

    def result(self, **update: Any) -> BatchItemResult:
        """This item's result (``failed`` unless ``update`` says otherwise)."""
        ref = self.ref
        fields = {"outcome": "failed", "carrier_code": ref.carrier_code, "tracking_number": ref.tracking_number}
        return BatchItemResult(index=self.position, **{**fields, **update})


class ChunkResult(NamedTuple):
    """What one :func:`create_chunk` did: a result per identity, and the problem of an account-wide refusal
    (credentials, quota) when there was one: any later chunk would meet it too."""

    results: dict[TrackingRef, BatchItemResult]
    account_problem: Problem | None


# ---------------------------------------------------------------------------------------------------------------------
# One


def create_tracking(
    request: CreateTrackingRequest,
    *,
    store: TrackingsRepository,
    client: Callable[[], TrackingMoreClient],
    claims: CreateClaims,
    now: datetime | None = None,
    wait_seconds: float = CLAIM_WAIT_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    deadline: Deadline | None = None,
) -> CreateResult:
    """Track one parcel; idempotent by identity.

    * No carrier code: detected (first match), 422 ``carrier_not_detected`` when none.
    * Already stored: the stored tracking, ``created=False``, no upstream call.
    * Otherwise one caller claims the identity and creates upstream (``POST /trackings/post``); an upstream
      4016 for a number we do not hold is fetched (``GET``) and stored. Concurrent identical creates wait for
      that result instead of calling upstream themselves (409 ``request_in_progress`` if it takes longer than
      ``wait_seconds`` or than the request's ``deadline`` allows).
    """
    now = to_millis(now or utc_now())
    carrier_code = request.carrier_code or detect_carrier(request.tracking_number, client=client)
    ref = TrackingRef.of(carrier_code, request.tracking_number)
    existing = store.get(ref)
    if existing is not None:
        return CreateResult(created=False, tracking=existing)
    create = partial(_create_upstream, store, client, request, ref, now)
    if deadline is not None:
        wait_seconds = max(0.0, min(wait_seconds, deadline.seconds_left()))
    return _claim_and_create(ref, create, store=store, claims=claims, wait_seconds=wait_seconds, sleep=sleep)


def _claim_and_create(
    ref: TrackingRef,
    create: Callable[[], CreateResult],
    *,
    store: TrackingsRepository,
    claims: CreateClaims,
    wait_seconds: float,
    sleep: Callable[[float], None],
) -> CreateResult:
    """Run ``create`` under a claim on ``ref``; while someone else holds the claim, wait for their stored copy."""
    owner = uuid.uuid4().hex
    deadline = time.monotonic() + wait_seconds
    delay = 0.05
    while True:
        if claims.acquire(ref, owner):
            # Nobody stored it through a claim since our read: a claimer that succeeded keeps its claim
            # (shiptrack.data.claims). A copy stored otherwise meanwhile (the batch route takes no claims, or a claim
            # expired) is still met: upstream answers 4016, we adopt it, and put_new returns the stored one.
            try:
                return create()
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


def _create_upstream(
    store: TrackingsRepository,
    client: Callable[[], TrackingMoreClient],
    request: CreateTrackingRequest,
    ref: TrackingRef,
    now: datetime,
) -> CreateResult:
    """Create upstream and store (the caller holds the claim on ``ref``)."""
    import trackingmore

    upstream_client = client()
    upstream_request = _upstream_create_request(request, ref.carrier_code)
    try:
        upstream = counted_call("create", partial(upstream_client.create_tracking, upstream_request))
    except trackingmore.TrackingAlreadyExistsError:
        # The account holds it (created elsewhere, or by us before a lost write): adopt it (reference §3.1).
        get = partial(upstream_client.get_tracking, ref.carrier_code, ref.tracking_number)
        upstream = counted_call("get", get)
    return _store_created(store, request, ref, upstream, now)


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
    store: TrackingsRepository,
    request: CreateTrackingRequest,
    ref: TrackingRef,
    upstream: trackingmore.Tracking,
    now: datetime,
    *,
    created_by: str | None = None,
) -> CreateResult:
    tracking = tracking_from_upstream(upstream, now=now, base=_base_tracking(request, ref, now))
    put = store.put_new(tracking, version=upstream_version(upstream), created_by=created_by)
    if put.created:
        count("TrackingsCreated")
    return CreateResult(created=put.created, tracking=put.tracking)


# ---------------------------------------------------------------------------------------------------------------------
# Many: the pipeline


def create_trackings(
    items: Sequence[Any],
    *,
    store: TrackingsRepository,
    client: Callable[[], TrackingMoreClient],
    context: CreateContext | None = None,
    now: datetime | None = None,
    detections: TtlCache[DetectedCarrier] | None = None,
    created_by: str | None = None,
    concurrency: int = CHUNK_CONCURRENCY,
) -> BatchCreateResponse:
    """Track many parcels: one result per item, in order (the steps are in the module docstring).

    Invalid items, undetected carriers and items upstream refuses fail alone with their problem; a chunk that
    failed after the client's retries leaves its items ``failed`` with a retryable problem and nothing stored.
    ``detections`` caches carrier detections across calls; ``created_by`` marks what this call stores, so that a
    retry of the same work (an import chunk after a crash) answers ``created`` for it rather than ``existing``.
    """
    now = to_millis(now or utc_now())
    requests, failures = validate_items(items, context)
    numbers = (request.tracking_number for request in requests.values() if request.carrier_code is None)
    refs, undetected = resolve_identities(requests, detect_carriers(numbers, client=client, cache=detections))
    failures.update(undetected)
    first: dict[TrackingRef, int] = {}
    for index, ref in refs.items():
        first.setdefault(ref, index)  # duplicates collapse onto their first occurrence
    outcomes = read_stored(first, store=store, created_by=created_by)
    pending = [PendingCreate(index, ref, requests[index]) for ref, index in first.items() if ref not in outcomes]
    outcomes.update(_create_in_chunks(pending, store, client, now, created_by=created_by, concurrency=concurrency))
    return summarise(len(items), failures, refs, outcomes)


def validate_items(
    items: Sequence[Any], context: CreateContext | None
) -> tuple[dict[int, CreateTrackingRequest], dict[int, BatchItemResult]]:
    """Step 1: each item as a request (``context`` fills order id, order time, customer and destination where the
    item has none), or its validation problem."""
    requests: dict[int, CreateTrackingRequest] = {}
    failures: dict[int, BatchItemResult] = {}
    for index, raw in enumerate(items):
        try:
            requests[index] = CreateTrackingRequest.model_validate(raw).with_context(context)
        except ValidationError as exc:
            failures[index] = BatchItemResult(index=index, outcome="failed", problem=invalid_item_problem(exc))
    return requests, failures


def invalid_item_problem(exc: ValidationError) -> Problem:
    """The problem of one item that is not a valid :class:`~shiptrack.models.CreateTrackingRequest`."""
    errors = field_errors(exc.errors(include_url=False))
    return ValidationFailedError("This item is not valid; see errors.", errors=errors).to_problem()


def resolve_identities(
    requests: Mapping[int, CreateTrackingRequest], detected: Mapping[str, str | Exception]
) -> tuple[dict[int, TrackingRef], dict[int, BatchItemResult]]:
    """Step 3: each item's identity, or the problem of its carrier detection."""
    refs: dict[int, TrackingRef] = {}
    failures: dict[int, BatchItemResult] = {}
    for index, request in requests.items():
        carrier = request.carrier_code or detected[request.tracking_number]
        if isinstance(carrier, Exception):
            number = request.tracking_number
            failures[index] = BatchItemResult(
                index=index, outcome="failed", tracking_number=number, problem=_problem(carrier)
            )
        else:
            refs[index] = TrackingRef.of(carrier, request.tracking_number)
    return refs, failures


def read_stored(
    first: Mapping[TrackingRef, int], *, store: TrackingsRepository, created_by: str | None = None
) -> dict[TrackingRef, BatchItemResult]:
    """Step 4: results for the identities already stored (one strongly consistent batch read): ``existing``, or
    ``created`` when ``created_by`` stored them (an earlier attempt of the same work)."""
    stored = store.batch_load(first)
    return {
        ref: BatchItemResult(
            index=index,
            outcome="created" if created_by is not None and stored[ref].created_by == created_by else "existing",
            carrier_code=ref.carrier_code,
            tracking_number=ref.tracking_number,
            tracking=TrackingSummary.of(stored[ref].tracking),
        )
        for ref, index in first.items()
        if ref in stored
    }


def _create_in_chunks(
    pending: Sequence[PendingCreate],
    store: TrackingsRepository,
    client: Callable[[], TrackingMoreClient],
    now: datetime,
    *,
    created_by: str | None,
    concurrency: int,
) -> dict[TrackingRef, BatchItemResult]:
    """Step 5 over every chunk, ``concurrency`` at a time. After an account-wide refusal no chunk not yet started is
    sent: it fails the same way."""
    results: dict[TrackingRef, BatchItemResult] = {}
    if not pending:
        return results
    upstream = client()
    chunks = [pending[start : start + CHUNK_SIZE] for start in range(0, len(pending), CHUNK_SIZE)]
    refusal: list[Problem] = []
    lock = threading.Lock()

    def run(chunk: Sequence[PendingCreate]) -> dict[TrackingRef, BatchItemResult]:
        with lock:
            refused = refusal[0] if refusal else None
        if refused is not None:
            return {item.ref: item.result(problem=refused) for item in chunk}
        done = create_chunk(chunk, store=store, client=upstream, now=now, created_by=created_by)
        if done.account_problem is not None:
            with lock:
                refusal.append(done.account_problem)
        return done.results

    if concurrency <= 1 or len(chunks) == 1:
        for chunk in chunks:
            results.update(run(chunk))
        return results
    with ThreadPoolExecutor(max_workers=min(concurrency, len(chunks))) as pool:
        for done in pool.map(run, chunks):
            results.update(done)
    return results


def create_chunk(
    chunk: Sequence[PendingCreate],
    *,
    store: TrackingsRepository,
    client: TrackingMoreClient,
    now: datetime,
    created_by: str | None = None,
) -> ChunkResult:
    """Step 5: create up to :data:`CHUNK_SIZE` identities upstream in one call and store each one created.

    An item upstream already holds (4016) is fetched and stored (``created``, as for a single create); one stored
    meanwhile by someone else is ``existing``. An item upstream refused fails with its problem; a chunk that failed
    after the client's retries fails all its items (retryable) and stores nothing. ``created_by`` is recorded on
    every tracking stored (see :func:`create_trackings`).
    """
    if len(chunk) > CHUNK_SIZE:
        msg = f"a chunk holds at most {CHUNK_SIZE} identities, not {len(chunk)}"
        raise ValueError(msg)
    answer = client.batch_create_trackings([_upstream_create_request(p.request, p.ref.carrier_code) for p in chunk])
    record_upstream_call("batch_create", "ok" if not answer.failed else "partial")
    results: dict[TrackingRef, BatchItemResult] = {}
    refusal: Problem | None = None
    for pending, item in zip(chunk, answer.items, strict=True):
        results[pending.ref] = _store_chunk_item(
            pending, item, store=store, client=client, now=now, created_by=created_by
        )
        if refusal is None and _account_wide(item):
            refusal = results[pending.ref].problem
    return ChunkResult(results, refusal)


def _store_chunk_item(
    pending: PendingCreate,
    item: trackingmore.BatchCreateItem,
    *,
    store: TrackingsRepository,
    client: TrackingMoreClient,
    now: datetime,
    created_by: str | None,
) -> BatchItemResult:
    import trackingmore

    ref = pending.ref
    try:
        if item.outcome == "created" and item.tracking is not None:
            upstream = item.tracking
        elif item.outcome in ("created", "exists"):
            # Upstream holds it but we do not (4016): adopt its copy, as a single create does.
            upstream = counted_call("get", partial(client.get_tracking, ref.carrier_code, ref.tracking_number))
        else:
            return pending.result(problem=_item_problem(item))
        created = _store_created(store, pending.request, ref, upstream, now, created_by=created_by)
    except (ShiptrackError, trackingmore.TrackingMoreError) as exc:
        return pending.result(problem=_problem(exc))
    outcome = "created" if created.created else "existing"
    return pending.result(outcome=outcome, tracking=TrackingSummary.of(created.tracking))


def _account_wide(item: trackingmore.BatchCreateItem) -> bool:
    """Whether an item failed because of the account (credentials, quota), not because of the item."""
    import trackingmore
    from trackingmore.errors import error_class_for

    if item.outcome != "failed" or item.error_code is None:
        return False
    return issubclass(
        error_class_for(item.error_code), (trackingmore.AuthenticationError, trackingmore.QuotaExceededError)
    )


def summarise(
    count: int,
    failures: Mapping[int, BatchItemResult],
    refs: Mapping[int, TrackingRef],
    outcomes: Mapping[TrackingRef, BatchItemResult],
) -> BatchCreateResponse:
    """Step 6: one result per input item, in input order. The first occurrence of an identity gets its result; a
    later one is ``existing`` with the same tracking (or fails with the same problem), so the summary counts
    trackings, not items."""
    seen: set[TrackingRef] = set()
    final: list[BatchItemResult] = []
    for index in range(count):
        if index in failures:
            result = failures[index]
        else:
            ref = refs[index]
            result = outcomes[ref]
            if ref in seen:
                result = repeated(result)
            seen.add(ref)
        final.append(result.model_copy(update={"index": index}))
    summary = BatchSummary(
        created=sum(1 for r in final if r.outcome == "created"),
        existing=sum(1 for r in final if r.outcome == "existing"),
        failed=sum(1 for r in final if r.outcome == "failed"),
    )
    counts = {"items_created": summary.created, "items_existing": summary.existing, "items_failed": summary.failed}
    logger.info("batch create", extra={"items": count, **counts})
    return BatchCreateResponse(results=final, summary=summary)


def repeated(first: BatchItemResult) -> BatchItemResult:
    """The result of a later occurrence of an identity whose first occurrence had ``first``: the tracking is
    ``existing`` by then (it was created or found for the first), a failure is the same failure."""
    return first.model_copy(update={"outcome": "existing"}) if first.outcome == "created" else first


def _problem(exc: BaseException) -> Problem:
    problem, _ = problem_for(exc)
    return problem


def _item_problem(item: trackingmore.BatchCreateItem) -> Problem:
    """The problem object for an item the upstream batch could not create, through the one error map: the client
    error that failed it when the client kept it (a deadline, a timeout …), else one rebuilt from its code."""
    import trackingmore
    from trackingmore.errors import error_class_for

    message = item.error_message or "TrackingMore could not create this tracking."
    exc: trackingmore.TrackingMoreError
    if item.error is not None:
        exc = item.error
    elif item.error_code is None:
        exc = trackingmore.TransportError(message)
    else:
        exc = error_class_for(item.error_code)(message, code=item.error_code)
    return _problem(exc).model_copy(update={"retryable": item.retryable})
