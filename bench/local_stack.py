"""Local stack: time from launching ``python -m local.stack`` (what ``make dev`` runs once the venv exists) to
``GET /_local/health`` answering 200, on free ports, on a warm machine (one unmeasured warm-up start first).

``make dev`` itself only adds the venv check (``.venv/bin/.installed`` up to date: no work on a warm machine).
Each start is stopped with SIGTERM, and the time the stack takes to exit is reported too.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class LocalStackResult:
    runs: int
    ready_s: list[float]
    median_ready_s: float
    stop_s: list[float]
    median_stop_s: float
    not_measured: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _one_start(log_dir: Path, index: int) -> tuple[float, float]:
    from local.stack import StackProcess

    stack = StackProcess(env={"LOCAL_SCHEDULE_SECONDS": "0"}, log_path=log_dir / f"stack-{index}.log")
    started = time.monotonic()
    stack.start()
    try:
        stack.wait_ready(timeout=180)
        ready = time.monotonic() - started
    finally:
        stopped = stack.stop()
    return ready, stopped


def run(runs: int = 3, *, warm_up: bool = True) -> LocalStackResult:
    started = time.monotonic()
    ready: list[float] = []
    stops: list[float] = []
    with tempfile.TemporaryDirectory(prefix="shiptrack-bench-stack-") as tmp:
        log_dir = Path(tmp)
        if warm_up:
            _one_start(log_dir, 0)
        for index in range(1, runs + 1):
            up, down = _one_start(log_dir, index)
            ready.append(round(up, 2))
            stops.append(round(down, 2))
            print(f"local stack: start {index}/{runs}: ready in {up:.1f} s", file=sys.stderr, flush=True)
    return LocalStackResult(
        runs=runs,
        ready_s=ready,
        median_ready_s=round(statistics.median(ready), 2),
        stop_s=stops,
        median_stop_s=round(statistics.median(stops), 2),
        seconds=round(time.monotonic() - started, 1),
    )
