"""One webhook POST: to the address the URL rules checked, within a hard deadline, redirects not followed.

The connection goes to :attr:`Target.address` (the resolved, checked address), while the ``Host`` header and TLS
(SNI and certificate verification) use the URL's host name: DNS is not asked again between the check and the
connection (docs/operations.md, "SSRF"). ``http.client`` never follows redirects; a 3xx is simply not a 2xx.

``timeout`` bounds the whole attempt — connect, TLS, sending, the status line, the headers and the excerpt — not
each socket read: a receiver dripping one byte a second cannot hold a worker longer. Only the first
:data:`EXCERPT_BYTES` of the response body are read, and kept (sanitised, :data:`EXCERPT_CHARS` at most) only
when the attempt failed.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Final

from shiptrack.observability import redact
from shiptrack.services.webhook_urls import Target

__all__ = ["EXCERPT_CHARS", "HttpOutcome", "Poster", "post"]

EXCERPT_BYTES: Final = 1024
EXCERPT_CHARS: Final = 200
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True, slots=True)
class HttpOutcome:
    """How one attempt ended: a status (any) or an error, the time it took, and a body excerpt on failure."""

    status: int | None
    latency_ms: int
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


#: The signature of :func:`post` (the delivery service takes one, so tests and benchmarks can count calls).
Poster = Callable[[Target, bytes, Mapping[str, str], float], HttpOutcome]


@cache
def _tls_context() -> ssl.SSLContext:
    try:
        import certifi  # requests' CA bundle, shipped in the layer

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:  # pragma: no cover - certifi comes with requests
        return ssl.create_default_context()


class _PinnedConnection(http.client.HTTPSConnection):
    """HTTP(S) to a fixed address; ``Host``, SNI and the certificate check use the URL's host name."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=_tls_context())
        self._target = target

    def connect(self) -> None:
        sock = socket.create_connection((self._target.address, self._target.port), self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._target.scheme == "https":
            sock = self._context.wrap_socket(sock, server_hostname=self._target.host)  # type: ignore[attr-defined]
        self.sock = sock


def _excerpt(raw: bytes) -> str | None:
    text = _CONTROL.sub(" ", raw.decode("utf-8", errors="replace"))
    text = " ".join(text.split())[:EXCERPT_CHARS]
    return str(redact(text)) or None


def _describe(exc: BaseException, timeout: float, timed_out: bool) -> str:
    if timed_out or isinstance(exc, TimeoutError | socket.timeout):
        return f"timed out after {timeout:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError | BrokenPipeError | http.client.RemoteDisconnected):
        return "connection reset by the endpoint"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "TLS certificate verification failed"
    if isinstance(exc, ssl.SSLError):
        return "TLS handshake failed"
    if isinstance(exc, http.client.HTTPException):
        return "invalid HTTP response"
    return f"network error ({type(exc).__name__})"


def post(
    target: Target,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
    *,
    clock: Callable[[], float] = time.perf_counter,
) -> HttpOutcome:
    """POST ``body`` to ``target`` with ``headers``; never raises for network trouble, it is an outcome."""
    started = clock()
    connection = _PinnedConnection(target, timeout)
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        if connection.sock is not None:
            with contextlib.suppress(OSError):
                connection.sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(timeout, expire)
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.request("POST", target.path, body=body, headers=dict(headers))
        response = connection.getresponse()
    except (OSError, http.client.HTTPException, ValueError) as exc:
        watchdog.cancel()
        connection.close()
        return HttpOutcome(None, int((clock() - started) * 1000), _describe(exc, timeout, expired.is_set()))
    # The status decides; the body only explains a failure, and a slow one does not turn a 2xx into a failure.
    latency = int((clock() - started) * 1000)
    raw = b""
    if not 200 <= response.status < 300:
        with contextlib.suppress(OSError, http.client.HTTPException, ValueError):
            raw = response.read(EXCERPT_BYTES)
    watchdog.cancel()
    connection.close()
    if 200 <= response.status < 300:
        return HttpOutcome(response.status, latency)
    return HttpOutcome(response.status, latency, _excerpt(raw) or f"HTTP {response.status}")
