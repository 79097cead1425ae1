"""A small threaded HTTP/1.1 server for the local gateway and invoke API (standard library only).

The stdlib server keeps header names as the client sent them (API Gateway does too) and lets us refuse a
too-large body from its Content-Length before reading it.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Request:
    method: str
    raw_path: str  # path as sent, percent-encoding kept
    query: str
    headers: list[tuple[str, str]]  # in order, names as sent
    client_ip: str
    read_body: Callable[[], bytes]
    content_length: int | None

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        found = [v for k, v in self.headers if k.lower() == lowered]
        return found[-1] if found else None


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)


Handler = Callable[[Request], Response]


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "shiptrack-local"
    sys_version = ""
    app: Handler

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        length_header = self.headers.get("Content-Length")
        content_length = int(length_header) if length_header and length_header.isdigit() else None
        body_cache: list[bytes] = []

        def read_body() -> bytes:
            if not body_cache:
                body_cache.append(self.rfile.read(content_length) if content_length else b"")
            return body_cache[0]

        request = Request(
            method=self.command,
            raw_path=parts.path or "/",
            query=parts.query,
            headers=list(self.headers.items()),
            client_ip=self.client_address[0],
            read_body=read_body,
            content_length=content_length,
        )
        try:
            response = self.app(request)
        except Exception as exc:  # a bug in the emulator itself: say so, keep serving
            self.log_error("emulator error: %r", exc)
            response = Response(500, b'{"message": "local emulator error"}', [("Content-Type", "application/json")])
        if content_length and not body_cache:
            # Unread body: drain small ones to keep the connection usable, close for big ones.
            if content_length <= 1 << 20:
                read_body()
            else:
                self.close_connection = True
        self.send_response(response.status)
        names = {k.lower() for k, _ in response.headers}
        for key, value in response.headers:
            if key.lower() in ("content-length", "connection", "transfer-encoding"):
                continue
            self.send_header(key, value)
        if "content-type" not in names and response.body:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _handle

    def __getattr__(self, name: str) -> Any:
        # The stdlib answers a method without a do_<METHOD> (TRACE, CONNECT, PROPFIND …) with its own 501 HTML
        # page. API Gateway answers every method itself (403 Missing Authentication Token when the resource has
        # no such method), so every method goes to the app.
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the stack logs requests itself


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up before the answer (e.g. the sandbox's webhook timeout) is not our error.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


class HttpServer:
    """Serve `app` on host:port in a background thread."""

    def __init__(self, host: str, port: int, app: Handler, name: str) -> None:
        handler = type(f"{name}Handler", (_RequestHandler,), {"app": staticmethod(app)})
        self._server = _Server((host, port), handler)
        self.name = name
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=2)
