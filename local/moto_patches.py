"""Small fidelity fixes to moto 5.2.5, applied wherever the local stack or the fixtures run moto.

* EventBridge → SQS targets: moto's default event envelope leaves out `account`, which every real event has
  (and which Powertools' `EventBridgeModel` requires). The patch adds it to full envelopes only; events shaped by
  `Input`/`InputPath`/`InputTransformer` are left as they are.
* DynamoDB conditional writes: DynamoDB evaluates a write's condition and applies the write atomically. moto
  checks, then writes, with no lock, so two concurrent requests (threads in-process, or the threaded moto
  server) can both pass `attribute_not_exists(pk)`. Every write is serialised here, as DynamoDB would order them;
  without it the local stack could create one tracking twice upstream where AWS never would.
* SQS retries: the local pollers make a failed message visible again after a second or so instead of after the
  queue's visibility timeout (local/glue.py). That speed-up must not undo a visibility the function set itself
  (``ChangeMessageVisibility``, a retry schedule), which on AWS stands: the pollers mark their own changes with
  :data:`LOCAL_RETRY_HEADER`, and such a change is skipped for a message the function changed since its receive.

moto's costs that AWS does not have (per-request work that repeats or grows with what moto holds) are removed by
:mod:`local.moto_speed`, applied with these.
"""

from __future__ import annotations

import threading
from typing import Any

from local import moto_speed

_ENVELOPE_KEYS = {"version", "id", "detail-type", "source", "time", "region", "resources", "detail"}
_state = {"applied": False}
_DYNAMODB_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")
_dynamodb_write_lock = threading.RLock()
#: The header local/glue.py sends with the visibility changes it makes itself (its quick retries).
LOCAL_RETRY_HEADER = "x-shiptrack-local-retry"
_local_retry = threading.local()  # moto's server answers each request on a thread of its own


def apply() -> None:
    """Patch moto in this process (idempotent)."""
    if _state["applied"]:
        return
    from moto.events.models import Rule

    original = Rule._send_to_sqs_queue

    def send_to_sqs_queue(self: Any, resource_id: str, event: dict[str, Any], group_id: str | None = None) -> None:
        if isinstance(event, dict) and set(event) >= _ENVELOPE_KEYS and "account" not in event:
            event = {**event, "account": self.account_id}
            event = {k: event[k] for k in ("version", "id", "detail-type", "source", "account") if k in event} | event
        original(self, resource_id, event, group_id)

    Rule._send_to_sqs_queue = send_to_sqs_queue  # type: ignore[method-assign]
    moto_speed.apply()  # first: its transactions rely on the write lock below
    _serialise_dynamodb_writes()
    _keep_visibilities_functions_set()
    _state["applied"] = True


def _serialise_dynamodb_writes() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    for name in _DYNAMODB_WRITES:
        original = getattr(DynamoDBBackend, name)

        def locked(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with _dynamodb_write_lock:
                return __original(self, *args, **kwargs)

        setattr(DynamoDBBackend, name, locked)


def _keep_visibilities_functions_set() -> None:
    from moto.sqs.models import Message, SQSBackend
    from moto.sqs.responses import SQSResponse

    received, changed = Message.mark_received, SQSBackend.change_message_visibility
    batch = SQSResponse.change_message_visibility_batch

    def mark_received(self: Any, visibility_timeout: int | None = None) -> None:
        self.visibility_set_since_receive = False
        received(self, visibility_timeout)

    def change_message_visibility(self: Any, queue_name: str, receipt_handle: str, visibility_timeout: int) -> None:
        message = next((m for m in self.get_queue(queue_name)._messages if m.had_receipt_handle(receipt_handle)), None)
        if getattr(_local_retry, "active", False):
            if message is not None and getattr(message, "visibility_set_since_receive", False):
                return  # the function chose when this message comes back: that stands
        elif message is not None:
            message.visibility_set_since_receive = True
        changed(self, queue_name, receipt_handle, visibility_timeout)

    def change_message_visibility_batch(self: Any) -> Any:
        _local_retry.active = bool(self.headers.get(LOCAL_RETRY_HEADER))
        try:
            return batch(self)
        finally:
            _local_retry.active = False

    Message.mark_received = mark_received  # type: ignore[method-assign]
    SQSBackend.change_message_visibility = change_message_visibility  # type: ignore[method-assign]
    SQSResponse.change_message_visibility_batch = change_message_visibility_batch  # type: ignore[method-assign]
