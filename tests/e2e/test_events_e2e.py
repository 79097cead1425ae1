"""Every event path through the local stack (template.yaml's real functions, moto, the sandbox), over HTTP.

The stack is shared by the session (one per xdist worker): each test uses its own numbers and order ids, and
looks only at its own events on ``local-event-tap``.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
import requests

from local.resources import LOCAL_SECRET_VALUES
from local.stack import StackProcess
from tests.plugins.stack import eventually as poll
from trackingmore.webhooks import sign

pytestmark = pytest.mark.e2e

TIMEOUT = 60
EMAIL = LOCAL_SECRET_VALUES["account_email"]
TOKEN = LOCAL_SECRET_VALUES["webhook_token"]


# Events cross the stream, the publisher and the bus: a longer default wait than the stack's own checks.
eventually = partial(poll, timeout=90.0, interval=0.3)


def unique(prefix: str) -> str:
    return f"{prefix}{secrets.randbelow(10**9):09d}CN"


class Stack:
    def __init__(self, stack: StackProcess) -> None:
        self.stack = stack
        self.api = f"{stack.api_url}/v1"
        self.headers = {"x-api-key": stack.api_key}
        self.control = stack.sandbox_control_url
        self.http = requests.Session()
        self.sqs = stack.client("sqs")
        self.tap_url = self.sqs.get_queue_url(QueueName="local-event-tap")["QueueUrl"]
        self.tapped: list[dict[str, Any]] = []

    # -- API and sandbox -------------------------------------------------------------------------------------------
    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.http.request(method, self.api + path, headers=headers, timeout=TIMEOUT, **kwargs)

    def sandbox(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.http.request(method, f"{self.control}/_sandbox/{path}", json=body, timeout=TIMEOUT)
        response.raise_for_status()
        return response.json()

    def upstream(self, number: str) -> dict[str, Any]:
        return next(t for t in self.sandbox("GET", "trackings")["trackings"] if t["tracking_number"] == number)

    def calls(self, route: str) -> int:
        return int(self.sandbox("GET", "stats")["calls"].get(route, 0))

    def track(self, number: str, carrier: str = "china-post") -> dict[str, Any]:
        response = self.call("POST", "/trackings", json={"tracking_number": number, "carrier_code": carrier})
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def stored(self, number: str, carrier: str = "china-post") -> dict[str, Any]:
        response = self.call("GET", f"/trackings/{carrier}/{number}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def fire(self, function_id: str) -> requests.Response:
        return self.http.post(f"{self.stack.api_url}/_local/schedules/{function_id}", timeout=900)

    # -- the event tap ---------------------------------------------------------------------------------------------
    def events_for(self, number: str) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(QueueUrl=self.tap_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in messages.get("Messages", []):
            self.tapped.append(json.loads(message["Body"]))
            self.sqs.delete_message(QueueUrl=self.tap_url, ReceiptHandle=message["ReceiptHandle"])
        return [e for e in self.tapped if e.get("detail", {}).get("tracking", {}).get("tracking_number") == number]


@pytest.fixture(scope="module")
def stack(local_stack: StackProcess) -> Stack:
    return Stack(local_stack)


def events_of(stack: Stack, number: str, detail_type: str) -> Callable[[], list[dict[str, Any]]]:
    return lambda: [e for e in stack.events_for(number) if e["detail-type"] == detail_type]


def stored_with_status(stack: Stack, number: str, status: str) -> Callable[[], dict[str, Any] | None]:
    def check() -> dict[str, Any] | None:
        stored = stack.stored(number)
        return stored if stored["status"] == status else None

    return check


def push(
    stack: Stack, data: dict[str, Any], *, token: str = TOKEN, sent_at: float | None = None, key: str = EMAIL
) -> requests.Response:
    time_str = str(int(time.time() if sent_at is None else sent_at))
    body = {"meta": {"code": 200}, "data": data, "verifyInfo": {"timeStr": time_str, "signature": sign(time_str, key)}}
    return stack.http.post(f"{stack.api}/webhooks/trackingmore/{token}", json=body, timeout=TIMEOUT)


def test_a_pushed_change_moves_the_parcel_and_reaches_the_event_tap(stack: Stack) -> None:
    created = {number: stack.track(number)["status"] for number in (unique("WH") for _ in range(3))}
    for number in created:
        assert eventually(events_of(stack, number, "Tracking Created"))

    # The sandbox moves its parcels three days on and pushes signed webhooks for every change to the stack.
    stack.sandbox("POST", "advance", {"hours": 72})
    upstream = {number: stack.upstream(number) for number in created}
    moved = [n for n in created if upstream[n]["status"] != created[n]]
    assert moved, "no parcel changed status in three simulated days"

    for number in created:
        stored = eventually(stored_with_status(stack, number, upstream[number]["status"]))
        assert stored["substatus"] == upstream[number].get("substatus")
    for number in moved:
        changes = eventually(events_of(stack, number, "Tracking Status Changed"))
        assert changes[-1]["source"] == "shiptrack"
        assert changes[-1]["detail"]["status"] == upstream[number]["status"]
        assert changes[0]["detail"]["previous_status"] == created[number]


@pytest.mark.parametrize(
    ("case", "kwargs"),
    [
        ("forged token", {"token": "not-the-token"}),
        ("forged signature", {"key": "attacker@example.com"}),
        ("stale timeStr", {"sent_at": time.time() - 3600}),
        ("future timeStr", {"sent_at": time.time() + 3600}),
    ],
)
def test_unauthenticated_pushes_are_401_and_change_nothing(stack: Stack, case: str, kwargs: dict[str, Any]) -> None:
    number = unique("FG")
    before = stack.track(number)
    forged = {
        "tracking_number": number,
        "carrier_code": "china-post",
        "status": "delivered",
        "substatus": "delivered001",
        "updated_at": "2031-01-01T00:00:00+00:00",
    }

    response = push(stack, forged, **kwargs)

    assert response.status_code == 401, case
    assert response.headers["Content-Type"] == "application/problem+json"
    after = stack.stored(number)
    assert (after["status"], after["updated_at"]) == (before["status"], before["updated_at"])


def test_a_tampered_time_str_is_401(stack: Stack) -> None:
    number = unique("TT")
    stack.track(number)
    old = str(int(time.time()) - 3600)
    body = {
        "data": {"tracking_number": number, "carrier_code": "china-post", "status": "delivered"},
        "verifyInfo": {"timeStr": str(int(time.time())), "signature": sign(old, EMAIL)},
    }
    response = stack.http.post(f"{stack.api}/webhooks/trackingmore/{TOKEN}", json=body, timeout=TIMEOUT)
    assert response.status_code == 401
    assert stack.stored(number)["status"] != "delivered"


def test_a_body_that_is_not_a_push_is_400_without_an_api_key(stack: Stack) -> None:
    response = stack.http.post(f"{stack.api}/webhooks/trackingmore/{TOKEN}", json={"hello": "world"}, timeout=TIMEOUT)
    assert response.status_code == 400


def put_order(stack: Stack, detail: dict[str, Any]) -> None:
    response = stack.stack.client("events").put_events(
        Entries=[
            {
                "Source": "storefront.orders",
                "DetailType": "Order Shipped",
                "Detail": json.dumps(detail),
                "EventBusName": "shiptrack-local-bus",
            }
        ]
    )
    assert response["FailedEntryCount"] == 0


def test_an_order_shipped_twice_creates_its_two_trackings_exactly_once(stack: Stack) -> None:
    order_id = f"SO-{secrets.randbelow(10**9)}"
    first, second = unique("OS"), unique("OT")
    detail = {
        "order_id": order_id,
        "order_created_at": "2026-11-21T10:15:00Z",
        "customer": {"name": "Ada Lovelace"},
        "destination_code": "GB",
        "shipments": [{"tracking_number": first, "carrier_code": "china-post"}, {"tracking_number": second}],
    }
    creates = stack.calls("POST /trackings/batch")

    put_order(stack, detail)
    put_order(stack, detail)  # the same order delivered twice

    def listed() -> list[dict[str, Any]] | None:
        items: list[dict[str, Any]] = stack.call("GET", "/trackings", params={"order_id": order_id}).json()["items"]
        return items if len(items) >= 2 else None

    items = eventually(listed)
    # Let the second delivery be handled too, then look again: still exactly two.
    eventually(lambda: stack.calls("POST /trackings/batch") >= creates + 1)
    eventually(lambda: len([e for n in (first, second) for e in stack.events_for(n)]) >= 2)
    items = stack.call("GET", "/trackings", params={"order_id": order_id}).json()["items"]
    assert sorted(t["tracking_number"] for t in items) == sorted([first, second])
    assert all(t["destination_code"] == "GB" and t["customer"]["name"] == "Ada Lovelace" for t in items)
    created_events = [e for n in (first, second) for e in stack.events_for(n) if e["detail-type"] == "Tracking Created"]
    assert len(created_events) == 2


def test_a_poison_order_event_ends_in_the_dlq(stack: Stack) -> None:
    marker = f"SO-POISON-{secrets.randbelow(10**9)}"
    put_order(stack, {"order_id": marker, "shipments": []})
    dlq = stack.sqs.get_queue_url(QueueName="shiptrack-local-OrderEventsDLQ")["QueueUrl"]

    def dead() -> list[dict[str, Any]]:
        found = []
        for message in stack.sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            if marker in message["Body"]:
                found.append(message)
                stack.sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])
        return found

    assert len(eventually(dead, timeout=120)) == 1


def test_refresh_brings_parcels_to_the_sandboxs_state(stack: Stack) -> None:
    created = {number: stack.track(number)["status"] for number in (unique("RF") for _ in range(3))}
    config = stack.sandbox("GET", "config")
    stack.sandbox("POST", "config", {"webhook_url": None})  # only the refresh may bring the news this time
    try:
        stack.sandbox("POST", "advance", {"hours": 72})
        lists = stack.calls("GET /trackings/get")
        response = stack.fire("RefreshFunction")
    finally:
        stack.sandbox("POST", "config", {"webhook_url": config.get("webhook_url")})

    assert response.status_code == 200, response.text
    run = response.json()
    assert run["ok"] is True
    assert run["payload"]["completed"] is True
    assert stack.calls("GET /trackings/get") > lists
    upstream = {number: stack.upstream(number) for number in created}
    for number, tracking in upstream.items():
        assert stack.stored(number)["status"] == tracking["status"], number
    moved = [n for n in created if upstream[n]["status"] != created[n]]

    def status_changes() -> list[dict[str, Any]] | None:
        events = [e for n in moved for e in stack.events_for(n) if e["detail-type"] == "Tracking Status Changed"]
        return events if len({e["detail"]["tracking"]["tracking_number"] for e in events}) == len(moved) else None

    assert moved, "no parcel changed status in three simulated days"
    assert eventually(status_changes)


def test_archive_runs_on_its_schedule(stack: Stack) -> None:
    response = stack.fire("ArchiveFunction")
    assert response.status_code == 200, response.text
    run = response.json()
    assert run["ok"] is True
    assert run["payload"]["completed"] is True
    assert run["payload"]["archived"] == 0  # nothing here has been terminal for ArchiveAfterDays (30) yet
