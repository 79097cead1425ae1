"""Bulk imports through the local stack: API Gateway, ImportsFunction, the ImportsTable stream, the dispatcher,
ImportChunksQueue, the workers (several at once), the sandbox with latency and an account batch-create limit.

The counts are the contract (docs/benchmarks.md has the timings): 1000 items make exactly ⌈1000/40⌉ = 25 upstream
batch calls, never more than the account's batch-create rate (the sandbox refuses the excess with a 429 and counts
it), and Import Completed reaches the bus once.
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local.stack import StackProcess
from local.template import DEFAULT_TEMPLATE
from shiptrack.services.create import CHUNK_SIZE
from tests.plugins.stack import StackFactory, eventually

pytestmark = pytest.mark.e2e

BATCH = "POST /trackings/batch"
#: The account's batch-create rate in this stack, shared by 4 workers (2 calls a second each).
RATE = 8
#: What the sandbox refuses beyond: one and a half times the rate, room for the spread between a slot and the call's
#: arrival (the client paces sends; the sandbox counts arrivals; a call that wakes late for its slot takes another).
#: Without pacing, 4 workers × 10 chunks would send 40 at once; the benchmark holds the gate to a sandbox that refuses
#: any excess at all (docs/benchmarks.md, "Imports").
SANDBOX_LIMIT = RATE * 3 // 2


@pytest.fixture(scope="module")
def stack(local_stack_factory: StackFactory) -> Iterator[StackProcess]:
    overrides = f"BatchCreateRateLimit={RATE} ImportWorkerConcurrency=4 ImportRetrySeconds=1"
    with local_stack_factory.running(
        DEFAULT_TEMPLATE,
        name="imports",
        env={"LOCAL_PARAMETER_OVERRIDES": overrides, "LOCAL_UPSTREAM_LATENCY": "flat:0.3"},
    ) as stack:
        yield stack


class Client:
    def __init__(self, stack: StackProcess) -> None:
        self.stack = stack
        self.http = requests.Session()
        self.http.headers["x-api-key"] = stack.api_key

    def post(self, body: Any, **headers: str) -> requests.Response:
        return self.http.post(f"{self.stack.api_url}/v1/imports", json=body, headers=headers, timeout=60)

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.http.get(f"{self.stack.api_url}/v1{path}", params=params, timeout=60)

    def sandbox(self, method: str, path: str, body: Any = None) -> Any:
        url = f"{self.stack.sandbox_control_url}/_sandbox/{path}"
        return self.http.request(method, url, json=body, timeout=30).json()

    def finished(self, import_id: str) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            record: dict[str, Any] = self.get(f"/imports/{import_id}").json()
            return record if record["status"] in ("completed", "failed") else None

        return eventually(done, timeout=300, interval=1.0)


@pytest.fixture(scope="module")
def client(stack: StackProcess) -> Client:
    client = Client(stack)
    # The account's limit, enforced by the sandbox: a call beyond it is answered 429 and counted.
    client.sandbox("POST", "config", {"batch_create_limit": SANDBOX_LIMIT, "batch_create_window_s": 1})
    return client


def test_1000_items_complete_with_25_upstream_calls_within_the_account_limit(client: Client) -> None:
    before = client.sandbox("GET", "stats")
    prefix = f"E{secrets.randbelow(10**6):06d}"
    items = [{"tracking_number": f"{prefix}{i:06d}CN", "carrier_code": "china-post"} for i in range(1000)]

    accepted = client.post({"items": items})

    assert accepted.status_code == 202, accepted.text
    assert accepted.headers["Location"] == f"/imports/{accepted.json()['id']}"
    assert client.sandbox("GET", "stats")["calls"].get(BATCH, 0) == before["calls"].get(BATCH, 0)  # none before 202
    final = client.finished(accepted.json()["id"])
    after = client.sandbox("GET", "stats")
    assert final["status"] == "completed"
    assert final["summary"] == {"total": 1000, "created": 1000, "existing": 0, "failed": 0, "pending": 0}
    # Both counts in each message: an extra call is either a 429's retry or a chunk sent twice
    calls = after["calls"][BATCH] - before["calls"].get(BATCH, 0)
    refused = after["rate_limited"] - before["rate_limited"]
    assert (calls, refused) == (math.ceil(1000 / CHUNK_SIZE), 0), f"{calls} calls, {refused} refused (429)"

    results = client.get(f"/imports/{final['id']}/results", limit=500).json()
    assert [r["index"] for r in results["items"]] == list(range(500))
    assert {r["outcome"] for r in results["items"]} == {"created"}


def test_import_completed_reaches_the_bus_once(client: Client, stack: StackProcess) -> None:
    accepted = client.post({"items": [{"tracking_number": f"EV{secrets.randbelow(10**9):09d}CN"}]}).json()
    client.finished(accepted["id"])
    sqs = stack.client("sqs")
    url = sqs.get_queue_url(QueueName="local-event-tap")["QueueUrl"]
    found: list[dict[str, Any]] = []

    def completed() -> bool:
        # The tap holds every event of the stack (the other tests' Tracking Created too): take them all off.
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                event = json.loads(message["Body"])
                if event["detail-type"] == "Import Completed" and event["detail"]["import"]["id"] == accepted["id"]:
                    found.append(event)
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return bool(found)

    eventually(completed, timeout=120, interval=1.0)
    completed()  # and nothing more arrives for it
    assert len(found) == 1
    assert found[0]["detail"]["import"]["summary"]["created"] == 1


def test_a_csv_import_and_its_failed_rows(client: Client) -> None:
    number = f"CV{secrets.randbelow(10**9):09d}CN"
    body = f"tracking_number,carrier_code,title\r\n{number},china-post,Mug\r\nno,ups,\r\n"

    accepted = client.http.post(
        f"{client.stack.api_url}/v1/imports", data=body.encode(), headers={"Content-Type": "text/csv"}, timeout=60
    )

    assert accepted.status_code == 202, accepted.text
    final = client.finished(accepted.json()["id"])
    assert final["summary"] == {"total": 2, "created": 1, "existing": 0, "failed": 1, "pending": 0}
    failed = client.get(f"/imports/{final['id']}/results", outcome="failed").json()["items"]
    assert [(r["index"], r["problem"]["code"]) for r in failed] == [(1, "validation_failed")]


def test_a_request_over_lambdas_payload_limit_is_413(client: Client) -> None:
    body = "tracking_number\r\n" + ("RR123456785CN\r\n" * 500_000)  # 7.5 MB: over Lambda's 6 MB request payload

    answer = client.http.post(
        f"{client.stack.api_url}/v1/imports", data=body.encode(), headers={"Content-Type": "text/csv"}, timeout=60
    )

    assert answer.status_code == 413
    assert answer.headers["Content-Type"] == "application/problem+json"
