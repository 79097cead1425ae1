"""Listing cursors: ``base64url(JSON{index, filter hash, key of the last item returned})`` + a truncated HMAC.

Cursors are not secret (they hold the caller's own keys) but tamper-evident and bound to the filters they were
issued for: one that does not verify, or names a key outside the queried partition, is a 400 ``invalid_cursor``
and never reaches DynamoDB (docs/security.md, "Forged or malformed cursors").

The HMAC keys come from :class:`CursorSigner`, built by the composition root (``shiptrack.runtime``): the first key
signs, every key verifies, so a key can be rotated without breaking the cursors callers hold.

Every listing uses these cursors: the trackings' (:func:`decode_cursor` also checks the key is a tracking's) and
the webhook endpoints' and deliveries' (:func:`decode_key`), each under its own ``index`` name.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from shiptrack.data.codec import INDEX_KEYS
from shiptrack.errors import InvalidCursorError
from shiptrack.models import TrackingRef

__all__ = [
    "CURSOR_VERSION",
    "CursorSigner",
    "decode_cursor",
    "decode_key",
    "decode_payload",
    "encode_cursor",
    "encode_payload",
]

CURSOR_VERSION: Final = 1
#: The HMAC is cut to this many bytes: forging one still takes 2^128 tries, and cursors stay short in URLs.
SIGNATURE_BYTES: Final = 16
#: No key value in a cursor is longer (DynamoDB's sort-key limit is 1024 bytes).
MAX_KEY_VALUE_CHARS: Final = 1024
_INVALID: Final = "The cursor is not valid for this listing; start again without it."


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorSigner:
    """Signs payloads with the first key and accepts a signature made with any of the keys (rotation).

    ``keys`` is the list itself or a callable returning it (``shiptrack.runtime`` passes one that reads the cursor
    secret): then nothing is read until a cursor is first signed or checked, so a function that never lists never
    reads the secret (and needs no permission to).
    """

    def __init__(self, keys: Sequence[bytes] | Callable[[], Sequence[bytes]]) -> None:
        self._source = keys
        if not callable(keys):
            self._checked(keys)

    @classmethod
    def for_table(cls, table_name: str) -> CursorSigner:
        """A signer whose one key is derived from the table name: for tests and tools only. Anyone who knows the
        table name can forge its cursors; deployed functions take their keys from a secret (``runtime``)."""
        return cls([hashlib.sha256(f"shiptrack-cursor:{table_name}".encode()).digest()])

    def sign(self, payload: bytes) -> str:
        return self._signature(self._keys()[0], payload)

    def verify(self, payload: bytes, signature: str) -> bool:
        # A signature is URL-safe base64: anything else (non-ASCII from a percent-decoded query) cannot match,
        # and compare_digest refuses non-ASCII text with a TypeError.
        if not signature.isascii():
            return False
        # Every key is tried (no early exit), so the time taken does not say which key matched.
        matches = [hmac.compare_digest(signature, self._signature(key, payload)) for key in self._keys()]
        return any(matches)

    def _keys(self) -> tuple[bytes, ...]:
        source = self._source
        return self._checked(source() if callable(source) else source)

    @staticmethod
    def _checked(keys: Sequence[bytes]) -> tuple[bytes, ...]:
        if not keys or not all(keys):
            msg = "a cursor signer needs at least one non-empty key"
            raise ValueError(msg)
        return tuple(keys)

    @staticmethod
    def _signature(key: bytes, payload: bytes) -> str:
        return _b64(hmac.new(key, payload, hashlib.sha256).digest()[:SIGNATURE_BYTES])


def encode_payload(signer: CursorSigner, data: Mapping[str, Any]) -> str:
    """Any small JSON object as a signed, opaque cursor: ``base64url(JSON)`` + ``.`` + the truncated HMAC."""
    payload = json.dumps(dict(data), separators=(",", ":"), sort_keys=True).encode()
    return f"{_b64(payload)}.{signer.sign(payload)}"


def decode_payload(signer: CursorSigner, cursor: str) -> dict[str, Any]:
    """The JSON object of a cursor made by :func:`encode_payload`; :class:`~shiptrack.errors.InvalidCursorError`
    unless we signed it. The caller checks that it was issued for what it is used for."""
    data = _verified_payload(signer, cursor)
    if not isinstance(data, dict):
        raise InvalidCursorError("The cursor is not valid for this listing; start again without it.")
    return data


def encode_cursor(signer: CursorSigner, key: Mapping[str, str], *, index: str, filter_key: str) -> str:
    """The cursor for continuing after ``key`` (an index key of the last item returned) in this listing."""
    return encode_payload(signer, {"v": CURSOR_VERSION, "i": index, "f": filter_key, "k": dict(key)})


def decode_cursor(
    signer: CursorSigner, cursor: str, *, index: str, partition_value: str, filter_key: str
) -> dict[str, str]:
    """The ``ExclusiveStartKey`` a cursor stands for; :class:`~shiptrack.errors.InvalidCursorError` unless it was
    signed by us, for this index and these filters, and names a key inside the queried partition."""
    hash_attr, range_attr = INDEX_KEYS[index]
    key = decode_key(
        signer,
        cursor,
        index=index,
        filter_key=filter_key,
        fields=frozenset({"pk", hash_attr, range_attr}),
        partition=(hash_attr, partition_value),
    )
    if not _tracking_key(key, range_attr):
        raise InvalidCursorError(_INVALID)
    return key


def decode_key(
    signer: CursorSigner,
    cursor: str,
    *,
    index: str,
    filter_key: str,
    fields: frozenset[str],
    partition: tuple[str, str],
) -> dict[str, str]:
    """The key a cursor of any listing holds (:func:`encode_cursor` made it); :class:`InvalidCursorError` unless it
    was signed by us for this ``index`` and ``filter_key``, has exactly ``fields`` (strings), and its ``partition``
    attribute has the queried value."""
    data = _verified_payload(signer, cursor)
    if (
        not isinstance(data, dict)
        or data.get("v") != CURSOR_VERSION
        or data.get("i") != index
        or data.get("f") != filter_key
    ):
        raise InvalidCursorError(_INVALID)
    key = data.get("k")
    if (
        not isinstance(key, dict)
        or set(key) != fields
        or not all(isinstance(value, str) and 0 < len(value) <= MAX_KEY_VALUE_CHARS for value in key.values())
        or key[partition[0]] != partition[1]
    ):
        raise InvalidCursorError(_INVALID)
    return {str(name): str(value) for name, value in key.items()}


def _verified_payload(signer: CursorSigner, cursor: str) -> Any:
    invalid = InvalidCursorError(_INVALID)
    body, sep, signature = cursor.partition(".")
    try:
        payload = _unb64(body) if sep else b""
    except (binascii.Error, ValueError) as exc:
        raise invalid from exc
    if not payload or not signer.verify(payload, signature):
        raise invalid
    try:
        return json.loads(payload)
    except ValueError as exc:
        raise invalid from exc


def _tracking_key(key: Mapping[str, str], range_attr: str) -> bool:
    # A trackings index key: its sort key ends in the item's own pk, which is a tracking identity.
    if not key[range_attr].endswith("#" + key["pk"]):
        return False
    try:
        TrackingRef.from_key(key["pk"])
    except ValueError:
        return False
    return True
