"""Fault injection for ``/v2`` calls, deterministic for the seed (``POST /_sandbox/faults``)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

FAULT_KINDS = ("http_500", "http_503", "timeout", "meta_429", "malformed_json", "connection_reset")
DEFAULT_TIMEOUT_S = 25.0


@dataclass
class FaultConfig:
    error_rate: float = 0.0
    kinds: list[str] = field(default_factory=lambda: list(FAULT_KINDS))
    latency_ms: float = 0.0
    endpoints: list[str] | None = None  # "METHOD /path-template", "/path-template" or "/v2/path-template"
    timeout_s: float = DEFAULT_TIMEOUT_S

    def as_dict(self) -> dict[str, Any]:
        return {
            "error_rate": self.error_rate,
            "kinds": list(self.kinds),
            "latency_ms": self.latency_ms,
            "endpoints": list(self.endpoints) if self.endpoints is not None else None,
            "timeout_s": self.timeout_s,
        }


def parse_fault_config(body: dict[str, Any], default_timeout_s: float) -> FaultConfig:
    """Validate a faults request; raises ValueError with a readable reason."""
    rate = float(body.get("error_rate", 0.0))
    if not 0.0 <= rate <= 1.0:
        raise ValueError("error_rate must be between 0 and 1")
    kinds = body.get("kinds") or list(FAULT_KINDS)
    if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
        raise ValueError("kinds must be a list of strings")
    unknown = sorted(set(kinds) - set(FAULT_KINDS))
    if unknown:
        raise ValueError(f"unknown fault kinds {unknown}; known: {list(FAULT_KINDS)}")
    latency = float(body.get("latency_ms", 0.0))
    if latency < 0:
        raise ValueError("latency_ms must not be negative")
    endpoints = body.get("endpoints")
    if endpoints is not None and (not isinstance(endpoints, list) or not all(isinstance(e, str) for e in endpoints)):
        raise ValueError("endpoints must be a list of strings")
    timeout_s = float(body.get("timeout_s", default_timeout_s))
    if timeout_s < 0:
        raise ValueError("timeout_s must not be negative")
    return FaultConfig(rate, list(kinds), latency, endpoints, timeout_s)


class FaultInjector:
    """Decides, call by call, whether to inject a fault. The decisions are a pure function of the seed, the
    configuration and the order of matching calls, so a run with the same seed sees the same faults."""

    def __init__(self, seed: int) -> None:
        self.config = FaultConfig()
        self._seed = seed
        self._generation = 0
        self._rng = random.Random(f"{seed}:faults:0")

    def configure(self, config: FaultConfig, seed: int) -> None:
        self._seed = seed
        self._generation += 1
        self.config = config
        self._rng = random.Random(f"{seed}:faults:{config.as_dict()}")

    def matches(self, endpoint: str) -> bool:
        wanted = self.config.endpoints
        if wanted is None:
            return True
        template = endpoint.split(" ", 1)[1]
        return any(w in {endpoint, template, "/v2" + template} for w in wanted)

    def decide(self, endpoint: str) -> tuple[float, str | None]:
        """(latency in seconds, fault kind or None) for the next call to ``endpoint``."""
        if not self.matches(endpoint):
            return 0.0, None
        latency = self.config.latency_ms / 1000.0
        if self.config.error_rate <= 0 or not self.config.kinds:
            return latency, None
        if self._rng.random() >= self.config.error_rate:
            return latency, None
        return latency, self._rng.choice(self.config.kinds)
