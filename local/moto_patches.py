"""Small fidelity fixes to moto 5.2.5, applied wherever the local stack or the fixtures run moto.

* EventBridge → SQS targets: moto's default event envelope leaves out `account`, which every real event has
  (and which Powertools' `EventBridgeModel` requires). The patch adds it to full envelopes only; events shaped by
  `Input`/`InputPath`/`InputTransformer` are left as they are.
"""

from __future__ import annotations

from typing import Any

_ENVELOPE_KEYS = {"version", "id", "detail-type", "source", "time", "region", "resources", "detail"}
_state = {"applied": False}


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
    _state["applied"] = True
