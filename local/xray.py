"""The X-Ray daemon's side of tracing, locally: a UDP sink for the segments the functions send.

On Lambda the runtime gives every function `AWS_XRAY_DAEMON_ADDRESS` (the daemon Lambda runs beside it),
`AWS_XRAY_CONTEXT_MISSING=LOG_ERROR`, and each invocation an `_X_AMZN_TRACE_ID` header (`Sampled=1` when the
function's `TracingConfig.Mode` is `Active`). The X-Ray SDK (through Powertools' Tracer) sends its subsegments to
the daemon as UDP datagrams: `{"format": "json", "version": 1}` then a newline and the segment document.

`XRayDaemon` listens on a free loopback port and keeps what arrives (nothing is forwarded anywhere), so the stack
can give functions a daemon address that answers and tests can see that tracing really ran.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections import deque
from typing import Any

MAX_KEPT = 10_000


def trace_header(*, sampled: bool) -> str:
    """A new `_X_AMZN_TRACE_ID` value, as Lambda gives an invocation: `Root=1-<epoch hex>-<96 bits>;Parent=...`."""
    root = f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"
    return f"Root={root};Parent={os.urandom(8).hex()};Sampled={1 if sampled else 0}"


class XRayDaemon:
    """A UDP listener on `host:0` that records the segment documents it receives (`.documents()`)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind((host, 0))
        self._socket.settimeout(0.5)
        self.address = f"{host}:{self._socket.getsockname()[1]}"
        self._documents: deque[dict[str, Any]] = deque(maxlen=MAX_KEPT)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True, name="xray-daemon")

    def start(self) -> XRayDaemon:
        self._thread.start()
        return self

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                datagram = self._socket.recv(65_535)
            except TimeoutError:
                continue
            except OSError:
                return
            header, _, body = datagram.partition(b"\n")
            with contextlib.suppress(ValueError, AttributeError):
                if json.loads(header).get("format") != "json":
                    continue
                document = json.loads(body)
                if isinstance(document, dict):
                    with self._lock:
                        self._documents.append(document)

    def documents(self) -> list[dict[str, Any]]:
        """The segment and subsegment documents received so far, oldest first."""
        with self._lock:
            return list(self._documents)

    def stop(self) -> None:
        self._stop.set()
        self._socket.close()
        self._thread.join(timeout=2)
