"""Latency profiles: how long the sandbox takes to answer each endpoint (docs/sandbox.md, "Latency").

A profile maps endpoints (``"METHOD /path-template"``) to a :class:`Delay`: a log-normal distribution given by its
median and 99th percentile, plus a fixed cost per item for endpoints that take many items. A *scale* multiplies every
sample, so a test suite can run the shape of a profile faster (``realistic:0.1``); per-endpoint *overrides* replace
single entries. The fault injector's ``latency_ms`` is added on top, unscaled.

Samples are deterministic: every endpoint draws from its own random stream seeded by (seed, endpoint), so the n-th
call to an endpoint waits the same for the same seed and settings, whatever other endpoints are called meanwhile.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any, Final

#: z-score of the 99th percentile of a normal distribution: sigma = ln(p99 / p50) / Z99.
Z99: Final = NormalDist().inv_cdf(0.99)
#: Samples are capped at this multiple of p99, so one draw from the far tail cannot stall a suite.
CAP_FACTOR: Final = 2.0


@dataclass(frozen=True)
class Delay:
    """Log-normal latency with median ``p50_ms`` and 99th percentile ``p99_ms``, plus ``per_item_ms`` per item."""

    p50_ms: float
    p99_ms: float
    per_item_ms: float = 0.0

    def __post_init__(self) -> None:
        if self.p50_ms < 0 or self.per_item_ms < 0:
            raise ValueError("latencies must not be negative")
        if self.p99_ms < self.p50_ms:
            raise ValueError("p99_ms must be at least p50_ms")

    def sample_ms(self, rng: random.Random, items: int = 1) -> float:
        """One draw, in milliseconds, for a call carrying ``items`` items."""
        base = self.p50_ms  # p50 == p99: a fixed latency
        if 0 < self.p50_ms < self.p99_ms:
            sigma = math.log(self.p99_ms / self.p50_ms) / Z99
            base = min(rng.lognormvariate(math.log(self.p50_ms), sigma), CAP_FACTOR * self.p99_ms)
        return base + self.per_item_ms * max(items, 0)

    @classmethod
    def from_body(cls, body: object) -> Delay:
        if not isinstance(body, Mapping):
            raise ValueError("an override must be an object {p50_ms, p99_ms, per_item_ms}")
        unknown = sorted(set(body) - {"p50_ms", "p99_ms", "per_item_ms"})
        if unknown:
            raise ValueError(f"unknown override keys {unknown}")
        p50 = float(body.get("p50_ms", 0.0))
        return cls(p50, float(body.get("p99_ms", p50)), float(body.get("per_item_ms", 0.0)))


# Realistic: our assumption of TrackingMore v2 seen from AWS, with the reasons in docs/sandbox.md.
_READ: Final = Delay(400, 3000)
_WRITE: Final = Delay(500, 3000)
_BULK: Final = Delay(500, 3000, per_item_ms=5)
REALISTIC: Final[Mapping[str, Delay]] = {
    "GET /carriers": Delay(300, 1500),
    "POST /carriers/detect": Delay(150, 800),
    "POST /trackings/post": _WRITE,
    "POST /trackings/batch": Delay(500, 3000, per_item_ms=30),
    "GET /trackings/get": Delay(600, 3500),
    "POST /trackings/get": Delay(600, 3500),
    "GET /trackings/{carrier_code}/{tracking_number}": _READ,
    "PUT /trackings/{carrier_code}/{tracking_number}": _WRITE,
    "DELETE /trackings/{carrier_code}/{tracking_number}": _READ,
    "POST /trackings/updatemore": _BULK,
    "POST /trackings/delete": _BULK,
    "POST /trackings/notupdate": _BULK,
    "POST /trackings/realtime": Delay(1500, 8000),
    "POST /trackings/update": _WRITE,
    "GET /trackings/getuserinfo": Delay(200, 1200),
    "GET /trackings/getstatusnumber": Delay(300, 1500),
    "POST /trackings/remote": Delay(300, 1500, per_item_ms=5),
    "POST /trackings/costtime": Delay(400, 2000, per_item_ms=5),
    "POST /trackings/aircargo": Delay(2000, 10000, per_item_ms=50),
}
_ONE_SECOND: Final = Delay(1000, 1000)
#: Every named profile. "flat" is one second on every endpoint: with a scale it is any fixed latency (``flat:0.3``).
PROFILES: Final[Mapping[str, Mapping[str, Delay]]] = {
    "none": {},
    "realistic": REALISTIC,
    "flat": dict.fromkeys(REALISTIC, _ONE_SECOND),
}


@dataclass(frozen=True)
class LatencySettings:
    """The active latency: a named profile, a scale factor and per-endpoint overrides."""

    profile: str = "none"
    scale: float = 1.0
    overrides: Mapping[str, Delay] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"unknown latency profile {self.profile!r}; known: {sorted(PROFILES)}")
        if not math.isfinite(self.scale) or self.scale < 0:
            raise ValueError("scale must be a finite number >= 0")

    @classmethod
    def parse(cls, spec: str) -> LatencySettings:
        """``NAME`` or ``NAME:SCALE`` (``realistic``, ``realistic:0.1``, ``flat:0.3``, ``none``)."""
        name, _, scale = spec.strip().partition(":")
        try:
            return cls(name.strip() or "none", float(scale) if scale.strip() else 1.0)
        except ValueError:
            raise ValueError(
                f"bad latency {spec!r}: use NAME or NAME:SCALE, NAME one of {sorted(PROFILES)}, SCALE a number >= 0"
            ) from None

    @classmethod
    def from_body(cls, body: Mapping[str, Any], known_endpoints: Iterable[str]) -> LatencySettings:
        """``{"profile": "realistic", "scale": 0.1, "overrides": {"POST /trackings/realtime": {...}}}``."""
        unknown = sorted(set(body) - {"profile", "scale", "overrides"})
        if unknown:
            raise ValueError(f"unknown latency keys {unknown}; allowed: ['overrides', 'profile', 'scale']")
        raw = body.get("overrides") or {}
        if not isinstance(raw, Mapping):
            raise ValueError("overrides must be an object keyed by 'METHOD /path-template'")
        endpoints = set(known_endpoints)
        strangers = sorted(set(raw) - endpoints)
        if strangers:
            raise ValueError(f"unknown endpoints {strangers}; known: {sorted(endpoints)}")
        overrides = {str(key): Delay.from_body(value) for key, value in raw.items()}
        return cls(str(body.get("profile", "none")), float(body.get("scale", 1.0)), overrides)

    def delay_for(self, endpoint: str) -> Delay | None:
        return self.overrides.get(endpoint) or PROFILES[self.profile].get(endpoint)

    def as_dict(self, endpoints: Iterable[str] = ()) -> dict[str, Any]:
        """The settings, and (for ``endpoints``) the delay each endpoint gets before scaling."""
        table = {key: delay for key in sorted(endpoints) if (delay := self.delay_for(key)) is not None}
        return {
            "profile": self.profile,
            "scale": self.scale,
            "overrides": {key: _delay_dict(delay) for key, delay in sorted(self.overrides.items())},
            "endpoints": {key: _delay_dict(delay) for key, delay in table.items()},
        }


def _delay_dict(delay: Delay) -> dict[str, float]:
    return {"p50_ms": delay.p50_ms, "p99_ms": delay.p99_ms, "per_item_ms": delay.per_item_ms}


class LatencyModel:
    """Draws each call's latency from the settings; one random stream per endpoint (not thread-safe: the engine
    calls it under its lock)."""

    def __init__(self, settings: LatencySettings, seed: int) -> None:
        self.settings = settings
        self._seed = seed
        self._streams: dict[str, random.Random] = {}
        self.sampled_calls = 0
        self.sampled_seconds = 0.0

    def wants_items(self, endpoint: str) -> bool:
        """Whether the latency of ``endpoint`` depends on how many items the call carries."""
        delay = self.settings.delay_for(endpoint)
        return delay is not None and delay.per_item_ms > 0 and self.settings.scale > 0

    def sample(self, endpoint: str, items: int = 1) -> float:
        """Seconds the next call to ``endpoint`` takes (0 when the settings give it no delay)."""
        delay = self.settings.delay_for(endpoint)
        if delay is None or self.settings.scale == 0:
            return 0.0
        stream = self._streams.get(endpoint)
        if stream is None:
            stream = self._streams[endpoint] = random.Random(f"{self._seed}:latency:{endpoint}")
        seconds = delay.sample_ms(stream, items) * self.settings.scale / 1000.0
        self.sampled_calls += 1
        self.sampled_seconds += seconds
        return seconds

    def stats(self) -> dict[str, Any]:
        return {
            "profile": self.settings.profile,
            "scale": self.settings.scale,
            "sampled_calls": self.sampled_calls,
            "sampled_seconds": round(self.sampled_seconds, 3),
        }


def items_in(body: bytes) -> int:
    """How many items a call carries: a JSON array's length, or an aircargo ``track_number`` list's; else 1."""
    try:
        parsed = json.loads(body.decode("utf-8")) if body.strip() else None
    except (UnicodeDecodeError, ValueError):
        return 1
    if isinstance(parsed, list):
        return len(parsed)
    if isinstance(parsed, dict) and isinstance(parsed.get("track_number"), list):
        return len(parsed["track_number"])
    return 1
