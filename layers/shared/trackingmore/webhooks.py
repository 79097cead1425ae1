"""TrackingMore v2 webhooks: signatures and push bodies (reference §7.1).

A v2 push is ``{"meta": {...}, "data": <tracking>, "verifyInfo": {"timeStr": "...", "signature": "..."}}``.
The signature is ``hex(HMAC-SHA256(key=account e-mail, message=timeStr))``: it authenticates ``timeStr`` only,
not the body, so receivers should also refuse stale ``timeStr`` values (replays) and use a secret URL.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping

from pydantic import ValidationError

from trackingmore.errors import WebhookPayloadError
from trackingmore.models import Tracking, WebhookMeta, WebhookPush
from trackingmore.models.trackings import find_tracking

__all__ = ["WebhookPayloadError", "WebhookPush", "parse_push", "push_from_body", "sign", "verify_signature"]


def sign(time_str: str | int, email: str) -> str:
    """The lowercase hex HMAC-SHA256 of ``time_str`` keyed with the account ``email`` (what TrackingMore sends)."""
    return hmac.new(email.encode("utf-8"), str(time_str).encode("utf-8"), hashlib.sha256).hexdigest()


def verify_signature(time_str: str | int, signature: str, email: str) -> bool:
    """Whether ``signature`` is TrackingMore's signature of ``time_str`` for ``email``, compared in constant time.

    An empty e-mail never verifies (it would mean the receiver is not configured).
    """
    if not email or not isinstance(signature, str) or not signature:
        return False
    expected = sign(time_str, email).encode("ascii")
    return hmac.compare_digest(expected, signature.strip().lower().encode("utf-8"))


def parse_push(raw_body: bytes) -> WebhookPush:
    """Parse the raw body of a v2 push into the tracking and its signature fields.

    Raises ``WebhookPayloadError`` (a ``ValueError``) when the body is not a push: not UTF-8 JSON, not an object,
    no ``verifyInfo`` with ``timeStr`` and ``signature``, or no tracking (with number and carrier) in ``data``.
    Error messages never quote the body.
    """
    try:
        body = json.loads(bytes(raw_body).decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, TypeError, RecursionError) as exc:
        raise WebhookPayloadError("webhook body is not UTF-8 JSON") from exc
    return push_from_body(body)


def push_from_body(body: object) -> WebhookPush:
    """The push in an already parsed body (a receiver that reads JSON its own way, within its own bounds).

    Raises ``WebhookPayloadError`` as :func:`parse_push` does for everything after the JSON itself.
    """
    if not isinstance(body, Mapping):
        raise WebhookPayloadError("webhook body is not a JSON object")

    verify = body.get("verifyInfo")
    if not isinstance(verify, Mapping):
        raise WebhookPayloadError("webhook body has no verifyInfo object")
    time_str = verify.get("timeStr")
    signature = verify.get("signature")
    if isinstance(time_str, int) and not isinstance(time_str, bool):
        time_str = str(time_str)
    if not isinstance(time_str, str) or not time_str.strip():
        raise WebhookPayloadError("verifyInfo.timeStr is missing")
    if not isinstance(signature, str) or not signature.strip():
        raise WebhookPayloadError("verifyInfo.signature is missing")

    data = find_tracking(body.get("data"))
    if data is None:
        raise WebhookPayloadError("webhook data is not a tracking object")
    meta = body.get("meta")
    try:
        tracking = Tracking.model_validate(data)
        parsed_meta = WebhookMeta.model_validate(meta) if isinstance(meta, Mapping) else None
    except ValidationError as exc:  # the models are tolerant; what still fails is not a push
        raise WebhookPayloadError("webhook data is not a tracking object") from exc
    if not tracking.tracking_number or not tracking.carrier_code:
        raise WebhookPayloadError("webhook data has no tracking_number and carrier_code")
    return WebhookPush(tracking=tracking, time_str=time_str.strip(), signature=signature.strip(), meta=parsed_meta)
