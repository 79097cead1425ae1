"""Throughput: sustained creates/s and webhook applies/s through the real handlers, against raw ``put_item`` on the
same moto server in the same run (the ratio is our overhead per stored change).

moto runs as a server in its own process (``moto_server`` on a free loopback port), as DynamoDB would be remote;
the handlers run in this process, invoked directly with API Gateway events, against an in-process TrackingMore
sandbox (rate limits off). Work is done in blocks, one kind after the other, for several rounds, so a burst of
load from elsewhere on the machine hits every kind; each rate is the median of its blocks.

* ``raw put_item``: the boto3 Table resource writing an item of the size of a stored tracking (the store's own
  call, without the conditions).
* ``raw get_item + conditional put_item``: the DynamoDB work a monotonic apply cannot do without (read the stored
  copy, write it back on a revision condition): what the webhook path would reach with zero overhead of ours.
* ``create (POST /trackings)``: one new tracking per request, carrier given.
* ``create (POST /trackings/batch, 40 per request)``: items per second.
* ``webhook apply``: a signed v2 push (``trackingmore.webhooks.sign``) carrying a real change of a stored tracking.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from bench import REPO_ROOT, harness

TARGET_RATIO = 0.5
WEBHOOK_TOKEN = "local-webhook-token"
WEBHOOK_EMAIL = "sandbox@example.com"


@dataclass
class Rate:
    kind: str
    unit: str
    median_per_s: float
    ratio: float | None
    blocks_per_s: list[float]
    dynamodb_calls_per_op: dict[str, float] = field(default_factory=dict)


@dataclass
class ThroughputResult:
    rounds: int
    rates: list[Rate]
    moto: str
    target_ratio: float = TARGET_RATIO
    not_measured: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def met(self) -> dict[str, bool]:
        return {
            rate.kind: rate.ratio >= self.target_ratio
            for rate in self.rates
            if rate.ratio is not None and not rate.kind.startswith("raw")
        }

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["met"] = self.met()
        return data


class MotoProcess:
    """``moto_server`` in a child process on a free port; stopped (SIGTERM, then SIGKILL) on exit."""

    def __init__(self) -> None:
        self.port = harness.free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> MotoProcess:
        executable = REPO_ROOT / ".venv" / "bin" / "moto_server"
        command = ([str(executable)] if executable.exists() else [sys.executable, "-m", "moto.server"]) + [
            "-H",
            "127.0.0.1",
            "-p",
            str(self.port),
        ]
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1) as response:
                    response.read()
                    return self
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.1)
        self.__exit__()
        raise RuntimeError("moto_server did not start")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else 0.0


def _check(response: dict[str, Any], expected: int, what: str) -> None:
    if response["statusCode"] != expected:
        raise RuntimeError(f"{what} answered {response['statusCode']}: {str(response.get('body'))[:400]}")


def _calls_per_op(counter: harness.WriteCounter, before: Counter[tuple[str, str]], ops: int) -> dict[str, float]:
    diff = {f"{op}": 0.0 for (_table, op) in counter.calls}
    for (_table, op), count in counter.calls.items():
        diff[op] += count - before[(_table, op)]
    return {op: round(count / ops, 2) for op, count in sorted(diff.items()) if count}


def _changed_pushes(sandbox: Any, numbers: list[str]) -> list[bytes]:
    """For each number, a signed push carrying a real change (new carrier events) of the sandbox's copy."""
    from trackingmore.webhooks import sign

    engine = sandbox.engine
    bodies = []
    time_str = str(int(time.time()))
    with engine.lock:
        for number in numbers:
            record = engine.find("ups", number)
            if record is None:
                raise RuntimeError(f"sandbox does not hold {number}")
            for hours in (24, 48, 72, 120, 200):
                record.created_sim -= timedelta(hours=hours)
                if engine._refresh(record) and record.snapshot and record.snapshot.events:
                    break
            data = record.full_shape(engine.sim_now)
            body = {
                "meta": {"code": 200, "type": "Success", "message": "Success"},
                "data": data,
                "verifyInfo": {"timeStr": time_str, "signature": sign(time_str, WEBHOOK_EMAIL)},
            }
            bodies.append(json.dumps(body).encode())
    return bodies


def run(
    rounds: int = 5, *, raw_block: int = 200, create_block: int = 40, batch_requests: int = 3, webhook_block: int = 40
) -> ThroughputResult:
    from shiptrack.models import TrackingRef

    started = time.monotonic()
    samples: dict[str, list[float]] = {k: [] for k in ("raw", "raw_apply", "create", "batch", "webhook")}
    calls: dict[str, dict[str, float]] = {}
    with MotoProcess() as moto, harness.sandbox() as sandbox, harness.quiet_stdout():
        server = harness.MotoServer(moto.endpoint, None)
        with harness.server_aws(server, sandbox.base_url) as aws:
            create = harness.load_handler("trackings")
            webhook = harness.load_handler("webhook")
            table = aws.table("TrackingsTable")
            context = harness.lambda_context("TrackingsFunction")
            # Warm up: first requests build the resolver's caches, clients, secrets (a cold start is not throughput).
            warm = harness.ups_numbers(2, 90_000_000)
            for number in warm:
                event = harness.api_event("POST", "/trackings", body={"tracking_number": number, "carrier_code": "ups"})
                _check(create(event, context), 201, "warm-up create")
            template_item = table.get_item(Key={"pk": TrackingRef.of("ups", warm[0]).key})["Item"]
            pool = harness.ups_numbers(rounds * webhook_block, 91_000_000)
            for start in range(0, len(pool), 1000):  # trackings the webhooks will change (not timed)
                items = [{"tracking_number": n, "carrier_code": "ups"} for n in pool[start : start + 1000]]
                _check(
                    create(harness.api_event("POST", "/trackings/batch", body={"items": items}), context), 200, "seed"
                )
            serial = 0
            for round_no in range(rounds):
                # raw put_item
                before = time.perf_counter()
                for i in range(raw_block):
                    table.put_item(Item={**template_item, "pk": f"RAW#{round_no}#{i}"})
                samples["raw"].append(_rate(raw_block, time.perf_counter() - before))

                # the DynamoDB floor of a monotonic apply: a consistent read and a conditional write, nothing else
                pairs = max(1, raw_block // 2)
                before = time.perf_counter()
                for i in range(pairs):
                    raw_key = {"pk": f"RAW#{round_no}#{i}"}
                    current = table.get_item(Key=raw_key, ConsistentRead=True)["Item"]
                    table.put_item(
                        Item={**current, "revision": int(current.get("revision", 0)) + 1},
                        ConditionExpression="revision = :rev",
                        ExpressionAttributeValues={":rev": current.get("revision", 0)},
                    )
                samples["raw_apply"].append(_rate(pairs, time.perf_counter() - before))

                # single creates
                numbers = harness.ups_numbers(create_block, 92_000_000 + serial)
                serial += create_block
                events = [
                    harness.api_event("POST", "/trackings", body={"tracking_number": n, "carrier_code": "ups"})
                    for n in numbers
                ]
                counted = aws.counter.calls.copy()
                before = time.perf_counter()
                for event in events:
                    _check(create(event, context), 201, "create")
                samples["create"].append(_rate(len(events), time.perf_counter() - before))
                calls["create"] = _calls_per_op(aws.counter, counted, len(events))

                # batch creates, 40 per request
                batch_events = []
                for _ in range(batch_requests):
                    numbers = harness.ups_numbers(40, 93_000_000 + serial)
                    serial += 40
                    items = [{"tracking_number": n, "carrier_code": "ups"} for n in numbers]
                    batch_events.append(harness.api_event("POST", "/trackings/batch", body={"items": items}))
                counted = aws.counter.calls.copy()
                before = time.perf_counter()
                for event in batch_events:
                    _check(create(event, context), 200, "batch create")
                samples["batch"].append(_rate(40 * len(batch_events), time.perf_counter() - before))
                calls["batch"] = _calls_per_op(aws.counter, counted, 40 * len(batch_events))

                # webhook applies
                chunk = pool[round_no * webhook_block : (round_no + 1) * webhook_block]
                bodies = _changed_pushes(sandbox, chunk)
                push_events = [
                    harness.api_event(
                        "POST",
                        f"/webhooks/trackingmore/{WEBHOOK_TOKEN}",
                        raw_body=body.decode(),
                        resource="/webhooks/trackingmore/{token}",
                        path_parameters={"token": WEBHOOK_TOKEN},
                        headers={"User-Agent": "TrackingMore-Webhook"},
                    )
                    for body in bodies
                ]
                counted = aws.counter.calls.copy()
                before = time.perf_counter()
                outcomes: Counter[str] = Counter()
                for event in push_events:
                    response = webhook(event, harness.lambda_context("WebhookFunction"))
                    _check(response, 200, "webhook")
                    outcomes[json.loads(response["body"])["outcome"]] += 1
                samples["webhook"].append(_rate(len(push_events), time.perf_counter() - before))
                calls["webhook"] = _calls_per_op(aws.counter, counted, len(push_events))
                if outcomes["applied"] != len(push_events):
                    raise RuntimeError(f"webhook pushes were not all applied: {dict(outcomes)}")
                print(f"throughput: round {round_no + 1}/{rounds} done", file=sys.stderr, flush=True)
    raw = statistics.median(samples["raw"])
    labels = {
        "raw": ("raw put_item", "items/s"),
        "raw_apply": ("raw get_item + conditional put_item (the DynamoDB floor of one apply)", "pairs/s"),
        "create": ("create (POST /trackings)", "creates/s"),
        "batch": ("create (POST /trackings/batch, 40/request)", "trackings/s"),
        "webhook": ("webhook apply (POST /webhooks/trackingmore/{token})", "applies/s"),
    }
    rates = []
    for key, (kind, unit) in labels.items():
        median = statistics.median(samples[key])
        rates.append(
            Rate(
                kind=kind,
                unit=unit,
                median_per_s=round(median, 1),
                ratio=None if key == "raw" else round(median / raw, 2),
                blocks_per_s=[round(s, 1) for s in samples[key]],
                dynamodb_calls_per_op=calls.get(
                    key, {"PutItem": 1.0} if key == "raw" else {"GetItem": 1.0, "PutItem": 1.0}
                ),
            )
        )
    return ThroughputResult(
        rounds=rounds,
        rates=rates,
        moto="moto_server (own process) on a free loopback port",
        seconds=round(time.monotonic() - started, 1),
    )
