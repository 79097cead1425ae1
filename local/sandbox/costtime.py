"""Transit-time statistics (``POST /trackings/costtime``; reference §3.15).

Per (carrier, origin, destination): deterministic, plausible numbers from ``hash(seed, carrier, origin,
destination)``: ``total`` parcels sampled, ``delivered`` of them, and the share of delivered parcels per delivery-time
range, in percent (two decimals, summing to 100). Documented: range1 0–7 days, range3 7–15, range4 16–30, range5
31–60. Not documented, the sandbox's choice: ``range2`` = more than 60 days (so range1–range5 cover every delivered
parcel), and ``data`` is an array in request order. Invalid items keep their place and read
``{carrier_code, original, destination, code, message}`` (4015 unknown carrier, 4012 bad country code).
"""

from __future__ import annotations

import hashlib
import math
import random
from typing import Any

from local.sandbox.carriers import get_carrier
from local.sandbox.countries import COUNTRIES

# (bucket name, upper bound in days); range2 is the > 60 days tail
_BUCKETS = (("range1", 7.0), ("range3", 15.0), ("range4", 30.0), ("range5", 60.0), ("range2", math.inf))


def _cdf(days: float, median: float, sigma: float) -> float:
    if math.isinf(days):
        return 1.0
    return 0.5 * (1 + math.erf((math.log(days) - math.log(median)) / (sigma * math.sqrt(2))))


def item_stats(seed: int, item: Any) -> dict[str, Any]:
    source = item if isinstance(item, dict) else {}
    code_raw, original_raw, destination_raw = (
        source.get("carrier_code"),
        source.get("original"),
        source.get("destination"),
    )
    carrier = get_carrier(code_raw) if isinstance(code_raw, str) else None

    def error(code: int, message: str) -> dict[str, Any]:
        return {
            "carrier_code": code_raw,
            "original": original_raw,
            "destination": destination_raw,
            "code": code,
            "message": message,
        }

    if carrier is None:
        return error(4015, "The value of carrier_code is invalid.")
    if not isinstance(original_raw, str) or original_raw.upper() not in COUNTRIES:
        return error(4012, "original must be a 2-letter country code.")
    if not isinstance(destination_raw, str) or destination_raw.upper() not in COUNTRIES:
        return error(4012, "destination must be a 2-letter country code.")
    original, destination = original_raw.upper(), destination_raw.upper()
    digest = hashlib.sha256(f"{seed}|costtime|{carrier.code}|{original}|{destination}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    domestic = original == destination
    if carrier.postal:
        median = rng.uniform(3, 6) if domestic else rng.uniform(10, 22)
        sigma = rng.uniform(0.35, 0.6)
    else:
        median = rng.uniform(1.5, 3) if domestic else rng.uniform(3.5, 7)
        sigma = rng.uniform(0.25, 0.45)
    total = rng.randint(300, 25000)
    delivered = round(total * rng.uniform(0.86, 0.985))
    shares: dict[str, float] = {}
    previous = 0.0
    for name, bound in _BUCKETS:
        cumulative = _cdf(bound, median, sigma)
        shares[name] = round((cumulative - previous) * 100, 2)
        previous = cumulative
    drift = round(100 - sum(shares.values()), 2)
    largest = max(shares, key=lambda k: shares[k])
    shares[largest] = round(shares[largest] + drift, 2)
    return {
        "carrier_code": carrier.code,
        "original": original,
        "destination": destination,
        "total": total,
        "delivered": delivered,
        "range1": shares["range1"],
        "range2": shares["range2"],
        "range3": shares["range3"],
        "range4": shares["range4"],
        "range5": shares["range5"],
    }
