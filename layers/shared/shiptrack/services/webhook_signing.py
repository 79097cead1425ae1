"""Standard Webhooks signing (https://www.standardwebhooks.com): secrets, signatures and the delivery headers.

A secret is ``whsec_`` + base64 of :data:`SECRET_BYTES` random bytes. A delivery's signature is
``v1,`` + base64(HMAC-SHA256(key = the base64-decoded secret, msg = ``{webhook-id}.{webhook-timestamp}.{body}``)).
During a rotation the old secret keeps signing for :data:`ROTATION_OVERLAP`: the header then carries both
signatures, space-separated, and a receiver with either secret verifies the delivery. Any Standard Webhooks
library verifies these headers; nothing here is specific to us.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import timedelta
from typing import Final

__all__ = [
    "ROTATION_OVERLAP",
    "SECRET_BYTES",
    "SECRET_PREFIX",
    "USER_AGENT",
    "delivery_headers",
    "new_secret",
    "sign",
    "signature_header",
]

SECRET_PREFIX: Final = "whsec_"  # noqa: S105 - the prefix, not a secret
#: Standard Webhooks asks for 24 to 64 bytes; 32 is the HMAC-SHA256 block-size sweet spot.
SECRET_BYTES: Final = 32
#: How long the secret a rotation replaced keeps signing (both signatures in ``webhook-signature``).
ROTATION_OVERLAP: Final = timedelta(hours=24)
USER_AGENT: Final = "shiptrack-webhooks/1.0"


def new_secret() -> str:
    """A fresh endpoint secret, ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    try:
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError) as exc:
        msg = "not a whsec_ secret"
        raise ValueError(msg) from exc


def sign(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """One ``v1,<base64>`` signature of ``{message_id}.{timestamp}.{body}`` with ``secret``."""
    content = f"{message_id}.{timestamp}.{body}".encode()
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets_: Sequence[str], message_id: str, timestamp: int, body: str) -> str:
    """The ``webhook-signature`` value: one signature per secret (newest first), space-separated."""
    return " ".join(sign(secret, message_id, timestamp, body) for secret in secrets_)


def delivery_headers(secrets_: Sequence[str], message_id: str, timestamp: int, body: str) -> dict[str, str]:
    """Every header of one delivery attempt (``timestamp``: the attempt's unix seconds)."""
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets_, message_id, timestamp, body),
    }
