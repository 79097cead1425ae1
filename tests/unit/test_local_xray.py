"""local.xray: Lambda's trace header, and the daemon sink the local stack gives functions."""

from __future__ import annotations

import json
import re
import socket

import pytest

from local.xray import XRayDaemon, trace_header
from tests.plugins.stack import eventually

pytestmark = pytest.mark.unit


def test_trace_headers_have_lambdas_shape_and_are_new_each_time() -> None:
    sampled, unsampled = trace_header(sampled=True), trace_header(sampled=False)

    assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=1", sampled)
    assert unsampled.endswith(";Sampled=0")
    assert sampled.split(";")[0] != unsampled.split(";")[0]


def test_the_daemon_keeps_what_the_sdk_sends_and_ignores_the_rest() -> None:
    daemon = XRayDaemon().start()
    host, port = daemon.address.split(":")
    segment = {"name": "## lambda_handler", "trace_id": "1-6b158c69-0f31aa3f933c15d8fa0abfc0", "type": "subsegment"}
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"not a segment", (host, int(port)))
            # What the X-Ray SDK's UDP emitter sends: a compact JSON header line, then the document.
            sender.sendto(b'{"format":"json","version":1}\n' + json.dumps(segment).encode(), (host, int(port)))

        documents = eventually(daemon.documents, timeout=10, interval=0.05)
    finally:
        daemon.stop()

    assert documents == [segment]
