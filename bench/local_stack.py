"""Local stack: time from launching ``make dev`` to ``GET /_local/health`` answering 200, on free ports (the
stack's ``LOCAL_*_PORT`` variables), on a warm machine (one unmeasured warm-up start first, venv installed).

``make dev`` checks ``.venv/bin/.installed`` (up to date on a warm machine: no work) and runs
``python -m local.stack``. Without ``make`` the benchmark launches ``python -m local.stack`` itself and says so.
Each start is stopped with SIGTERM to the process group, and the time the stack takes to exit is reported too.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import REPO_ROOT, harness

READY_TIMEOUT_S = 180.0


@dataclass
class LocalStackResult:
    runs: int
    command: str
    ready_s: list[float]
    median_ready_s: float
    stop_s: list[float]
    median_stop_s: float
    not_measured: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _command() -> list[str]:
    if shutil.which("make") and (REPO_ROOT / ".venv" / "bin" / ".installed").exists():
        return ["make", "--no-print-directory", "-s", "dev"]
    return [sys.executable, "-m", "local.stack"]


def _one_start(log_dir: Path, index: int) -> tuple[float, float]:
    ports = {name: harness.free_port() for name in ("AWS", "SANDBOX", "API", "LAMBDA")}
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("AWS_ENDPOINT_URL", "AWS_PROFILE")},
        **{f"LOCAL_{name}_PORT": str(port) for name, port in ports.items()},
        "LOCAL_SCHEDULE_SECONDS": "0",
        "PYTHONUNBUFFERED": "1",
    }
    health = f"http://127.0.0.1:{ports['API']}/_local/health"
    with (log_dir / f"stack-{index}.log").open("wb") as log:
        started = time.monotonic()
        process = subprocess.Popen(
            _command(),
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: SIGTERM reaches make and the stack alike
        )
        try:
            ready = _wait_ready(process, health, started)
        finally:
            stop_started = time.monotonic()
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=5)
            stopped = time.monotonic() - stop_started
    return ready, stopped


def _wait_ready(process: subprocess.Popen[bytes], url: str, started: float) -> float:
    while time.monotonic() - started < READY_TIMEOUT_S:
        if process.poll() is not None:
            raise RuntimeError(f"the local stack exited with {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    json.loads(response.read())
                    return time.monotonic() - started
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the local stack was not ready within {READY_TIMEOUT_S:.0f} s")


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
        command=" ".join(_command()).replace(sys.executable, "python"),
        ready_s=ready,
        median_ready_s=round(statistics.median(ready), 2),
        stop_s=stops,
        median_stop_s=round(statistics.median(stops), 2),
        seconds=round(time.monotonic() - started, 1),
    )
