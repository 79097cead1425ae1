"""Air waybills (``POST /trackings/aircargo``; reference §3.16, seeds 000/001).

An AWB is ``PPP-SSSSSSSS``: a 3-digit IATA airline prefix and an 8-digit serial whose last digit is the first seven
modulo 7. The response shape is exactly seed 001: ``data`` keyed by AWB, each ``{track_number, return_data{weight,
piece, origin, destination, track_info[], status_number, flight_info{<flight>: {...}}, flight_way_station[],
last_event}, airline_info{name, url, track_url}}``. Progress is deterministic: ``hash(seed, awb)`` fixes the route,
flights, pieces and weight; the simulated clock decides how much of it has happened.

Per-AWB errors (unknown prefix, bad format or check digit) keep the AWB's key and carry ``{"track_number", "code",
"message", "return_data": null, "airline_info": null}`` (the sandbox's choice: the real error shape was not captured).

``status_number`` (only 4 = DLV is documented, seed 001): 0 no events, 1 RCS accepted, 2 MAN/DEP manifested or
departed, 3 ARR/RCF/NFD arrived, 4 DLV delivered.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from local.sandbox.simulation import local_time

AWB_RE = re.compile(r"^([0-9]{3})([ \-]?)([0-9]{7,8})$")  # the official SDK's rule (reference §1)


@dataclass(frozen=True)
class Airline:
    name: str
    designator: str  # IATA two-character code, used in flight numbers
    url: str
    hubs: tuple[str, ...]
    track_url: str = ""


# IATA cargo prefixes of major airlines (public IATA prefix assignments).
AIRLINES: dict[str, Airline] = {
    "001": Airline("American Airlines Cargo", "AA", "https://www.aacargo.com/", ("DFW", "MIA", "ORD")),
    "006": Airline("Delta Cargo", "DL", "https://www.deltacargo.com/", ("ATL", "JFK")),
    "014": Airline("Air Canada Cargo", "AC", "https://www.aircanada.com/cargo/", ("YYZ",)),
    "016": Airline("United Cargo", "UA", "https://www.unitedcargo.com/", ("ORD", "SFO")),
    "020": Airline("Lufthansa Cargo", "LH", "https://www.lufthansa-cargo.com/", ("FRA",)),
    "023": Airline("FedEx Express", "FX", "https://www.fedex.com/", ("MEM", "IND")),
    "045": Airline("LATAM Cargo", "LA", "https://www.latamcargo.com/", ("SCL", "GRU")),
    "047": Airline("TAP Air Cargo", "TP", "https://www.tapcargo.com/", ("LIS",)),
    "055": Airline("ITA Airways Cargo", "AZ", "https://www.ita-airways.com/", ("FCO",)),
    "057": Airline("Air France Cargo", "AF", "https://www.afklcargo.com/", ("CDG",)),
    "065": Airline("Saudia Cargo", "SV", "https://www.saudiacargo.com/", ("JED",)),
    "071": Airline("Ethiopian Cargo", "ET", "https://www.ethiopiancargo.com/", ("ADD",)),
    "074": Airline("KLM Cargo", "KL", "https://www.afklcargo.com/", ("AMS",)),
    "075": Airline("IAG Cargo (Iberia)", "IB", "https://www.iagcargo.com/", ("MAD",)),
    "081": Airline("Qantas Freight", "QF", "https://www.qantasfreight.com/", ("SYD", "MEL")),
    "112": Airline("China Cargo Airlines", "CK", "https://www.ckair.com/", ("PVG",)),
    "125": Airline("IAG Cargo (British Airways)", "BA", "https://www.iagcargo.com/", ("LHR",)),
    "131": Airline("JAL Cargo", "JL", "https://www.jal.co.jp/jalcargo/", ("NRT", "HND")),
    "157": Airline("Qatar Airways Cargo", "QR", "https://www.qrcargo.com/", ("DOH",)),
    "160": Airline("Cathay Pacific Cargo", "CX", "https://www.cathaycargo.com/", ("HKG",)),
    "172": Airline(
        "Cargolux Airlines",
        "CV",
        "https://www.cargolux.com/",
        ("LUX",),
        "https://cvtnt.champ.aero/trackntrace?awbnumber={awb}",  # seed 001
    ),
    "176": Airline("Emirates SkyCargo", "EK", "https://www.skycargo.com/", ("DXB", "DWC")),
    "180": Airline("Korean Air Cargo", "KE", "https://cargo.koreanair.com/", ("ICN",)),
    "205": Airline("ANA Cargo", "NH", "https://www.anacargo.jp/", ("NRT",)),
    "217": Airline("Thai Cargo", "TG", "https://www.thaicargo.com/", ("BKK",)),
    "235": Airline("Turkish Cargo", "TK", "https://www.turkishcargo.com/", ("IST",)),
    "297": Airline("China Airlines Cargo", "CI", "https://cargo.china-airlines.com/", ("TPE",)),
    "369": Airline("Atlas Air", "5Y", "https://www.atlasair.com/", ("ANC", "JFK")),
    "406": Airline("UPS Airlines", "5X", "https://www.ups.com/", ("SDF",)),
    "607": Airline("Etihad Cargo", "EY", "https://www.etihadcargo.com/", ("AUH",)),
    "615": Airline("DHL Aviation (EAT Leipzig)", "QY", "https://www.dhl.com/", ("LEJ",)),
    "618": Airline("Singapore Airlines Cargo", "SQ", "https://www.siacargo.com/", ("SIN",)),
    "695": Airline("EVA Air Cargo", "BR", "https://www.brcargo.com/", ("TPE",)),
    "724": Airline("Swiss WorldCargo", "LX", "https://www.swissworldcargo.com/", ("ZRH",)),
    "738": Airline("Vietnam Airlines Cargo", "VN", "https://www.vietnamairlines.com/", ("SGN", "HAN")),
    "781": Airline("China Eastern Airlines Cargo", "MU", "https://www.ceair.com/", ("PVG",)),
    "784": Airline("China Southern Airlines Cargo", "CZ", "https://tang.csair.com/", ("CAN",)),
    "880": Airline("Hainan Airlines Cargo", "HU", "https://www.hnair.com/", ("PEK", "HAK")),
    "933": Airline("Nippon Cargo Airlines", "KZ", "https://www.nca.aero/", ("NRT",)),
    "988": Airline("Asiana Cargo", "OZ", "https://www.asianacargo.com/", ("ICN",)),
    "999": Airline("Air China Cargo", "CA", "https://www.airchinacargo.com/", ("PEK",)),
}

# IATA airport code → ISO2 country (for the station's local clock).
STATIONS: dict[str, str] = {
    "HKG": "HK", "PVG": "CN", "PEK": "CN", "CAN": "CN", "XMN": "CN", "SZX": "CN", "HAK": "CN", "TPE": "TW",
    "ICN": "KR", "NRT": "JP", "HND": "JP", "KIX": "JP", "SIN": "SG", "BKK": "TH", "KUL": "MY", "SGN": "VN",
    "HAN": "VN", "DEL": "IN", "BOM": "IN", "DXB": "AE", "DWC": "AE", "AUH": "AE", "DOH": "QA", "JED": "SA",
    "IST": "TR", "ADD": "ET", "FRA": "DE", "LEJ": "DE", "CDG": "FR", "AMS": "NL", "LUX": "LU", "LHR": "GB",
    "MXP": "IT", "FCO": "IT", "MAD": "ES", "LIS": "PT", "ZRH": "CH", "VIE": "AT", "BRU": "BE", "CPH": "DK",
    "JFK": "US", "ORD": "US", "LAX": "US", "MIA": "US", "ATL": "US", "DFW": "US", "SFO": "US", "MEM": "US",
    "SDF": "US", "IND": "US", "ANC": "US", "YYZ": "CA", "GRU": "BR", "SCL": "CL", "MEX": "MX", "SYD": "AU",
    "MEL": "AU", "JNB": "ZA",
}  # fmt: skip
_ENDPOINTS = (
    "HKG",
    "PVG",
    "CAN",
    "XMN",
    "SZX",
    "ICN",
    "NRT",
    "SIN",
    "BKK",
    "DEL",
    "FRA",
    "CDG",
    "AMS",
    "LHR",
    "MXP",
    "MAD",
    "JFK",
    "ORD",
    "LAX",
    "MIA",
    "ATL",
    "YYZ",
    "GRU",
    "MEX",
    "SYD",
    "JNB",
    "VIE",
    "BRU",
)


@dataclass(frozen=True)
class Awb:
    key: str
    prefix: str = ""
    serial: str = ""
    error: tuple[int, str] | None = None


def parse(raw: str) -> Awb:
    text = raw.strip()
    match = AWB_RE.match(text)
    if not match:
        return Awb(text, error=(4014, "Invalid air waybill number: expected NNN-NNNNNNNN."))
    prefix, serial = match.group(1), match.group(3)
    key = f"{prefix}-{serial}"
    if len(serial) != 8:
        return Awb(key, prefix, serial, (4014, "Invalid air waybill number: the serial needs 8 digits."))
    if int(serial[:7]) % 7 != int(serial[7]):
        return Awb(key, prefix, serial, (4014, "Invalid air waybill number: check digit mismatch."))
    if prefix not in AIRLINES:
        return Awb(key, prefix, serial, (4015, f"Unknown airline prefix {prefix}."))
    return Awb(key, prefix, serial)


def error_item(awb: Awb) -> dict[str, Any]:
    code, message = awb.error or (4012, "Invalid air waybill.")
    return {"track_number": awb.key, "code": code, "message": message, "return_data": None, "airline_info": None}


def _rng(seed: int, awb: Awb, salt: str = "") -> random.Random:
    digest = hashlib.sha256(f"{seed}|awb|{awb.key}|{salt}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def anchor(seed: int, awb: Awb, sim_now: datetime) -> datetime:
    """When the shipment was booked, fixed at the first query: up to four days before it."""
    return sim_now - timedelta(hours=round(_rng(seed, awb, "anchor").uniform(0, 96), 2))


@dataclass(frozen=True)
class _Event:
    plan: datetime
    actual: datetime
    event: str
    station: str
    flight: str
    status: str
    piece: int


def _fmt(at: datetime, station: str) -> str:
    return local_time(at, STATIONS.get(station, "GB"))


def track(seed: int, awb: Awb, booked: datetime, sim_now: datetime) -> dict[str, Any]:
    airline = AIRLINES[awb.prefix]
    rng = _rng(seed, awb)
    hub = rng.choice(airline.hubs)
    origin = rng.choice([s for s in _ENDPOINTS if s != hub])
    if rng.random() < 0.3:
        origin = hub
    destination = rng.choice([s for s in _ENDPOINTS if s not in {hub, origin}])
    stations = [origin, destination] if origin == hub else [origin, hub, destination]
    pieces = rng.randint(1, 40)
    weight = pieces * rng.randint(5, 250)
    legs = []
    for i in range(len(stations) - 1):
        flight = (
            f"{airline.designator}{rng.randint(1, 9899):04d}"
            if i == 0
            else f"{airline.designator}{rng.randint(100, 999)}"
        )
        legs.append((flight, stations[i], stations[i + 1]))

    events: list[_Event] = []
    flights: dict[str, dict[str, str]] = {}
    clock = booked + timedelta(hours=rng.uniform(2, 10))

    def at(hours: tuple[float, float]) -> tuple[datetime, datetime]:
        nonlocal clock
        clock += timedelta(hours=rng.uniform(*hours))
        return clock + timedelta(minutes=rng.randint(-90, 90)), clock

    plan, actual = clock, clock
    events.append(_Event(plan, actual, f"{pieces} piece(s) accepted", origin, legs[0][0], "RCS", pieces))
    for flight, dep, arr in legs:
        plan, actual = at((2, 10))
        events.append(_Event(plan, actual, f"{pieces} piece(s) manifested on {flight}", dep, flight, "MAN", pieces))
        plan_dep, actual_dep = at((1, 6))
        events.append(
            _Event(plan_dep, actual_dep, f"{pieces} piece(s) departed on {flight}", dep, flight, "DEP", pieces)
        )
        plan_arr, actual_arr = at((3, 14))
        events.append(
            _Event(plan_arr, actual_arr, f"{pieces} piece(s) arrived on {flight}", arr, flight, "ARR", pieces)
        )
        plan, actual = at((1, 4))
        events.append(
            _Event(plan, actual, f"{pieces} piece(s) received from flight {flight}", arr, flight, "RCF", pieces)
        )
        flights[flight] = {
            "plan_depart_time": _fmt(plan_dep, dep),
            "depart_time": _fmt(actual_dep, dep) if actual_dep <= sim_now else "",
            "depart_station": dep,
            "plan_arrival_time": _fmt(plan_arr, arr),
            "arrival_time": _fmt(actual_arr, arr) if actual_arr <= sim_now else "",
            "arrival_station": arr,
        }
    last_flight = legs[-1][0]
    plan, actual = at((2, 12))
    events.append(_Event(plan, actual, "Consignee notified", destination, last_flight, "NFD", pieces))
    plan, actual = at((6, 48))
    events.append(_Event(plan, actual, "Delivery", destination, last_flight, "DLV", pieces))

    visible = sorted((e for e in events if e.actual <= sim_now), key=lambda e: e.actual, reverse=True)
    status_number = 0
    if visible:
        status_number = {"RCS": 1, "MAN": 2, "DEP": 2, "ARR": 3, "RCF": 3, "NFD": 3, "DLV": 4}[visible[0].status]
    track_info = [
        {
            "plan_date": _fmt(e.plan, e.station),
            "actual_date": _fmt(e.actual, e.station),
            "event": e.event,
            "station": e.station,
            "flight_number": e.flight,
            "status": e.status,
            "piece": str(e.piece),
            "weight": "",
        }
        for e in visible
    ]
    newest = visible[0] if visible else None
    return {
        "track_number": awb.key,
        "return_data": {
            "weight": f"{weight}K",
            "piece": pieces,
            "origin": origin,
            "destination": destination,
            "track_info": track_info,
            "status_number": status_number,
            "flight_info": flights if visible else {},
            "flight_way_station": stations,
            "last_event": (
                f"{_fmt(newest.actual, newest.station)}, {newest.event}, {newest.station}, {newest.flight}"
                if newest
                else ""
            ),
        },
        "airline_info": {
            "name": airline.name,
            "url": airline.url,
            "track_url": airline.track_url.format(awb=awb.key),
        },
    }
