"""The batch route's size: ``POST /trackings/batch`` latency by number of items under the realistic upstream profile,
through the local stack, for sizes up to ``MAX_BATCH_ITEMS`` (the route's ``maxItems``, docs/api.md): whether its
p99 stays under 20 s. The route refuses a larger size (413) before any work, so measuring one means raising the
constant first (as was done when it was chosen).

The stack runs its template's defaults (``BatchCreateRateLimit`` 10, chunks of 40, ``CHUNK_CONCURRENCY`` in
flight) with ``LOCAL_UPSTREAM_LATENCY=realistic`` (docs/sandbox.md: a batch create of 40 is 1.7 s at the median,
4.2 s at p99, up to 7.2 s). Each request carries new numbers, one in ten without its carrier (detected). Requests go
one after the other; per size, ``repeats`` of them. With few samples p99 is close to the maximum: that is the
conservative reading.
"""

from __future__ import annotations

import os
import secrets
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import requests

LIMIT_S = 20.0


@dataclass
class SizeRow:
    items: int
    samples_s: list[float]
    p50_s: float
    p95_s: float
    p99_s: float
    statuses: dict[str, int]
    failed_items: int
    within: bool


@dataclass
class BatchSizeResult:
    latency: str
    repeats: int
    rows: list[SizeRow]
    largest_within: int | None
    max_batch_items: int
    limit_s: float = LIMIT_S
    seconds: float = 0.0
    not_measured: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile(samples: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank, the conservative one with few samples)."""
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 1))))
    return ordered[rank - 1]


def _items(count: int) -> list[dict[str, Any]]:
    tag = secrets.token_hex(3).upper()
    items: list[dict[str, Any]] = []
    for index in range(count):
        number = f"B{tag}{index:06d}CN"
        items.append(
            {"tracking_number": number}
            if index % 10 == 9
            else {"tracking_number": number, "carrier_code": "china-post"}
        )
    return items


def run(sizes: tuple[int, ...] = (40, 100, 200), repeats: int = 8, latency: str = "realistic") -> BatchSizeResult:
    """Measure each size up to ``MAX_BATCH_ITEMS``; a larger one is refused by the route (413) before any work, so
    it is reported as not measured: measuring it means raising the constant first."""
    from local.stack import StackProcess
    from local.template import DEFAULT_TEMPLATE
    from shiptrack.models import MAX_BATCH_ITEMS

    started = time.perf_counter()
    not_measured = {
        str(size): f"over MAX_BATCH_ITEMS ({MAX_BATCH_ITEMS}): the route answers 413"
        for size in sizes
        if size > MAX_BATCH_ITEMS
    }
    sizes = tuple(size for size in sizes if size <= MAX_BATCH_ITEMS)
    env = {"LOCAL_SCHEDULE_SECONDS": "0", "LOCAL_UPSTREAM_LATENCY": latency}
    log = Path(os.environ.get("TMPDIR", "/tmp")) / "bench-batch-size-stack.log"
    stack = StackProcess(DEFAULT_TEMPLATE, env=env, sandbox=True, log_path=log)
    stack.start()
    rows: list[SizeRow] = []
    try:
        stack.wait_ready(180)
        session = requests.Session()
        session.headers["x-api-key"] = stack.api_key
        url = f"{stack.api_url}/v1/trackings/batch"
        # Every request creates new trackings: the sandbox's default quota (10,000) would run out mid-run.
        session.post(f"{stack.sandbox_control_url}/_sandbox/config", json={"quota": 10_000_000}, timeout=30)
        session.post(url, json={"items": _items(40)}, timeout=60)  # warm-up: the function's cold start
        for size in sizes:
            samples: list[float] = []
            statuses: dict[str, int] = {}
            failed = 0
            for _ in range(repeats):
                begin = time.perf_counter()
                answer = session.post(url, json={"items": _items(size)}, timeout=60)
                samples.append(time.perf_counter() - begin)
                statuses[str(answer.status_code)] = statuses.get(str(answer.status_code), 0) + 1
                if answer.status_code == 200:
                    failed += int(answer.json()["summary"]["failed"])
            p99 = percentile(samples, 0.99)
            rows.append(
                SizeRow(
                    items=size,
                    samples_s=samples,
                    p50_s=statistics.median(samples),
                    p95_s=percentile(samples, 0.95),
                    p99_s=p99,
                    statuses=statuses,
                    failed_items=failed,
                    within=p99 < LIMIT_S and statuses == {"200": repeats},
                )
            )
            print(f"batch_size: {size} items p99 {p99:.1f} s", file=sys.stderr, flush=True)
    finally:
        stack.stop()
    fitting = [row.items for row in rows if row.within]
    return BatchSizeResult(
        latency=latency,
        repeats=repeats,
        rows=rows,
        largest_within=max(fitting) if fitting else None,
        max_batch_items=MAX_BATCH_ITEMS,
        seconds=time.perf_counter() - started,
        not_measured=not_measured,
    )


def targets(entry: dict[str, Any]) -> list[list[Any]]:
    r = entry["result"]
    row = next((row for row in r["rows"] if row["items"] == r["max_batch_items"]), None)
    result = f"p99 {row['p99_s']:.1f} s" if row else "not measured at that size"
    met = row is not None and row["within"]
    return [
        [
            f"Batch route at maxItems ({r['max_batch_items']})",
            f"p99 < {r['limit_s']:.0f} s under `{r['latency']}`",
            result,
            "**yes**" if met else "**no**",
        ]
    ]


def render(entry: dict[str, Any], stamp: str, table: Any) -> list[str]:
    r = entry["result"]
    rows = [
        [
            row["items"],
            f"{row['p50_s']:.1f}",
            f"{row['p95_s']:.1f}",
            f"{row['p99_s']:.1f}",
            ", ".join(f"{k} ×{v}" for k, v in row["statuses"].items()),
            row["failed_items"],
            "yes" if row["within"] else "**no**",
        ]
        for row in r["rows"]
    ]
    profile = (
        "1.7 s median, up to 7.2 s, under the realistic profile"
        if r["latency"] == "realistic"
        else f"as long as the `{r['latency']}` profile makes them"
    )
    not_measured = r.get("not_measured") or {}
    listed = ", ".join(f"{k} items ({v})" for k, v in not_measured.items())
    skipped = [f"Not measured: {listed}.", ""] if not_measured else []
    return [
        "## The batch route's size",
        "",
        stamp,
        "",
        f"`POST /trackings/batch` through the local stack under the `{r['latency']}` upstream profile, "
        f"{r['repeats']} requests per size, one after the other (new numbers, one in ten without a carrier). "
        f"Nearest-rank percentiles of the client's wall time. The route takes at most **{r['max_batch_items']}** "
        f"items (`shiptrack.models.MAX_BATCH_ITEMS`, the `maxItems` of docs/api.md), the largest size whose p99 "
        f"stayed under {r['limit_s']:.0f} s when it was chosen (API Gateway answers 504 at 29 s); here the largest "
        f"size measured under it is **{r['largest_within']}**. A larger size is refused (413) before any work, so "
        "measuring one means raising the constant first. *failed items*: items answered `failed` (a retryable "
        "`deadline_exceeded` when the request's time ran short).",
        "",
        table(["items", "p50 s", "p95 s", "p99 s", "statuses", "failed items", f"p99 < {r['limit_s']:.0f} s"], rows),
        "",
        *skipped,
        "**Read with care.** One in ten numbers has no carrier the sandbox can detect, so one item in ten fails "
        "(`carrier_not_detected`) by design. The floor of a size is its upstream calls: ⌈n/40⌉ batch creates "
        f"({profile}), at most the template's `BatchCreateRateLimit` a second. Every function "
        "of the stack (the route, and the stream, publisher and webhook fan-out consumers the new trackings set off) "
        "and moto share this machine's two cores, where on AWS each has its own, so a time here is an upper bound; a "
        "larger set belongs in `POST /imports`, which has no 29 s to keep.",
        "",
    ]
