"""TrackingMore's tracking → ours: the mapping every upstream copy goes through, and the order of copies.

* :func:`tracking_from_upstream` maps a ``trackingmore.Tracking`` onto our resource (carrier data from upstream,
  our metadata kept);
* :func:`upstream_version` defines the order of upstream observations used by the monotonic rule
  (docs/design.md §5, docs/data-model.md).

Carrier event times are carrier-local without a zone in TrackingMore v2 (reference §1, §6): they stay local ISO
date-times without an offset, and no offset is ever invented.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shiptrack.models import (
    MAX_CHECKPOINT_TEXT,
    MAX_STORED_CHECKPOINTS,
    STATUSES,
    UPSTREAM_FIELDS,
    Checkpoint,
    CheckpointSource,
    Customer,
    Status,
    Tracking,
    TrackingRef,
)

if TYPE_CHECKING:
    from trackingmore.models import CarrierInfo as UpstreamCarrierInfo
    from trackingmore.models import Tracking as UpstreamTracking

__all__ = ["checkpoints_from_upstream", "local_event_time", "tracking_from_upstream", "upstream_version"]

_CARRIER_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?")


def local_event_time(value: str | None) -> str | None:
    """A carrier-local event time as ISO-8601 *without* an offset: ``YYYY-MM-DDTHH:MM:SS`` (or a bare date).

    TrackingMore v2 sends ``YYYY-MM-DD HH:MM[:SS]`` in the carrier's local time and no zone (reference §1, §6).
    Anything else is not guessed at: it becomes ``None``.
    """
    if not value:
        return None
    match = _CARRIER_TIME.match(value.strip())
    if match is None:
        return None
    day, hour, minute, second = match.groups()
    if hour is None:
        return day
    return f"{day}T{hour}:{minute}:{second or '00'}"


def _clean(value: object, limit: int | None = None) -> str | None:
    """Upstream text with TrackingMore's "null"/"" placeholders as ``None`` (reference §3.1)."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or text.lower() == "null":
        return None
    return text[:limit] if limit else text


def _status(value: object) -> Status | None:
    text = _clean(value)
    if text is None:
        return None
    lowered = text.lower()
    return lowered if lowered in STATUSES else None  # type: ignore[return-value]


def _checkpoints(info: UpstreamCarrierInfo | None, source: CheckpointSource) -> list[Checkpoint]:
    if info is None:
        return []
    return [
        Checkpoint(
            time=local_event_time(event.date),
            description=_clean(event.status_description, MAX_CHECKPOINT_TEXT),
            location=_clean(event.details, MAX_CHECKPOINT_TEXT),
            status=_status(event.checkpoint_status),
            substatus=_clean(event.substatus, 50),
            source=source,
        )
        for event in info.trackinfo
    ]


def checkpoints_from_upstream(upstream: UpstreamTracking) -> list[Checkpoint]:
    """Every checkpoint of ``origin_info`` and ``destination_info``, newest first, exact duplicates dropped.

    Postal parcels often repeat the same event in both lists; the origin copy is kept. Events without a time
    sort last. The list is not capped here (see :data:`MAX_STORED_CHECKPOINTS`).
    """
    merged = _checkpoints(upstream.origin_info, "origin") + _checkpoints(upstream.destination_info, "destination")
    seen: set[tuple[str | None, str | None, str | None]] = set()
    unique: list[Checkpoint] = []
    for checkpoint in merged:
        key = (checkpoint.time, checkpoint.description, checkpoint.location)
        if key in seen:
            continue
        seen.add(key)
        unique.append(checkpoint)
    # Stable sort: events with the same time keep upstream's order (newest first within each list).
    return sorted(unique, key=lambda c: c.time or "", reverse=True)


_ZERO_INSTANT = "0000-00-00T00:00:00.000000Z"
_ZERO_LOCAL = "0000-00-00T00:00:00"


def upstream_version(upstream: UpstreamTracking) -> str:
    """The order of upstream observations of one tracking, as a string that sorts like the observations.

    ``"{updated_at}|{latest checkpoint time}|{checkpoint count}"``, each part fixed width:

    1. ``updated_at`` — TrackingMore's time of its last refresh of this tracking, in UTC with microseconds
       (zeros when absent);
    2. the newest carrier-local checkpoint time of origin and destination (``YYYY-MM-DDTHH:MM:SS``, zeros when
       none). Comparing local times is sound here because both sides are the same tracking's events;
    3. the number of checkpoints (6 digits), before any cap.

    An update is applied only when its version is ``>=`` the stored one (docs/design.md §5): a webhook that arrives
    late carries an older ``updated_at`` and is refused by the store's conditional write.
    """
    updated = upstream.updated_at
    updated_part = (
        f"{updated.astimezone(UTC):%Y-%m-%dT%H:%M:%S}.{updated.astimezone(UTC).microsecond:06d}Z"
        if updated is not None
        else _ZERO_INSTANT
    )
    checkpoints = checkpoints_from_upstream(upstream)
    times = [c.time for c in checkpoints if c.time]
    latest = max(times) if times else _ZERO_LOCAL
    latest = (latest + "T00:00:00")[:19] if len(latest) == 10 else latest
    return f"{updated_part}|{latest}|{len(checkpoints):06d}"


def _order_time(value: object) -> datetime | None:
    """``order_create_time`` as we send it (``YYYY-MM-DD HH:MM`` UTC); anything else is not guessed."""
    text = _clean(value)
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("/", "-"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def tracking_from_upstream(
    upstream: UpstreamTracking,
    *,
    now: datetime,
    base: Tracking | None = None,
    ref: TrackingRef | None = None,
) -> Tracking:
    """Our resource for a ``trackingmore.Tracking``.

    Carrier data (status, substatus, checkpoints, countries, transit days, last event, upstream id) comes from
    ``upstream``. Our metadata (order, title, customer …) comes from ``base`` when given, and from upstream only
    where ``base`` has none: our copy is the one the caller gave us, and v2 answers sometimes blank it
    (``"null"`` strings, reference §3.1). An unknown upstream status keeps ``base``'s (or ``pending``).
    Timestamps are ``base``'s; a new resource gets ``now``. The store sets ``updated_at`` / ``last_changed_at``.
    """
    if ref is None:
        if base is not None:
            ref = base.ref
        else:
            ref = TrackingRef.of(upstream.carrier_code or "", upstream.tracking_number or "")
    checkpoints = checkpoints_from_upstream(upstream)[:MAX_STORED_CHECKPOINTS]
    emails = [email for email in upstream.customer_email if email]
    from_upstream = Tracking(
        carrier_code=ref.carrier_code,
        tracking_number=ref.tracking_number,
        status=_status(upstream.status) or (base.status if base else "pending"),
        substatus=_clean(upstream.substatus, 50),
        lifecycle="archived" if upstream.archived else "active",
        order_id=_clean(upstream.order_id, 100),
        order_created_at=_order_time(upstream.order_create_time),
        title=_clean(upstream.title, 200),
        logistics_channel=_clean(upstream.logistics_channel, 100),
        comment=_clean(upstream.comment, 500),
        customer=Customer(
            name=_clean(upstream.customer_name, 100),
            email=emails[0] if emails else None,
            phone=_clean(upstream.customer_phone, 32),
        ),
        destination_code=(_clean(upstream.destination_code) or "").upper()[:2] or None,
        origin_country=_clean(upstream.original_country, 100),
        destination_country=_clean(upstream.destination_country, 100),
        transit_days=upstream.item_time_length,
        last_event=_clean(upstream.last_event, MAX_CHECKPOINT_TEXT),
        checkpoints=checkpoints,
        upstream_id=_clean(upstream.id, 64),
        created_at=base.created_at if base else now,
        updated_at=base.updated_at if base else now,
        last_checked_at=now,
        last_changed_at=base.last_changed_at if base else now,
    )
    if base is None:
        return from_upstream
    carrier_data = {name: getattr(from_upstream, name) for name in UPSTREAM_FIELDS}
    merged = base.model_copy(update={**carrier_data, "last_checked_at": now})
    metadata: dict[str, Any] = {}
    for name in ("order_id", "order_created_at", "title", "logistics_channel", "comment", "destination_code"):
        if getattr(base, name) is None and getattr(from_upstream, name) is not None:
            metadata[name] = getattr(from_upstream, name)
    customer = base.customer.filled_from(from_upstream.customer)
    if customer != base.customer:
        metadata["customer"] = customer
    return merged.model_copy(update=metadata) if metadata else merged
