"""Bulk imports: accept latency, wall time against the floor the account's limits set, upstream calls, 429s, and
DynamoDB writes per imported item; plus the 5,000-item reliability scenario (faults and killed workers).

**Through the local stack** (`local.stack.StackProcess`, functions on `.local/runtime`, moto server, the sandbox with
a flat 1 s latency on every endpoint): ``BatchCreateRateLimit`` = ``rate``, ``ImportWorkerConcurrency`` =
``workers``, and the sandbox refuses any batch create beyond ``rate`` a second (it counts the 429s it serves). For
each size: the time ``POST /imports`` takes to answer 202, then the import's own ``completed_at − created_at``
(server times), the batch calls it made (sandbox stats) and the 429s. The **floor** is what the account's limit
allows at best: ⌈n/40⌉ calls at ``rate`` a second, plus one call's latency; **speed vs floor** = floor ÷ wall time
(target ≥ 0.9).

**Writes per item** (in-process moto, the sandbox without latency): one import of ``write_items`` items through
ImportsFunction, the dispatcher's start stamp and ImportWorkerFunction, every DynamoDB write request counted by
table and operation (a botocore hook), divided by the items. CacheTable's are the shared rate gate's ``RATE#`` slots
(one per batch create, more when chunks race for a slot) and carrier detections.

**Reliability**: ``tests/reliability/test_imports_reliability.py`` with ``SHIPTRACK_IMPORT_RELIABILITY_ITEMS`` =
``reliability_items`` (``make test`` runs 1,000): its outcome and how long it took.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from bench import REPO_ROOT, harness

CHUNK = 40
TARGET_SPEED = 0.9
BATCH = "POST /trackings/batch"


@dataclass
class ImportRun:
    items: int
    accept_s: float
    wall_s: float
    floor_s: float
    speed_vs_floor: float
    batch_calls: int
    minimum_calls: int
    rate_limited: int
    summary: dict[str, int]


@dataclass
class ImportsResult:
    latency: str
    rate: int
    workers: int
    runs: list[ImportRun]
    writes: dict[str, Any]
    reliability: dict[str, Any]
    ceiling: dict[str, Any] = field(default_factory=dict)
    target_speed: float = TARGET_SPEED
    seconds: float = 0.0
    not_measured: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _post_import(session: requests.Session, api: str, items: list[dict[str, Any]]) -> tuple[str, float]:
    started = time.perf_counter()
    answer = session.post(f"{api}/v1/imports", json={"items": items}, timeout=120)
    elapsed = time.perf_counter() - started
    answer.raise_for_status()
    return str(answer.json()["id"]), elapsed


def _wait(session: requests.Session, api: str, import_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record: dict[str, Any] = session.get(f"{api}/v1/imports/{import_id}", timeout=60).json()
        if record["status"] in ("completed", "failed"):
            return record
        time.sleep(0.5)
    msg = f"import {import_id} did not complete within {timeout} s"
    raise TimeoutError(msg)


def _seconds(record: dict[str, Any], start: str, end: str) -> float:
    return (datetime.fromisoformat(record[end]) - datetime.fromisoformat(record[start])).total_seconds()


def _stack(rate: int, workers: int, latency: str, name: str) -> Any:
    from local.stack import StackProcess
    from local.template import DEFAULT_TEMPLATE

    log_dir = Path(os.environ.get("TMPDIR", "/tmp"))
    overrides = f"BatchCreateRateLimit={rate} ImportWorkerConcurrency={workers}"
    env = {"LOCAL_SCHEDULE_SECONDS": "0", "LOCAL_UPSTREAM_LATENCY": latency, "LOCAL_PARAMETER_OVERRIDES": overrides}
    stack = StackProcess(DEFAULT_TEMPLATE, env=env, sandbox=True, log_path=log_dir / f"bench-{name}-stack.log")
    stack.start()
    stack.wait_ready(180)
    return stack


def ceiling(items: int, *, workers: int) -> dict[str, Any]:
    """What the local stack itself sustains: an import with no upstream latency and no rate limit (the workers
    send as fast as they can), in items and batch calls a second — moto and this machine's CPU are the bound."""
    stack = _stack(0, workers, "none", "imports-ceiling")
    try:
        session = requests.Session()
        session.headers["x-api-key"] = stack.api_key
        session.post(f"{stack.sandbox_control_url}/_sandbox/config", json={"quota": 10_000_000}, timeout=30)
        warm_id, _ = _post_import(session, stack.api_url, _items("WARM", 40 * workers * 10))
        _wait(session, stack.api_url, warm_id, 600)
        import_id, _ = _post_import(session, stack.api_url, _items("CEIL", items))
        record = _wait(session, stack.api_url, import_id, 1800)
    finally:
        stack.stop()
    wall = _seconds(record, "created_at", "completed_at")
    return {"items": items, "wall_s": wall, "items_per_s": items / wall, "calls_per_s": items / CHUNK / wall}


def through_the_stack(sizes: tuple[int, ...], *, rate: int, workers: int, latency: str) -> list[ImportRun]:
    """Each size imported through a fresh local stack (see the module docstring)."""
    runs: list[ImportRun] = []
    stack = _stack(rate, workers, latency, "imports")
    try:
        session = requests.Session()
        session.headers["x-api-key"] = stack.api_key
        control = f"{stack.sandbox_control_url}/_sandbox"
        limits = {"batch_create_limit": rate, "batch_create_window_s": 1, "quota": 10_000_000}
        session.post(f"{control}/config", json=limits, timeout=30)
        # One small import first: every worker process started and warm, as a running service's are.
        warm_id, _ = _post_import(session, stack.api_url, _items("WARM", 40 * workers * 5))
        _wait(session, stack.api_url, warm_id, 600)
        for n in sizes:
            before = session.get(f"{control}/stats", timeout=30).json()
            import_id, accept_s = _post_import(session, stack.api_url, _items(f"B{n}", n))
            record = _wait(session, stack.api_url, import_id, 30 + 3 * n / rate)
            after = session.get(f"{control}/stats", timeout=30).json()
            calls = math.ceil(n / CHUNK)
            floor = calls / rate + _latency_seconds(latency)
            wall = _seconds(record, "created_at", "completed_at")
            runs.append(
                ImportRun(
                    items=n,
                    accept_s=accept_s,
                    wall_s=wall,
                    floor_s=floor,
                    speed_vs_floor=floor / wall if wall > 0 else 0.0,
                    batch_calls=int(after["calls"].get(BATCH, 0)) - int(before["calls"].get(BATCH, 0)),
                    minimum_calls=calls,
                    rate_limited=int(after["rate_limited"]) - int(before["rate_limited"]),
                    summary=record["summary"],
                )
            )
            print(f"imports: {n} items in {wall:.1f} s (floor {floor:.1f} s)", file=sys.stderr, flush=True)
    finally:
        stack.stop()
    return runs


def _latency_seconds(latency: str) -> float:
    name, _, scale = latency.partition(":")
    return float(scale or 1.0) if name == "flat" else 0.0


def _items(prefix: str, count: int) -> list[dict[str, Any]]:
    return [{"tracking_number": f"{prefix}{index:09d}CN", "carrier_code": "china-post"} for index in range(count)]


def writes_per_item(count: int) -> dict[str, Any]:
    """One import of ``count`` items in-process, every DynamoDB write request counted (module docstring)."""
    with harness.sandbox() as upstream, harness.in_process_aws(upstream.base_url) as aws:
        # Imported here, in the functions' environment (Powertools reads its settings when these load).
        from shiptrack import runtime
        from shiptrack.services.import_dispatch import ChunkMessage

        accept = harness.load_handler("imports")
        worker = harness.load_handler("import_worker")
        event = harness.api_event("POST", "/imports", body={"items": _items("WR", count)})
        answer = accept(event, harness.lambda_context("ImportsFunction"))
        import_id = json.loads(answer["body"])["id"]
        repository = runtime.imports_repository()
        record = repository.get(import_id)
        assert record is not None
        repository.mark_started(import_id)  # the dispatcher's one write
        for start in range(0, len(record.queued_chunks), 5):
            numbers = record.queued_chunks[start : start + 5]
            records = [{"messageId": str(n), "body": ChunkMessage(import_id, n).body()} for n in numbers]
            worker({"Records": records}, harness.lambda_context("ImportWorkerFunction", 120_000))
        final = repository.get(import_id)
        if final is None or final.created != count:
            msg = f"the import did not create every item: {final}"
            raise RuntimeError(msg)
        by_table = {
            logical: aws.counter.writes(aws.table_name(logical))
            for logical in ("TrackingsTable", "ImportsTable", "CacheTable")
        }
    total = sum(sum(ops.values()) for ops in by_table.values())
    return {"items": count, "writes": by_table, "total": total, "per_item": total / count}


def reliability(items: int) -> dict[str, Any]:
    """The reliability scenario at ``items`` items, run by pytest; its outcome and duration."""
    env = {**os.environ, "SHIPTRACK_IMPORT_RELIABILITY_ITEMS": str(items)}
    started = time.perf_counter()
    test = "tests/reliability/test_imports_reliability.py::" + (
        "test_an_import_under_faults_and_killed_workers_creates_each_item_once_or_fails_it_retryably"
        "[retries-absorb-most-faults]"
    )
    done = subprocess.run(
        # pytest's configured per-test timeout (300 s) is for make test's 1,000 items; 5,000 take longer.
        [sys.executable, "-m", "pytest", test, "-n", "0", "-q", "-p", "no:randomly", "--timeout=3600"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    last = (done.stdout.strip().splitlines() or [""])[-1]
    return {"items": items, "passed": done.returncode == 0, "seconds": time.perf_counter() - started, "pytest": last}


def run(
    sizes: tuple[int, ...] = (1000, 10_000),
    *,
    rate: int = 1,
    workers: int = 2,
    latency: str = "flat:1",
    write_items: int = 1000,
    reliability_items: int = 5000,
    ceiling_items: int = 4000,
) -> ImportsResult:
    started = time.perf_counter()
    runs = through_the_stack(sizes, rate=rate, workers=workers, latency=latency) if sizes else []
    bound = ceiling(ceiling_items, workers=workers) if ceiling_items else {}
    with harness.quiet_stdout(), harness.patched_env(harness.QUIET):
        writes = writes_per_item(write_items)
    result = ImportsResult(
        latency=latency,
        rate=rate,
        workers=workers,
        runs=runs,
        writes=writes,
        reliability=reliability(reliability_items) if reliability_items else {},
        ceiling=bound,
    )
    result.seconds = time.perf_counter() - started
    return result


# -- report ----------------------------------------------------------------------------------------------------------


def targets(entry: dict[str, Any]) -> list[list[Any]]:
    """Rows of the report's targets table."""
    r = entry["result"]
    rows: list[list[Any]] = []
    for run_ in r["runs"]:
        met = run_["batch_calls"] == run_["minimum_calls"] and run_["rate_limited"] == 0
        rows.append(
            [
                f"Import {run_['items']:,} items",
                "calls = ⌈n/40⌉, 0 × 429",
                f"{run_['batch_calls']} calls, {run_['rate_limited']} × 429",
                "**yes**" if met else "**no**",
            ]
        )
        rows.append(
            [
                f"Import {run_['items']:,} items, speed",
                f"≥ {r['target_speed']} × floor",
                f"{run_['speed_vs_floor']:.2f}",
                "**yes**" if run_["speed_vs_floor"] >= r["target_speed"] else "**no**",
            ]
        )
    if r.get("reliability"):
        rel = r["reliability"]
        rows.append(
            [
                f"Import reliability, {rel['items']:,} items",
                "each item once or failed retryably",
                rel["pytest"],
                "**yes**" if rel["passed"] else "**no**",
            ]
        )
    return rows


def _achievable(run_: dict[str, Any], r: dict[str, Any], bound: dict[str, Any]) -> float:
    rate = min(float(r["rate"]), float(bound["calls_per_s"]))
    return float(run_["minimum_calls"]) / rate + _latency_seconds(r["latency"])


def render(entry: dict[str, Any], stamp: str, table: Any) -> list[str]:
    """The page's section; sorted wherever the result has a mapping, so a fresh run and a re-render of the stored JSON
    (written with sorted keys) read the same."""
    r = entry["result"]
    rows = [
        [
            f"{run_['items']:,}",
            f"{run_['accept_s']:.2f}",
            f"{run_['wall_s']:.1f}",
            f"{run_['floor_s']:.1f}",
            f"{run_['speed_vs_floor']:.2f}",
            f"{run_['batch_calls']} / {run_['minimum_calls']}",
            run_["rate_limited"],
            ", ".join(f"{k} {v}" for k, v in sorted(run_["summary"].items())),
        ]
        for run_ in r["runs"]
    ]
    writes = r["writes"]
    write_rows = [
        [table_name, op, count, f"{count / writes['items']:.3f}"]
        for table_name, ops in sorted(writes["writes"].items())
        for op, count in sorted(ops.items())
    ]
    out = [
        "## Imports",
        "",
        stamp,
        "",
        f"Through the local stack, TrackingMore sandbox at `{r['latency']}` (every call takes 1 s), "
        f"`BatchCreateRateLimit={r['rate']}` (the shared gate) with `ImportWorkerConcurrency={r['workers']}` "
        f"workers, the sandbox refusing batch creates beyond {r['rate']}/s. *accept*: `POST /imports` until its "
        "202 (client side); *wall*: the import's `completed_at − created_at`; *floor*: ⌈n/40⌉ calls at the rate "
        "plus one latency. One warm-up import first (the workers' cold starts are not in the figures).",
        "",
        table(["items", "accept s", "wall s", "floor s", "speed vs floor", "calls / ⌈n/40⌉", "429s", "summary"], rows),
        "",
        f"DynamoDB write requests for one import of {writes['items']:,} new items (in-process moto; each item of a "
        f"batch or transaction counted): **{writes['per_item']:.3f} per item** — one tracking each, the rest is the "
        "import's own bookkeeping (chunks written once, a claim and a two-item completion transaction per chunk of "
        "40, the header) and CacheTable's shared rate gate (a `RATE#` slot per batch create, more when chunks race).",
        "",
        table(["table", "operation", "writes", "per item"], write_rows),
        "",
    ]
    bound = r.get("ceiling") or {}
    if bound:
        out += [
            f"**The local stack's own ceiling.** The same import path with no upstream latency and no rate limit "
            f"({bound['items']:,} items, the workers sending as fast as they can): **{bound['items_per_s']:.0f} items "
            f"a second ({bound['calls_per_s']:.2f} batch calls a second)**, {bound['wall_s']:.0f} s — moto (one "
            "process holding every table, stream, queue and the bus, with its costs that AWS does not have removed: "
            "`local/moto_speed.py`) and this machine's two shared cores are the bound there, not the pipeline.",
            "",
        ]
        if float(bound["calls_per_s"]) >= float(r["rate"]):
            out += [
                f"That is above the configured {r['rate']} call(s) a second, so the runs above are bound by the rate, "
                "as on AWS, and their speed is the pipeline's own.",
                "",
            ]
        else:
            out += [
                "That is below the configured rate, so no import can reach the floor on this machine:",
                "",
                table(
                    ["items", "floor at min(rate, ceiling) s", "wall s", "speed vs that floor"],
                    [
                        [
                            f"{run_['items']:,}",
                            f"{_achievable(run_, r, bound):.1f}",
                            f"{run_['wall_s']:.1f}",
                            f"{_achievable(run_, r, bound) / run_['wall_s']:.2f}",
                        ]
                        for run_ in r["runs"]
                    ],
                ),
                "",
            ]
    if r.get("reliability"):
        rel = r["reliability"]
        out += [
            f"Reliability at {rel['items']:,} items (30 % faults of every kind, workers killed mid-chunk; "
            f"`tests/reliability/test_imports_reliability.py`): {'passed' if rel['passed'] else 'FAILED'} in "
            f"{rel['seconds']:.0f} s ({rel['pytest']}).",
            "",
        ]
    return out
