"""Carrier detection for numbers that come without a carrier code (``POST /carriers/detect``, reference §3.18).

Detection costs 0.2 quota per call (reference §8) and about 150 ms, so a batch, an import chunk or an Order Shipped
message that leaves carriers out must not pay for it number by number:

* each distinct number is detected once per call of :func:`detect_carriers`;
* the detections run concurrently, at most :data:`DETECT_CONCURRENCY` in flight (TrackingMore documents no limit
  for this route; the client's rate gate applies to every call it makes);
* with a cache (:class:`~shiptrack.data.cache.TtlCache` in the ``DETECT`` namespace, ``CACHE#DETECT#{number}``), a
  number is detected once for a while across requests: a carrier for :data:`DETECTION_TTL_SECONDS`, "no carrier
  recognises it" for :data:`UNDETECTED_TTL_SECONDS` (a number may become recognisable once a carrier registers it).
  Transient failures (timeouts, rate limits, 5xx, our deadline) are never cached: the number is asked again next
  time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Final

from pydantic import BaseModel

from shiptrack.errors import CarrierNotDetectedError, ShiptrackError, problem_for
from shiptrack.models import normalize_tracking_number
from shiptrack.observability import counted_call

if TYPE_CHECKING:
    import trackingmore
    from shiptrack.data.cache import TtlCache
    from trackingmore import TrackingMoreClient

__all__ = [
    "DETECTION_NAMESPACE",
    "DETECTION_TTL_SECONDS",
    "DETECT_CONCURRENCY",
    "UNDETECTED_TTL_SECONDS",
    "DetectedCarrier",
    "detect_carrier",
    "detect_carriers",
]

#: Detections in flight at once for one call of :func:`detect_carriers`.
DETECT_CONCURRENCY: Final = 8
#: The CacheTable namespace of detections (``CACHE#DETECT#{number}``).
DETECTION_NAMESPACE: Final = "DETECT"
#: How long a detected carrier is reused: a number's format does not change carriers.
DETECTION_TTL_SECONDS: Final = 30 * 24 * 3600
#: How long "no carrier recognises this number" is reused before asking again.
UNDETECTED_TTL_SECONDS: Final = 24 * 3600


class DetectedCarrier(BaseModel):
    """A cached detection: the first carrier TrackingMore matched."""

    carrier_code: str


def detect_carrier(tracking_number: str, *, client: Callable[[], TrackingMoreClient]) -> str:
    """The carrier code for a number: the first match of ``POST /carriers/detect`` (reference §3.18, SUP-cat).

    Raises :class:`~shiptrack.errors.CarrierNotDetectedError` (422) when TrackingMore finds none (4032).
    """
    import trackingmore

    number = normalize_tracking_number(tracking_number)
    try:
        matches = counted_call("detect", lambda: client().detect_carrier(number))
    except trackingmore.CarrierNotDetectedError as exc:
        raise CarrierNotDetectedError(_not_detected(number)) from exc
    codes: list[str] = [match.code for match in matches if match.code]
    if not codes:
        raise CarrierNotDetectedError(_not_detected(number))
    return codes[0].strip().lower()


def _not_detected(number: str) -> str:
    return f"No carrier recognises the tracking number {number}."


def detect_carriers(
    numbers: Iterable[str],
    *,
    client: Callable[[], TrackingMoreClient],
    cache: TtlCache[DetectedCarrier] | None = None,
) -> dict[str, str | ShiptrackError | trackingmore.TrackingMoreError]:
    """The carrier of each distinct number, or why none was found (see the module docstring)."""
    distinct = list(dict.fromkeys(numbers))
    found: dict[str, str | ShiptrackError | trackingmore.TrackingMoreError] = {}
    if cache is not None and distinct:
        found.update(_cached(cache, distinct))
    todo = [number for number in distinct if number not in found]
    if not todo:
        return found
    upstream = client()  # built once (it reads the secret), shared by the threads: the client is thread-safe
    with ThreadPoolExecutor(max_workers=min(DETECT_CONCURRENCY, len(todo))) as pool:
        detected = list(pool.map(partial(_detect_one, client=lambda: upstream), todo))
    fresh = dict(zip(todo, detected, strict=True))
    found.update(fresh)
    if cache is not None:
        _remember(cache, fresh)
    return found


def _detect_one(
    number: str, *, client: Callable[[], TrackingMoreClient]
) -> str | ShiptrackError | trackingmore.TrackingMoreError:
    import trackingmore

    try:
        return detect_carrier(number, client=client)
    except (ShiptrackError, trackingmore.TrackingMoreError) as exc:
        return exc


def _cached(cache: TtlCache[DetectedCarrier], numbers: list[str]) -> dict[str, str | ShiptrackError]:
    keys = {cache.key(number): number for number in numbers}
    found: dict[str, str | ShiptrackError] = {}
    for key, entry in cache.get_many(keys).items():
        if entry.value is not None:
            found[keys[key]] = entry.value.carrier_code
        elif entry.error is not None and entry.error.code == CarrierNotDetectedError.code:
            found[keys[key]] = CarrierNotDetectedError(entry.error.detail)
    return found


def _remember(
    cache: TtlCache[DetectedCarrier], fresh: dict[str, str | ShiptrackError | trackingmore.TrackingMoreError]
) -> None:
    from shiptrack.data.cache import CachedError

    carriers = {cache.key(n): DetectedCarrier(carrier_code=c) for n, c in fresh.items() if isinstance(c, str)}
    cache.put_many(carriers, DETECTION_TTL_SECONDS)
    undetected = {}
    for number, outcome in fresh.items():
        if isinstance(outcome, CarrierNotDetectedError):
            problem, _ = problem_for(outcome)
            undetected[cache.key(number)] = CachedError(code=problem.code, title=problem.title, detail=problem.detail)
    cache.put_errors(undetected, UNDETECTED_TTL_SECONDS)
