"""Parcels that move with simulated time, deterministically.

Every parcel gets a *plan* — origin, destination, scenario and a timeline of carrier events — derived only from
``hash(seed, carrier, number)`` (plus the destination the user gave at creation). What a client sees at simulated
time ``t`` is the part of the plan that has happened by ``t``; so the same seed, number and simulated time always give
the same history, and two sandboxes with the same seed advance identically.

Statuses and sub-statuses are those of reference §5: pending → notfound → transit (transit001–005, 007) → pickup
(pickup001) → delivered (delivered001–004), with undelivered, exception (exception004–011) and expired (30 days for
express, 60 for postal services, without delivery) along the way.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from local.sandbox.carriers import CARRIERS, POST_OF_COUNTRY, Carrier, s10_country
from local.sandbox.countries import COUNTRIES, Country

MILESTONES = (
    "ItemReceived",
    "ItemDispatched",
    "DepartfromAirport",
    "ArrivalfromAbroad",
    "CustomsClearance",
    "DestinationArrived",
)
EXPIRY_DAYS_EXPRESS = 30  # reference §5.1
EXPIRY_DAYS_POSTAL = 60
TERMINAL = frozenset({"delivered", "exception"})

# International couriers ship from these origins (weights); domestic carriers stay in their home country.
_EXPRESS_ORIGINS = (("CN", 5), ("US", 3), ("DE", 2), ("GB", 2), ("HK", 2), ("NL", 1), ("JP", 1), ("FR", 1))
_DESTINATIONS = (
    ("US", 6),
    ("GB", 3),
    ("DE", 3),
    ("FR", 2),
    ("CA", 2),
    ("AU", 2),
    ("NL", 1),
    ("IT", 1),
    ("ES", 1),
    ("JP", 1),
    ("KR", 1),
    ("BR", 1),
    ("SE", 1),
    ("CH", 1),
    ("NZ", 1),
    ("IL", 1),
    ("MX", 1),
)
_DOMESTIC = frozenset(
    {
        "usps",
        "hermes",
        "evri",
        "dpd",
        "gls",
        "ontrac",
        "lasership",
        "purolator",
        "zto",
        "sto",
        "yto",
        "yunda",
        "dhl-germany",
        "dhlparcel-nl",
        "colissimo",
        "bluedart",
        "canada-post",
    }
)
_CROSS_BORDER_CN = frozenset({"yanwen", "cainiao", "4px", "yunexpress", "china-post", "china-ems", "sf-express"})

# scenario → weight
_SCENARIOS = (
    ("delivered", 62),
    ("failed_then_delivered", 8),
    ("unclaimed", 3),
    ("customs_held", 4),
    ("lost", 5),
    ("damaged", 3),
    ("refused", 4),
    ("cancelled", 2),
    ("address_issue", 3),
    ("never_found", 6),
)
_SIGNERS = ("J SMITH", "M GARCIA", "A MUELLER", "L CHEN", "K TANAKA", "R DUBOIS", "FRONT DESK", "S JONES")


@dataclass(frozen=True)
class PlannedEvent:
    offset_h: float  # hours after the first carrier event
    side: str  # "origin" | "destination"
    status: str
    substatus: str | None
    description: str
    location: str
    country: str  # where it happened (for the carrier-local clock)
    node: str | None = None  # milestone set by this event


@dataclass(frozen=True)
class ParcelPlan:
    carrier: str
    origin: str
    destination: str
    scenario: str
    lead_h: float  # the first carrier event happened this many hours before creation (negative: after)
    events: tuple[PlannedEvent, ...]
    destination_carrier: str | None  # the post that shows the destination leg (international postal items)
    expiry_days: int
    signed_by: str | None


@dataclass(frozen=True)
class Event:
    at: datetime  # UTC
    planned: PlannedEvent

    def local_time(self) -> str:
        return local_time(self.at, self.planned.country)


@dataclass
class Snapshot:
    """What the carrier shows at one simulated instant."""

    status: str
    substatus: str | None
    events: list[Event] = field(default_factory=list)  # newest first
    delivered_at: datetime | None = None

    def key(self) -> tuple[str, str | None, int]:
        return (self.status, self.substatus, len(self.events))


def local_time(at: datetime, country_code: str) -> str:
    country = COUNTRIES.get(country_code)
    offset = timedelta(hours=country.utc_offset if country else 0)
    return (at.astimezone(UTC) + offset).strftime("%Y-%m-%d %H:%M:%S")


def parcel_rng(seed: int, carrier: str, number: str, salt: str = "") -> random.Random:
    digest = hashlib.sha256(f"{seed}|{carrier}|{number.upper()}|{salt}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _weighted(rng: random.Random, options: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]


def _origin(carrier: Carrier, number: str, rng: random.Random) -> str:
    from_number = s10_country(number)
    if from_number and from_number in COUNTRIES:
        return from_number
    if carrier.code in _DOMESTIC or carrier.code in _CROSS_BORDER_CN or carrier.postal:
        return carrier.country if carrier.country in COUNTRIES else "CN"
    return _weighted(rng, _EXPRESS_ORIGINS)


def _destination(carrier: Carrier, origin: str, hint: str | None, rng: random.Random) -> str:
    if hint and hint.upper() in COUNTRIES:
        return hint.upper()
    if carrier.code in _DOMESTIC:
        return origin
    for _ in range(8):
        dest = _weighted(rng, _DESTINATIONS)
        if dest != origin:
            return dest
    return "US" if origin != "US" else "GB"


def _city(country: Country, rng: random.Random) -> str:
    return rng.choice(country.cities)


def make_plan(seed: int, carrier: Carrier, number: str, destination_hint: str | None = None) -> ParcelPlan:
    rng = parcel_rng(seed, carrier.code, number)
    origin = _origin(carrier, number, rng)
    destination = _destination(carrier, origin, destination_hint, rng)
    international = origin != destination
    postal = carrier.postal
    scenario = _weighted(rng, _SCENARIOS)
    if scenario == "customs_held" and not international:
        scenario = "delivered"
    lead_h = round(rng.uniform(-30.0, 72.0), 2)
    o_country, d_country = COUNTRIES[origin], COUNTRIES[destination]
    o_city, d_city = _city(o_country, rng), _city(d_country, rng)
    hub_city = _city(o_country, rng)
    dest_carrier = POST_OF_COUNTRY.get(destination) if (postal and international) else None
    if dest_carrier == carrier.code:
        dest_carrier = None

    events: list[PlannedEvent] = []
    clock = 0.0

    def add(  # noqa: PLR0917
        hours: tuple[float, float],
        side: str,
        status: str,
        sub: str | None,
        text: str,
        where: str,
        country: str,
        node: str | None = None,
    ) -> None:
        nonlocal clock
        clock += rng.uniform(*hours) if events else 0.0
        events.append(PlannedEvent(round(clock, 3), side, status, sub, text, where, country, node))

    slow = 2.5 if postal else 1.0
    dest_side = "destination" if dest_carrier else "origin"
    signer = rng.choice(_SIGNERS)
    delivered_sub = rng.choice(("delivered001", "delivered001", "delivered002", "delivered003", "delivered004"))

    if scenario != "never_found":
        add((0, 0), "origin", "notfound", "notfound001", "Shipment information received, awaiting item", o_city, origin)
    if scenario == "cancelled":
        add(
            (24, 96),
            "origin",
            "exception",
            "exception008",
            "Shipment cancelled by the sender before pick-up",
            o_city,
            origin,
        )
    elif scenario != "never_found":
        accepted = "Posting/Collection" if postal else "Shipment picked up"
        add((2, 18), "origin", "transit", "transit001", accepted, o_city, origin, "ItemReceived")
        add((3, 12 * slow), "origin", "transit", "transit002", "Arrived at sort facility", hub_city, origin)
        dispatched = "Departure from outward office of exchange" if postal and international else "Departed facility"
        add((2, 10 * slow), "origin", "transit", "transit001", dispatched, hub_city, origin, "ItemDispatched")
        if scenario == "damaged":
            add((6, 48), "origin", "exception", "exception007", "Item damaged in transit, lost", hub_city, origin)
        elif scenario == "lost":
            pass  # nothing more ever happens: the parcel expires
        else:
            if international:
                add(
                    (4, 30 * slow),
                    "origin",
                    "transit",
                    "transit007",
                    "Handed over to airline, departed",
                    hub_city,
                    origin,
                    "DepartfromAirport",
                )
                arrival = "Receive at country of destination" if postal else "Arrived at destination country"
                add(
                    (8, 40 * slow),
                    dest_side,
                    "transit",
                    "transit004",
                    arrival,
                    _city(d_country, rng),
                    destination,
                    "ArrivalfromAbroad",
                )
                if scenario == "customs_held":
                    add(
                        (4, 48),
                        dest_side,
                        "exception",
                        "exception006",
                        "Held by customs, awaiting documents",
                        _city(d_country, rng),
                        destination,
                    )
                else:
                    add(
                        (3, 30 * slow),
                        dest_side,
                        "transit",
                        "transit005",
                        "Customs clearance completed",
                        _city(d_country, rng),
                        destination,
                        "CustomsClearance",
                    )
            if scenario != "customs_held":
                add(
                    (4, 24 * slow),
                    dest_side,
                    "transit",
                    "transit003",
                    "Arrived at delivery facility",
                    d_city,
                    destination,
                    "DestinationArrived",
                )
                if scenario == "address_issue":
                    add(
                        (4, 20),
                        dest_side,
                        "exception",
                        "exception005",
                        "Delivery exception: address incomplete",
                        d_city,
                        destination,
                    )
                else:
                    add((3, 18), dest_side, "pickup", "pickup001", "Out for delivery", d_city, destination)
                    if scenario == "refused":
                        add(
                            (1, 8),
                            dest_side,
                            "exception",
                            "exception009",
                            "Delivery refused by the recipient",
                            d_city,
                            destination,
                        )
                        add(
                            (24, 96), dest_side, "exception", "exception011", "Returning to sender", d_city, destination
                        )
                        add((72, 240), dest_side, "exception", "exception010", "Returned to sender", o_city, origin)
                    elif scenario in {"failed_then_delivered", "unclaimed"}:
                        add(
                            (1, 8),
                            dest_side,
                            "undelivered",
                            None,
                            "Delivery attempted: recipient not available, notice left",
                            d_city,
                            destination,
                        )
                        add(
                            (4, 24),
                            dest_side,
                            "pickup",
                            "pickup001",
                            "Available for pick-up at the local office",
                            d_city,
                            destination,
                        )
                        if scenario == "unclaimed":
                            add(
                                (24 * 7, 24 * 14),
                                dest_side,
                                "exception",
                                "exception004",
                                "Not collected within the holding period, returning to sender",
                                d_city,
                                destination,
                            )
                        else:
                            _deliver(add, dest_side, delivered_sub, signer, d_city, destination)
                    else:
                        _deliver(add, dest_side, delivered_sub, signer, d_city, destination)

    return ParcelPlan(
        carrier=carrier.code,
        origin=origin,
        destination=destination,
        scenario=scenario,
        lead_h=lead_h,
        events=tuple(events),
        destination_carrier=dest_carrier,
        expiry_days=EXPIRY_DAYS_POSTAL if postal else EXPIRY_DAYS_EXPRESS,
        signed_by=signer if delivered_sub == "delivered003" else None,
    )


def _deliver(add: object, side: str, sub: str, signer: str, city: str, country: str) -> None:  # noqa: PLR0917
    text = {
        "delivered001": "Delivered",
        "delivered002": "Picked up by the recipient at the pick-up point",
        "delivered003": f"Delivered, signed for by {signer}",
        "delivered004": "Delivered, left at the front door",
    }[sub]
    add((1, 8), side, "delivered", sub, text, city, country)  # type: ignore[operator]


def snapshot(plan: ParcelPlan, created_sim: datetime, at: datetime) -> Snapshot:
    """The carrier's view of a parcel at simulated time ``at`` (events newest first)."""
    anchor = created_sim - timedelta(hours=plan.lead_h)
    visible = [Event(anchor + timedelta(hours=e.offset_h), e) for e in plan.events]
    visible = [e for e in visible if e.at <= at]
    visible.sort(key=lambda e: e.at, reverse=True)
    expiry = timedelta(days=plan.expiry_days)
    if not visible:
        if at - created_sim >= expiry:
            return Snapshot("expired", None)
        return Snapshot("notfound", "notfound002")
    latest = visible[0].planned
    first_at = visible[-1].at
    if latest.status not in TERMINAL and at - first_at >= expiry:
        return Snapshot("expired", None, visible)
    delivered_at = visible[0].at if latest.status == "delivered" else None
    return Snapshot(latest.status, latest.substatus, visible, delivered_at)


def carrier_info(code: str) -> dict[str, object]:
    carrier = CARRIERS[code]
    return {"weblink": "http:" + carrier.homepage, "phone": carrier.phone, "carrier_code": carrier.code}
