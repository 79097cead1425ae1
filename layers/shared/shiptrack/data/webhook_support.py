"""What the webhook repositories share: sortable ids, page cursors, and recognising a failed condition."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from shiptrack.errors import InvalidCursorError

__all__ = ["PageCursor", "derived_entropy", "is_condition_failure", "sortable_id"]

_CROCKFORD: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def sortable_id(prefix: str, at: datetime, entropy: bytes | None = None) -> str:
    """``{prefix}`` + 26 Crockford base32 characters: 48 bits of ``at`` in ms, then 80 bits of ``entropy``
    (random unless given). Ids sort as their times do, so a key made of them lists newest first for free."""
    tail = entropy[:10] if entropy is not None else secrets.token_bytes(10)
    millis = (at - _EPOCH) // timedelta(milliseconds=1)  # exact: float timestamps can be off by one ms
    number = (millis << 80) | int.from_bytes(tail.ljust(10, b"\0"), "big")
    return prefix + "".join(_CROCKFORD[(number >> shift) & 31] for shift in range(125, -1, -5))


def derived_entropy(*parts: str) -> bytes:
    """Deterministic entropy for :func:`sortable_id`: the same parts give the same id (idempotent writes)."""
    return hashlib.sha256("\x1f".join(parts).encode()).digest()[:10]


def is_condition_failure(exc: Exception) -> bool:
    """Whether a boto3 error is DynamoDB refusing a write because its condition did not hold."""
    response = getattr(exc, "response", {}) or {}
    return bool(response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class PageCursor:
    """Opaque, tamper-evident page cursors: ``base64url(JSON{scope, key})`` + a truncated HMAC-SHA256.

    ``scope`` binds a cursor to the listing it came from (the partition and filters); a cursor that does not
    verify, or belongs to another scope, is a 400 ``invalid_cursor`` and never reaches DynamoDB.
    """

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _sign(self, payload: bytes) -> str:
        return _b64(hmac.new(self._key, payload, hashlib.sha256).digest()[:16])

    def encode(self, scope: str, key: Mapping[str, str]) -> str:
        payload = json.dumps({"s": scope, "k": dict(key)}, separators=(",", ":"), sort_keys=True).encode()
        return f"{_b64(payload)}.{self._sign(payload)}"

    def decode(self, cursor: str, scope: str, fields: frozenset[str]) -> dict[str, str]:
        """The key a cursor holds, when it was issued here for ``scope`` with exactly ``fields``."""
        invalid = InvalidCursorError("The cursor is not valid for this listing; start again without it.")
        body, _, signature = cursor.partition(".")
        try:
            payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            data: Any = json.loads(payload)
        except (binascii.Error, ValueError) as exc:
            raise invalid from exc
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise invalid
        key = data.get("k") if isinstance(data, dict) and data.get("s") == scope else None
        if not isinstance(key, dict) or set(key) != fields or not all(isinstance(v, str) for v in key.values()):
            raise invalid
        return {str(name): str(value) for name, value in key.items()}
