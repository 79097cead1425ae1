"""HTTP front of the sandbox: ``/v2`` (the TrackingMore API) and ``/_sandbox`` (control, no API key), and the
in-process :class:`SandboxServer` that tests start and stop."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

from local.sandbox.engine import (
    DEFAULT_API_KEY,
    DEFAULT_EMAIL,
    DEFAULT_QUOTA,
    SandboxConfig,
    SandboxEngine,
)
from local.sandbox.faults import DEFAULT_TIMEOUT_S
from local.sandbox.latency import LatencySettings
from local.sandbox.webhooks import DEFAULT_RETRY_DELAYS
from local.sandbox.webhooks import DEFAULT_TIMEOUT_S as WEBHOOK_TIMEOUT_S


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], engine: SandboxEngine, stopping: threading.Event, verbose: bool
    ) -> None:
        self.engine = engine
        self.stopping = stopping
        self.verbose = verbose
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def close_connections(self) -> None:
        """Hang up every open (keep-alive) connection so no handler thread outlives the server."""
        with self.connections_lock:
            open_connections = list(self.connections)
        for connection in open_connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "TrackingMoreSandbox/2"
    server: _HTTPServer
    timeout = 30  # an idle keep-alive connection does not hold a thread forever

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)
        # Headers and body leave in separate writes; without TCP_NODELAY, Nagle + delayed ACK add ~40 ms per call.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        body = self._body()
        engine = self.server.engine
        if path.startswith("/_sandbox"):
            status, payload = _control(engine, self.command, path, body)
            self._send(status, json.dumps(payload, ensure_ascii=False).encode())
            return
        outcome = engine.handle(self.command, path, parts.query, dict(self.headers.items()), body)
        if outcome.latency_s > 0 and self.server.stopping.wait(outcome.latency_s):
            self._reset_connection()
            return
        if outcome.fault == "timeout":
            # Sleep past the client's read timeout, then hang up without an answer; shutdown wakes us at once.
            self.server.stopping.wait(outcome.fault_timeout_s)
            self._reset_connection()
            return
        if outcome.fault == "connection_reset":
            self._reset_connection()
            return
        self._send(outcome.http_status, outcome.body)

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _reset_connection(self) -> None:
        """Close the socket with no response (SO_LINGER 0 → the peer sees a reset)."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass


def _control(engine: SandboxEngine, method: str, path: str, raw: bytes) -> tuple[int, Any]:
    route = path.rstrip("/")
    try:
        body = json.loads(raw.decode()) if raw.strip() else {}
    except ValueError:
        return 400, {"error": "body must be JSON"}
    if not isinstance(body, dict):
        return 400, {"error": "body must be a JSON object"}
    try:
        if route == "/_sandbox/stats" and method == "GET":
            return 200, engine.stats()
        if route == "/_sandbox/health" and method == "GET":
            return 200, {"ok": True}
        if route == "/_sandbox/trackings" and method == "GET":
            return 200, {"sim_time": engine.now_iso(), "trackings": engine.trackings()}
        if route == "/_sandbox/reset" and method == "POST":
            seed = body.get("seed")
            restore = bool(body.get("restore_config", False))
            return 200, engine.reset(int(seed) if seed is not None else None, restore_config=restore)
        if route == "/_sandbox/faults" and method == "POST":
            return 200, engine.set_faults(body)
        if route == "/_sandbox/faults" and method == "GET":
            return 200, engine.faults.config.as_dict()
        if route == "/_sandbox/latency" and method == "POST":
            return 200, engine.set_latency(body)
        if route == "/_sandbox/latency" and method == "GET":
            return 200, engine.latency_settings()
        if route == "/_sandbox/advance" and method == "POST":
            hours = float(body.get("hours", 0)) + float(body.get("days", 0)) * 24 + float(body.get("minutes", 0)) / 60
            return 200, engine.advance(hours)
        if route == "/_sandbox/config" and method == "POST":
            return 200, engine.configure(**body)
        if route == "/_sandbox/config" and method == "GET":
            return 200, engine.config.public()
    except (TypeError, ValueError, OverflowError) as exc:
        return 400, {"error": str(exc)}
    return 404, {"error": f"no control endpoint {method} {route}"}


class SandboxServer:
    """A TrackingMore v2 sandbox on a background thread.

    >>> with SandboxServer(port=0, seed=7) as sandbox:
    ...     requests.get(sandbox.base_url + "/carriers", headers=sandbox.headers)
    """

    def __init__(  # noqa: PLR0917 — the positional order is the documented constructor
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 7,
        api_key: str = DEFAULT_API_KEY,
        email: str = DEFAULT_EMAIL,
        webhook_url: str | None = None,
        enforce_rate_limits: bool = True,
        quota: float = DEFAULT_QUOTA,
        *,
        enforce_realtime_interval: bool | None = None,
        sim_start: datetime | None = None,
        fault_timeout_s: float = DEFAULT_TIMEOUT_S,
        webhook_retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS,
        webhook_timeout_s: float = WEBHOOK_TIMEOUT_S,
        latency: str | LatencySettings = "none",
        batch_create_limit: int | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        verbose: bool = False,
    ) -> None:
        self.host = host
        self._requested_port = port
        self._verbose = verbose
        self.engine = SandboxEngine(
            SandboxConfig(
                seed=seed,
                api_key=api_key,
                email=email,
                webhook_url=webhook_url,
                quota=quota,
                enforce_rate_limits=enforce_rate_limits,
                enforce_realtime_interval=(
                    enforce_rate_limits if enforce_realtime_interval is None else enforce_realtime_interval
                ),
                fault_timeout_s=fault_timeout_s,
                webhook_retry_delays=tuple(webhook_retry_delays),
                webhook_timeout_s=webhook_timeout_s,
                sim_start=sim_start,
                batch_create_limit=batch_create_limit,
                latency=latency if isinstance(latency, LatencySettings) else LatencySettings.parse(latency),
            ),
            monotonic=monotonic,
        )
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def start(self) -> SandboxServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = _HTTPServer((self.host, self._requested_port), self.engine, self._stopping, self._verbose)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="sandbox-http", daemon=True
        )
        self._thread.start()
        self.engine.webhooks.start()
        return self

    def stop(self) -> None:
        """Stop serving; returns within a few seconds even with in-flight timeouts and webhook retries."""
        if self._httpd is None:
            return
        self._stopping.set()  # wakes injected timeouts and latencies
        self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd.close_connections()
        if self._thread is not None:
            self._thread.join(2.0)
        self.engine.webhooks.stop(2.0)
        self._httpd = None
        self._thread = None

    def serve_forever(self) -> None:
        """Run in the foreground (``python -m local.sandbox``)."""
        self.start()
        assert self._thread is not None
        try:
            while self._thread.is_alive():
                self._thread.join(0.5)
        finally:
            self.stop()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the sandbox is not running")
        return int(self._httpd.server_address[1])

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v2"

    @property
    def api_key(self) -> str:
        return self.engine.config.api_key

    @property
    def email(self) -> str:
        return self.engine.config.email

    @property
    def headers(self) -> dict[str, str]:
        return {"Trackingmore-Api-Key": self.api_key, "Content-Type": "application/json"}

    @property
    def sim_now(self) -> datetime:
        return self.engine.sim_now

    # -- control (mirrors /_sandbox/*) -----------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        return self.engine.stats()

    def reset(self, seed: int | None = None, *, restore_config: bool = False) -> dict[str, Any]:
        """Clean state; the configuration stays unless ``restore_config`` (see ``SandboxEngine.reset``)."""
        return self.engine.reset(seed, restore_config=restore_config)

    def advance(self, hours: float) -> dict[str, Any]:
        return self.engine.advance(hours)

    def trackings(self) -> list[dict[str, Any]]:
        return self.engine.trackings()

    def set_faults(
        self,
        error_rate: float = 0.0,
        kinds: list[str] | None = None,
        latency_ms: float = 0.0,
        endpoints: list[str] | None = None,
        timeout_s: float | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"error_rate": error_rate, "latency_ms": latency_ms}
        if kinds is not None:
            body["kinds"] = kinds
        if endpoints is not None:
            body["endpoints"] = endpoints
        if timeout_s is not None:
            body["timeout_s"] = timeout_s
        return self.engine.set_faults(body)

    def clear_faults(self) -> dict[str, Any]:
        return self.engine.set_faults({"error_rate": 0})

    def set_latency(
        self, profile: str = "none", scale: float = 1.0, overrides: dict[str, dict[str, float]] | None = None
    ) -> dict[str, Any]:
        """Replace the latency settings (``POST /_sandbox/latency``); returns them with each endpoint's delay."""
        return self.engine.set_latency({"profile": profile, "scale": scale, "overrides": overrides or {}})

    def latency_settings(self) -> dict[str, Any]:
        return self.engine.latency_settings()

    def configure(self, **changes: Any) -> dict[str, Any]:
        return self.engine.configure(**changes)

    def wait_for_webhooks(self, timeout: float = 5.0) -> bool:
        """Block until every queued webhook has been delivered or has given up; True when idle."""
        return self.engine.webhooks.wait_idle(timeout)
