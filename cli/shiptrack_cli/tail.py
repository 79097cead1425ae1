"""``shiptrack events tail``: follow the local stack's ``local-event-tap`` queue (local only).

The local stack (docs/local-stack.md, "The event tap") routes every event shiptrack puts on its bus to the SQS
queue ``local-event-tap`` on its moto server. This reads that queue with boto3 and the stack's fake credentials,
prints each event as it arrives and deletes it (unless ``keep``). On AWS there is no such queue: subscribe to the
bus with a rule of your own instead.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from types import FrameType
from typing import Any, Final

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.text import Text

from shiptrack_cli.errors import ApiUnreachableError, CliError
from shiptrack_cli.render import STATUS_STYLES

TAP_QUEUE: Final = "local-event-tap"
LOCAL_REGION: Final = "us-east-1"
FAKE_KEY: Final = "testing"  # the local stack's moto takes any credentials; these are its usual fake pair
NO_SUCH_QUEUE: Final = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")
WAIT_SECONDS: Final = 2  # SQS long poll: short enough that SIGTERM is noticed quickly


def tail_events(
    aws_url: str,
    console: Console,
    *,
    queue: str = TAP_QUEUE,
    keep: bool = False,
    once: bool = False,
    json_output: bool = False,
    stop: threading.Event | None = None,
) -> int:
    """Print events until ``stop`` is set, SIGTERM or Ctrl-C, or (with ``once``) the queue is empty; return how many
    (see :func:`follow_queue`)."""
    return follow_queue(
        aws_url,
        lambda body: show_event(body, console, json_output=json_output),
        queue=queue,
        keep=keep,
        once=once,
        stop=stop,
    )


def follow_queue(
    aws_url: str,
    show: Callable[[str], None],
    *,
    queue: str = TAP_QUEUE,
    keep: bool = False,
    once: bool = False,
    stop: threading.Event | None = None,
) -> int:
    """Hand each message of ``queue`` to ``show`` as it arrives, and delete it (unless ``keep``), until ``stop`` is
    set, SIGTERM or Ctrl-C, or (with ``once``) the queue is empty; return how many were shown.

    A signal ends it after the receive under way (at most ``WAIT_SECONDS``): the messages that receive brings are
    shown and deleted. Cut short, the receive would still take them on the server, and hide them from every reader
    for the queue's visibility timeout. A second Ctrl-C stops at once.
    """
    stop = stop or threading.Event()
    with _signals() as signalled:
        return _follow(
            aws_url, show, queue=queue, keep=keep, once=once, stopping=lambda: stop.is_set() or bool(signalled)
        )


@contextlib.contextmanager
def _signals() -> Iterator[list[int]]:
    """The SIGINT and SIGTERM received meanwhile (in the main thread; elsewhere none are caught).

    The handler takes no lock: it runs between two bytecodes of the main thread, which may be inside the handler of
    the signal before (``make`` forwards the TERM it gets, so two can arrive at once). ``Event.set()`` there
    deadlocked the local stack on its own lock.
    """
    signalled: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield signalled
        return

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT and signalled:
            raise KeyboardInterrupt
        signalled.append(signum)

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield signalled
    finally:
        for signum, handler in previous.items():
            if handler is not None:  # None: a handler not set from Python, which cannot be put back
                signal.signal(signum, handler)


def _follow(
    aws_url: str, show: Callable[[str], None], *, queue: str, keep: bool, once: bool, stopping: Callable[[], bool]
) -> int:
    sqs = boto3.session.Session(region_name=LOCAL_REGION).client(
        "sqs", endpoint_url=aws_url, aws_access_key_id=FAKE_KEY, aws_secret_access_key=FAKE_KEY
    )
    shown = 0
    try:
        url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        while not stopping():
            answer = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0 if once else WAIT_SECONDS
            )
            messages = answer.get("Messages", [])
            if not messages and once:
                break
            for message in messages:
                show(message["Body"])
                shown += 1
                if not keep:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in NO_SUCH_QUEUE:
            raise CliError(
                f"there is no {queue} queue at {aws_url}",
                hint="`events tail` follows the local stack only: start it with `make dev`",
            ) from exc
        raise CliError(f"reading {queue} at {aws_url} failed: {exc}") from exc
    except BotoCoreError as exc:
        raise ApiUnreachableError(
            f"cannot reach the local stack's AWS at {aws_url}: {exc}",
            hint="is `make dev` running? Set SHIPTRACK_LOCAL_AWS_URL or --aws-url if its moto is on another port",
        ) from exc
    return shown


def show_event(body: str, console: Console, *, json_output: bool = False) -> None:
    """One event: the raw JSON on one line (``json_output``), or a line for people."""
    if json_output:
        console.file.write(body.replace("\n", " ") + "\n")
        console.file.flush()
        return
    try:
        event = json.loads(body)
    except ValueError:
        event = None
    console.print(describe_event(event) if isinstance(event, dict) else Text(body), soft_wrap=True)  # one per line
    console.file.flush()


def describe_event(event: Mapping[str, Any]) -> Text:
    """``12:00:01  Tracking Status Changed  china-post RR123456785CN  transit → delivered  order ord-1``."""
    raw_detail = event.get("detail")
    detail: Mapping[str, Any] = raw_detail if isinstance(raw_detail, dict) else {}
    raw_tracking = detail.get("tracking")
    tracking: Mapping[str, Any] | None = raw_tracking if isinstance(raw_tracking, dict) else None
    when = str(event.get("time", ""))[11:19] or "--:--:--"
    line = Text.assemble((when, "dim"), "  ", (f"{event.get('detail-type', '?'):<24}", "bold"), "  ")
    if tracking is None:  # not a tracking event: show its detail as it is
        line.append(json.dumps(detail, ensure_ascii=False, separators=(",", ":"))[:300])
        return line
    line.append(f"{tracking.get('carrier_code')} {tracking.get('tracking_number')}  ")
    status = str(detail.get("status") or tracking.get("status") or "")
    previous = detail.get("previous_status")
    if previous:
        line.append(str(previous), STATUS_STYLES.get(str(previous), ""))
        line.append(" → ")
    line.append(status, STATUS_STYLES.get(status, ""))
    substatus = detail.get("substatus")
    if substatus:
        line.append(f" ({substatus})")
    if detail.get("previous_lifecycle") and detail.get("lifecycle") != detail.get("previous_lifecycle"):
        line.append(f"  lifecycle {detail['previous_lifecycle']} → {detail.get('lifecycle')}")
    if tracking.get("order_id"):
        line.append(f"  order {tracking['order_id']}")
    if event.get("detail-type") == "Tracking Updated" and tracking.get("last_event"):
        line.append(f"  {tracking['last_event']}", "dim")
    return line
