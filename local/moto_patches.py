"""Small fidelity fixes to moto 5.2.5, applied wherever the local stack or the fixtures run moto.

* EventBridge → SQS targets: moto's default event envelope leaves out `account`, which every real event has
  (and which Powertools' `EventBridgeModel` requires). The patch adds it to full envelopes only; events shaped by
  `Input`/`InputPath`/`InputTransformer` are left as they are.
* DynamoDB conditional writes: DynamoDB evaluates a write's condition and applies the write atomically. moto
  checks, then writes, with no lock, so two concurrent requests (threads in-process, or the threaded moto
  server) can both pass `attribute_not_exists(pk)`. Every write is serialised here, as DynamoDB would order them;
  without it the local stack could create one tracking twice upstream where AWS never would.
"""

from __future__ import annotations

import threading
from typing import Any

_ENVELOPE_KEYS = {"version", "id", "detail-type", "source", "time", "region", "resources", "detail"}
_state = {"applied": False}
_DYNAMODB_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")
_dynamodb_write_lock = threading.RLock()


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
    _serialise_dynamodb_writes()
    _state["applied"] = True


def _serialise_dynamodb_writes() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    for name in _DYNAMODB_WRITES:
        original = getattr(DynamoDBBackend, name)

        def locked(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with _dynamodb_write_lock:
                return __original(self, *args, **kwargs)

        setattr(DynamoDBBackend, name, locked)
