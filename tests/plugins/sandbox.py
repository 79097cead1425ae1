"""pytest fixtures: sandbox (registered in pyproject addopts).

- ``sandbox_server`` (session): one :class:`local.sandbox.SandboxServer` per test process (xdist worker), seed 7,
  rate limits and the realtime 2-hour rule OFF so suites run fast, short webhook retry delays.
- ``sandbox`` (function): the same server reset to that clean state (and start-up configuration) before the test.
  Use ``sandbox.base_url`` (``http://127.0.0.1:PORT/v2``), ``sandbox.root_url``, ``sandbox.headers``,
  ``sandbox.api_key``, ``sandbox.email``, ``sandbox.stats()``, ``sandbox.reset(seed=None, restore_config=False)``,
  ``sandbox.advance(hours)``, ``sandbox.set_faults(error_rate, kinds, latency_ms, endpoints, timeout_s)``,
  ``sandbox.clear_faults()``, ``sandbox.trackings()``, ``sandbox.configure(**changes)`` (e.g.
  ``enforce_rate_limits=True``, ``enforce_realtime_interval=True``, ``webhook_url=...``, ``quota=...``) and
  ``sandbox.wait_for_webhooks()``. Changes made through ``configure`` last until the next test's reset.
- ``webhook_receiver`` (function): a tiny local HTTP server that records POSTs; ``.url``, ``.requests``,
  ``.wait_for(n)``, ``.respond_with([500, 200])`` to script its answers.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from local.sandbox import SandboxServer

FIXTURE_SEED = 7
FIXTURE_WEBHOOK_RETRY_DELAYS = (0.05, 0.1, 0.2)


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    server = SandboxServer(
        port=0,
        seed=FIXTURE_SEED,
        enforce_rate_limits=False,
        enforce_realtime_interval=False,
        webhook_retry_delays=FIXTURE_WEBHOOK_RETRY_DELAYS,
        webhook_timeout_s=1.0,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> SandboxServer:
    sandbox_server.reset(restore_config=True)
    return sandbox_server


@dataclass
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    def json(self) -> Any:
        return json.loads(self.body.decode())


@dataclass
class WebhookReceiver:
    url: str = ""
    requests: list[ReceivedRequest] = field(default_factory=list)
    script: list[int] = field(default_factory=list)
    default_status: int = 200
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def respond_with(self, statuses: list[int], then: int = 200) -> None:
        """Answer the next POSTs with these HTTP statuses in turn, then with ``then``."""
        with self._cond:
            self.script = list(statuses)
            self.default_status = then

    def next_status(self) -> int:
        with self._cond:
            return self.script.pop(0) if self.script else self.default_status

    def record(self, request: ReceivedRequest) -> None:
        with self._cond:
            self.requests.append(request)
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedRequest]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.requests) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return list(self.requests)


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status = receiver.next_status()
            receiver.record(ReceivedRequest(self.path, dict(self.headers.items()), body, status))  # before answering
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{httpd.server_address[1]}/hook"
    try:
        yield receiver
    finally:
        httpd.shutdown()
        httpd.server_close()
