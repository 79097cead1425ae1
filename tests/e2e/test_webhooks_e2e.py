"""Storefront webhooks through the local stack (template.yaml's real functions, moto, the sandbox), with a real
receiver on 127.0.0.1: the stack runs with WebhookAllowLoopback=true and WebhookRetryScale=0.01.

The stack is shared by the session: each test registers its own endpoints (deleted afterwards) and looks only at
deliveries about its own tracking numbers.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
import requests
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from local.stack import StackProcess
from tests.integration.webhooks_support import Received, Receiver, Reply
from tests.plugins.stack import eventually as poll

pytestmark = pytest.mark.e2e

TIMEOUT = 60
eventually = partial(poll, timeout=120.0, interval=0.3)


def unique() -> str:
    return f"WE{secrets.randbelow(10**9):09d}CN"


class Api:
    def __init__(self, stack: StackProcess) -> None:
        self.base = f"{stack.api_url}/v1"
        self.http = requests.Session()
        self.http.headers["x-api-key"] = stack.api_key
        self.created: list[str] = []

    def call(self, method: str, path: str, body: Any = None, **params: str) -> requests.Response:
        return self.http.request(method, self.base + path, json=body, params=params or None, timeout=TIMEOUT)

    def endpoint(self, url: str, **extra: Any) -> dict[str, Any]:
        response = self.call("POST", "/webhook-endpoints", {"url": url, **extra})
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        self.created.append(body["id"])
        return body

    def track(self, number: str) -> None:
        response = self.call("POST", "/trackings", {"tracking_number": number, "carrier_code": "china-post"})
        assert response.status_code == 201, response.text

    def deliveries(self, endpoint_id: str) -> list[dict[str, Any]]:
        response = self.call("GET", f"/webhook-endpoints/{endpoint_id}/deliveries", limit="100")
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items


@pytest.fixture
def api(local_stack: StackProcess) -> Iterator[Api]:
    client = Api(local_stack)
    yield client
    for endpoint_id in client.created:
        client.call("DELETE", f"/webhook-endpoints/{endpoint_id}")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


def about(receiver: Receiver, number: str, event_type: str = "tracking.created") -> Callable[[], list[Received]]:
    def check() -> list[Received]:
        return [
            r
            for r in list(receiver.received)
            if r.json.get("type") == event_type and r.json["data"]["tracking"]["tracking_number"] == number
        ]

    return check


def test_a_new_trackings_delivery_verifies_and_a_tampered_one_does_not(api: Api, receiver: Receiver) -> None:
    endpoint = api.endpoint(receiver.url, events=["tracking.created"])
    number = unique()
    api.track(number)

    [got] = eventually(about(receiver, number))
    payload = Webhook(endpoint["secret"]).verify(got.body, got.headers)
    assert payload["data"]["tracking"]["tracking_number"] == number
    assert payload["data"]["tracking"]["customer"] == {"name": None, "email": None, "phone": None}
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint["secret"]).verify(got.body.replace(number, unique()), got.headers)


def test_a_receiver_that_fails_first_gets_the_same_webhook_id_again_and_the_log_shows_both(
    api: Api, receiver: Receiver
) -> None:
    failed_once: set[str] = set()

    def script(n: int, got: Received) -> Reply:
        if got.webhook_id in failed_once:
            return Reply(200)
        failed_once.add(got.webhook_id)
        return Reply(500, body="temporarily unavailable")

    receiver.script = script
    endpoint = api.endpoint(receiver.url, events=["tracking.created"])
    number = unique()
    api.track(number)

    first, second = eventually(lambda: about(receiver, number)()[:2] if len(about(receiver, number)()) >= 2 else None)
    assert first.webhook_id == second.webhook_id
    assert Webhook(endpoint["secret"]).verify(second.body, second.headers) == first.json

    def log() -> dict[str, Any] | None:
        mine = [d for d in api.deliveries(endpoint["id"]) if d["event_id"] == first.webhook_id]
        return mine[0] if mine and mine[0]["status"] == "succeeded" else None

    delivery = eventually(log)
    assert [(a["outcome"], a["status_code"]) for a in reversed(delivery["attempts"])] == [
        ("failed", 500),
        ("succeeded", 200),
    ]
    assert delivery["attempts"][1]["error"] == "temporarily unavailable"


def test_a_disabled_endpoint_receives_nothing(api: Api, receiver: Receiver) -> None:
    other = Receiver().start()
    try:
        api.endpoint(receiver.url, events=["tracking.created"])
        disabled = api.endpoint(other.url, events=["tracking.created"])
        assert api.call("PATCH", f"/webhook-endpoints/{disabled['id']}", {"status": "disabled"}).status_code == 200
        number = unique()
        api.track(number)
        eventually(about(receiver, number))
        assert about(other, number)() == []
        assert api.deliveries(disabled["id"]) == []
    finally:
        other.stop()


def test_during_a_rotation_both_secrets_verify(api: Api, receiver: Receiver) -> None:
    endpoint = api.endpoint(receiver.url, events=["tracking.created"])
    rotated = api.call("POST", f"/webhook-endpoints/{endpoint['id']}/rotate-secret")
    assert rotated.status_code == 200
    number = unique()
    api.track(number)

    [got] = eventually(about(receiver, number))
    assert Webhook(endpoint["secret"]).verify(got.body, got.headers) == Webhook(rotated.json()["secret"]).verify(
        got.body, got.headers
    )


def test_a_ping_arrives_signed(api: Api, receiver: Receiver) -> None:
    endpoint = api.endpoint(receiver.url, events=["tracking.archived"])
    ping = api.call("POST", f"/webhook-endpoints/{endpoint['id']}/test")
    assert ping.status_code == 202
    got = eventually(lambda: [r for r in list(receiver.received) if r.webhook_id == ping.json()["event_id"]])
    assert Webhook(endpoint["secret"]).verify(got[0].body, got[0].headers)["type"] == "webhook.test"
