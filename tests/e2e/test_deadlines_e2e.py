"""Production conditions through the local stack (template.yaml's functions on their own runtime, the gateway's 29 s):
a slow TrackingMore, a TrackingMore that never answers, and many concurrent realtime lookups against its 3/s.

One stack for the module, with room for several requests per function at once; each test sets the sandbox's latency
and faults through its control API. No assertion is on time: the gateway's own 29 s limit (504
``integration_timeout``) and the function logs (``Task timed out``) say whether a route ran out of it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from local.resources import LOCAL_SECRET_VALUES
from local.stack import StackProcess
from local.template import DEFAULT_TEMPLATE
from tests.plugins.stack import StackFactory

pytestmark = pytest.mark.e2e

TIMEOUT = 60  # the gateway answers by 29 s whatever happens; this only bounds a broken stack
CONCURRENCY = 6
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def stack(local_stack_factory: StackFactory) -> Iterator[StackProcess]:
    with local_stack_factory.running(
        DEFAULT_TEMPLATE, name="deadlines", env={"LOCAL_MAX_CONCURRENCY": str(CONCURRENCY)}
    ) as stack:
        yield stack


class Http:
    def __init__(self, stack: StackProcess) -> None:
        self.base = f"{stack.api_url}/v1"
        self.control = stack.sandbox_control_url
        self.headers = {"x-api-key": stack.api_key}

    def __call__(self, method: str, path: str, json: Any = None) -> requests.Response:
        return requests.request(method, self.base + path, json=json, headers=self.headers, timeout=TIMEOUT)

    def sandbox(self, path: str, body: dict[str, Any]) -> None:
        requests.post(f"{self.control}/_sandbox/{path}", json=body, timeout=10).raise_for_status()

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = requests.get(f"{self.control}/_sandbox/stats", timeout=10).json()
        return stats


@pytest.fixture
def http(stack: StackProcess) -> Iterator[Http]:
    client = Http(stack)
    client.sandbox("faults", {"error_rate": 0})
    client.sandbox("latency", {"profile": "none"})
    yield client
    client.sandbox("faults", {"error_rate": 0})
    client.sandbox("latency", {"profile": "none"})


def number(prefix: str) -> str:
    return f"{prefix}{secrets.randbelow(10**9):09d}CN"


def air_waybill() -> str:
    """A valid waybill nobody asked for yet (its last digit is the serial's remainder by 7)."""
    serial = 1_000_000 + secrets.randbelow(8_999_999)
    return f"172-{serial}{serial % 7}"


def every_route(http: Http, *, transit_carrier: str) -> dict[str, Callable[[], requests.Response]]:
    """One request per route of the API (those that call TrackingMore, and the rest), ready to send; nothing any
    earlier test asked (lookups are cached)."""
    held, doomed = number("DL"), number("DD")  # read and patched; deleted (at the same time)
    for tracked in (held, doomed):
        assert http("POST", "/trackings", {"tracking_number": tracked, "carrier_code": "china-post"}).status_code == 201
    batch = [{"tracking_number": number("DB"), "carrier_code": "china-post"} for _ in range(120)]
    webhook = f"/webhooks/trackingmore/{LOCAL_SECRET_VALUES['webhook_token']}"
    push = {"meta": {"code": 200}, "data": {}}  # no upstream call: answered at once
    return {
        "create": lambda: http("POST", "/trackings", {"tracking_number": number("DC"), "carrier_code": "china-post"}),
        "create, detecting the carrier": lambda: http("POST", "/trackings", {"tracking_number": number("RR")}),
        "batch of 120": lambda: http("POST", "/trackings/batch", {"items": batch}),
        "list": lambda: http("GET", "/trackings?limit=100"),
        "get": lambda: http("GET", f"/trackings/china-post/{held}"),
        "patch": lambda: http("PATCH", f"/trackings/china-post/{held}", {"title": "slow day"}),
        "realtime": lambda: http(
            "POST", "/trackings/realtime", {"carrier_code": "china-post", "tracking_number": number("DR")}
        ),
        "aircargo": lambda: http("POST", "/aircargo", {"awb_numbers": [air_waybill()]}),
        "remote checks": lambda: http(
            "POST", "/remote-checks", {"checks": [{"country": "US", "postcode": str(10000 + secrets.randbelow(89999))}]}
        ),
        "transit times": lambda: http(
            "POST",
            "/transit-times",
            {"routes": [{"carrier_code": transit_carrier, "origin": "CN", "destination": "FR"}]},
        ),
        "webhook (not a push)": lambda: http("POST", webhook, push),
        "openapi": lambda: http("GET", "/openapi.json"),
        "delete": lambda: http("DELETE", f"/trackings/china-post/{doomed}"),
    }


def send_all(routes: dict[str, Callable[[], requests.Response]]) -> dict[str, requests.Response]:
    with ThreadPoolExecutor(max_workers=len(routes)) as pool:
        futures = {name: pool.submit(send) for name, send in routes.items()}
        return {name: future.result() for name, future in futures.items()}


def gateway_timeouts(answers: dict[str, requests.Response]) -> list[str]:
    return [name for name, answer in answers.items() if answer.status_code == 504 and "integration" in answer.text]


def test_with_a_second_of_upstream_latency_every_route_answers_in_time(http: Http, stack: StackProcess) -> None:
    routes = every_route(http, transit_carrier="dhl")
    http.sandbox("latency", {"profile": "flat", "scale": 1.0})

    answers = send_all(routes)

    assert gateway_timeouts(answers) == []
    statuses = {name: answer.status_code for name, answer in answers.items()}
    assert statuses == {
        **dict.fromkeys(routes, 200),
        "create": 201,
        "create, detecting the carrier": 201,
        "webhook (not a push)": 400,
        "delete": 204,
    }, {name: answers[name].text[:200] for name in answers if answers[name].status_code >= 500}
    assert [r["outcome"] for r in answers["batch of 120"].json()["results"]] == ["created"] * 120
    assert [r["source"] for r in answers["aircargo"].json()["results"]] == ["upstream"]


def test_with_trackingmore_not_answering_every_route_answers_a_retryable_problem_in_time(
    http: Http, stack: StackProcess
) -> None:
    routes = every_route(http, transit_carrier="ups")
    http.sandbox("faults", {"error_rate": 1, "kinds": ["timeout"], "timeout_s": 86400})
    calling_upstream = {"create", "create, detecting the carrier", "patch", "realtime", "aircargo", "remote checks"}
    calling_upstream |= {"transit times", "delete"}

    answers = send_all(routes)

    assert gateway_timeouts(answers) == []
    for name in calling_upstream:
        answer = answers[name]
        assert answer.status_code in (503, 504), (name, answer.status_code, answer.text[:300])
        assert answer.headers["Content-Type"].startswith(PROBLEM)
        assert answer.json()["retryable"] is True, name
        assert int(answer.headers["Retry-After"]) >= 1, name
    batch = answers["batch of 120"]
    assert batch.status_code == 200
    assert {(r["outcome"], r["problem"]["retryable"]) for r in batch.json()["results"]} == {("failed", True)}
    assert {answers[name].status_code for name in ("list", "get", "openapi")} == {200}
    assert "Task timed out" not in stack.logs()


def test_two_dozen_concurrent_realtime_lookups_draw_no_429_from_trackingmore(http: Http, stack: StackProcess) -> None:
    http.sandbox("latency", {"profile": "realistic", "scale": 0.5})
    before = http.stats()
    lookups = [{"carrier_code": "china-post", "tracking_number": number("RL")} for _ in range(24)]

    with ThreadPoolExecutor(max_workers=24) as pool:
        answers = list(pool.map(lambda body: http("POST", "/trackings/realtime", body), lookups))

    after = http.stats()
    assert after["rate_limited"] == before["rate_limited"]  # TrackingMore refused none of ours
    assert [answer.status_code for answer in answers] == [200] * 24, [a.text[:200] for a in answers]
    assert {answer.json()["source"] for answer in answers} == {"carrier"}
    calls = after["calls"].get("POST /trackings/realtime", 0) - before["calls"].get("POST /trackings/realtime", 0)
    assert calls == 24
