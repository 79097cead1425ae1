"""``python -m bench [cold_start|economy|throughput|local_stack|webhooks|latency|imports|batch_size ...]``: run the
benchmarks (all by default), print their tables, and rewrite docs/benchmarks.md (the benchmarks not run keep their
last figures)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from bench import REPO_ROOT, report

NAMES = ("cold_start", "economy", "throughput", "local_stack", "webhooks", "latency", "imports", "batch_size")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        choices=[*NAMES, []],
        help=f"benchmarks to run: {', '.join(NAMES)} (default: all)",
    )
    parser.add_argument("--runs", type=int, default=11, help="cold start: rounds (median of ≥ 10; default 11)")
    parser.add_argument(
        "--layouts",
        default="source,built,built+pyc",
        help="cold start: comma-separated layouts among source, built, built+pyc",
    )
    parser.add_argument(
        "--build",
        choices=("auto", "always", "never"),
        default="auto",
        help="cold start: sam build into a private dir (always), use .aws-sam/build (never), or build if stale",
    )
    parser.add_argument("--sizes", default="1,40,1000", help="economy: create sizes")
    parser.add_argument("--refresh-total", type=int, default=10_000, help="economy: trackings in the refresh")
    parser.add_argument("--no-naive", action="store_true", help="economy: skip the naive baseline")
    parser.add_argument("--rounds", type=int, default=7, help="throughput: rounds of blocks")
    parser.add_argument("--stack-runs", type=int, default=3, help="local stack: measured starts")
    parser.add_argument("--import-sizes", default="1000,10000", help="imports: sizes through the local stack")
    parser.add_argument("--import-rate", type=int, default=1, help="imports: BatchCreateRateLimit")
    parser.add_argument("--import-workers", type=int, default=2, help="imports: ImportWorkerConcurrency")
    parser.add_argument("--reliability-items", type=int, default=5000, help="imports: items of the fault scenario")
    parser.add_argument("--batch-sizes", default="40,100,200", help="batch_size: sizes to measure")
    parser.add_argument("--batch-repeats", type=int, default=8, help="batch_size: requests per size")
    parser.add_argument("--webhook-rounds", type=int, default=5, help="webhooks: rounds of delivery blocks")
    parser.add_argument("--webhook-samples", type=int, default=40, help="webhooks: latency samples")
    parser.add_argument("--latency-rounds", type=int, default=40, help="latency: requests per route (default 40)")
    parser.add_argument("--latency-scale", type=float, default=1.0, help="latency: scale of the realistic profile")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    return parser.parse_args(argv)


def run_one(name: str, args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run benchmark ``name``; returns (result, options used)."""
    if name == "cold_start":
        from bench import cold_start

        build = {"auto": None, "always": True, "never": False}[args.build]
        layouts = tuple(x.strip() for x in args.layouts.split(",") if x.strip())
        cold = cold_start.run(args.runs, layouts=layouts, build=build)
        return cold.to_dict(), {"runs": args.runs, "layouts": layouts, "build": args.build}
    if name == "economy":
        from bench import economy

        sizes = tuple(int(x) for x in args.sizes.split(",") if x.strip())
        eco = economy.run(sizes, args.refresh_total, naive=not args.no_naive)
        return eco.to_dict(), {"sizes": sizes, "refresh_total": args.refresh_total, "naive": not args.no_naive}
    if name == "throughput":
        from bench import throughput

        thr = throughput.run(args.rounds)
        return thr.to_dict(), {"rounds": args.rounds}
    if name == "imports":
        from bench import imports

        sizes = tuple(int(x) for x in args.import_sizes.split(",") if x.strip())
        result = imports.run(
            sizes, rate=args.import_rate, workers=args.import_workers, reliability_items=args.reliability_items
        )
        options = {
            "sizes": sizes,
            "rate": args.import_rate,
            "workers": args.import_workers,
            "reliability_items": args.reliability_items,
        }
        return result.to_dict(), options
    if name == "batch_size":
        from bench import batch_size

        sizes = tuple(int(x) for x in args.batch_sizes.split(",") if x.strip())
        batches = batch_size.run(sizes, repeats=args.batch_repeats)
        return batches.to_dict(), {"sizes": sizes, "repeats": args.batch_repeats}
    if name == "webhooks":
        from bench import webhooks

        hooks = webhooks.run(args.webhook_rounds, args.webhook_samples)
        return hooks.to_dict(), {"rounds": args.webhook_rounds, "samples": args.webhook_samples}
    if name == "latency":
        from bench import latency

        measured = latency.run(args.latency_rounds, scale=args.latency_scale)
        return measured.to_dict(), {"rounds": args.latency_rounds, "scale": args.latency_scale}
    from bench import local_stack

    stack = local_stack.run(args.stack_runs)
    return stack.to_dict(), {"runs": args.stack_runs}


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    names = [n for n in NAMES if n in args.names] or list(NAMES)
    results = report.load_previous()
    started = time.monotonic()
    for name in names:
        print(f"== {name}", file=sys.stderr, flush=True)
        when = report.now()
        result, options = run_one(name, args)
        results[name] = report.envelope(name, result, when, options)
        print(report.console(name, results[name]), flush=True)
        if not args.no_write:  # after each benchmark, so an interrupted run keeps what it measured
            report.write(results)
    print(f"== done in {time.monotonic() - started:.0f} s", file=sys.stderr)
    if not args.no_write:
        print(f"wrote {report.DOC.relative_to(REPO_ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
