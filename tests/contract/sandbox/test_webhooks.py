"""Signed v2 webhook pushes (reference §7.1), retried on failure, counted in stats."""

from __future__ import annotations

import json
import socket
import time

import pytest

from local.sandbox import SandboxServer
from tests.contract.sandbox.helpers import V2
from tests.plugins.sandbox import WebhookReceiver
from trackingmore.webhooks import parse_push, verify_signature

pytestmark = pytest.mark.contract

NUMBER = "3000000000"


def test_advance_pushes_a_signed_v2_body_for_each_changed_tracking(
    v2: V2, sandbox: SandboxServer, webhook_receiver: WebhookReceiver
) -> None:
    sandbox.configure(webhook_url=webhook_receiver.url, email="shop@example.com")
    v2.create(NUMBER, "dhl")
    v2.create("RN123456785CN", "china-post")
    before = int(time.time())

    changed = sandbox.advance(24)["changed"]
    received = webhook_receiver.wait_for(len(changed))
    after = int(time.time()) + 1

    assert len(changed) == 2
    assert len(received) == 2
    stored = {t["tracking_number"]: t for t in v2.get("/trackings/get")["data"]["items"]}
    for request in received:
        assert request.headers["Content-Type"].startswith("application/json")
        body = request.json()
        assert set(body) == {"meta", "data", "verifyInfo"}
        assert body["meta"] == {"code": 200, "type": "Success", "message": "Success"}
        time_str = body["verifyInfo"]["timeStr"]
        assert isinstance(time_str, str)
        assert before <= int(time_str) <= after  # the REAL clock, not the simulated one
        assert verify_signature(time_str, body["verifyInfo"]["signature"], "shop@example.com")
        assert not verify_signature(time_str, body["verifyInfo"]["signature"], "someone@example.com")
        tracking = body["data"]
        assert tracking["status"] == stored[tracking["tracking_number"]]["status"]
        assert tracking["origin_info"] == stored[tracking["tracking_number"]]["origin_info"]


def test_push_parses_with_the_client_webhook_parser(
    v2: V2, sandbox: SandboxServer, webhook_receiver: WebhookReceiver
) -> None:
    sandbox.configure(webhook_url=webhook_receiver.url)
    v2.create(NUMBER, "dhl")

    sandbox.advance(24)
    [request] = webhook_receiver.wait_for(1)

    push = parse_push(request.body)
    assert push.tracking.tracking_number == NUMBER
    assert verify_signature(push.time_str, push.signature, sandbox.email)


def test_status_override_is_pushed(v2: V2, sandbox: SandboxServer, webhook_receiver: WebhookReceiver) -> None:
    sandbox.configure(webhook_url=webhook_receiver.url)
    v2.create(NUMBER, "dhl")

    v2.put(f"/trackings/dhl/{NUMBER}", {"status": 4})
    [request] = webhook_receiver.wait_for(1)

    assert request.json()["data"]["status"] == "delivered"


def test_nothing_is_pushed_when_nothing_changed(
    v2: V2, sandbox: SandboxServer, webhook_receiver: WebhookReceiver
) -> None:
    sandbox.configure(webhook_url=webhook_receiver.url)
    v2.create(NUMBER, "dhl")
    sandbox.advance(24 * 60)
    count = len(webhook_receiver.wait_for(1))
    assert sandbox.wait_for_webhooks()

    sandbox.advance(24)
    v2.put(f"/trackings/dhl/{NUMBER}", {"title": "no status change"})
    assert sandbox.wait_for_webhooks()

    assert len(webhook_receiver.requests) == count
    assert sandbox.stats()["webhooks"]["queued"] == count


def test_failed_delivery_is_retried(v2: V2, sandbox: SandboxServer, webhook_receiver: WebhookReceiver) -> None:
    sandbox.configure(webhook_url=webhook_receiver.url)
    webhook_receiver.respond_with([500])
    v2.create(NUMBER, "dhl")

    sandbox.advance(24)
    received = webhook_receiver.wait_for(2)
    assert sandbox.wait_for_webhooks()

    assert [r.status for r in received] == [500, 200]
    assert received[0].json()["data"] == received[1].json()["data"]
    stats = sandbox.stats()["webhooks"]
    assert (stats["queued"], stats["attempts"], stats["succeeded"], stats["failed"]) == (1, 2, 1, 0)
    [delivery] = stats["deliveries"]
    assert delivery["outcome"] == "succeeded"
    assert [h["http_status"] for h in delivery["history"]] == [500, 200]


def test_delivery_gives_up_after_the_last_retry(
    v2: V2, sandbox: SandboxServer, webhook_receiver: WebhookReceiver
) -> None:
    sandbox.configure(webhook_url=webhook_receiver.url, webhook_retry_delays=[0.01, 0.01])
    webhook_receiver.respond_with([], then=503)
    v2.create(NUMBER, "dhl")

    sandbox.advance(24)
    assert sandbox.wait_for_webhooks()

    stats = sandbox.stats()["webhooks"]
    assert (stats["attempts"], stats["succeeded"], stats["failed"]) == (3, 0, 1)
    assert len(webhook_receiver.requests) == 3


def test_connection_errors_are_retried_and_recorded(v2: V2, sandbox: SandboxServer) -> None:
    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    sandbox.configure(webhook_url=f"http://127.0.0.1:{closed_port}/hook", webhook_retry_delays=[0.01])
    v2.create(NUMBER, "dhl")

    sandbox.advance(24)
    assert sandbox.wait_for_webhooks()

    [delivery] = sandbox.stats()["webhooks"]["deliveries"]
    assert delivery["outcome"] == "failed"
    assert delivery["attempts"] == 2
    assert delivery["http_status"] is None
    assert delivery["last_error"]


def test_webhooks_are_off_without_a_url(v2: V2, sandbox: SandboxServer) -> None:
    v2.create(NUMBER, "dhl")

    result = sandbox.advance(24)

    assert result["webhooks_queued"] == 0
    assert sandbox.stats()["webhooks"]["queued"] == 0


def test_signature_is_hex_hmac_sha256_of_timestr_keyed_by_the_email(
    v2: V2, sandbox: SandboxServer, webhook_receiver: WebhookReceiver
) -> None:
    import hashlib
    import hmac

    sandbox.configure(webhook_url=webhook_receiver.url)
    v2.create(NUMBER, "dhl")

    sandbox.advance(24)
    [request] = webhook_receiver.wait_for(1)

    info = json.loads(request.body)["verifyInfo"]
    expected = hmac.new(sandbox.email.encode(), info["timeStr"].encode(), hashlib.sha256).hexdigest()
    assert info["signature"] == expected
