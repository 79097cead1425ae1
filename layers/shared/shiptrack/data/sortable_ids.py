"""Ids that sort by time: the sort keys of the webhook tables (``ep_…`` endpoints, ``dlv_…`` deliveries).

An id is a prefix and 26 Crockford base32 characters: 48 bits of milliseconds, then 80 bits of entropy (random, or
derived from what the item stands for, so that writing it again is idempotent). A descending Query over such keys
lists newest first without an index.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Final

__all__ = ["derived_entropy", "sortable_id"]

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
