"""Problem details say what failed in the caller's terms and never carry a host, port, URL or exception class name:
every route that calls TrackingMore, under every fault kind the sandbox injects (docs/security.md).

The detail an operator needs goes to the log with the request id (``debug_detail``); that is checked once too.
"""

from __future__ import annotations

import importlib
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from local.resources import LOCAL_SECRET_VALUES
from shiptrack import runtime
from shiptrack.settings import clear_caches
from tests.integration.test_trackings_support import api_context, event
from trackingmore import TrackingMoreClient
from trackingmore.webhooks import sign

pytestmark = pytest.mark.integration

HELD = "RR123456785CN"
FAULT_KINDS = ["http_500", "http_503", "meta_429", "malformed_json", "timeout", "connection_reset"]

#: (name, method, path, body) of every request that reaches TrackingMore.
ROUTES: list[tuple[str, str, str, Any]] = [
    ("create", "POST", "/trackings", {"tracking_number": "RR999999990CN", "carrier_code": "china-post"}),
    ("create detected", "POST", "/trackings", {"tracking_number": "RR888888885CN"}),
    (
        "batch",
        "POST",
        "/trackings/batch",
        {"items": [{"tracking_number": "RR777777770CN", "carrier_code": "china-post"}]},
    ),
    ("update", "PATCH", f"/trackings/china-post/{HELD}", {"title": "Red mug"}),
    ("resync", "POST", f"/trackings/china-post/{HELD}/resync", None),
    ("delete", "DELETE", f"/trackings/china-post/{HELD}", None),
    (
        "realtime",
        "POST",
        "/trackings/realtime",
        {"carrier_code": "china-post", "tracking_number": HELD, "max_age_seconds": 0},
    ),
    ("aircargo", "POST", "/aircargo", {"awb_numbers": ["172-28891936"]}),
    ("remote checks", "POST", "/remote-checks", {"checks": [{"country": "JP", "postcode": "7621094"}]}),
    (
        "transit times",
        "POST",
        "/transit-times",
        {"routes": [{"carrier_code": "dhl", "origin": "CN", "destination": "US"}]},
    ),
    ("webhook push", "POST", f"/webhooks/trackingmore/{LOCAL_SECRET_VALUES['webhook_token']}", "push"),
]
FUNCTION_OF = {
    "/trackings/realtime": "realtime",
    "/aircargo": "aircargo",
    "/remote-checks": "remote_checks",
    "/transit-times": "remote_checks",
}

LEAKS = re.compile(
    r"127\.0\.0\.1|localhost|https?://|HTTPConnectionPool|urllib3|requests\.|Max retries|Traceback|"
    r"\b[A-Za-z]+(?:Error|Exception)\b|ReadTimeout|ConnectTimeout|\bport\b|\bNone\b"
)


def problems_in(body: Any) -> Iterator[dict[str, Any]]:
    """Every problem object in an answer: the answer itself, or one per failed item."""
    if isinstance(body, dict):
        if {"type", "title", "status", "detail"} <= body.keys():
            yield body
        for value in body.values():
            yield from problems_in(value)
    elif isinstance(body, list):
        for value in body:
            yield from problems_in(value)


@pytest.fixture
def call(aws: Any, sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("TRACKINGMORE_BASE_URL", sandbox.base_url)
    clear_caches()
    runtime.clear()

    # One retry without sleeping and a short read timeout: the fault kinds, not the client's patience, are tested.
    def short(**_: Any) -> TrackingMoreClient:
        return TrackingMoreClient(
            sandbox.api_key, base_url=sandbox.base_url, max_retries=1, timeout=(2.0, 0.5), sleep=lambda _: None
        )

    monkeypatch.setattr(runtime, "trackingmore_client", short)
    handlers: dict[str, Any] = {}

    def invoke(method: str, path: str, body: Any) -> tuple[int, str]:
        name = "webhook" if path.startswith("/webhooks/") else FUNCTION_OF.get(path, "trackings")
        if name not in handlers:
            handlers[name] = importlib.import_module(f"functions.{name}.app").lambda_handler
        if body == "push":
            time_str = str(int(time.time()))
            verify = {"timeStr": time_str, "signature": sign(time_str, LOCAL_SECRET_VALUES["account_email"])}
            body = {"data": {"carrier_code": "china-post", "tracking_number": HELD}, "verifyInfo": verify}
        response = handlers[name](event(method, path, body=body), api_context())
        return int(response["statusCode"]), str(response["body"])

    # The parcel every path-addressed route works on, held here and at TrackingMore
    assert invoke("POST", "/trackings", {"tracking_number": HELD, "carrier_code": "china-post"})[0] == 201
    yield invoke
    clear_caches()
    runtime.clear()


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_no_problem_detail_leaks_a_host_port_or_exception_name_under_any_fault(
    call: Any, sandbox: Any, kind: str
) -> None:
    sandbox.set_faults(error_rate=1, kinds=[kind], timeout_s=2)
    port = str(sandbox.port)
    seen = 0

    for name, method, path, body in ROUTES:
        status, text = call(method, path, body)
        assert status < 500 or status in (502, 503, 504), (name, status, text)
        assert port not in text, (name, text)
        for problem in problems_in(json.loads(text)):
            seen += 1
            leak = LEAKS.search(problem["detail"]) or LEAKS.search(problem["title"])
            assert leak is None, (name, kind, problem["detail"])
            assert problem["detail"][:1].isupper(), (name, problem["detail"])
            assert problem["detail"].endswith("."), (name, problem["detail"])
    assert seen >= len(ROUTES) - 1, "most routes must have met the fault"
    assert sandbox.stats()["faults_injected"] > 0


def test_the_detail_a_caller_gets_is_what_happened_and_the_log_has_the_rest(
    call: Any, sandbox: Any, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox.set_faults(error_rate=1, kinds=["timeout"], timeout_s=2)

    status, text = call("POST", "/trackings", {"tracking_number": "RR999999990CN", "carrier_code": "china-post"})

    problem = json.loads(text)
    assert (status, problem["code"], problem["retryable"]) == (504, "upstream_timeout", True)
    assert problem["detail"] == "TrackingMore did not answer within 0.5 s."
    logged = [r for r in caplog.records if r.getMessage() == "upstream failed"]
    assert logged, "the failure is logged"
    assert "Timeout" in str(logged[-1].__dict__.get("debug_detail"))
