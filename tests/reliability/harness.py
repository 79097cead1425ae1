"""The whole service in one process, for the reliability and fuzz suites (no tests here).

``System`` drives the real Lambda handlers (functions/*/app.py) on in-process moto (the ``aws`` fixture) against the
TrackingMore sandbox (the ``sandbox`` fixture), the way Lambda, API Gateway, SQS and the stream poller would:

* ``api(...)`` — TrackingsFunction / RealtimeFunction with an API Gateway REST proxy event;
* ``push(...)`` / ``webhook_raw(...)`` — WebhookFunction with a (signed) TrackingMore push;
* ``orders(...)`` — OrderEventsFunction with SQS records;
* ``refresh()`` — RefreshFunction with the scheduled event;
* ``ledger`` — the table's stream driven through PublisherFunction, 100 records per invocation, onto the bus;
  ``ledger.check(items)`` asserts exactly one event per visible change and that subscribers converge on the
  stored state (see :class:`EventLedger`).

Every TrackingMore client built during a test skips the sleeps between retries and the client-side pacing, and
uses short timeouts, so fault tests run fast; every retry decision is the production one.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any

import pytest

from local.resources import LOCAL_SECRET_VALUES
from shiptrack import runtime
from shiptrack.data.codec import tracking_from_item
from shiptrack.data.trackings import TrackingsRepository
from shiptrack.models import TrackingRef
from shiptrack.settings import clear_caches
from tests.integration.events_support import fresh_function, load_event
from tests.integration.test_trackings_support import event as api_event
from tests.lambda_context import LambdaContext
from trackingmore import TrackingMoreClient
from trackingmore.webhooks import sign

__all__ = [
    "API_TIMEOUT",
    "EMAIL",
    "FAULT_KINDS",
    "TOKEN",
    "EventLedger",
    "Reply",
    "SimulatedCrash",
    "System",
    "dynamodb_key_limits",
    "system",
]

EMAIL = LOCAL_SECRET_VALUES["account_email"]
TOKEN = LOCAL_SECRET_VALUES["webhook_token"]
FAULT_KINDS = ("http_500", "http_503", "timeout", "meta_429", "malformed_json", "connection_reset")
#: (connect, read) timeouts of the test client. The sandbox's ``timeout`` fault sleeps FAULT_TIMEOUT_S, longer
#: than the read timeout, so the client's own read timeout fires (as against a hung TrackingMore).
API_TIMEOUT = (2.0, 0.5)
FAULT_TIMEOUT_S = 0.8

CREATE = "POST /trackings/post"
BATCH = "POST /trackings/batch"

# Stream-image attributes that are the store's bookkeeping or index keys, not part of what a subscriber sees.
_BOOKKEEPING = frozenset(
    {
        "revision",
        "upstream_version",
        "fingerprint",
        "last_realtime_at",
        "terminal_at",
        "expires_at",
        "created_by",
        "list_pk",
        "created_sk",
        "status_pk",
        "carrier_pk",
        "order_pk",
        "active_pk",
        "checked_sk",
        "terminal_pk",
        "terminal_sk",
    }
)
# Resource timestamps that move on every look upstream or every write (never an event on their own).
_VOLATILE = frozenset({"updated_at", "last_checked_at", "last_changed_at"})


class SimulatedCrash(BaseException):
    """The execution environment dies here (killed, out of memory, timed out): a BaseException, so no handler,
    error map or batch processor of ours can catch it; only what Lambda and the event sources do happens next."""


def _no_sleep(_seconds: float) -> None:
    return None


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any


def _reply(response: Mapping[str, Any]) -> Reply:
    headers = {k: v[-1] for k, v in (response.get("multiValueHeaders") or {}).items()}
    headers.update(response.get("headers") or {})
    raw = response.get("body")
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = raw
    return Reply(int(response["statusCode"]), headers, body)


def _plain(value: Any) -> Any:
    """A deserialised DynamoDB value as plain JSON-like data (Decimal → int/float, sets → sorted lists)."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(_plain(v) for v in value)
    return value


def _image(raw: Mapping[str, Any] | None) -> dict[str, Any] | None:
    from boto3.dynamodb.types import TypeDeserializer

    if not raw:
        return None
    deserializer = TypeDeserializer()
    return {name: _plain(deserializer.deserialize(value)) for name, value in raw.items()}


def _visible(image: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in image.items() if k not in _BOOKKEEPING and k not in _VOLATILE}


def expected_events(record: Mapping[str, Any]) -> list[str]:
    """The detail-types a stream record must produce, decided from the images alone (docs/architecture.md).

    Deliberately independent of the publisher's own code: INSERT → Created; REMOVE → nothing; MODIFY → Status
    Changed when status/substatus moved, Archived when the lifecycle became archived, otherwise Updated when any
    attribute a subscriber sees changed, otherwise nothing.
    """
    name = record["eventName"]
    old = _image(record["dynamodb"].get("OldImage"))
    new = _image(record["dynamodb"].get("NewImage"))
    if name == "INSERT":
        return ["Tracking Created"]
    if name != "MODIFY" or old is None or new is None:
        return []
    types = []
    if (old.get("status"), old.get("substatus")) != (new.get("status"), new.get("substatus")):
        types.append("Tracking Status Changed")
    if new.get("lifecycle") == "archived" and old.get("lifecycle") != "archived":
        types.append("Tracking Archived")
    if not types and _visible(old) != _visible(new):
        types.append("Tracking Updated")
    return types


def _jsonable(value: Any) -> Any:
    import base64

    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(type(value).__name__)


class RecordingEvents:
    """The publisher's EventBridge client: every PutEvents goes to the (moto) bus, and each entry the bus accepted
    is recorded as the event a subscriber receives. (A bus → SQS tap would show the same events, but moto's SQS
    makes that quadratic in the queue length, minutes for a few thousand events.)"""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.accepted: list[dict[str, Any]] = []
        self.put_calls = 0
        #: When set, called after a PutEvents the bus accepted (the crash-safety suite kills the publisher there).
        self.after_put: Callable[[], None] | None = None

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.put_calls += 1
        response: dict[str, Any] = self.client.put_events(Entries=Entries)
        for entry, outcome in zip(Entries, response.get("Entries") or [], strict=False):
            if outcome.get("EventId") and not outcome.get("ErrorCode"):
                self.accepted.append(
                    {
                        "id": outcome["EventId"],
                        "source": entry["Source"],
                        "detail-type": entry["DetailType"],
                        "detail": json.loads(entry["Detail"]),
                        "bus": entry.get("EventBusName"),
                    }
                )
        if self.after_put is not None:
            self.after_put()
        return response


class EventLedger:
    """The stream → PublisherFunction → bus path, and the bookkeeping to prove no event is lost or doubled."""

    def __init__(self, aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.aws = aws
        self.monkeypatch = monkeypatch
        self.reader = aws.stream_reader()
        self.bus = RecordingEvents(aws.events)
        self.records: list[dict[str, Any]] = []
        self.invocations = 0

    @property
    def events(self) -> list[dict[str, Any]]:
        return self.bus.accepted

    def publish(self, *, batch_size: int = 100, max_rounds: int = 20) -> None:
        """Run the publisher over every stream record written since the last call, like Lambda's poller: batches
        of ``batch_size``; a reported failure is retried from the failed record on (bounded)."""
        records = json.loads(json.dumps(self.reader.read(), default=_jsonable))
        for record in records:
            record.setdefault("eventSource", "aws:dynamodb")
        self.records += records
        publisher = fresh_function("publisher")
        self.monkeypatch.setattr(runtime, "events_client", lambda: self.bus)
        start = 0
        rounds = 0
        while start < len(records):
            batch = records[start : start + batch_size]
            self.invocations += 1
            try:
                response = publisher.lambda_handler(
                    {"Records": batch}, LambdaContext(function_name="PublisherFunction")
                )
            except (Exception, SimulatedCrash):  # a failed invocation: Lambda retries the whole batch
                rounds += 1
                assert rounds <= max_rounds, "the publisher keeps failing"
                continue
            failures = [f["itemIdentifier"] for f in response["batchItemFailures"]]
            if failures:
                rounds += 1
                assert rounds <= max_rounds, f"the publisher keeps failing: {failures[:3]}"
                sequence = [r["dynamodb"]["SequenceNumber"] for r in batch]
                start += sequence.index(failures[0])
                continue
            start += len(batch)

    def check(self, items: Mapping[str, Mapping[str, Any]], *, redelivered: bool = False) -> None:
        """Exactly one event per visible change (none lost, none doubled), and each stored tracking's last event
        carries the stored tracking (what subscribers end up believing is what we hold).

        ``redelivered``: the publisher was retried after sending, so some events went out twice (at least once is
        the contract); then every copy must carry the same ``event_id``, so that deduplicating on it leaves
        exactly one event per change.
        """
        self.publish()
        ids = [event["detail"]["event_id"] for event in self.events]
        doubled = [event_id for event_id, count in Counter(ids).items() if count > 1]
        unique = list({event["detail"]["event_id"]: event for event in self.events}.values())
        if redelivered:
            assert doubled, "nothing was delivered twice: the scenario did not redeliver"
            for event_id in doubled:
                copies = {json.dumps(e, sort_keys=True) for e in self.events if e["detail"]["event_id"] == event_id}
                assert len({json.dumps({**json.loads(c), "id": None}, sort_keys=True) for c in copies}) == 1
        else:
            assert not doubled, f"{len(doubled)} events delivered more than once"
        expected = Counter(t for record in self.records for t in expected_events(record))
        got = Counter(event["detail-type"] for event in unique)
        assert got == expected, f"events per type {dict(got)} != changes per type {dict(expected)}"
        assert all(event["source"] == "shiptrack" for event in self.events)
        assert {event["bus"] for event in self.events} <= {self.aws.event_bus_name}
        # Subscribers converge on the stored state: the event of each tracking's last visible change is it.
        last_visible: dict[str, dict[str, Any]] = {}
        for record in self.records:
            if expected_events(record):
                new = _image(record["dynamodb"]["NewImage"])
                assert new is not None
                last_visible[str(new["pk"])] = new
        by_pk: dict[str, list[dict[str, Any]]] = {}
        for event in unique:
            tracking = event["detail"]["tracking"]
            by_pk.setdefault(f"{tracking['carrier_code']}#{tracking['tracking_number']}", []).append(event)
        for pk, item in items.items():
            assert pk in last_visible, f"{pk} is stored but no event ever announced it"
            stored = tracking_from_item(item).model_dump(mode="json", exclude={"last_checked_at"})
            announced = [e["detail"]["tracking"] for e in by_pk.get(pk, [])]
            newest = tracking_from_item(last_visible[pk]).model_dump(mode="json", exclude={"last_checked_at"})
            assert newest == stored, f"{pk}: the last visible change is not the stored state"
            assert any({k: v for k, v in t.items() if k != "last_checked_at"} == stored for t in announced), pk

    def created_events(self) -> Counter[str]:
        """How many ``Tracking Created`` events each tracking got."""
        return Counter(
            f"{e['detail']['tracking']['carrier_code']}#{e['detail']['tracking']['tracking_number']}"
            for e in self.events
            if e["detail-type"] == "Tracking Created"
        )


class WebhookBridge:
    """An HTTP endpoint for the sandbox's pushes that hands each one to WebhookFunction, like API Gateway would."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.statuses: list[int] = []
        self._lock = threading.Lock()
        bridge = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                token = self.path.rstrip("/").rsplit("/", 1)[-1]
                reply = bridge.system.webhook_raw(body.decode("utf-8", "replace"), token=token)
                with bridge._lock:
                    bridge.statuses.append(reply.status)
                self.send_response(reply.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1/webhooks/trackingmore/{TOKEN}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class System:
    """The functions on moto + the sandbox; see the module docstring."""

    aws: Any
    sandbox: Any
    monkeypatch: pytest.MonkeyPatch
    functions: dict[str, ModuleType] = field(default_factory=dict)
    ledger: EventLedger | None = None
    _webhook_lock: threading.Lock = field(default_factory=threading.Lock)
    _bridge: WebhookBridge | None = None

    # -- set-up ----------------------------------------------------------------------------------------------------

    def start(self) -> System:
        self.monkeypatch.setenv("TRACKINGMORE_BASE_URL", self.sandbox.base_url)
        self._fast_clients()
        self.reload()
        self.ledger = EventLedger(self.aws, self.monkeypatch)
        return self

    def reload(self) -> None:
        """(Re)load every function with settings and cached clients cleared."""
        clear_caches()
        runtime.clear()
        for name in ("trackings", "realtime", "webhook", "order_events", "refresh", "publisher"):
            self.functions[name] = fresh_function(name)

    def _fast_clients(self) -> None:
        """Every TrackingMore client built during the test waits for nothing between retries and paces nothing (the
        retry decisions are the production ones), and uses short timeouts, so fault tests run fast."""
        original = TrackingMoreClient.__init__

        def init(client: TrackingMoreClient, api_key: str, **kwargs: Any) -> None:
            kwargs.setdefault("sleep", _no_sleep)
            kwargs.setdefault("timeout", API_TIMEOUT)
            original(client, api_key, **kwargs)

        self.monkeypatch.setattr(TrackingMoreClient, "__init__", init)

    def set_env(self, name: str, value: str) -> None:
        self.monkeypatch.setenv(name, value)
        self.reload()

    def faults(self, rate: float, kinds: list[str] | tuple[str, ...] = FAULT_KINDS, **extra: Any) -> None:
        self.sandbox.set_faults(error_rate=rate, kinds=list(kinds), timeout_s=FAULT_TIMEOUT_S, **extra)

    def close(self) -> None:
        if self._bridge is not None:
            self.sandbox.configure(webhook_url=None)
            self._bridge.close()
        clear_caches()
        runtime.clear()

    # -- invoking the functions ------------------------------------------------------------------------------------

    def api(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
        raw_body: str | None = None,
        remaining_ms: int = 29_000,
    ) -> Reply:
        name = "realtime" if path == "/trackings/realtime" else "trackings"
        evt = api_event(method, path, body=body, headers=headers, query=query, raw_body=raw_body)
        context = LambdaContext(function_name=f"{name.capitalize()}Function", remaining=lambda: remaining_ms)
        return _reply(self.functions[name].lambda_handler(evt, context))

    def webhook_raw(self, body: str, *, token: str = TOKEN, base64_body: bool = False) -> Reply:
        evt = load_event("webhook/push_valid.json")
        evt["body"] = body
        evt["isBase64Encoded"] = base64_body
        evt["pathParameters"] = {"token": token}
        evt["path"] = f"/webhooks/trackingmore/{token}"
        # One WebhookFunction environment handles one request at a time (as on Lambda).
        with self._webhook_lock:
            response = self.functions["webhook"].lambda_handler(evt, LambdaContext(function_name="WebhookFunction"))
        return _reply(response)

    def push(self, tracking: Mapping[str, Any], *, sent_at: datetime | None = None) -> Reply:
        """A correctly signed, fresh v2 push carrying ``tracking``."""
        time_str = str(int((sent_at or datetime.now(UTC)).timestamp()))
        verify = {"timeStr": time_str, "signature": sign(time_str, EMAIL)}
        body = {"meta": {"code": 200}, "data": tracking, "verifyInfo": verify}
        return self.webhook_raw(json.dumps(body))

    def bridge(self) -> WebhookBridge:
        """Point the sandbox's webhooks at WebhookFunction (through a local HTTP bridge)."""
        if self._bridge is None:
            self._bridge = WebhookBridge(self)
            self.sandbox.configure(webhook_url=self._bridge.url)
        return self._bridge

    def orders(self, bodies: list[str], *, receive_count: int = 1) -> tuple[dict[str, Any], list[str]]:
        """OrderEventsFunction over one SQS batch; returns the response and the message ids."""
        arn = self.aws.names.queues["OrderEventsQueue"].arn
        records = []
        ids = []
        for index, body in enumerate(bodies):
            message_id = f"msg-{index}-{len(body)}"
            ids.append(message_id)
            records.append(
                {
                    "messageId": message_id,
                    "receiptHandle": f"rh-{index}",
                    "body": body,
                    "attributes": {
                        "ApproximateReceiveCount": str(receive_count),
                        "SentTimestamp": "1795356000000",
                        "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                        "ApproximateFirstReceiveTimestamp": "1795356000100",
                    },
                    "messageAttributes": {},
                    "md5OfBody": "0",
                    "eventSource": "aws:sqs",
                    "eventSourceARN": arn,
                    "awsRegion": "us-east-1",
                }
            )
        function = self.functions["order_events"]
        response = function.lambda_handler({"Records": records}, LambdaContext(function_name="OrderEventsFunction"))
        return response, ids

    def refresh(self, *, remaining: Callable[[], int] = lambda: 900_000) -> dict[str, Any]:
        function = self.functions["refresh"]
        summary: dict[str, Any] = function.lambda_handler(
            load_event("refresh/scheduled.json"), LambdaContext(function_name="RefreshFunction", remaining=remaining)
        )
        return summary

    # -- state -----------------------------------------------------------------------------------------------------

    @property
    def store(self) -> TrackingsRepository:
        return TrackingsRepository(self.aws.table())

    def items(self, logical_id: str = "TrackingsTable", *, keys_only: bool = False) -> dict[str, dict[str, Any]]:
        """Every item of a table by ``pk`` (a test-side Scan: the service itself never scans)."""
        table = self.aws.table(logical_id)
        items: dict[str, dict[str, Any]] = {}
        kwargs: dict[str, Any] = {"ConsistentRead": True}
        if keys_only:
            kwargs["ProjectionExpression"] = "pk"
        for _ in range(10_000):
            page = table.scan(**kwargs)
            for item in page.get("Items", []):
                items[str(item["pk"])] = item
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        raise AssertionError("scan did not end")

    def upstream(self) -> list[dict[str, Any]]:
        trackings: list[dict[str, Any]] = self.sandbox.trackings()
        return trackings

    def upstream_refs(self) -> list[TrackingRef]:
        return [TrackingRef.of(t["carrier_code"], t["tracking_number"]) for t in self.upstream()]

    def calls(self, route: str) -> int:
        return int(self.sandbox.stats()["calls"].get(route, 0))

    def snapshot(self) -> dict[str, Any]:
        """Everything a hostile input must not change: both tables and the upstream account."""
        stats = self.sandbox.stats()
        return {
            "trackings": self.items("TrackingsTable"),
            "cache": self.items("CacheTable"),
            "upstream": sorted(json.dumps(t, sort_keys=True, default=str) for t in self.upstream()),
            "quota_used": stats["quota"]["used"],
        }


#: DynamoDB's documented key limits: partition key ≤ 2048 bytes, sort key ≤ 1024 bytes, no empty string keys.
MAX_PARTITION_KEY_BYTES = 2048


@pytest.fixture
def dynamodb_key_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto enforces DynamoDB's key-size limit on writes but not on reads (GetItem, BatchGetItem); DynamoDB refuses
    both with a ValidationException. Refuse oversized read keys here too, so a test cannot miss that 500."""
    from moto.dynamodb.exceptions import MockValidationException
    from moto.dynamodb.models import DynamoDBBackend

    def check(keys: Any) -> None:
        for key in keys if isinstance(keys, list) else [keys]:
            for value in (key or {}).values():
                text = value.get("S") if isinstance(value, dict) else value
                if isinstance(text, str) and len(text.encode()) > MAX_PARTITION_KEY_BYTES:
                    raise MockValidationException(
                        "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size "
                        "limit of2048 bytes"
                    )

    original_get = DynamoDBBackend.get_item

    def get_item(self: Any, table_name: str, keys: Any, *args: Any, **kwargs: Any) -> Any:
        check(keys)
        return original_get(self, table_name, keys, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "get_item", get_item)


@pytest.fixture
def system(aws: Any, sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[System]:
    """The functions on in-process moto against a clean sandbox, with the event ledger ready."""
    running = System(aws, sandbox, monkeypatch).start()
    try:
        yield running
    finally:
        running.close()
