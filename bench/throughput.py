"""Throughput: sustained creates/s and webhook applies/s through the real handlers, against raw ``put_item`` on the
same moto server in the same run (the ratio is our overhead per stored change).

moto runs as a server in its own process (``moto_server`` on a free loopback port), as DynamoDB would be remote;
the handlers run in this process, invoked directly with API Gateway events, against an in-process TrackingMore
sandbox (rate limits off). Work is done in blocks, one kind after the other, for several rounds, so a burst of
load from elsewhere on the machine hits every kind; each rate is the median of its blocks.

Each row is divided by the raw ``put_item`` of the item it writes: creates write a new tracking, applies write a
tracking with the carrier's events (moto's cost grows with the item, so one baseline for both would flatter one
and wrong the other).

* ``raw put_item``: the boto3 Table resource writing the item (the store's own call, without the conditions).
* ``raw single-create work``: what one single create cannot do without, with no code of ours: read the stored
  copy, claim the identity (conditional put), ``POST /trackings/post`` to the sandbox, write the tracking.
* ``raw get_item + conditional put_item``: the DynamoDB work a monotonic apply cannot do without: read the stored
  copy (a new tracking, as the benchmark's webhooks find theirs), write the tracking with its events on the read's
  revision.
* ``raw one-write update_item``: the single conditional ``UpdateItem`` an apply without a read would have to send
  (every carrier attribute set or removed, the bookkeeping and index keys, the monotonic and delivered conditions;
  :func:`one_write_update`). Not used by the store: this row is why (moto's UpdateItem costs per clause).
* ``raw push work``: what one push costs the receiver with no code of ours (a push is a notification, not the
  truth: docs/security.md): read the stored copy, record the push against replays (conditional put), take the
  parcel's read lease (conditional update), ``GET`` TrackingMore's copy from the sandbox, write it on the stored
  copy's revision, release the lease. The floor of the ``webhook apply`` row.
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

import requests

from bench import REPO_ROOT, harness
from local.resources import LOCAL_SECRET_VALUES

TARGET_RATIO = 0.5
RAW_CALLS: dict[str, dict[str, float]] = {
    "raw": {"PutItem": 1.0},
    "raw_applied": {"PutItem": 1.0},
    "raw_apply": {"GetItem": 1.0, "PutItem": 1.0},
    "raw_update": {"UpdateItem": 1.0},
    "raw_create": {"GetItem": 1.0, "PutItem": 2.0},
    "raw_push": {"GetItem": 1.0, "PutItem": 2.0, "UpdateItem": 2.0},
}
WEBHOOK_TOKEN = LOCAL_SECRET_VALUES["webhook_token"]
WEBHOOK_EMAIL = LOCAL_SECRET_VALUES["account_email"]


@dataclass
class Rate:
    kind: str
    unit: str
    median_per_s: float
    ratio: float | None
    blocks_per_s: list[float]
    dynamodb_calls_per_op: dict[str, float] = field(default_factory=dict)
    baseline: str | None = None


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


def _carrier_attributes() -> tuple[str, ...]:
    """The item attributes an upstream copy owns (the resource's carrier fields, stored under the same names)."""
    from shiptrack.models import UPSTREAM_FIELDS

    return tuple(sorted(UPSTREAM_FIELDS))


BOOKKEEPING_SETS = (
    "status_pk",
    "updated_at",
    "last_changed_at",
    "last_checked_at",
    "checked_sk",
    "upstream_version",
    "shipment_fp",
)


def one_write_update(item: dict[str, Any]) -> dict[str, Any]:
    """``update_item`` arguments applying ``item``'s carrier data in one conditional write, as a store that does not
    read first would have to (measured on ``item``'s own key; the values are ``item``'s, so it always succeeds)."""
    carrier_attributes = _carrier_attributes()
    names = {f"#{a}": a for a in (*carrier_attributes, *BOOKKEEPING_SETS, "revision", "fingerprint", "list_pk")}
    names.update({"#terminal_at": "terminal_at", "#terminal_pk": "terminal_pk", "#terminal_sk": "terminal_sk"})
    values: dict[str, Any] = {":listed": "LIST", ":delivered": "delivered", ":one": 1, ":zero": 0, ":other": "-"}
    sets, removes = [], ["#fingerprint", "#terminal_at", "#terminal_pk", "#terminal_sk"]
    for attribute in carrier_attributes:
        if attribute in item:
            sets.append(f"#{attribute} = :{attribute}")
            values[f":{attribute}"] = item[attribute]
        else:
            removes.append(f"#{attribute}")
    for attribute in BOOKKEEPING_SETS:
        sets.append(f"#{attribute} = :{attribute}")
        values[f":{attribute}"] = str(item.get(attribute, "x"))
    sets.append("#revision = if_not_exists(#revision, :zero) + :one")
    conditions = (
        "attribute_exists(pk) AND #list_pk = :listed AND (attribute_not_exists(#upstream_version) OR "
        "#upstream_version <= :upstream_version) AND (attribute_not_exists(#shipment_fp) OR #shipment_fp <> :other) "
        "AND (attribute_not_exists(#last_checked_at) OR #last_checked_at <= :last_checked_at) AND #status <> :delivered"
    )
    return {
        "Key": {"pk": item["pk"]},
        "UpdateExpression": f"SET {', '.join(sets)} REMOVE {', '.join(removes)}",
        "ConditionExpression": conditions,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
        "ReturnValues": "NONE",
    }


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


def _push_events(bodies: list[bytes]) -> list[dict[str, Any]]:
    return [
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


def run(
    rounds: int = 7, *, raw_block: int = 200, create_block: int = 60, batch_requests: int = 3, webhook_block: int = 100
) -> ThroughputResult:
    from shiptrack.models import MAX_BATCH_ITEMS, TrackingRef

    started = time.monotonic()
    samples: dict[str, list[float]] = {
        k: []
        for k in (
            "raw",
            "raw_applied",
            "raw_apply",
            "raw_update",
            "raw_push",
            "raw_create",
            "create",
            "batch",
            "webhook",
        )
    }
    calls: dict[str, dict[str, float]] = {}
    with (
        MotoProcess() as moto,
        harness.sandbox() as sandbox,
        harness.quiet_stdout(),
        harness.server_aws(moto.endpoint, sandbox.base_url) as aws,
    ):
        create = harness.load_handler("trackings")
        webhook = harness.load_handler("webhook")
        table = aws.table("TrackingsTable")
        cache = aws.table("CacheTable")
        upstream = requests.Session()
        context = harness.lambda_context("TrackingsFunction")
        # Warm up: first requests build the resolver's caches, clients, secrets (a cold start is not throughput).
        warm = harness.ups_numbers(2, 90_000_000)
        for number in warm:
            event = harness.api_event("POST", "/trackings", body={"tracking_number": number, "carrier_code": "ups"})
            _check(create(event, context), 201, "warm-up create")
        template_item = table.get_item(Key={"pk": TrackingRef.of("ups", warm[0]).key})["Item"]
        pool = harness.ups_numbers(rounds * webhook_block, 91_000_000)
        for start in range(0, len(pool), MAX_BATCH_ITEMS):  # trackings the webhooks will change (not timed)
            items = [{"tracking_number": n, "carrier_code": "ups"} for n in pool[start : start + MAX_BATCH_ITEMS]]
            _check(create(harness.api_event("POST", "/trackings/batch", body={"items": items}), context), 200, "seed")
        # What a webhook apply writes: a tracking with the carrier's events (the baseline of the apply rows)
        webhook_context = harness.lambda_context("WebhookFunction")
        [spare_push] = _push_events(_changed_pushes(sandbox, [warm[1]]))
        _check(webhook(spare_push, webhook_context), 200, "warm-up webhook")
        applied_item = table.get_item(Key={"pk": TrackingRef.of("ups", warm[1]).key})["Item"]
        if not applied_item.get("checkpoints"):
            raise RuntimeError("the warm-up push left no checkpoints: the apply baseline would be a new tracking")
        serial = 0
        for round_no in range(rounds):
            # raw put_item
            before = time.perf_counter()
            for i in range(raw_block):
                table.put_item(Item={**template_item, "pk": f"RAW#{round_no}#{i}"})
            samples["raw"].append(_rate(raw_block, time.perf_counter() - before))

            # raw put_item of a tracking as a webhook apply leaves it (with its checkpoints)
            before = time.perf_counter()
            for i in range(raw_block):
                table.put_item(Item={**applied_item, "pk": f"RAWA#{round_no}#{i}"})
            samples["raw_applied"].append(_rate(raw_block, time.perf_counter() - before))

            # the DynamoDB work of a monotonic apply, nothing else: read the stored copy (a new tracking, as the
            # webhooks below find theirs), write the tracking with its events on the read's revision
            pairs = max(1, raw_block // 2)
            before = time.perf_counter()
            for i in range(pairs):
                raw_key = {"pk": f"RAW#{round_no}#{i}"}
                current = table.get_item(Key=raw_key, ConsistentRead=True)["Item"]
                table.put_item(
                    Item={**applied_item, **raw_key, "revision": int(current.get("revision", 0)) + 1},
                    ConditionExpression="revision = :rev",
                    ExpressionAttributeValues={":rev": current.get("revision", 0)},
                )
            samples["raw_apply"].append(_rate(pairs, time.perf_counter() - before))

            # the one conditional UpdateItem an apply without a read would send
            updates = [one_write_update({**applied_item, "pk": f"RAWA#{round_no}#{i}"}) for i in range(pairs)]
            before = time.perf_counter()
            for update in updates:
                table.update_item(**update)
            samples["raw_update"].append(_rate(pairs, time.perf_counter() - before))

            # the work alone of one push as the receiver does it (a push is a notification: docs/security.md,
            # "Forged or replayed TrackingMore pushes"): read the stored copy, record the push against replays, take
            # the parcel's read lease, read TrackingMore's copy, write it on the stored copy's revision, release the
            # lease
            numbers = pool[round_no * webhook_block : round_no * webhook_block + min(pairs, webhook_block)]
            now = int(time.time())
            before = time.perf_counter()
            for i, number in enumerate(numbers):
                # a new tracking, as the webhooks find theirs (the apply block above rewrote the first ``pairs``)
                raw_key = {"pk": f"RAW#{round_no}#{pairs + i}"}
                current = table.get_item(Key=raw_key, ConsistentRead=True)["Item"]
                cache.put_item(
                    Item={"pk": f"PUSH#bench#{round_no}#{i}", "expires_at": now + 600},
                    ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
                    ExpressionAttributeValues={":now": now},
                )
                lease = {"pk": f"FETCH#bench#{round_no}#{i}"}
                cache.update_item(
                    Key=lease,
                    UpdateExpression="SET #owner = :me, lease_until = :until, expires_at = :ttl ADD requested :one",
                    ConditionExpression="attribute_not_exists(lease_until) OR lease_until < :now",
                    ExpressionAttributeNames={"#owner": "owner"},
                    ExpressionAttributeValues={
                        ":me": "bench",
                        ":one": 1,
                        ":now": now * 1000,
                        ":until": (now + 30) * 1000,
                        ":ttl": now + 600,
                    },
                    ReturnValues="ALL_NEW",
                )
                upstream.get(f"{sandbox.base_url}/trackings/ups/{number}", headers=sandbox.headers, timeout=10).json()
                table.put_item(
                    Item={**applied_item, **raw_key, "revision": int(current.get("revision", 0)) + 1},
                    ConditionExpression="revision = :rev",
                    ExpressionAttributeValues={":rev": current.get("revision", 0)},
                )
                cache.update_item(
                    Key=lease,
                    UpdateExpression="REMOVE lease_until, #owner",
                    ConditionExpression="#owner = :me AND requested = :seen",
                    ExpressionAttributeNames={"#owner": "owner"},
                    ExpressionAttributeValues={":me": "bench", ":seen": 1},
                )
            samples["raw_push"].append(_rate(len(numbers), time.perf_counter() - before))

            # the work alone of single creates: read, claim, create upstream, write
            numbers = harness.ups_numbers(create_block, 94_000_000 + serial)
            now = int(time.time())
            before = time.perf_counter()
            for number in numbers:
                pk = f"ups#{number}"
                table.get_item(Key={"pk": pk}, ConsistentRead=True)
                cache.put_item(
                    Item={"pk": f"CLAIM#TRACKING#{pk}", "owner": "bench", "expires_at": now + 60},
                    ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
                    ExpressionAttributeValues={":now": now},
                )
                answer = upstream.post(
                    f"{sandbox.base_url}/trackings/post",
                    json={"tracking_number": number, "carrier_code": "ups"},
                    headers=sandbox.headers,
                    timeout=10,
                ).json()
                if answer["meta"]["code"] not in (200, 201):
                    raise RuntimeError(f"sandbox create answered {answer['meta']}")
                table.put_item(Item={**template_item, "pk": pk}, ConditionExpression="attribute_not_exists(pk)")
            samples["raw_create"].append(_rate(len(numbers), time.perf_counter() - before))

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
            push_events = _push_events(_changed_pushes(sandbox, chunk))
            counted = aws.counter.calls.copy()
            before = time.perf_counter()
            outcomes: Counter[str] = Counter()
            for event in push_events:
                response = webhook(event, webhook_context)
                _check(response, 200, "webhook")
                outcomes[json.loads(response["body"])["outcome"]] += 1
            samples["webhook"].append(_rate(len(push_events), time.perf_counter() - before))
            calls["webhook"] = _calls_per_op(aws.counter, counted, len(push_events))
            if outcomes["applied"] != len(push_events):
                raise RuntimeError(f"webhook pushes were not all applied: {dict(outcomes)}")
            print(f"throughput: round {round_no + 1}/{rounds} done", file=sys.stderr, flush=True)
    # (label, unit, the raw put_item row it is divided by: the one writing the same kind of item)
    labels = {
        "raw": ("raw put_item (a new tracking)", "items/s", None),
        "raw_applied": ("raw put_item (a tracking with its carrier events)", "items/s", None),
        "raw_create": ("raw single-create work (get, claim put, upstream create, put)", "creates/s", "raw"),
        "create": ("create (POST /trackings)", "creates/s", "raw"),
        "batch": ("create (POST /trackings/batch, 40/request)", "trackings/s", "raw"),
        "raw_apply": ("raw get_item + conditional put_item (the DynamoDB work of one apply)", "pairs/s", "raw_applied"),
        "raw_update": ("raw one-write update_item (an apply without a read: not used)", "updates/s", "raw_applied"),
        "raw_push": (
            "raw push work (get, replay put, lease update, upstream get, conditional put, lease update)",
            "pushes/s",
            "raw_applied",
        ),
        "webhook": ("webhook apply (POST /webhooks/trackingmore/{token})", "applies/s", "raw_applied"),
    }
    rates = []
    for key, (kind, unit, baseline) in labels.items():
        median = statistics.median(samples[key])
        rates.append(
            Rate(
                kind=kind,
                unit=unit,
                median_per_s=round(median, 1),
                ratio=None if baseline is None else round(median / statistics.median(samples[baseline]), 2),
                blocks_per_s=[round(s, 1) for s in samples[key]],
                dynamodb_calls_per_op=calls.get(key, RAW_CALLS.get(key, {})),
                baseline=None if baseline is None else labels[baseline][0],
            )
        )
    return ThroughputResult(
        rounds=rounds,
        rates=rates,
        moto="moto_server (own process) on a free loopback port",
        seconds=round(time.monotonic() - started, 1),
    )
