"""Routes of TrackingsFunction: create (one / batch), list, get, update, resync, delete (docs/design.md §3).

Thin: validate (Powertools + pydantic), call one service function with the function's dependencies
(:func:`shiptrack.compose.trackings`), shape the response. Errors are raised as domain errors and answered as
problem+json by :mod:`shiptrack.http`.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from shiptrack import compose, errors
from shiptrack import deadline as deadlines
from shiptrack.http import IdempotencyKeyHeader, json_response, model_response, route_responses
from shiptrack.models import (
    DEFAULT_LIST_LIMIT,
    MAX_BATCH_ITEMS,
    MAX_LIST_LIMIT,
    BatchCreateRequest,
    BatchCreateResponse,
    CreateTrackingRequest,
    Lifecycle,
    ListQuery,
    Status,
    Tracking,
    TrackingList,
    TrackingRef,
    UpdateTrackingRequest,
)
from shiptrack.routes._params import CursorQuery
from shiptrack.services import create, delete, reads, resync, update

__all__ = ["router"]

router = Router()  # type: ignore[no-untyped-call]

TAGS = ["Trackings"]

CarrierCodePath = Annotated[
    str, Path(min_length=1, max_length=50, pattern=r"^[0-9A-Za-z_-]+$", description="Carrier code, e.g. `usps`")
]
TrackingNumberPath = Annotated[
    str, Path(min_length=1, max_length=60, pattern=r"^[0-9A-Za-z_-]+$", description="Tracking number")
]


@router.post(
    "/trackings",
    summary="Track a parcel",
    description=(
        "Registers a tracking with TrackingMore and stores it. `carrier_code` is optional (detected from the number, "
        "first match). Idempotent by identity — a tracking we already hold is answered with 200 and no upstream "
        "call — and by the `Idempotency-Key` header: the same key with the same body replays the first answer, "
        "with another body it is a 422."
    ),
    tags=TAGS,
    operation_id="createTracking",
    status_code=201,
    responses=route_responses(
        {
            201: model_response("Created", Tracking),
            200: model_response("Already tracked: the stored tracking", Tracking),
        },
        409,
        upstream=True,
    ),
)
def create_tracking(
    request: Annotated[CreateTrackingRequest, Body()],
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response[str]:
    def run() -> create.CreateResult:
        deps = compose.trackings()
        return create.create_tracking(
            request, store=deps.store, client=deps.client, claims=deps.claims, deadline=deps.deadline
        )

    if idempotency_key is None:
        result = run()
        return json_response(result.tracking, 201 if result.created else 200)

    from shiptrack.idempotency import CreateResponse, run_idempotent

    def run_once() -> CreateResponse:
        result = run()
        return CreateResponse(status_code=201 if result.created else 200, body=result.tracking.model_dump(mode="json"))

    answer = run_idempotent(
        idempotency_key,
        request.model_dump(mode="json"),
        run_once,
        lambda_context=router.lambda_context,
        deadline=deadlines.current(),
    )
    return json_response(Tracking.model_validate(answer.body), answer.status_code)


@router.post(
    "/trackings/batch",
    summary=f"Track up to {MAX_BATCH_ITEMS} parcels",
    description=(
        "One result per input item, in input order: `created`, `existing` (already tracked, or a repeat of an "
        "earlier item: not sent upstream) or `failed` with a problem object; `summary` counts trackings. Invalid "
        "items fail alone; the rest go to TrackingMore 40 per call, several calls at once within the account's "
        "limits. A failed upstream call fails only its items, with `retryable: true`. Each result carries the "
        "tracking without its checkpoints (`GET /trackings/{carrier_code}/{tracking_number}` has them). When the "
        "request's time runs short, no more calls are sent: what was created is stored and answered, the rest "
        f"fails with a retryable `deadline_exceeded` problem. More than {MAX_BATCH_ITEMS} items: 413, use "
        "`POST /imports`."
    ),
    tags=TAGS,
    operation_id="createTrackingsBatch",
    responses=route_responses({200: model_response("Per-item results", BatchCreateResponse)}, 413, upstream=True),
)
def create_trackings_batch(request: Annotated[BatchCreateRequest, Body()]) -> Response[str]:
    if len(request.items) > MAX_BATCH_ITEMS:
        raise errors.TooManyItemsError(
            f"This batch has {len(request.items)} items; POST /trackings/batch takes at most {MAX_BATCH_ITEMS}. "
            "Send larger sets to POST /imports (up to 50,000 items, created in the background).",
            max_items=MAX_BATCH_ITEMS,
        )
    deps = compose.trackings()
    response = create.create_trackings(
        request.items, store=deps.store, client=deps.batch_client, detections=deps.detections
    )
    return json_response(response)


@router.get(
    "/trackings",
    summary="List trackings",
    description=(
        "Stored trackings, newest first. Without `lifecycle`, archived trackings are left out. `created_after` is "
        "inclusive, `created_before` exclusive. Pass `next_cursor` back as `cursor` (with the same filters) for the "
        "next page; it stays valid while trackings are added. A page holds at most `limit` trackings and at most "
        "about 6 MB of them: it may hold fewer, with a `next_cursor` that continues after its last one.\n\n"
        "**Changes feed**: `updated_after` (inclusive) lists every tracking whose last change a subscriber can see "
        "(status, checkpoints, metadata, lifecycle: what moves `updated_at`) is at or after it, **oldest change "
        "first**, archived ones included. It takes no other filter (400 `unsupported_filters`). A tracking appears at "
        "its newest change only; changes of the last `ChangesFeedDelaySeconds` (90 s by default) are held back, so "
        "no change can fall behind the cursor. `next_cursor` is always where to continue: keep polling with it (an "
        "empty page returns the cursor you sent)."
    ),
    tags=TAGS,
    operation_id="listTrackings",
    responses=route_responses({200: model_response("One page", TrackingList)}),
)
def list_trackings(  # noqa: PLR0917 - Powertools binds each query parameter to one argument
    status: Annotated[Status | None, Query()] = None,
    carrier_code: Annotated[str | None, Query(min_length=1, max_length=50, pattern=r"^[0-9A-Za-z_-]+$")] = None,
    order_id: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    lifecycle: Annotated[Lifecycle | None, Query()] = None,
    created_after: Annotated[str | None, Query(description="ISO-8601 with an offset, inclusive")] = None,
    created_before: Annotated[str | None, Query(description="ISO-8601 with an offset, exclusive")] = None,
    updated_after: Annotated[
        str | None, Query(description="ISO-8601 with an offset, inclusive: the changes feed, oldest change first")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST_LIMIT)] = DEFAULT_LIST_LIMIT,
    cursor: CursorQuery = None,
) -> Response[str]:
    query = _list_query(
        status=status,
        carrier_code=carrier_code,
        order_id=order_id,
        lifecycle=lifecycle,
        created_after=created_after,
        created_before=created_before,
        updated_after=updated_after,
        limit=limit,
        cursor=cursor,
    )
    return json_response(reads.list_trackings(query, store=compose.trackings().store))


def _list_query(**params: Any) -> ListQuery:
    from pydantic import ValidationError

    try:
        return ListQuery.model_validate({key: value for key, value in params.items() if value is not None})
    except ValidationError as exc:
        problems = errors.field_errors(exc.errors(include_url=False), prefix=("query",))
        raise errors.ValidationFailedError("The query is not valid; see errors.", errors=problems) from exc


@router.get(
    "/trackings/<carrier_code>/<tracking_number>",
    summary="Get a tracking",
    description="The stored tracking (carrier code and number are normalised first: case and spaces do not matter).",
    tags=TAGS,
    operation_id="getTracking",
    responses=route_responses({200: model_response("The tracking", Tracking)}, 404),
)
def get_tracking(carrier_code: CarrierCodePath, tracking_number: TrackingNumberPath) -> Response[str]:
    ref = TrackingRef.of(carrier_code, tracking_number)
    return json_response(reads.get_tracking(ref, store=compose.trackings().store))


@router.patch(
    "/trackings/<carrier_code>/<tracking_number>",
    summary="Update a tracking",
    description=(
        "Metadata, `status_override` (`delivered`, `exception`, or `revert` to the status TrackingMore computes), "
        "`archived`, and `carrier_code` (moves the tracking to another carrier; its identity changes). TrackingMore "
        "is updated first; if it refuses, nothing of ours changes."
    ),
    tags=TAGS,
    operation_id="updateTracking",
    responses=route_responses({200: model_response("The updated tracking", Tracking)}, 404, 409, upstream=True),
)
def update_tracking(
    carrier_code: CarrierCodePath,
    tracking_number: TrackingNumberPath,
    request: Annotated[UpdateTrackingRequest, Body()],
) -> Response[str]:
    deps = compose.trackings()
    updated = update.update_tracking(
        TrackingRef.of(carrier_code, tracking_number),
        request,
        store=deps.store,
        client=deps.client,
        claims=deps.claims,
        retention_days=deps.retention_days,
    )
    return json_response(updated)


@router.post(
    "/trackings/<carrier_code>/<tracking_number>/resync",
    summary="Replace our copy with TrackingMore's",
    description=(
        "Reads the tracking from TrackingMore and stores that copy, even when it is older than ours or moves a "
        "delivered parcel back: the repair for a copy that should never have been stored (docs/security.md). Our "
        "metadata (order, title, customer …) stays. The change is published like any other. 404 when we do not hold "
        "the tracking; 409 `tracking_missing_upstream` when TrackingMore does not."
    ),
    tags=TAGS,
    operation_id="resyncTracking",
    responses=route_responses(
        {200: model_response("The tracking as TrackingMore has it", Tracking)}, 404, 409, upstream=True
    ),
)
def resync_tracking(carrier_code: CarrierCodePath, tracking_number: TrackingNumberPath) -> Response[str]:
    deps = compose.trackings()
    ref = TrackingRef.of(carrier_code, tracking_number)
    return json_response(resync.resync_tracking(ref, store=deps.store, client=deps.client))


@router.delete(
    "/trackings/<carrier_code>/<tracking_number>",
    summary="Stop tracking and delete",
    description="Deletes the tracking at TrackingMore and ours. 204 on success, 404 when we do not hold it.",
    tags=TAGS,
    operation_id="deleteTracking",
    status_code=204,
    responses=route_responses({204: {"description": "Deleted"}}, 404, upstream=True),
)
def delete_tracking(carrier_code: CarrierCodePath, tracking_number: TrackingNumberPath) -> Response[str]:
    deps = compose.trackings()
    ref = TrackingRef.of(carrier_code, tracking_number)
    delete.delete_tracking(ref, store=deps.store, client=deps.client, claims=deps.claims)
    return Response(status_code=204, body="")
