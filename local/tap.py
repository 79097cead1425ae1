"""Tail the local stack's `local-event-tap` queue: every outbound EventBridge event, pretty-printed.

    python -m local.tap                       # moto on LOCAL_AWS_PORT (default 5000)
    python -m local.tap --endpoint-url http://127.0.0.1:5000 --keep --once

Messages are deleted after printing unless `--keep` (then they reappear after the visibility timeout).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from typing import Any

import boto3

from local.functions import FAKE_CREDENTIALS
from local.intrinsics import DEFAULT_REGION
from local.stack import TAP_QUEUE


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
    """Print events until interrupted (or, with `once`, until the queue is empty). Returns how many were shown."""
    out = out or sys.stdout
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    sqs = boto3.session.Session(region_name=DEFAULT_REGION).client(
        "sqs",
        endpoint_url=endpoint_url,
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    shown = 0
    try:
        while not stop.is_set():
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0 if once else 2).get(
                "Messages", []
            )
            if not messages and once:
                break
            for message in messages:
                out.write(format_event(message["Body"]) + "\n\n")
                out.flush()
                shown += 1
                if not keep:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    except KeyboardInterrupt:
        pass
    return shown


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
