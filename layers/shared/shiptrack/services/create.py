"""Creating trackings: one (``POST /trackings``) or many (``POST /trackings/batch``, the Order Shipped consumer).

Upstream first, then ours: a tracking is stored only once TrackingMore holds it. Dependencies are arguments, wired
by the caller (``shiptrack.compose``): the trackings repository, a TrackingMore client *factory* (called only when
upstream is needed: building the client reads the secret) and, for a single create, the create claims.

A batch is a pipeline of named steps, each a function here:

1. :func:`validate_items` — each item alone, as a :class:`~shiptrack.models.CreateTrackingRequest` (with the
   batch context filling its gaps); an invalid item fails alone;
2. :func:`detect_carriers` — once per distinct number that has no carrier code;
3. :func:`resolve_identities` — each item's identity; duplicates collapse onto their first occurrence;
4. :func:`read_stored` — identities already stored are ``existing`` and go no further;
5. :func:`create_chunk`, per :data:`CHUNK_SIZE` identities — one upstream batch create, an item upstream already
   holds (4016) adopted, each stored;
6. :func:`summarise` — one result per input item, in order.

:func:`create_chunk` is the unit of upstream work, reusable alone: a caller that already has resolved identities
(a bulk import handling one SQS message of 40) calls it directly. Chunks share nothing but the repository and the
client, so they may run side by side; the one thing a caller learns across chunks is an account-wide refusal
(:attr:`ChunkResult.account_problem`: credentials or quota), after which sending more only fails the same way.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import ValidationError

from shiptrack.errors import (
    CarrierNotDetectedError,
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
    normalize_tracking_number,
    to_millis,
    utc_now,
)
from shiptrack.observability import counted_call, logger, metrics, record_upstream_call
from shiptrack.upstream import tracking_from_upstream, upstream_version

if TYPE_CHECKING:
    import trackingmore
    from shiptrack.data.claims import CreateClaims
    from shiptrack.data.trackings import TrackingsRepository
    from shiptrack.deadline import Deadline
    from trackingmore import TrackingMoreClient

__all__ = [
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
    "read_stored",
    "resolve_identities",
    "summarise",
    "validate_items",
]

#: Identities per upstream batch create: TrackingMore's limit (reference §3.2).
CHUNK_SIZE: Final = 40
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


def detect_carrier(tracking_number: str, *, client: Callable[[], TrackingMoreClient]) -> str:
    """The carrier code for a number: the first match of ``POST /carriers/detect`` (reference §3.18, SUP-cat).

    Raises :class:`~shiptrack.errors.CarrierNotDetectedError` (422) when TrackingMore finds none (4032).
    """
    import trackingmore

    number = normalize_tracking_number(tracking_number)
    try:
        matches = counted_call("detect", lambda: client().detect_carrier(number))
    except trackingmore.CarrierNotDetectedError as exc:
        raise CarrierNotDetectedError(f"No carrier recognises the tracking number {number}.") from exc
    codes: list[str] = [match.code for match in matches if match.code]
    if not codes:
        raise CarrierNotDetectedError(f"No carrier recognises the tracking number {number}.")
    return codes[0].strip().lower()


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
) -> CreateResult:
    tracking = tracking_from_upstream(upstream, now=now, base=_base_tracking(request, ref, now))
    put = store.put_new(tracking, version=upstream_version(upstream))
    if put.created:
        metrics.add_metric(name="TrackingsCreated", unit=MetricUnit.Count, value=1)
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
) -> BatchCreateResponse:
    """Track many parcels: one result per item, in order (the steps are in the module docstring).

    Invalid items, undetected carriers and items upstream refuses fail alone with their problem; a chunk that
    failed after the client's retries leaves its items ``failed`` with a retryable problem and nothing stored.
    """
    now = to_millis(now or utc_now())
    requests, failures = validate_items(items, context)
    numbers = (request.tracking_number for request in requests.values() if request.carrier_code is None)
    refs, undetected = resolve_identities(requests, detect_carriers(numbers, client=client))
    failures.update(undetected)
    first: dict[TrackingRef, int] = {}
    for index, ref in refs.items():
        first.setdefault(ref, index)  # duplicates collapse onto their first occurrence
    outcomes = read_stored(first, store=store)
    pending = [PendingCreate(index, ref, requests[index]) for ref, index in first.items() if ref not in outcomes]
    outcomes.update(_create_in_chunks(pending, store, client, now))
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
            errors = field_errors(exc.errors(include_url=False))
            problem = ValidationFailedError("This item is not valid; see errors.", errors=errors).to_problem()
            failures[index] = BatchItemResult(index=index, outcome="failed", problem=problem)
    return requests, failures


def detect_carriers(
    numbers: Iterable[str], *, client: Callable[[], TrackingMoreClient]
) -> dict[str, str | ShiptrackError | trackingmore.TrackingMoreError]:
    """Step 2: the carrier of each distinct number (one detection each), or why none was found."""
    import trackingmore

    detected: dict[str, str | ShiptrackError | trackingmore.TrackingMoreError] = {}
    for number in numbers:
        if number not in detected:
            try:
                detected[number] = detect_carrier(number, client=client)
            except (ShiptrackError, trackingmore.TrackingMoreError) as exc:
                detected[number] = exc
    return detected


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


def read_stored(first: Mapping[TrackingRef, int], *, store: TrackingsRepository) -> dict[TrackingRef, BatchItemResult]:
    """Step 4: ``existing`` results for the identities already stored (one strongly consistent batch read)."""
    stored = store.batch_get(first)
    return {
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


def _create_in_chunks(
    pending: Sequence[PendingCreate],
    store: TrackingsRepository,
    client: Callable[[], TrackingMoreClient],
    now: datetime,
) -> dict[TrackingRef, BatchItemResult]:
    """Step 5 over every chunk, in order. After an account-wide refusal the rest is not sent: it fails the same."""
    results: dict[TrackingRef, BatchItemResult] = {}
    if not pending:
        return results
    upstream = client()
    refusal: Problem | None = None
    for start in range(0, len(pending), CHUNK_SIZE):
        chunk = pending[start : start + CHUNK_SIZE]
        if refusal is not None:
            results.update({item.ref: item.result(problem=refusal) for item in chunk})
            continue
        done = create_chunk(chunk, store=store, client=upstream, now=now)
        results.update(done.results)
        refusal = done.account_problem
    return results


def create_chunk(
    chunk: Sequence[PendingCreate], *, store: TrackingsRepository, client: TrackingMoreClient, now: datetime
) -> ChunkResult:
    """Step 5: create up to :data:`CHUNK_SIZE` identities upstream in one call and store each one created.

    An item upstream already holds (4016) is fetched and stored (``created``, as for a single create); one stored
    meanwhile by someone else is ``existing``. An item upstream refused fails with its problem; a chunk that failed
    after the client's retries fails all its items (retryable) and stores nothing.
    """
    if len(chunk) > CHUNK_SIZE:
        msg = f"a chunk holds at most {CHUNK_SIZE} identities, not {len(chunk)}"
        raise ValueError(msg)
    answer = client.batch_create_trackings([_upstream_create_request(p.request, p.ref.carrier_code) for p in chunk])
    record_upstream_call("batch_create", "ok" if not answer.failed else "partial")
    results: dict[TrackingRef, BatchItemResult] = {}
    refusal: Problem | None = None
    for pending, item in zip(chunk, answer.items, strict=True):
        results[pending.ref] = _store_chunk_item(pending, item, store=store, client=client, now=now)
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
        created = _store_created(store, pending.request, ref, upstream, now)
    except (ShiptrackError, trackingmore.TrackingMoreError) as exc:
        return pending.result(problem=_problem(exc))
    return pending.result(outcome="created" if created.created else "existing", tracking=created.tracking)


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
    """Step 6: one result per input item, in input order (a collapsed duplicate gets its identity's result)."""
    results = [failures[index] if index in failures else outcomes[refs[index]] for index in range(count)]
    final = [result.model_copy(update={"index": index}) for index, result in enumerate(results)]
    summary = BatchSummary(
        created=sum(1 for r in final if r.outcome == "created"),
        existing=sum(1 for r in final if r.outcome == "existing"),
        failed=sum(1 for r in final if r.outcome == "failed"),
    )
    counts = {"items_created": summary.created, "items_existing": summary.existing, "items_failed": summary.failed}
    logger.info("batch create", extra={"items": count, **counts})
    return BatchCreateResponse(results=final, summary=summary)


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
    return _problem(exc).model_copy(update={"retryable": item.retryable})
