"""Every tracking route over HTTP through the local stack (template.yaml's real functions, moto, the sandbox).

The stack is shared by the whole session, so each test uses its own tracking numbers and counts upstream calls
as differences.
"""

from __future__ import annotations

import json
import secrets
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from local.stack import StackProcess

pytestmark = pytest.mark.e2e


def unique(prefix: str) -> str:
    return f"{prefix}{secrets.randbelow(10**9):09d}CN"


class Client:
    def __init__(self, stack: StackProcess) -> None:
        self.base = f"{stack.api_url}/v1"
        self.headers = {"x-api-key": stack.api_key}
        self.control = stack.sandbox_control_url
        self.session = requests.Session()

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.session.request(method, self.base + path, headers=headers, timeout=60, **kwargs)

    def upstream_calls(self, route: str) -> int:
        with urllib.request.urlopen(f"{self.control}/_sandbox/stats", timeout=10) as response:
            return int(json.loads(response.read())["calls"].get(route, 0))


@pytest.fixture(scope="module")
def client(local_stack: StackProcess) -> Client:
    return Client(local_stack)


def test_a_tracking_through_its_whole_life(client: Client) -> None:
    number = unique("LF")
    order = f"#{number}"
    body = {"tracking_number": number.lower(), "carrier_code": "China-Post", "order_id": order, "title": "Blue mug"}
    creates = client.upstream_calls("POST /trackings/post")

    created = client.request("POST", "/trackings", json=body)
    again = client.request("POST", "/trackings", json=body)
    fetched = client.request("GET", f"/trackings/china-post/{number}")
    listed = client.request("GET", "/trackings", params={"order_id": order})
    patched = client.request("PATCH", f"/trackings/china-post/{number}", json={"title": "Red mug", "comment": "gift"})
    moved = client.request("PATCH", f"/trackings/china-post/{number}", json={"carrier_code": "china-ems"})
    old_gone = client.request("GET", f"/trackings/china-post/{number}")
    deleted = client.request("DELETE", f"/trackings/china-ems/{number}")
    gone = client.request("GET", f"/trackings/china-ems/{number}")

    assert created.status_code == 201, created.text
    assert created.json()["tracking_number"] == number
    assert again.status_code == 200
    assert client.upstream_calls("POST /trackings/post") == creates + 1
    assert fetched.status_code == 200
    assert [t["tracking_number"] for t in listed.json()["items"]] == [number]
    assert patched.json()["title"] == "Red mug"
    assert moved.status_code == 200
    assert moved.json()["carrier_code"] == "china-ems"
    assert old_gone.status_code == 404
    assert old_gone.headers["Content-Type"] == "application/problem+json"
    assert deleted.status_code == 204
    assert gone.status_code == 404


def test_batch_over_http(client: Client) -> None:
    numbers = [unique("BT") for _ in range(45)]
    items: list[Any] = [{"tracking_number": n, "carrier_code": "china-post"} for n in numbers]
    items += [{"tracking_number": numbers[0]}, {"tracking_number": "x"}]
    items[-2]["carrier_code"] = "china-post"
    batches = client.upstream_calls("POST /trackings/batch")

    answer = client.request("POST", "/trackings/batch", json={"items": items})

    assert answer.status_code == 200, answer.text
    outcomes = [r["outcome"] for r in answer.json()["results"]]
    # the repeat of the first number is `existing`, carrying the first occurrence's tracking
    assert outcomes == ["created"] * 45 + ["existing", "failed"]
    assert answer.json()["results"][45]["tracking"]["tracking_number"] == numbers[0]
    assert answer.json()["summary"] == {"created": 45, "existing": 1, "failed": 1}
    assert client.upstream_calls("POST /trackings/batch") == batches + 2  # ⌈45/40⌉


def test_idempotency_key_over_http(client: Client) -> None:
    body = {"tracking_number": unique("ID"), "carrier_code": "china-post"}
    key = {"Idempotency-Key": f"e2e-{secrets.token_hex(8)}"}

    first = client.request("POST", "/trackings", json=body, headers=key)
    replay = client.request("POST", "/trackings", json=body, headers=key)
    other = client.request("POST", "/trackings", json={**body, "title": "other"}, headers=key)

    assert (first.status_code, replay.status_code, other.status_code) == (201, 201, 422)
    assert replay.json() == first.json()
    assert other.json()["code"] == "idempotency_key_reused"


def test_concurrent_identical_creates_over_http_make_one_upstream_create(client: Client) -> None:
    body = {"tracking_number": unique("CC"), "carrier_code": "china-post"}
    creates = client.upstream_calls("POST /trackings/post")

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda _: client.request("POST", "/trackings", json=body), range(20)))

    statuses = sorted(answer.status_code for answer in answers)
    assert client.upstream_calls("POST /trackings/post") == creates + 1
    assert statuses.count(201) == 1
    assert set(statuses) <= {200, 201, 409}  # 409 request_in_progress only if a waiter outlived its wait


def test_realtime_over_http(client: Client) -> None:
    body = {"carrier_code": "china-post", "tracking_number": unique("RT")}

    live = client.request("POST", "/trackings/realtime", json=body)
    cached = client.request("POST", "/trackings/realtime", json={**body, "max_age_seconds": 0})

    assert live.status_code == 200, live.text
    assert live.json()["source"] == "carrier"
    assert cached.json()["source"] == "cache"  # TrackingMore's once-per-2-hours rule


def test_the_api_key_is_required(client: Client) -> None:
    answer = requests.get(f"{client.base}/trackings", timeout=30)

    assert answer.status_code == 403


def test_the_changes_feed_returns_what_changed_after_an_instant_and_nothing_for_the_future(client: Client) -> None:
    from datetime import UTC, datetime, timedelta

    from tests.plugins.stack import eventually

    since = datetime.now(UTC) - timedelta(seconds=2)  # the gateway's clock and ours are the same machine's
    number = unique("CF")
    assert client.request("POST", "/trackings", json={"tracking_number": number, "carrier_code": "china-post"}).ok
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()

    seen: list[str] = []
    cursor: list[str] = []

    def changed() -> bool:
        # A poller: follow next_cursor, keep the last one, poll again until the tracking shows
        params = {"updated_after": since.isoformat(), "limit": 100, **({"cursor": cursor[-1]} if cursor else {})}
        page = client.request("GET", "/trackings", params=params)
        assert page.status_code == 200, page.text
        seen.extend(item["tracking_number"] for item in page.json()["items"])
        if page.json().get("next_cursor"):
            cursor.append(page.json()["next_cursor"])
        return number in seen

    assert eventually(changed, timeout=30)  # once the feed's hold-back (1 s here) has passed
    assert seen.count(number) == 1
    nothing = client.request("GET", "/trackings", params={"updated_after": future})
    assert (nothing.status_code, nothing.json()["items"]) == (200, [])
