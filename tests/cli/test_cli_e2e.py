"""``shiptrack trackings …`` and ``shiptrack events tail`` against the local stack (template.yaml, moto, sandbox).

Each test uses its own tracking numbers and order ids (the stack is shared by the session) and checks what the
CLI printed, how it exited, and the API's state afterwards.
"""

from __future__ import annotations

import json
import queue
import secrets
import signal
import subprocess
import threading
import time
from typing import Any

import boto3
import pytest
import requests

from local.stack import StackProcess
from shiptrack_cli.errors import ExitCode
from shiptrack_cli.tail import FAKE_KEY, LOCAL_REGION, TAP_QUEUE
from tests.cli.conftest import cli_process, run_cli
from tests.plugins.stack import eventually

pytestmark = pytest.mark.e2e


def unique(prefix: str) -> str:
    return f"{prefix}{secrets.randbelow(10**9):09d}CN"


class Stack:
    def __init__(self, stack: StackProcess) -> None:
        self.stack = stack
        self.env: dict[str, str | None] = {"SHIPTRACK_API_URL": stack.api_url, "SHIPTRACK_API_KEY": stack.api_key}
        self.http = requests.Session()
        self.http.headers["x-api-key"] = stack.api_key

    def shiptrack(self, *args: str, stdin: str | None = None) -> Any:
        return run_cli(args, env=self.env, stdin=stdin)

    def get(self, path: str) -> requests.Response:
        return self.http.get(f"{self.stack.api_url}/v1{path}", timeout=60)

    def sqs(self) -> Any:
        return boto3.client(
            "sqs",
            endpoint_url=self.stack.aws_endpoint,
            region_name=LOCAL_REGION,
            aws_access_key_id=FAKE_KEY,
            aws_secret_access_key=FAKE_KEY,
        )

    def empty_tap(self) -> None:
        """Drop what the tap holds: every test on the shared stack (the fuzzing's thousands of trackings included) puts
        its events there, and a tail would print them all before this test's."""
        sqs = self.sqs()
        url = sqs.get_queue_url(QueueName=TAP_QUEUE)["QueueUrl"]
        # Not PurgeQueue: SQS (and moto) allow one a minute per queue.
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        ):
            entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)]
            sqs.delete_message_batch(QueueUrl=url, Entries=entries)

    def upstream_creates(self) -> int:
        stats = self.http.get(f"{self.stack.sandbox_control_url}/_sandbox/stats", timeout=10).json()
        return int(stats["calls"].get("POST /trackings/post", 0))


@pytest.fixture(scope="module")
def stack(local_stack: StackProcess) -> Stack:
    return Stack(local_stack)


def test_create_get_and_delete_a_tracking(stack: Stack) -> None:
    number, order = unique("CL"), f"cli-{secrets.token_hex(4)}"
    creates = stack.upstream_creates()

    created = stack.shiptrack("trackings", "create", number, "--carrier", "china-post", "--order-id", order,
                              "--title", "Blue mug", "--customer-name", "Ann Lee")  # fmt: skip
    again = stack.shiptrack("trackings", "create", number, "--carrier", "china-post")
    shown = stack.shiptrack("trackings", "get", "china-post", number)
    shown_json = stack.shiptrack("trackings", "get", "china-post", number, "--json")

    assert created.exit_code == 0, created.output
    assert created.stderr.startswith(f"Created: china-post {number}")
    assert again.exit_code == 0
    assert again.stderr.startswith(f"Already tracked: china-post {number}")
    assert stack.upstream_creates() == creates + 1
    stored = stack.get(f"/trackings/china-post/{number}").json()
    assert (stored["order_id"], stored["title"], stored["customer"]["name"]) == (order, "Blue mug", "Ann Lee")
    lines = [line.strip().split(maxsplit=1) for line in shown.stdout.splitlines()]
    assert ["Tracking", f"china-post {number}"] in lines
    assert ["Order", order] in lines
    assert ["Title", "Blue mug"] in lines
    assert json.loads(shown_json.stdout) == stored

    deleted = stack.shiptrack("trackings", "delete", "china-post", number, "--yes")
    gone = stack.shiptrack("trackings", "delete", "china-post", number, "--yes")

    assert deleted.exit_code == 0
    assert deleted.stderr == f"Deleted: china-post {number}\n"
    assert stack.get(f"/trackings/china-post/{number}").status_code == 404
    assert gone.exit_code == ExitCode.API_ERROR
    assert gone.stderr.startswith("Error: 404 ")
    assert "code: tracking_not_found" in gone.stderr


def test_delete_asks_first_unless_told_yes(stack: Stack) -> None:
    number = unique("CQ")
    stack.shiptrack("trackings", "create", number, "--carrier", "china-post")

    refused = stack.shiptrack("trackings", "delete", "china-post", number, stdin="n\n")
    kept = stack.get(f"/trackings/china-post/{number}")
    confirmed = stack.shiptrack("trackings", "delete", "china-post", number, stdin="y\n")

    assert refused.exit_code == 1
    assert kept.status_code == 200
    assert confirmed.exit_code == 0
    assert stack.get(f"/trackings/china-post/{number}").status_code == 404


def test_list_filters_pages_and_json(stack: Stack) -> None:
    order = f"cli-{secrets.token_hex(4)}"
    numbers = [unique("CP") for _ in range(3)]
    for number in numbers:
        assert (
            stack.shiptrack("trackings", "create", number, "--carrier", "china-post", "--order-id", order).exit_code
            == 0
        )

    table = stack.shiptrack("trackings", "list", "--order-id", order)
    one_page = stack.shiptrack("trackings", "list", "--order-id", order, "--limit", "1", "--json")
    every_page = stack.shiptrack("trackings", "list", "--order-id", order, "--limit", "1", "--all", "--json")
    more = stack.shiptrack("trackings", "list", "--order-id", order, "--limit", "2")

    rows = [line.split() for line in table.stdout.splitlines()]
    assert rows[0][:4] == ["Carrier", "Number", "Status", "Order"]
    assert sorted(row[1] for row in rows[1:]) == sorted(numbers)
    assert all(row[0] == "china-post" and row[3] == order for row in rows[1:])
    assert table.stderr == "3 trackings.\n"
    assert len(json.loads(one_page.stdout)["items"]) == 1
    assert json.loads(one_page.stdout)["next_cursor"]
    assert sorted(t["tracking_number"] for t in json.loads(every_page.stdout)["items"]) == sorted(numbers)
    assert "2 trackings.\nMore: --cursor " in more.stderr


def test_problems_are_printed_with_their_field_errors_and_exit_1(stack: Stack) -> None:
    invalid = stack.shiptrack("trackings", "create", "x!", "--carrier", "china-post")
    invalid_json = stack.shiptrack("trackings", "create", "x!", "--carrier", "china-post", "--json")
    unknown = stack.shiptrack("trackings", "get", "china-post", unique("NO"))
    bad_filter = stack.shiptrack("trackings", "list", "--status", "lost")

    assert invalid.exit_code == invalid_json.exit_code == unknown.exit_code == bad_filter.exit_code == 1
    assert invalid.stderr.startswith("Error: 422 ")
    assert "  - body.tracking_number: " in invalid.stderr
    assert "code: validation_failed" in invalid.stderr
    problem = json.loads(invalid_json.stderr)
    assert (problem["status"], problem["code"]) == (422, "validation_failed")
    assert invalid_json.stdout == ""
    assert "code: tracking_not_found" in unknown.stderr
    assert "status" in bad_filter.stderr


def test_a_wrong_api_key_is_a_403_with_a_hint(stack: Stack) -> None:
    result = run_cli(["trackings", "list"], env={**stack.env, "SHIPTRACK_API_KEY": "wrong"})

    assert result.exit_code == ExitCode.API_ERROR
    assert result.stderr.startswith("Error: 403 Forbidden")
    assert "hint: check the API key: SHIPTRACK_API_KEY or --api-key" in result.stderr


def read_lines(process: subprocess.Popen[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def test_events_tail_shows_a_created_tracking_as_it_arrives(stack: Stack) -> None:
    number = unique("ET")
    stack.empty_tap()
    tail = cli_process(["events", "tail"], env={"SHIPTRACK_LOCAL_AWS_URL": stack.stack.aws_endpoint})
    try:
        lines = read_lines(tail)
        seen: list[str] = []

        def shown() -> str | None:
            while not lines.empty():
                seen.append(lines.get())
            return next((line for line in seen if number in line and "Tracking Created" in line), None)

        assert stack.shiptrack("trackings", "create", number, "--carrier", "china-post").exit_code == 0
        line = eventually(shown, timeout=90)
    finally:
        tail.send_signal(signal.SIGINT)
        try:
            _, stderr = tail.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            tail.kill()  # a tail left running would consume the tap queue other tests read
            tail.communicate()
            raise

    assert line.split()[1:6] == ["Tracking", "Created", "china-post", number, "pending"]
    assert tail.returncode == 0, stderr


def test_ctrl_c_ends_the_tail_without_hiding_what_its_last_receive_took(stack: Stack) -> None:
    stack.empty_tap()
    sqs = stack.sqs()
    url = sqs.get_queue_url(QueueName=TAP_QUEUE)["QueueUrl"]
    first, last = (json.dumps({"detail-type": "Tap Probe", "id": secrets.token_hex(8)}) for _ in range(2))
    tail = cli_process(["events", "tail", "--json"], env={"SHIPTRACK_LOCAL_AWS_URL": stack.stack.aws_endpoint})
    try:
        lines = read_lines(tail)
        sqs.send_message(QueueUrl=url, MessageBody=first)
        assert lines.get(timeout=60).strip() == first  # the tail is reading
        time.sleep(0.5)  # it has deleted that one and waits in its next long poll (2 s): nothing shows that
        # Ctrl-C, then an event while that poll is still open on the server
        tail.send_signal(signal.SIGINT)
        sqs.send_message(QueueUrl=url, MessageBody=last)
        tail.wait(timeout=60)
    finally:
        if tail.poll() is None:
            tail.kill()
            tail.wait()

    shown = [lines.get().strip() for _ in range(lines.qsize())]
    still_queued = [m["Body"] for m in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages", [])]
    assert tail.returncode == 0
    assert [*shown, *still_queued] == [last]  # shown by the tail, or left for the next reader: not hidden


def test_events_tail_once_with_json_prints_raw_events(stack: Stack) -> None:
    number = unique("EJ")
    env = {"SHIPTRACK_LOCAL_AWS_URL": stack.stack.aws_endpoint}
    stack.empty_tap()
    assert stack.shiptrack("trackings", "create", number, "--carrier", "china-post").exit_code == 0
    events: list[dict[str, Any]] = []

    def arrived() -> dict[str, Any] | None:
        result = run_cli(["events", "tail", "--once", "--json"], env=env)
        assert result.exit_code == 0, result.output
        events.extend(json.loads(line) for line in result.stdout.splitlines())
        return next((e for e in events if e["detail"]["tracking"]["tracking_number"] == number), None)

    event = eventually(arrived, timeout=90, interval=0.5)

    assert (event["source"], event["detail-type"]) == ("shiptrack", "Tracking Created")
    assert event["detail"]["tracking"]["carrier_code"] == "china-post"


def test_events_tail_without_the_local_stack_says_so() -> None:
    result = run_cli(["events", "tail", "--once", "--aws-url", "http://127.0.0.1:9"])

    assert result.exit_code == ExitCode.UNREACHABLE
    assert "cannot reach the local stack's AWS at http://127.0.0.1:9" in result.stderr
    assert "make dev" in result.stderr
