"""Stored trackings and the JSON shapes the v2 API renders them in (reference §3, §6)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from local.sandbox.carriers import CARRIERS
from local.sandbox.countries import country_name
from local.sandbox.simulation import MILESTONES, ParcelPlan, Snapshot, carrier_info

# TrackingMore's system timestamps carry +08:00 in live captures (reference §1: "2019-08-20T14:56:55+08:00").
SYSTEM_TZ = timezone(timedelta(hours=8))

# Optional create fields stored as given (reference §3.1, §3.9).
CREATE_FIELDS = (
    "title",
    "logistics_channel",
    "customer_name",
    "customer_email",
    "customer_phone",
    "order_id",
    "order_create_time",
    "destination_code",
    "tracking_ship_date",
    "tracking_postal_code",
    "tracking_account_number",
    "tracking_destination_country",
    "specialNumberDestination",
    "lang",
    "auto_correct",
    "comment",
)
EDITABLE_FIELDS = (
    "title",
    "logistics_channel",
    "customer_name",
    "customer_email",
    "customer_phone",
    "order_id",
    "destination_code",
    "comment",
)


def system_time(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), SYSTEM_TZ).isoformat()


def identity(carrier_code: str, tracking_number: str) -> tuple[str, str]:
    return carrier_code.lower(), tracking_number.upper()


@dataclass
class TrackingRecord:
    id: str
    carrier_code: str
    tracking_number: str
    created_ts: float  # REAL wall clock (created_at)
    updated_ts: float  # REAL wall clock of the last change (updated_at)
    created_sim: datetime  # simulated clock at creation (anchors the parcel's plan)
    seq: int
    plan: ParcelPlan
    fields: dict[str, Any] = field(default_factory=dict)
    archived: bool = False
    track_update: bool = True
    override: str | None = None  # "delivered" | "exception" set by PUT status 4/7
    snapshot: Snapshot | None = None  # None until the first refresh: status "pending"

    @property
    def key(self) -> tuple[str, str]:
        return identity(self.carrier_code, self.tracking_number)

    # -- derived ------------------------------------------------------------------------------------------
    @property
    def computed_status(self) -> str:
        return self.snapshot.status if self.snapshot else "pending"

    @property
    def status(self) -> str:
        return self.override or self.computed_status

    @property
    def substatus(self) -> str | None:
        if self.override or self.snapshot is None:
            return None
        return self.snapshot.substatus

    def order_create_ts(self) -> float | None:
        raw = self.fields.get("order_create_time")
        if not raw or not isinstance(raw, str):
            return None
        for fmt in (
            "%Y-%m-%d %H:%M:%S",
            "%Y-%m-%d %H:%M",
            "%Y/%m/%d %H:%M:%S",
            "%Y/%m/%d %H:%M",
            "%Y-%m-%d",
            "%Y/%m/%d",
        ):
            try:
                return datetime.strptime(raw.strip(), fmt).replace(tzinfo=SYSTEM_TZ).timestamp()
            except ValueError:
                continue
        return None

    def _field(self, name: str) -> Any:
        value = self.fields.get(name)
        return None if value in ("", None) else value

    def _order_create_time(self, unset: Any = 0) -> Any:
        value = self.fields.get("order_create_time")
        return value if value not in (None, "") else unset  # int 0 when unset (reference §3.1, §11)

    # -- shapes -------------------------------------------------------------------------------------------
    def created_shape(self) -> dict[str, Any]:
        """Create / batch item (reference §3.1, §3.2 live capture)."""
        return {
            "id": self.id,
            "tracking_number": self.tracking_number,
            "carrier_code": self.carrier_code,
            "order_create_time": self._order_create_time(),
            "status": self.status,
            "created_at": system_time(self.created_ts),
            "customer_email": self._field("customer_email"),
            "customer_name": self._field("customer_name"),
            "customer_phone": self._field("customer_phone"),
            "order_id": self._field("order_id"),
            "comment": self._field("comment"),
            "title": self._field("title"),
            "logistics_channel": self._field("logistics_channel"),
            "destination": self.fields.get("destination_code") or "",
        }

    def put_shape(self, status_echo: Any = None, archived_echo: Any = None) -> dict[str, Any]:
        """PUT / updatemore item. Seed 004 prints ``archived`` as a string ("true") and ``status`` as the string of the
        number sent ("7"); fields follow the 51tracking clone's UpdateTrackingResult (reference §3.5, inferred)."""
        return {
            "id": self.id,
            "tracking_number": self.tracking_number,
            "carrier_code": self.carrier_code,
            "order_create_time": self._order_create_time(),
            "status": str(status_echo) if status_echo is not None else self.status,
            "created_at": system_time(self.created_ts),
            "updated_at": system_time(self.updated_ts),
            "customer_email": self._field("customer_email"),
            "customer_name": self._field("customer_name"),
            "customer_phone": self._field("customer_phone"),
            "order_id": self._field("order_id"),
            "comment": self._field("comment"),
            "title": self._field("title"),
            "logistics_channel": self._field("logistics_channel"),
            "destination": self.fields.get("destination_code") or "",
            "destination_code": self.fields.get("destination_code") or "",
            "archived": str(archived_echo if archived_echo is not None else self.archived).lower(),
        }

    def full_shape(self, sim_now: datetime, *, realtime: bool = False) -> dict[str, Any]:
        """The tracking object of GET one, the list, realtime and webhooks (reference §6)."""
        snap = self.snapshot
        events = snap.events if snap else []
        origin_events = [e for e in events if e.planned.side == "origin"]
        dest_events = [e for e in events if e.planned.side == "destination"]
        plan = self.plan
        latest = events[0] if events else None
        item_days: int | None = None
        stay_days = 0
        if snap and snap.delivered_at is not None and events:
            item_days = (snap.delivered_at - events[-1].at).days
        if snap and latest is not None:
            stay_days = max(0, (sim_now - latest.at).days)
        tracked = snap is not None
        unset_text: Any = "" if realtime else 0
        obj: dict[str, Any] = {
            "id": self.id,
            "tracking_number": self.tracking_number,
            "carrier_code": self.carrier_code,
            "status": self.status,
            "substatus": self.substatus,
            "track_update": self.track_update,
            "created_at": system_time(self.created_ts),
            "updated_at": system_time(self.updated_ts),
            "order_create_time": self._order_create_time(unset_text),
            "title": self._field("title"),
            "order_id": self._field("order_id"),
            "comment": self._field("comment"),
            "customer_name": self._field("customer_name"),
            "customer_email": self._field("customer_email"),
            "customer_phone": self._field("customer_phone"),
            "logistics_channel": self._field("logistics_channel"),
            "destination": self.fields.get("destination_code") or "",
            "destination_code": self.fields.get("destination_code") or "",
            "archived": self.archived,
            "original_country": country_name(plan.origin) if tracked else "",
            "destination_country": country_name(plan.destination) if tracked else "",
            "itemTimeLength": item_days,
            "stayTimeLength": stay_days,
            "service_code": None,
            "status_info": None,
            "packageStatus": None,
            "last_mile_tracking_supported": None,
            "weight": None,
            "singed_by": plan.signed_by if self.computed_status == "delivered" else None,  # [sic], reference §6
            "origin_info": _info(self.carrier_code, origin_events),
            "destination_info": (
                _info(plan.destination_carrier, dest_events) if plan.destination_carrier and tracked else None
            ),
            "lastEvent": (
                f"{latest.planned.description},{latest.planned.location},{latest.local_time()}" if latest else None
            ),
            "lastUpdateTime": latest.local_time() if latest else None,
        }
        return obj


def _info(carrier_code: str, events: list[Any]) -> dict[str, Any]:
    info: dict[str, Any] = {"ReferenceNumber": None}
    for name in MILESTONES:
        info[name] = None
    for event in reversed(events):  # oldest first: the first event with a node sets the milestone
        node = event.planned.node
        if node and info.get(node) is None:
            info[node] = event.local_time()
    info.update(carrier_info(carrier_code) if carrier_code in CARRIERS else {})
    trackinfo = []
    for event in events:
        item: dict[str, Any] = {
            "Date": event.local_time(),
            "StatusDescription": event.planned.description,
            "Details": event.planned.location,
            "checkpoint_status": event.planned.status,
            "substatus": event.planned.substatus,
        }
        if event.planned.node:
            item["ItemNode"] = event.planned.node
        trackinfo.append(item)
    info["trackinfo"] = trackinfo
    return info
