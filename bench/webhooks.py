"""Storefront webhooks: how soon a change reaches a receiver, and how many deliveries one function makes per second.

* **Latency** — the local stack (``python -m local.stack`` on the real template, free ports, its local parameters:
  loopback receivers, scaled retries) and a receiver on 127.0.0.1 in this process. ``POST /trackings`` creates a
  tracking; the time from its stored ``created_at`` to the receiver getting its ``tracking.created`` delivery is the
  path stream → publisher → bus → WebhookEventsQueue → fan-out → WebhookDeliveriesQueue → delivery → POST. One
  tracking at a time (each waits for its delivery), so the figure is the path's own, not a queue's.
* **Throughput** — WebhookDeliveryFunction's handler in this process on a moto server (own process), batches of 10
  delivery messages (as Lambda's poller hands them) to a receiver on 127.0.0.1 answering 204 at once. The floor is
  what a delivery cannot avoid, with no code of ours, at the same parallelism (10 threads per batch): one HTTP POST
  (a new connection, ``http.client``) and one ``UpdateItem`` recording the outcome in the log. Blocks of each
  alternate for several rounds; each rate is the median over blocks.
"""

from __future__ import annotations

import http.client
import json
import statistics
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench import harness
from bench.throughput import MotoProcess

LATENCY_SAMPLES = 40
BLOCK = 100
ROUNDS = 5


class _Server(ThreadingHTTPServer):
    # The default backlog (5) drops connections when ten deliveries connect at once; the client then waits a
    # second for its SYN to be retried, which would be measured as the delivery's time.
    request_queue_size = 128


class _Receiver:
    """A receiver on 127.0.0.1 answering 204 at once, noting when each ``webhook-id`` arrived (wall clock)."""

    def __init__(self) -> None:
        self.arrivals: dict[str, tuple[float, dict[str, Any]]] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                arrived = time.time()
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                receiver.arrivals.setdefault(self.headers.get("webhook-id", ""), (arrived, json.loads(body or b"{}")))
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class WebhooksResult:
    latency_ms: list[float] = field(default_factory=list)
    latency_p50_ms: float = 0.0
    latency_p99_ms: float = 0.0
    deliveries_per_s: list[float] = field(default_factory=list)
    floor_per_s: list[float] = field(default_factory=list)
    median_deliveries_per_s: float = 0.0
    median_floor_per_s: float = 0.0
    ratio: float = 0.0
    block: int = BLOCK
    rounds: int = ROUNDS
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def _request(url: str, method: str, key: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("x-api-key", key)
    request.add_header("content-type", "application/json")
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"null")


def measure_latency(samples: int = LATENCY_SAMPLES) -> list[float]:
    """Milliseconds from each new tracking's stored ``created_at`` to its delivery at the receiver."""
    from local.stack import StackProcess

    receiver = _Receiver()
    try:
        with StackProcess(env={"LOCAL_SCHEDULE_SECONDS": "0"}) as stack:
            api = f"{stack.api_url}/v1"
            _request(f"{api}/webhook-endpoints", "POST", stack.api_key, {"url": receiver.url})
            latencies = []
            for n in range(samples + 2):  # the first two warm the functions up (cold starts are not the path)
                number = f"WB{n:09d}CN"
                body = {"tracking_number": number, "carrier_code": "china-post"}
                created = _request(f"{api}/trackings", "POST", stack.api_key, body)
                stored = datetime.fromisoformat(created["created_at"].replace("Z", "+00:00")).astimezone(UTC)
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    found = [a for a, p in receiver.arrivals.values() if _number(p) == number]
                    if found:
                        if n >= 2:
                            latencies.append((found[0] - stored.timestamp()) * 1000)
                        break
                    time.sleep(0.005)
                else:
                    raise RuntimeError(f"no delivery for {number} within 60 s")
            return latencies
    finally:
        receiver.stop()


def _number(payload: dict[str, Any]) -> str | None:
    if payload.get("type") != "tracking.created":
        return None
    number = payload.get("data", {}).get("tracking", {}).get("tracking_number")
    return str(number) if number else None


def _floor_block(aws: Any, receiver: _Receiver, block: int, serial: int) -> float:
    """The unavoidable work of ``block`` deliveries, 10 at a time: a POST each, and one ``UpdateItem`` each that
    records the outcome in the delivery log (status, its index key, the attempt) on an item shaped like ours."""
    table = aws.table("WebhookDeliveriesTable")
    keys = [{"pk": "DELIVERY#floor", "sk": f"dlv_floor_{serial:04d}_{i:05d}"} for i in range(block)]
    for key in keys:  # not timed: the fan-out's part
        table.put_item(Item={**key, "status": "pending", "status_pk": "floor#pending", "attempts": []})
    port = receiver.server.server_address[1]
    body = b'{"type":"tracking.created","timestamp":"2026-11-22T14:08:28.869Z","data":{}}'
    attempt = {"attempt": 1, "at": "2026-11-22T14:08:28.869Z", "outcome": "succeeded", "status_code": 204}

    def one(key: dict[str, str]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("POST", "/hooks", body=body, headers={"webhook-id": key["sk"]})
        connection.getresponse().read()
        connection.close()
        table.update_item(
            Key=key,
            UpdateExpression="SET #s = :s, status_pk = :p, attempts = :a",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": "succeeded", ":p": "floor#succeeded", ":a": [attempt]},
        )

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=10) as pool:
        for start in range(0, block, 10):
            list(pool.map(one, keys[start : start + 10]))
    return block / (time.perf_counter() - started)


def _delivery_block(aws: Any, block: int, serial: int, endpoint_id: str) -> float:
    """``block`` real deliveries through WebhookDeliveryFunction's handler, in batches of 10 (not timed: fan-out)."""
    from shiptrack import compose
    from shiptrack.models import utc_now
    from shiptrack.services.webhook_fanout import BusEvent, fan_out

    deps = compose.webhook_fanout()
    for i in range(block):
        event_id = f"{serial:08x}{i:024x}"
        detail = {"event_id": event_id, "occurred_at": "2026-11-22T14:08:28.869Z", "n": i}
        event = BusEvent("tracking.created", event_id, utc_now(), detail)
        fan_out(
            event,
            endpoints=deps.endpoints,
            deliveries=deps.deliveries,
            queues=deps.queues,
            clock=utc_now,
            retention_days=deps.retention_days,
        )
    url = deps.queues.deliveries_url
    arn = f"arn:aws:sqs:us-east-1:123456789012:{url.rsplit('/', 1)[1]}"
    batches: list[list[dict[str, Any]]] = []
    while sum(len(b) for b in batches) < block:
        sqs = aws.session.client("sqs", endpoint_url=aws.endpoint_url, region_name=harness.REGION)
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600)["Messages"]
        batches.append(
            [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": {},
                    "eventSourceARN": arn,
                }
                for m in messages
            ]
        )
    handler = harness.load_handler("webhook_delivery")
    context = harness.lambda_context("WebhookDeliveryFunction")
    started = time.perf_counter()
    for batch in batches:
        response = handler({"Records": batch}, context)
        if response["batchItemFailures"]:
            raise RuntimeError(f"deliveries failed in the benchmark: {response}")
    rate = block / (time.perf_counter() - started)
    for batch in batches:  # what Lambda's poller would do after the invocation (not timed)
        for record in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=record["receiptHandle"])
    return rate


def measure_throughput(rounds: int = ROUNDS, block: int = BLOCK) -> tuple[list[float], list[float]]:
    receiver = _Receiver()
    overrides = {"WEBHOOK_ALLOW_LOOPBACK": "true", "WEBHOOK_RETRY_SCALE": "0", "POWERTOOLS_LOG_LEVEL": "WARNING"}
    ours: list[float] = []
    floor: list[float] = []
    try:
        with MotoProcess() as moto, harness.quiet_stdout(), harness.server_aws(moto.endpoint, "", overrides) as aws:
            api = harness.load_handler("webhook_endpoints")
            event = harness.api_event("POST", "/webhook-endpoints", body={"url": receiver.url})
            created = api(event, harness.lambda_context("WebhookEndpointsFunction"))
            endpoint_id = json.loads(created["body"])["id"]
            _delivery_block(aws, 20, 0xFFFF, endpoint_id)  # warm-up: clients, resolvers, first connections
            for round_no in range(rounds):
                ours.append(_delivery_block(aws, block, round_no, endpoint_id))
                floor.append(_floor_block(aws, receiver, block, round_no))
    finally:
        receiver.stop()
    return ours, floor


def run(rounds: int = ROUNDS, samples: int = LATENCY_SAMPLES) -> WebhooksResult:
    started = time.monotonic()
    result = WebhooksResult(rounds=rounds)
    result.deliveries_per_s, result.floor_per_s = measure_throughput(rounds)
    result.median_deliveries_per_s = statistics.median(result.deliveries_per_s)
    result.median_floor_per_s = statistics.median(result.floor_per_s)
    result.ratio = result.median_deliveries_per_s / result.median_floor_per_s
    result.latency_ms = measure_latency(samples)
    result.latency_p50_ms = _percentile(result.latency_ms, 0.50)
    result.latency_p99_ms = _percentile(result.latency_ms, 0.99)
    result.seconds = time.monotonic() - started
    return result
