"""Harness for the storefront-webhook tests (no tests here): a real HTTP receiver on 127.0.0.1, and the webhook
functions driven on moto the way Lambda's pollers would drive them.

* :class:`Receiver` — a threaded HTTP server on a free loopback port; each request gets the next scripted
  :class:`Reply` (``ok`` by default): a status, a delay, or a reset connection. It records what it received.
* :class:`Webhooks` — the endpoints API (``api``), the bus (``publish``), and ``pump()``: the fan-out and delivery
  handlers run over their queues until nothing is left to do, honouring the visibility the delivery function sets
  (so retries come back by themselves, as on AWS). The retry schedule is scaled to 0 (``WEBHOOK_RETRY_SCALE``):
  every retry is due at once, and attempts time out after 1 s.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import pytest

from shiptrack import runtime
from shiptrack.settings import clear_caches
from tests.integration.test_trackings_support import Answer, api_context, event
from tests.lambda_context import LambdaContext

__all__ = ["Received", "Receiver", "Reply", "Webhooks", "receiver", "webhooks"]


@dataclass(frozen=True)
class Reply:
    status: int = 204
    body: str = ""
    delay: float = 0.0
    reset: bool = False


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: str

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class _Server(ThreadingHTTPServer):
    # The default backlog (5) drops connections when ten deliveries connect at once; the client then waits a
    # second for its SYN to be retried, which would be measured as the delivery's time.
    request_queue_size = 128


class Receiver:
    """A storefront's webhook endpoint on 127.0.0.1. ``script(n, received)`` picks the reply to the n-th request."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.script: Callable[[int, Received], Reply] = lambda n, r: Reply()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length).decode()
                got = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with receiver._lock:
                    index = len(receiver.received)
                    receiver.received.append(got)
                reply = receiver.script(index, got)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.reset:
                    # RST instead of FIN: the client sees "connection reset".
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.rfile.close()  # the file objects hold the socket open: release them, then close
                    self.wfile.close()
                    self.connection.close()
                    self.close_connection = True
                    return
                payload = reply.body.encode()
                self.send_response(reply.status)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                with contextlib.suppress(OSError):  # the client may have given up (its attempt timed out)
                    self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def start(self) -> Self:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def by_type(self, event_type: str) -> list[Received]:
        return [r for r in self.received if r.json.get("type") == event_type]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


def _record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": "us-east-1",
    }


@dataclass
class Webhooks:
    aws: Any
    handlers: dict[str, Any] = field(default_factory=dict)

    # -- the API --------------------------------------------------------------------------------------------
    def api(self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None) -> Answer:
        response = self.handlers["webhook_endpoints"](event(method, path, body=body, query=query), api_context())
        headers = {k: v[-1] for k, v in (response.get("multiValueHeaders") or {}).items()}
        headers.update(response.get("headers") or {})
        return Answer(response["statusCode"], headers, json.loads(response["body"]) if response.get("body") else None)

    def endpoint(self, url: str, events: list[str] | None = None) -> dict[str, Any]:
        answer = self.api("POST", "/webhook-endpoints", {"url": url, **({"events": events} if events else {})})
        assert answer.status == 201, answer.body
        created: dict[str, Any] = answer.body
        return created

    def deliveries(self, endpoint_id: str, **query: str) -> list[dict[str, Any]]:
        answer = self.api("GET", f"/webhook-endpoints/{endpoint_id}/deliveries", query=query or None)
        assert answer.status == 200, answer.body
        items: list[dict[str, Any]] = answer.body["items"]
        return items

    # -- the bus and the queues -----------------------------------------------------------------------------
    def publish(self, detail_type: str, detail: dict[str, Any], source: str = "shiptrack") -> None:
        entry = {"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail)}
        response = self.aws.events.put_events(Entries=[{**entry, "EventBusName": self.aws.event_bus_name}])
        assert response["FailedEntryCount"] == 0

    def _arn(self, logical_id: str) -> str:
        return f"arn:aws:sqs:us-east-1:123456789012:{self.aws.queue_url(logical_id).rsplit('/', 1)[1]}"

    def receive(self, logical_id: str) -> list[dict[str, Any]]:
        return list(
            self.aws.sqs.receive_message(
                QueueUrl=self.aws.queue_url(logical_id), MaxNumberOfMessages=10, AttributeNames=["All"]
            ).get("Messages", [])
        )

    def run(self, function: str, logical_id: str) -> int:
        """One poll of a queue into a function, as Lambda's SQS poller: acknowledged messages are deleted."""
        messages = self.receive(logical_id)
        if not messages:
            return 0
        records = [_record(m, self._arn(logical_id)) for m in messages]
        response = self.handlers[function]({"Records": records}, LambdaContext(function))
        failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
        for message in messages:
            if message["MessageId"] not in failed:
                self.aws.sqs.delete_message(
                    QueueUrl=self.aws.queue_url(logical_id), ReceiptHandle=message["ReceiptHandle"]
                )
        return len(messages)

    def pump(self, rounds: int = 200) -> None:
        """Fan out and deliver until both queues stay empty (retries due at once come back by themselves)."""
        idle = 0
        for _ in range(rounds):
            handled = self.run("webhook_fanout", "WebhookEventsQueue")
            handled += self.run("webhook_delivery", "WebhookDeliveriesQueue")
            idle = idle + 1 if handled == 0 else 0
            if idle >= 3:
                return
            if handled == 0:
                time.sleep(0.2)
        raise AssertionError("the webhook queues did not drain")


@pytest.fixture
def webhooks(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Webhooks]:
    """The webhook functions on moto, loopback receivers allowed, retries due at once, 1 s attempts."""
    monkeypatch.setenv("WEBHOOK_ALLOW_LOOPBACK", "true")
    monkeypatch.setenv("WEBHOOK_RETRY_SCALE", "0")
    monkeypatch.setenv("WEBHOOK_ATTEMPT_TIMEOUT_SECONDS", "1")
    clear_caches()
    runtime.clear()
    names = ("webhook_endpoints", "webhook_fanout", "webhook_delivery", "webhook_endpoint_events")
    handlers = {name: importlib.import_module(f"functions.{name}.app").lambda_handler for name in names}
    yield Webhooks(aws, handlers)
    clear_caches()
    runtime.clear()
