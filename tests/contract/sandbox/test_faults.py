"""Fault injection (``POST /_sandbox/faults``): every kind, filters, determinism, and clean shutdown."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import requests

from local.sandbox import SandboxServer
from tests.contract.sandbox.helpers import V2, code_of

pytestmark = pytest.mark.contract


def test_http_500(v2: V2, sandbox: SandboxServer) -> None:
    sandbox.set_faults(error_rate=1.0, kinds=["http_500"])

    assert v2.raw("GET", "/carriers").status_code == 500


def test_http_503(v2: V2, sandbox: SandboxServer) -> None:
    sandbox.set_faults(error_rate=1.0, kinds=["http_503"])

    assert v2.raw("GET", "/carriers").status_code == 503


def test_meta_429(v2: V2, sandbox: SandboxServer) -> None:
    sandbox.set_faults(error_rate=1.0, kinds=["meta_429"])

    body = v2.get("/trackings/getuserinfo")

    assert body["meta"]["code"] == 429
    assert body["meta"]["type"] == "Too Many Requests"


def test_malformed_json(v2: V2, sandbox: SandboxServer) -> None:
    sandbox.set_faults(error_rate=1.0, kinds=["malformed_json"])

    response = v2.raw("GET", "/trackings/getuserinfo")

    assert response.status_code == 200
    with pytest.raises(requests.JSONDecodeError):
        response.json()


def test_connection_reset(v2: V2, sandbox: SandboxServer) -> None:
    sandbox.set_faults(error_rate=1.0, kinds=["connection_reset"])

    with pytest.raises(requests.ConnectionError):
        v2.raw("GET", "/trackings/getuserinfo")


def test_timeout_outlasts_the_client_read_timeout_without_blocking_others(v2: V2, sandbox: SandboxServer) -> None:
    sandbox.set_faults(error_rate=1.0, kinds=["timeout"], endpoints=["GET /trackings/getuserinfo"], timeout_s=3)

    with pytest.raises(requests.Timeout):
        v2.raw("GET", "/trackings/getuserinfo", timeout=0.3)
    assert code_of(v2.get("/carriers")) == 200  # another request is served meanwhile


def test_error_rate_zero_turns_faults_off(v2: V2, sandbox: SandboxServer) -> None:
    sandbox.set_faults(error_rate=1.0, kinds=["http_500"])
    sandbox.set_faults(error_rate=0)

    assert code_of(v2.get("/trackings/getuserinfo")) == 200


def test_control_endpoint_sets_faults_over_http(v2: V2, sandbox: SandboxServer) -> None:
    response = requests.post(
        sandbox.root_url + "/_sandbox/faults", json={"error_rate": 1.0, "kinds": ["http_503"]}, timeout=5
    )

    assert response.status_code == 200
    assert v2.raw("GET", "/carriers").status_code == 503
    assert (
        requests.post(sandbox.root_url + "/_sandbox/faults", json={"kinds": ["gremlins"]}, timeout=5).status_code == 400
    )


def test_endpoint_filter_limits_faults_to_those_endpoints(v2: V2, sandbox: SandboxServer) -> None:
    sandbox.set_faults(error_rate=1.0, kinds=["http_500"], endpoints=["POST /trackings/post"])

    assert (
        v2.raw("POST", "/trackings/post", json={"tracking_number": "1234567890", "carrier_code": "dhl"}).status_code
        == 500
    )
    assert code_of(v2.get("/trackings/getuserinfo")) == 200


def test_faulted_calls_change_nothing_and_are_counted(v2: V2, sandbox: SandboxServer) -> None:
    sandbox.set_faults(error_rate=1.0, kinds=["http_500"], endpoints=["/trackings/post"])

    v2.raw("POST", "/trackings/post", json={"tracking_number": "1234567890", "carrier_code": "dhl"})
    sandbox.clear_faults()

    stats = sandbox.stats()
    assert stats["faults_injected"] == 1
    assert stats["faults"] == {"http_500": 1}
    assert stats["calls"]["POST /trackings/post"] == 1
    assert stats["quota"]["used"] == 0
    assert code_of(v2.get("/trackings/dhl/1234567890")) == 4031


def test_latency_still_answers(v2: V2, sandbox: SandboxServer) -> None:
    sandbox.set_faults(latency_ms=20)

    assert code_of(v2.get("/trackings/getuserinfo")) == 200


def _outcomes(server: SandboxServer) -> list[Any]:
    server.set_faults(error_rate=0.5, kinds=["http_500", "http_503", "meta_429", "malformed_json"])
    session = requests.Session()
    session.headers.update(server.headers)
    outcomes: list[Any] = []
    for _ in range(30):
        response = session.get(server.base_url + "/trackings/getuserinfo", timeout=5)
        try:
            outcomes.append((response.status_code, response.json()["meta"]["code"]))
        except ValueError:
            outcomes.append((response.status_code, "malformed"))
    session.close()
    return outcomes


def test_faults_are_deterministic_for_the_seed() -> None:
    with SandboxServer(seed=3) as one, SandboxServer(seed=3) as two:
        first, second = _outcomes(one), _outcomes(two)

    assert first == second
    assert {o[0] for o in first} == {200, 500, 503}
    assert (200, 200) in first


def test_stop_returns_promptly_with_a_request_stuck_in_a_timeout() -> None:
    server = SandboxServer(seed=1, webhook_url="http://127.0.0.1:9/unreachable", webhook_retry_delays=(30, 30))
    server.start()
    server.set_faults(error_rate=1.0, kinds=["timeout"])  # default: sleeps 25 s
    server.engine.configure(enforce_rate_limits=False)
    errors: list[BaseException] = []

    def stuck_call() -> None:
        try:
            requests.get(server.base_url + "/carriers", headers=server.headers, timeout=60)
        except requests.RequestException as exc:
            errors.append(exc)

    caller = threading.Thread(target=stuck_call, daemon=True)
    caller.start()
    while server.stats()["faults_injected"] == 0:  # the call is now asleep inside the server
        caller.join(0.01)
    server.clear_faults()
    requests.post(server.base_url + "/trackings/post", json={"tracking_number": "1234567890", "carrier_code": "dhl"},
                  headers=server.headers, timeout=5)  # fmt: skip
    server.advance(48)  # queues a webhook that will fail and wait 30 s before its retry
    stopper = threading.Thread(target=server.stop, daemon=True)
    stopper.start()
    stopper.join(5)
    caller.join(5)

    assert not stopper.is_alive()
    assert not caller.is_alive()
    assert errors  # the stuck client was hung up on, not answered


def test_a_timeout_of_a_day_is_trackingmore_never_answering() -> None:
    server = SandboxServer(seed=1)
    server.start()
    server.set_faults(error_rate=1.0, kinds=["timeout"], endpoints=["POST /trackings/post"], timeout_s=86_400)
    errors: list[BaseException] = []

    def never_answered() -> None:
        try:
            requests.post(server.base_url + "/trackings/post", json={"tracking_number": "1234567890",
                          "carrier_code": "dhl"}, headers=server.headers, timeout=600)  # fmt: skip
        except requests.RequestException as exc:
            errors.append(exc)

    caller = threading.Thread(target=never_answered, daemon=True)
    caller.start()
    while server.stats()["faults_injected"] == 0:
        caller.join(0.01)
    with pytest.raises(requests.ReadTimeout):  # a client that gives up gives up; the server stays silent
        requests.post(server.base_url + "/trackings/post", json={"tracking_number": "1234567891",
                      "carrier_code": "dhl"}, headers=server.headers, timeout=0.5)  # fmt: skip
    served = code_of(requests.get(server.base_url + "/carriers", headers=server.headers, timeout=10).json())
    waiting = caller.is_alive()
    server.stop()
    caller.join(5)

    assert served == 200  # other calls go on
    assert waiting  # no answer came while the server ran
    assert not caller.is_alive()
    assert errors  # stop() hung up on it; nothing was created
    assert server.engine.records == {}
