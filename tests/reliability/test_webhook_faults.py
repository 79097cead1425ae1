"""Storefront webhooks against unreliable receivers: 30 % of the answers fail (5xx, timeouts, resets), events are
redelivered by the bus, and still every event reaches every subscribed endpoint — at least once, and exactly once
by distinct ``webhook-id``; every delivery ends ``succeeded`` and verifies with the Standard Webhooks library.

The receivers' faults are decided per (webhook-id, attempt) from a fixed seed, so a run does not depend on thread
scheduling. Retries are due at once (``WEBHOOK_RETRY_SCALE=0``) and attempts time out after 1 s.
"""

from __future__ import annotations

import random
import threading
from collections import Counter

import pytest
from standardwebhooks import Webhook

from shiptrack.webhook_models import WEBHOOK_EVENT_TYPES
from tests.integration.webhooks_support import Received, Receiver, Reply, Webhooks, webhooks

pytestmark = pytest.mark.reliability

__all__ = ["webhooks"]

SEED = 20261206
FAULT_RATE = 0.3
FAULTS = (Reply(500), Reply(503), Reply(502, body="bad gateway"), Reply(200, delay=1.5), Reply(reset=True))
EVENTS = 30


class FlakyReceiver(Receiver):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.acknowledged: Counter[str] = Counter()
        self.faults = 0
        self._attempts: Counter[str] = Counter()
        self._count_lock = threading.Lock()
        self.script = self.reply

    def reply(self, n: int, got: Received) -> Reply:
        with self._count_lock:
            self._attempts[got.webhook_id] += 1
            attempt = self._attempts[got.webhook_id]
        chance = random.Random(f"{SEED}:{self.name}:{got.webhook_id}:{attempt}")
        if chance.random() < FAULT_RATE:
            with self._count_lock:
                self.faults += 1
            return chance.choice(FAULTS)
        with self._count_lock:
            self.acknowledged[got.webhook_id] += 1
        return Reply(204)


def test_every_event_reaches_every_subscribed_endpoint_exactly_once_by_webhook_id(webhooks: Webhooks) -> None:
    receivers = [FlakyReceiver(name).start() for name in ("all-1", "all-2", "status-only")]
    try:
        subscriptions: list[list[str] | None] = [None, None, ["tracking.status_changed"]]
        endpoints = [webhooks.endpoint(r.url, events=s) for r, s in zip(receivers, subscriptions, strict=True)]
        detail_types = list(WEBHOOK_EVENT_TYPES)
        sent: dict[str, str] = {}
        for n in range(EVENTS):
            detail_type = detail_types[n % len(detail_types)]
            event_id = f"{n:032x}"
            detail = {"event_id": event_id, "occurred_at": f"2026-11-22T14:{n // 60:02d}:{n % 60:02d}.000Z", "n": n}
            webhooks.publish(detail_type, detail)
            if n % 7 == 0:
                webhooks.publish(detail_type, detail)  # the bus delivers at least once
            sent[event_id] = WEBHOOK_EVENT_TYPES[detail_type]
        webhooks.pump(rounds=2000)

        for receiver, endpoint, subscription in zip(receivers, endpoints, subscriptions, strict=True):
            expected = {i for i, t in sent.items() if subscription is None or t in subscription}
            assert {r.webhook_id for r in receiver.received} == expected, receiver.name
            assert set(receiver.acknowledged) == expected, receiver.name
            assert all(Webhook(endpoint["secret"]).verify(r.body, r.headers) for r in receiver.received)
            log = webhooks.deliveries(endpoint["id"], limit="100")
            assert sorted(d["event_id"] for d in log) == sorted(expected)
            assert {d["status"] for d in log} == {"succeeded"}
        assert sum(r.faults for r in receivers) > 0.2 * sum(len(r.received) for r in receivers)
    finally:
        for receiver in receivers:
            receiver.stop()


def test_copies_of_a_delivery_message_in_one_batch_make_one_attempt(webhooks: Webhooks) -> None:
    receiver = Receiver().start()
    try:
        receiver.script = lambda n, got: Reply(200, delay=0.3)  # slow enough that the copies overlap
        webhooks.endpoint(receiver.url)
        webhooks.publish("Tracking Created", {"event_id": "c" * 32, "occurred_at": "2026-11-22T14:08:28.869Z"})
        webhooks.run("webhook_fanout", "WebhookEventsQueue")
        [message] = webhooks.receive("WebhookDeliveriesQueue")
        url = webhooks.aws.queue_url("WebhookDeliveriesQueue")
        for _ in range(5):
            webhooks.aws.sqs.send_message(QueueUrl=url, MessageBody=message["Body"])
        webhooks.aws.sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
        webhooks.pump()
        assert [r.webhook_id for r in receiver.received] == ["c" * 32]
    finally:
        receiver.stop()
