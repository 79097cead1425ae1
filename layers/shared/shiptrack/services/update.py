"""Changing a tracking (``PATCH /trackings/{carrier_code}/{tracking_number}``) — upstream first, then ours.

The update is three decisions and one sequence of calls:

* :func:`merge_changes` — the metadata, customer and lifecycle changes to our copy;
* :func:`upstream_update_request` — the one ``PUT`` TrackingMore gets (reference §3.5), or none;
* :func:`decide_status` — the status an override leaves us with, from what TrackingMore answered;
* :func:`update_tracking` — the calls in order: ``PUT``, a read-back for ``revert``, a carrier change
  (``POST /trackings/update``, reference §3.10); then our copy, and the identity move.

Any upstream failure leaves our copy unchanged. Dependencies are arguments, wired by ``shiptrack.compose``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, Final, Literal

from shiptrack.errors import TrackingExistsError, TrackingNotFoundError
from shiptrack.models import Customer, Tracking, TrackingRef, UpdateTrackingRequest, to_millis, utc_now
from shiptrack.observability import counted_call, logger
from shiptrack.upstream import tracking_from_upstream, upstream_version

if TYPE_CHECKING:
    import trackingmore
    from shiptrack.data.claims import CreateClaims
    from shiptrack.data.trackings import TrackingsRepository
    from trackingmore import TrackingMoreClient

__all__ = ["STATUS_OVERRIDE_CODES", "decide_status", "merge_changes", "update_tracking", "upstream_update_request"]

# TrackingMore's PUT status values (reference §3.5).
STATUS_OVERRIDE_CODES: Final[dict[str, Literal[4, 7, 8]]] = {"delivered": 4, "exception": 7, "revert": 8}


def merge_changes(current: Tracking, request: UpdateTrackingRequest) -> dict[str, Any]:
    """The resource fields the request changes on our copy: metadata, the customer merged field by field (a field
    left out keeps its value), and the lifecycle for ``archived``. Status comes later (:func:`decide_status`)."""
    changes: dict[str, Any] = dict(request.metadata)
    if request.customer is not None:
        customer = Customer.model_validate(request.customer.model_dump()).filled_from(current.customer)
        if customer != current.customer:
            changes["customer"] = customer
    if request.archived is not None:
        changes["lifecycle"] = "archived" if request.archived else "active"
    return changes


def upstream_update_request(request: UpdateTrackingRequest) -> trackingmore.UpdateTrackingRequest | None:
    """The ``PUT`` for TrackingMore (status override as code 4 / 7 / 8), or ``None`` when it needs none: v2's PUT
    has no comment field (reference §3.5), so a comment-only change is ours alone, and a carrier change has its
    own call."""
    from trackingmore import UpdateTrackingRequest as UpstreamUpdate

    customer = request.customer
    needs_put = (
        any(name != "comment" for name in request.metadata)
        or customer is not None
        or request.status_override is not None
        or request.archived is not None
    )
    if not needs_put:
        return None
    return UpstreamUpdate(
        title=request.title,
        logistics_channel=request.logistics_channel,
        order_id=request.order_id,
        destination_code=request.destination_code,
        customer_name=customer.name if customer else None,
        customer_email=customer.email if customer else None,
        customer_phone=customer.phone if customer else None,
        status=STATUS_OVERRIDE_CODES[request.status_override] if request.status_override else None,
        archived=request.archived,
    )


def decide_status(
    request: UpdateTrackingRequest, upstream: trackingmore.Tracking | None, recomputed: Tracking | None
) -> dict[str, Any]:
    """The status and substatus an override leaves: ``delivered`` / ``exception`` as asked (the substatus only if
    TrackingMore's answer agrees on the status), ``revert`` what TrackingMore recomputed; no override, no change."""
    override = request.status_override
    if override in ("delivered", "exception"):
        same = upstream is not None and (upstream.status or "").lower() == override
        return {"status": override, "substatus": upstream.substatus if same and upstream is not None else None}
    if override == "revert" and recomputed is not None:
        return {"status": recomputed.status, "substatus": recomputed.substatus}
    return {}


def update_tracking(
    ref: TrackingRef,
    request: UpdateTrackingRequest,
    *,
    store: TrackingsRepository,
    client: Callable[[], TrackingMoreClient],
    claims: CreateClaims,
    retention_days: int,
    now: datetime | None = None,
) -> Tracking:
    """PATCH: metadata, status override, archive flag and carrier change — upstream first, then ours.

    404 when we do not hold ``ref``; a carrier change onto an identity we already hold is a 409 before anything is
    sent. An archived tracking expires after ``retention_days`` (0: never).
    """
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
    changes = merge_changes(current, request)
    upstream, recomputed = _update_upstream(ref, request, new_ref, client=client, current=current, now=now)
    changes.update(decide_status(request, upstream, recomputed))
    archived = changes.get("lifecycle") == "archived" and retention_days > 0
    ttl = int((now + timedelta(days=retention_days)).timestamp()) if archived else None
    version = upstream_version(upstream) if upstream is not None else None
    updated = (
        store.update_fields(ref, changes, now=now, version=version, expires_at=ttl, current=record)
        if changes
        else current
    )
    if updated is None:
        raise TrackingNotFoundError(f"Tracking {ref} is not tracked.")
    if new_ref is not None:
        claims.clear(ref)  # the old identity may be created again at once
        updated = store.move_identity(ref, new_ref.carrier_code, now=now)
    logger.info("tracking updated", extra={"tracking": str(new_ref or ref), "fields": sorted(request.model_fields_set)})
    return updated


def _update_upstream(
    ref: TrackingRef,
    request: UpdateTrackingRequest,
    new_ref: TrackingRef | None,
    *,
    client: Callable[[], TrackingMoreClient],
    current: Tracking,
    now: datetime,
) -> tuple[trackingmore.Tracking | None, Tracking | None]:
    """TrackingMore's side of a PATCH, in order; returns its last answer and, for ``revert``, the recomputed copy."""
    upstream: trackingmore.Tracking | None = None
    put = upstream_update_request(request)
    if put is not None:
        upstream = counted_call("update", partial(client().update_tracking, ref.carrier_code, ref.tracking_number, put))
    recomputed: Tracking | None = None
    if request.status_override == "revert":
        # 8 = back to the status TrackingMore computes from the events (reference §3.5). The PUT answer echoes the
        # code, not the status, so read the tracking back to learn it.
        upstream = counted_call("get", partial(client().get_tracking, ref.carrier_code, ref.tracking_number))
        recomputed = tracking_from_upstream(upstream, now=now, base=current)
    if new_ref is not None:
        change = partial(client().change_carrier, ref.carrier_code, ref.tracking_number, new_ref.carrier_code)
        counted_call("change_carrier", change)
    return upstream, recomputed
