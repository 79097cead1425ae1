"""``python -m local.sandbox --port 4010`` — run the TrackingMore v2 sandbox in the foreground."""

from __future__ import annotations

import argparse
import signal
import sys
from datetime import UTC, datetime
from types import FrameType

from local.sandbox.engine import DEFAULT_API_KEY, DEFAULT_EMAIL, DEFAULT_PORT, DEFAULT_QUOTA
from local.sandbox.latency import PROFILES, LatencySettings
from local.sandbox.server import SandboxServer


def _sim_start(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _latency(value: str) -> LatencySettings:
    try:
        return LatencySettings.parse(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument("--email", default=DEFAULT_EMAIL, help="account e-mail; keys the webhook signature")
    parser.add_argument("--webhook-url", default=None, help="where to push signed v2 webhooks")
    parser.add_argument("--quota", type=float, default=DEFAULT_QUOTA)
    parser.add_argument(
        "--sim-start", default=None, help="simulated start time, ISO-8601 (default: now); fixes event dates for a seed"
    )
    parser.add_argument("--no-rate-limits", action="store_true", help="turn off 1/s, 3/s and the 2-hour rule")
    parser.add_argument(
        "--latency",
        type=_latency,
        default=LatencySettings(),
        metavar="NAME[:SCALE]",
        help=f"latency profile ({', '.join(sorted(PROFILES))}), optionally scaled, e.g. realistic:0.1 (default: none)",
    )
    parser.add_argument(
        "--batch-create-limit", type=int, default=None, metavar="N", help="answer 429 to the N+1st batch create in 1 s"
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)

    server = SandboxServer(
        host=args.host,
        port=args.port,
        seed=args.seed,
        api_key=args.api_key,
        email=args.email,
        webhook_url=args.webhook_url,
        enforce_rate_limits=not args.no_rate_limits,
        quota=args.quota,
        sim_start=_sim_start(args.sim_start),
        latency=args.latency,
        batch_create_limit=args.batch_create_limit,
        verbose=args.verbose,
    )
    server.start()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    latency = f"{args.latency.profile}:{args.latency.scale:g}"
    where = f"TrackingMore v2 sandbox on {server.base_url}"
    print(f"{where} (api key {server.api_key!r}, seed {args.seed}, latency {latency})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
