"""``POST /webhooks/trackingmore/{token}``: the TrackingMore v2 push receiver (WebhookFunction).

No API key (TrackingMore cannot send one): the route is authenticated by the secret path token and the v2
signature (shiptrack.services.webhooks). The OpenAPI document marks it ``security: []`` so the document's global
API-key requirement does not apply to it.
"""

from __future__ import annotations

import base64
from typing import Any, Literal

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, Field

from shiptrack import compose
from shiptrack.errors import PROBLEM_RESPONSES, InvalidJsonError, ShiptrackError
from shiptrack.models import utc_now
from shiptrack.observability import logger, metrics
from shiptrack.services.webhooks import receive_push

__all__ = ["WebhookAck", "router"]

router = Router()  # type: ignore[no-untyped-call]


class WebhookAck(BaseModel):
    """The answer to an accepted push (TrackingMore only needs the 200)."""

    outcome: Literal["applied", "unchanged", "stale", "unknown", "coalesced", "duplicate"] = Field(
        description="`applied`: stored; `unchanged`: nothing new; `stale`: older than the stored copy (ignored); "
        "`unknown`: not a tracking of ours, or gone at TrackingMore (ignored); `coalesced`: a read of the same "
        "tracking in flight serves this push; `duplicate`: this push was received before (ignored)"
    )
    carrier_code: str
    tracking_number: str
    confirmed: bool = Field(description="True when this push read the tracking from TrackingMore")


_PUSH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["data", "verifyInfo"],
    "properties": {
        "meta": {"type": "object"},
        "data": {"type": "object", "description": "The tracking object (TrackingMore v2)"},
        "verifyInfo": {
            "type": "object",
            "required": ["timeStr", "signature"],
            "properties": {
                "timeStr": {"type": "string", "description": "Unix seconds when TrackingMore sent the push"},
                "signature": {"type": "string", "description": "hex HMAC-SHA256 of timeStr keyed with the e-mail"},
            },
        },
    },
}

_RESPONSES: dict[int, Any] = {
    200: {"description": "Push accepted"},
    **{status: PROBLEM_RESPONSES[status] for status in (400, 413, 429, 500, 502, 503, 504)},
    # The same problem+json shape; PROBLEM_RESPONSES has no 401 because API-key routes answer 403 instead.
    401: {**PROBLEM_RESPONSES[400], "description": "Wrong token, wrong signature, or timeStr outside tolerance"},
}

_DESCRIPTION = """Receives TrackingMore v2 webhook pushes. Configure
`https://<api>/v1/webhooks/trackingmore/<webhook_token>` in the TrackingMore dashboard (version 2, Callback on).

No API key. A push is accepted only when the path token matches, `verifyInfo.signature` is the HMAC-SHA256 of
`verifyInfo.timeStr` keyed with the account e-mail, and `timeStr` is within `WebhookToleranceSeconds` (default
300) of the server's clock either way; otherwise 401 and nothing changes. A body that is not a v2 push is a 400.

The push is a notification: the tracking it names is read from TrackingMore and that copy is applied (only if it is
not older than the stored one). A push received before is `duplicate`; pushes for one tracking arriving while its
read is in flight are `coalesced` into it. If TrackingMore cannot be read, the answer is a retryable 429/502/503/504
and nothing changes. (`WebhookTrustPushBody=true` applies the body instead: unsafe, docs/security.md.)"""


def _raw_body() -> bytes:
    event = router.current_event
    body = event.body or ""
    if event.is_base64_encoded:
        try:
            return base64.b64decode(body, validate=True)
        except ValueError as exc:  # binascii.Error: a body we cannot even decode is unreadable input
            raise InvalidJsonError("The request body could not be read.") from exc
    return body.encode("utf-8", "surrogatepass")


@router.post(
    "/webhooks/trackingmore/<token>",
    summary="Receive a TrackingMore push",
    description=_DESCRIPTION,
    tags=["Webhooks"],
    operation_id="receiveTrackingMorePush",
    responses=_RESPONSES,
    # An empty security requirement overrides the document's global API key for this operation.
    openapi_extensions={
        "security": [],
        "requestBody": {"required": True, "content": {"application/json": {"schema": _PUSH_SCHEMA}}},
    },
)
def receive_trackingmore_push(token: str) -> WebhookAck:
    receiver = compose.webhook()
    try:
        outcome = receive_push(_raw_body(), token, receiver=receiver, now=utc_now())
    except ShiptrackError as exc:
        if exc.status in (400, 401):
            metrics.add_metric(name="WebhookRejected", unit=MetricUnit.Count, value=1)
            logger.warning("webhook push rejected", extra={"status": exc.status, "reason": exc.detail})
        raise
    metrics.add_metric(name=f"Webhook{outcome.outcome.capitalize()}", unit=MetricUnit.Count, value=1)
    logger.info(
        "webhook push accepted",
        extra={"outcome": outcome.outcome, "tracking": f"{outcome.carrier_code}/{outcome.tracking_number}"},
    )
    return WebhookAck(
        outcome=outcome.outcome,
        carrier_code=outcome.carrier_code,
        tracking_number=outcome.tracking_number,
        confirmed=outcome.confirmed,
    )
