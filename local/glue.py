"""What Lambda's event-source mappings and EventBridge schedules would do, for the local function pools.

Each reads an `AWS::Lambda::EventSourceMapping` or a rule of the transformed template (`local.specs`).

* `SqsEventSource`: polls a queue, invokes with up to BatchSize records, deletes what succeeded (all, or all
  but the `batchItemFailures` with `ReportBatchItemFailures`). Messages are received with the queue's own
  visibility timeout, so no batch in flight is received twice. A failed message becomes visible again after
  `retry_seconds` (locally short, so moto's redrive moves a poison message to the DLQ quickly) — unless the
  function set its visibility itself (ChangeMessageVisibility, a retry schedule): as on AWS, that stands
  (`local.moto_patches`). Up to `ScalingConfig.MaximumConcurrency` batches (at most the function's concurrency)
  are in flight at once.
* `StreamEventSource`: polls every shard of a DynamoDB stream from StartingPosition, gathers a shard's records
  (those its FilterCriteria keep) until BatchSize or `MaximumBatchingWindowInSeconds`, invokes in order,
  retries a failing batch (`MaximumRetryAttempts`, `MaximumRecordAgeInSeconds`), bisects it
  (`BisectBatchOnFunctionError`), honours `ReportBatchItemFailures`, and sends a failure record to
  `DestinationConfig.OnFailure` (an SQS queue) when it gives up.
* `QueueInvokeSource`: EventBridge rules whose target is a function deliver to a local queue; this invokes the
  function asynchronously with each event (retried as its EventInvokeConfig says, 2 times by default).
* `Scheduler`: rules with a ScheduleExpression and Scheduler schedules fire every `interval` seconds (not on their
  own expression).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from local.functions import FunctionPool, InvokeResult, PoolClosedError, ThrottledError
from local.moto_patches import LOCAL_RETRY_HEADER
from local.specs import EventSourceMappingSpec, RuleSpec

Log = Callable[[str], None]


def _jsonable(value: Any) -> Any:
    """boto3 output → the JSON Lambda would get (bytes → base64, datetimes → epoch seconds)."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return value


def _matches_filters(filter_criteria: Any, record: dict[str, Any], body_key: str | None) -> bool:
    """Lambda event filtering (FilterCriteria): a record passes when any pattern matches."""
    patterns = [f.get("Pattern") for f in (filter_criteria or {}).get("Filters") or []]
    if not patterns:
        return True
    from moto.events.models import EventPattern

    subject = dict(record)
    if body_key and isinstance(subject.get(body_key), str):
        with contextlib.suppress(ValueError):
            subject[body_key] = json.loads(subject[body_key])
    for pattern in patterns:
        matcher = EventPattern.load(pattern if isinstance(pattern, str) else json.dumps(pattern))
        if matcher.matches_event(cast(Any, subject)):
            return True
    return False


def _mark_local_retry(request: Any, **_: Any) -> None:
    request.headers[LOCAL_RETRY_HEADER] = "1"


class _Poller:
    def __init__(self, name: str, log: Log) -> None:
        self.name = name
        self.log = log
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run_forever, daemon=True, name=name)
        self.ready = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _run_forever(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                self.run()
                return
            except PoolClosedError:
                return
            except Exception as exc:  # keep polling through moto hiccups, like Lambda's pollers
                if self._stop.is_set():
                    return
                self.log(f"{self.name}: {type(exc).__name__}: {exc}; retrying in {backoff:.1f} s")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10)

    def run(self) -> None:
        raise NotImplementedError


class SqsEventSource(_Poller):
    def __init__(
        self,
        pool: FunctionPool,
        mapping: EventSourceMappingSpec,
        *,
        queue_url: str,
        queue_arn: str,
        sqs: Any,
        region: str,
        retry_seconds: int,
        log: Log,
    ) -> None:
        super().__init__(f"sqs:{pool.spec.logical_id}.{mapping.name}", log)
        props = mapping.properties
        self.pool = pool
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.sqs = sqs
        self.region = region
        self.batch_size = int(props.get("BatchSize", 10))
        self.window = float(props.get("MaximumBatchingWindowInSeconds", 0))
        self.report_failures = "ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or [])
        self.filters = props.get("FilterCriteria")
        self.retry_seconds = retry_seconds
        maximum = (props.get("ScalingConfig") or {}).get("MaximumConcurrency")
        self.concurrency = min(pool.max_concurrency, int(maximum)) if maximum else pool.max_concurrency
        self._slots = threading.BoundedSemaphore(self.concurrency)
        # Our quick retries are the only ChangeMessageVisibilityBatch calls on this client: mark them as ours, so a
        # visibility the function set stands against them (local.moto_patches).
        sqs.meta.events.register(
            "before-sign.sqs.ChangeMessageVisibilityBatch", _mark_local_retry, unique_id=LOCAL_RETRY_HEADER
        )

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        attributes = {}
        for name, value in (message.get("MessageAttributes") or {}).items():
            attributes[name] = {
                "stringValue": value.get("StringValue"),
                "binaryValue": _jsonable(value["BinaryValue"]) if "BinaryValue" in value else None,
                "stringListValues": value.get("StringListValues", []),
                "binaryListValues": _jsonable(value.get("BinaryListValues", [])),
                "dataType": value.get("DataType"),
            }
            attributes[name] = {k: v for k, v in attributes[name].items() if v is not None}
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message.get("Body", ""),
            "attributes": message.get("Attributes", {}),
            "messageAttributes": attributes,
            "md5OfBody": message.get("MD5OfBody"),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": self.region,
        }

    def _receive(self, wait: int, count: int) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=max(1, min(10, count)),
            WaitTimeSeconds=wait,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages", []))

    def run(self) -> None:
        self.ready.set()
        while not self.stopping:
            # A batch is only received when a slot is free: its visibility timeout must not tick in a queue of ours.
            if not self._slots.acquire(timeout=0.5):
                continue
            try:
                messages = self._receive(1, self.batch_size)
            except Exception:
                self._slots.release()
                raise
            if not messages:
                self._slots.release()
                continue
            deadline = time.monotonic() + self.window
            while len(messages) < self.batch_size and not self.stopping:
                more = self._receive(0, self.batch_size - len(messages))
                if more:
                    messages.extend(more)
                elif time.monotonic() >= deadline:
                    break
                else:
                    self._stop.wait(0.1)
            threading.Thread(target=self._handle_in_slot, args=(messages,), daemon=True, name=self.name).start()

    def _handle_in_slot(self, messages: list[dict[str, Any]]) -> None:
        try:
            self._handle(messages)
        except PoolClosedError:
            pass
        except Exception as exc:  # moto hiccup: the messages come back after their visibility timeout
            self.log(f"{self.name}: {type(exc).__name__}: {exc}")
        finally:
            self._slots.release()

    def _handle(self, messages: list[dict[str, Any]]) -> None:
        records = [self._record(m) for m in messages]
        passing = [r for r in records if _matches_filters(self.filters, r, "body")]
        dropped = [r for r in records if r not in passing]
        self._delete(dropped)  # Lambda deletes messages that match no filter
        if not passing:
            return
        try:
            result = self.pool.invoke({"Records": passing})
        except ThrottledError:
            self._retry_later(passing)
            return
        failed = self._failed(result, passing)
        if failed:
            self.log(f"{self.name}: {len(failed)} of {len(passing)} message(s) failed; they will be retried")
        self._delete([r for r in passing if r not in failed])
        self._retry_later(failed)

    def _failed(self, result: InvokeResult, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not result.ok:
            return records
        if not self.report_failures or not isinstance(result.payload, dict):
            return []
        items = result.payload.get("batchItemFailures")
        if not items:
            return []
        ids = {r["messageId"] for r in records}
        failed_ids = set()
        for item in items:
            identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
            if not identifier or identifier not in ids:
                return records  # an invalid report fails the whole batch, as on Lambda
            failed_ids.add(identifier)
        return [r for r in records if r["messageId"] in failed_ids]

    def _delete(self, records: list[dict[str, Any]]) -> None:
        for start in range(0, len(records), 10):
            chunk = records[start : start + 10]
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(chunk)],
            )

    def _retry_later(self, records: list[dict[str, Any]]) -> None:
        for start in range(0, len(records), 10):
            chunk = records[start : start + 10]
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": r["receiptHandle"], "VisibilityTimeout": self.retry_seconds}
                    for i, r in enumerate(chunk)
                ],
            )


class StreamEventSource(_Poller):
    def __init__(
        self,
        pool: FunctionPool,
        mapping: EventSourceMappingSpec,
        *,
        stream_arn: str,
        streams: Any,
        sqs: Any,
        region: str,
        log: Log,
    ) -> None:
        super().__init__(f"stream:{pool.spec.logical_id}.{mapping.name}", log)
        props = mapping.properties
        self.pool = pool
        self.stream_arn = stream_arn
        self.streams = streams
        self.sqs = sqs
        self.region = region
        self.batch_size = int(props.get("BatchSize", 100))
        self.window = float(props.get("MaximumBatchingWindowInSeconds", 0))
        self.starting_position = str(props.get("StartingPosition", "LATEST"))
        self.bisect = str(props.get("BisectBatchOnFunctionError", "false")).lower() == "true"
        self.max_retries = int(props.get("MaximumRetryAttempts", -1))
        self.max_age = int(props.get("MaximumRecordAgeInSeconds", -1))
        self.report_failures = "ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or [])
        self.filters = props.get("FilterCriteria")
        self.on_failure = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        self._iterators: dict[str, str | None] = {}
        self._on_failure_url: str | None = None

    # -- polling -----------------------------------------------------------------------------------

    def run(self) -> None:
        last_describe = 0.0
        shard_ids: list[str] = []
        # Lambda gathers a shard's records until the batch is full or MaximumBatchingWindowInSeconds has passed since
        # the first of them, then invokes: (records, when the first arrived) per shard.
        gathered: dict[str, tuple[list[dict[str, Any]], float]] = {}
        while not self.stopping:
            if time.monotonic() - last_describe > 5 or not shard_ids:
                shard_ids = self._refresh_shards()
                last_describe = time.monotonic()
                self.ready.set()
            invoked = False
            for shard_id in shard_ids:
                iterator = self._iterators.get(shard_id)
                if iterator:
                    page = self.streams.get_records(ShardIterator=iterator, Limit=1000)
                    self._iterators[shard_id] = page.get("NextShardIterator")
                    records = [self._record(r) for r in page.get("Records", [])]
                    records = [r for r in records if _matches_filters(self.filters, r, None)]
                    if records:
                        earlier, since = gathered.get(shard_id, ([], time.monotonic()))
                        gathered[shard_id] = (earlier + records, since)
                records, since = gathered.get(shard_id, ([], 0.0))
                if records and (len(records) >= self.batch_size or time.monotonic() - since >= self.window):
                    del gathered[shard_id]
                    invoked = True
                    self._handle(shard_id, records)
                if self.stopping:
                    return
            if not invoked:
                self._stop.wait(0.25)

    def _refresh_shards(self) -> list[str]:
        description = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        ids = []
        for shard in description.get("Shards", []):
            shard_id = shard["ShardId"]
            ids.append(shard_id)
            if shard_id not in self._iterators:
                kind = self.starting_position if self.starting_position in ("TRIM_HORIZON", "LATEST") else "LATEST"
                self._iterators[shard_id] = self.streams.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=shard_id, ShardIteratorType=kind
                )["ShardIterator"]
        return ids

    def _record(self, raw: dict[str, Any]) -> dict[str, Any]:
        record = _jsonable(raw)
        record.setdefault("eventVersion", "1.1")
        record.setdefault("eventSource", "aws:dynamodb")
        record["awsRegion"] = self.region
        record["eventSourceARN"] = self.stream_arn
        return dict(record)

    # -- one batch, Lambda's error handling --------------------------------------------------------

    def _handle(self, shard_id: str, records: list[dict[str, Any]]) -> None:
        for start in range(0, len(records), self.batch_size):
            if self.stopping:
                return
            self._process(shard_id, records[start : start + self.batch_size])

    def _process(self, shard_id: str, records: list[dict[str, Any]]) -> None:
        attempts = 0
        while records and not self.stopping:
            records = self._drop_expired(shard_id, records, attempts)
            if not records:
                return
            try:
                result = self.pool.invoke({"Records": records})
            except ThrottledError:
                self._stop.wait(1)
                continue
            failed_from = self._failed_from(result, records)
            if failed_from is None:
                return
            attempts += 1
            remaining = records[failed_from:]
            reason = (
                result.payload.get("errorType")
                if not result.ok and isinstance(result.payload, dict)
                else "item failure"
            )
            if self.bisect and len(remaining) > 1:
                self.log(f"{self.name}: batch of {len(remaining)} failed ({reason}); bisecting")
                middle = len(remaining) // 2
                self._process(shard_id, remaining[:middle])
                self._process(shard_id, remaining[middle:])
                return
            if 0 <= self.max_retries < attempts:
                self.log(f"{self.name}: {len(remaining)} record(s) failed {attempts} time(s) ({reason}); giving up")
                self._send_failure(shard_id, remaining, attempts, "RetryAttemptsExhausted", result)
                return
            self.log(f"{self.name}: {len(remaining)} record(s) failed ({reason}); retry {attempts}")
            self._stop.wait(min(0.5 * 2 ** (attempts - 1), 10))
            records = remaining

    def _failed_from(self, result: InvokeResult, records: list[dict[str, Any]]) -> int | None:
        """Index of the first record to retry, None when the batch succeeded."""
        if not result.ok:
            return 0
        if not self.report_failures or not isinstance(result.payload, dict):
            return None
        items = result.payload.get("batchItemFailures")
        if not items:
            return None
        sequence = [r["dynamodb"]["SequenceNumber"] for r in records]
        positions = []
        for item in items:
            identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
            if identifier not in sequence:
                return 0  # an invalid report fails the whole batch
            positions.append(sequence.index(identifier))
        return min(positions)

    def _drop_expired(self, shard_id: str, records: list[dict[str, Any]], attempts: int) -> list[dict[str, Any]]:
        if self.max_age < 0:
            return records
        now = time.time()
        expired = [
            r for r in records if now - float(r["dynamodb"].get("ApproximateCreationDateTime", now)) > self.max_age
        ]
        if expired:
            self._send_failure(shard_id, expired, attempts, "RecordAgeExceeded", None)
        return [r for r in records if r not in expired]

    def _send_failure(
        self, shard_id: str, records: list[dict[str, Any]], attempts: int, condition: str, result: InvokeResult | None
    ) -> None:
        if not self.on_failure:
            self.log(f"{self.name}: {len(records)} record(s) dropped ({condition}); no OnFailure destination")
            return
        if ":sqs:" not in self.on_failure:
            self.log(f"{self.name}: OnFailure destination {self.on_failure} is not an SQS queue; dropped")
            return
        if self._on_failure_url is None:
            self._on_failure_url = self.sqs.get_queue_url(QueueName=self.on_failure.rsplit(":", 1)[1])["QueueUrl"]
        created = [float(r["dynamodb"].get("ApproximateCreationDateTime", time.time())) for r in records]
        body = {
            "requestContext": {
                "requestId": result.request_id if result else str(uuid.uuid4()),
                "functionArn": self.pool.spec.arn,
                "condition": condition,
                "approximateInvokeCount": attempts,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": result.function_error if result else None,
            },
            "version": "1.0",
            "timestamp": _iso(time.time()),
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(min(created)),
                "approximateArrivalOfLastRecord": _iso(max(created)),
                "batchSize": len(records),
                "streamArn": self.stream_arn,
            },
        }
        self.sqs.send_message(QueueUrl=self._on_failure_url, MessageBody=json.dumps(body))


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class QueueInvokeSource(_Poller):
    """Events delivered to a local queue by an EventBridge rule → asynchronous invocations of a function."""

    def __init__(
        self, pool: FunctionPool, name: str, *, queue_url: str, sqs: Any, retry_seconds: int, log: Log
    ) -> None:
        super().__init__(f"rule:{pool.spec.logical_id}.{name}", log)
        self.max_attempts = 1 + pool.spec.async_retries  # Lambda's async invocation: the first try and its retries
        self.pool = pool
        self.queue_url = queue_url
        self.sqs = sqs
        self.retry_seconds = retry_seconds

    def run(self) -> None:
        self.ready.set()
        while not self.stopping:
            messages = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, AttributeNames=["All"]
            ).get("Messages", [])
            for message in messages:
                if self.stopping:
                    return
                self._handle(message)

    def _handle(self, message: dict[str, Any]) -> None:
        try:
            event = json.loads(message["Body"])
        except ValueError:
            event = message["Body"]
        attempt = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        try:
            result = self.pool.invoke(event)
            ok = result.ok
        except ThrottledError:
            ok = False
        if ok or attempt >= self.max_attempts:
            if not ok:
                self.log(f"{self.name}: event failed {attempt} time(s); dropped")
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        else:
            self.sqs.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=self.retry_seconds
            )


@dataclass(frozen=True)
class ScheduleJob:
    """A schedule that fires a function: a rule's ScheduleExpression target, or an EventBridge Scheduler schedule."""

    pool: FunctionPool
    rule: RuleSpec
    target: dict[str, Any]

    @property
    def key(self) -> tuple[str, str]:
        return self.pool.spec.logical_id, self.rule.logical_id

    @property
    def enabled(self) -> bool:
        return self.rule.state.upper() == "ENABLED"


def scheduled_event(job: ScheduleJob, region: str, account_id: str) -> Any:
    """The payload EventBridge (a rule's schedule) or EventBridge Scheduler sends a function: the target's Input,
    else the scheduled event."""
    raw_input = job.target.get("Input")
    if raw_input is not None:
        try:
            return json.loads(raw_input) if isinstance(raw_input, str) else raw_input
        except ValueError:
            return raw_input
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler" if job.rule.scheduler else "aws.events",
        "account": account_id,
        "time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [job.rule.arn],
        "detail": {},
    }


class Scheduler(_Poller):
    """Fires every enabled schedule each `interval` seconds (first after one interval)."""

    def __init__(self, jobs: list[ScheduleJob], *, interval: float, region: str, account_id: str, log: Log) -> None:
        super().__init__("scheduler", log)
        self.jobs = [job for job in jobs if job.enabled]
        self.interval = interval
        self.region = region
        self.account_id = account_id
        self._running: dict[tuple[str, str], threading.Thread] = {}

    def run(self) -> None:
        self.ready.set()
        if self.interval <= 0 or not self.jobs:
            return
        next_fire = time.monotonic() + self.interval
        while not self._stop.wait(max(0.0, next_fire - time.monotonic())):
            next_fire += self.interval
            for job in self.jobs:
                self.fire(job)

    def fire(self, job: ScheduleJob, wait: bool = False) -> InvokeResult | None:
        """Invoke one schedule now (skipped while its previous run is still going)."""
        key = job.key
        running = self._running.get(key)
        if running is not None and running.is_alive():
            self.log(f"schedule {key[0]}.{key[1]}: previous run still going; skipped")
            return None
        outcome: list[InvokeResult] = []

        def run() -> None:
            try:
                result = job.pool.invoke(scheduled_event(job, self.region, self.account_id))
            except (ThrottledError, PoolClosedError) as exc:
                self.log(f"schedule {key[0]}.{key[1]}: {type(exc).__name__}")
                return
            outcome.append(result)
            if not result.ok:
                self.log(f"schedule {key[0]}.{key[1]} failed: {result.payload}")

        thread = threading.Thread(target=run, daemon=True, name=f"schedule-{key[0]}")
        self._running[key] = thread
        thread.start()
        if wait:
            thread.join()
            return outcome[0] if outcome else None
        return None
