"""Tail the local stack's `local-event-tap` queue: every outbound EventBridge event, pretty-printed.

    python -m local.tap                       # moto on LOCAL_AWS_PORT (default 5000)
    python -m local.tap --endpoint-url http://127.0.0.1:5000 --keep --once

Messages are deleted after printing unless `--keep` (then they reappear after the visibility timeout). Ctrl-C ends
it after the receive under way (up to 2 s), as it does `shiptrack events tail`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from local.stack import TAP_QUEUE
from shiptrack_cli.tail import follow_queue


def format_event(body: str) -> str:
    try:
        event = json.loads(body)
    except ValueError:
        return body
    if not isinstance(event, dict):
        return json.dumps(event, indent=2)
    head = f"{event.get('time', '')} {event.get('source', '?')} | {event.get('detail-type', '?')}"
    return head + "\n" + json.dumps(event.get("detail", event), indent=2, sort_keys=True)


def tail(endpoint_url: str, queue: str = TAP_QUEUE, *, keep: bool = False, once: bool = False, out: Any = None) -> int:
    """Print events until Ctrl-C or SIGTERM (or, with `once`, until the queue is empty). Returns how many were shown.

    The loop is the `shiptrack events tail` command's (`shiptrack_cli.tail.follow_queue`), printed the long way.
    """
    out = out or sys.stdout

    def show(body: str) -> None:
        out.write(format_event(body) + "\n\n")
        out.flush()

    try:
        return follow_queue(endpoint_url, show, queue=queue, keep=keep, once=once)
    except KeyboardInterrupt:  # the second Ctrl-C
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.tap", description="Tail the local-event-tap queue.")
    default = f"http://127.0.0.1:{os.environ.get('LOCAL_AWS_PORT', '5000')}"
    parser.add_argument("--endpoint-url", default=default, help=f"moto endpoint (default {default})")
    parser.add_argument("--queue", default=TAP_QUEUE)
    parser.add_argument("--keep", action="store_true", help="do not delete what was shown")
    parser.add_argument("--once", action="store_true", help="print what is there, then exit")
    args = parser.parse_args(argv)
    try:
        tail(args.endpoint_url, args.queue, keep=args.keep, once=args.once)
    except Exception as exc:  # e.g. the stack is not running
        print(f"cannot read {args.queue} at {args.endpoint_url}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
