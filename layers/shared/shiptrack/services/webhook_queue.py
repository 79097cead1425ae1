"""The SQS side of storefront webhooks: delivery messages, and the three queues they move through.

* WebhookEventsQueue — every ``shiptrack`` event from the bus (and the pings of ``POST …/test``); the fan-out
  reads it.
* WebhookDeliveriesQueue — one message per delivery (:class:`DeliveryMessage`); the delivery function reads it.
  A retry is that same message made invisible until its next attempt is due (``ChangeMessageVisibility``, at
  most 12 hours per receive), so a failing endpoint costs one receive per attempt and holds up nothing else.
* WebhookDeliveriesDLQ — a copy of every delivery that failed for good (alarmed); redriving it retries them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Final

from shiptrack.errors import QueueSendError

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

__all__ = ["MAX_VISIBILITY_SECONDS", "DeliveryMessage", "WebhookQueues"]

#: SQS's limit on a message's visibility timeout, counted from its receive.
MAX_VISIBILITY_SECONDS: Final = 12 * 3600


@dataclass(frozen=True, slots=True)
class DeliveryMessage:
    """What drives one delivery. ``retry_request`` marks a manual retry (or a DLQ redrive): the delivery is
    reopened once for it even though it had finished."""

    endpoint_id: str
    delivery_id: str
    event_id: str
    retry_request: str | None = None

    def body(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None}, separators=(",", ":"))

    @classmethod
    def parse(cls, body: str) -> DeliveryMessage:
        """The message in an SQS body; ``ValueError`` when it is not one."""
        data = json.loads(body)
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("endpoint_id", "delivery_id")):
            msg = "not a delivery message"
            raise ValueError(msg)
        retry = data.get("retry_request")
        return cls(str(data["endpoint_id"]), str(data["delivery_id"]), str(data.get("event_id", "")), retry)


class WebhookQueues:
    """Sends to and adjusts the webhook queues (one boto3 SQS client, from ``sqs``; thread-safe)."""

    def __init__(
        self, sqs: Callable[[], SQSClient], *, events_url: str, deliveries_url: str, dead_letter_url: str
    ) -> None:
        # A factory: a request that sends nothing (a read of the endpoints API) never builds the client.
        self._sqs = sqs
        self.events_url = events_url
        self.deliveries_url = deliveries_url
        self.dead_letter_url = dead_letter_url

    def enqueue(self, messages: Sequence[DeliveryMessage]) -> None:
        """Queue deliveries, 10 per request; raises :class:`QueueSendError` if any was not taken."""
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            entries: list[SendMessageBatchRequestEntryTypeDef] = [
                {"Id": str(i), "MessageBody": m.body()} for i, m in enumerate(chunk)
            ]
            response = self._sqs().send_message_batch(QueueUrl=self.deliveries_url, Entries=entries)
            if response.get("Failed"):
                msg = f"{len(response['Failed'])} delivery message(s) not queued"
                raise QueueSendError(msg)

    def dead_letter(self, message: DeliveryMessage, request_id: str) -> None:
        """Park a delivery that failed for good in the DLQ, marked (``request_id``: one per failure, so copies of
        the same failure reopen it once) so that a redrive retries it."""
        retry = DeliveryMessage(message.endpoint_id, message.delivery_id, message.event_id, request_id)
        self._sqs().send_message(QueueUrl=self.dead_letter_url, MessageBody=retry.body())

    def delay(self, receipt_handle: str, seconds: int) -> None:
        """Make a received delivery message visible again in ``seconds`` (its next attempt)."""
        self._sqs().change_message_visibility(
            QueueUrl=self.deliveries_url,
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=max(0, min(int(seconds), MAX_VISIBILITY_SECONDS)),
        )

    def send_event(self, event: Mapping[str, Any]) -> None:
        """Put an EventBridge-shaped event straight on the events queue (the ping of ``POST …/test``)."""
        self._sqs().send_message(QueueUrl=self.events_url, MessageBody=json.dumps(event, separators=(",", ":")))
