"""A small typed TTL cache of upstream answers in the CacheTable (docs/design.md §5, access pattern 5).

Air-waybill, remote-area and transit-time lookups cost TrackingMore quota (20 per air waybill, 0.2 per remote
check; reference §8) and change slowly, so each answer is cached per item under its own key:

- ``CACHE#AWB#{awb}``                              air waybill, e.g. ``CACHE#AWB#172-28891936``
- ``CACHE#REMOTE#{country}#{postcode}#{company}``  remote area, ``company`` is ``ALL`` when none was asked
- ``CACHE#TRANSIT#{carrier}#{origin}#{destination}`` transit-time statistics

An entry holds either an answer (a pydantic model) or a :class:`CachedError`: a per-item upstream error that is
definitive for a while (an air waybill the airline does not know, a country upstream does not cover). Callers
store errors with a shorter TTL than answers, so a waybill that is simply not registered yet shows up soon.
Transient failures (timeouts, 5xx, rate limits) are never stored.

Expiry: ``expires_at`` (epoch seconds) is the table's TTL attribute, but DynamoDB deletes expired items lazily
(typically within days), so :meth:`TtlCache.get_many` also treats an entry at or past ``expires_at`` as missing.

The cache is an optimisation: a DynamoDB failure while reading degrades to misses and while writing to nothing
stored, each with a warning, instead of failing a request whose upstream answer is already paid for.
Other item families share the table under their own prefixes (``shiptrack.data``); this module only touches
``CACHE#``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Generic, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from shiptrack.data.dynamodb import batch_get
from shiptrack.errors import StorageBusyError
from shiptrack.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

__all__ = ["CACHE_PREFIX", "CacheEntry", "CachedError", "TtlCache"]

CACHE_PREFIX: Final = "CACHE#"

# BatchWriteItem takes at most 25 requests.
_WRITE_BATCH: Final = 25
# Unprocessed keys/items (throttling) are retried this many times with a short backoff, then given up on: the
# cache is an optimisation, not worth keeping a request waiting for.
_MAX_BATCH_RETRIES: Final = 3
_RETRY_BACKOFF_SECONDS: Final = 0.05

M = TypeVar("M", bound=BaseModel)


class CachedError(BaseModel):
    """A definitive per-item upstream error, cached so the same bad item does not cost quota again."""

    code: str
    title: str
    detail: str


@dataclass(frozen=True, slots=True)
class CacheEntry(Generic[M]):
    """One live cache entry: exactly one of ``value`` and ``error`` is set."""

    key: str
    value: M | None
    error: CachedError | None
    stored_at: int
    expires_at: int

    @property
    def stored_at_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.stored_at, tz=UTC)

    @property
    def expires_at_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.expires_at, tz=UTC)


def _key_part(part: str) -> str:
    # "#" separates key parts; escape it (and the escape character) so two different items never share a key.
    return part.replace("%", "%25").replace("#", "%23")


class TtlCache(Generic[M]):
    """Entries of one ``namespace`` (``AWB``, ``REMOTE``, ``TRANSIT``) holding answers of type ``model``.

    ``table`` is a boto3 DynamoDB ``Table`` resource; the batch calls go through its ``meta.client``, which the
    resource has taught to (de)serialise plain Python values. ``clock`` returns epoch seconds (tests move it).
    """

    def __init__(
        self,
        table: Table,
        namespace: str,
        model: type[M],
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._table = table
        self._namespace = namespace
        self._model = model
        self._clock = clock
        self._sleep = sleep

    def key(self, *parts: str) -> str:
        """The partition key of an item: ``CACHE#{namespace}#{part}#{part}…``."""
        return "#".join([f"{CACHE_PREFIX}{self._namespace}", *(_key_part(part) for part in parts)])

    def now(self) -> int:
        return int(self._clock())

    # -- reading ------------------------------------------------------------------------------------------------

    def get_many(self, keys: Iterable[str]) -> dict[str, CacheEntry[M]]:
        """The live entries among ``keys`` (BatchGetItem); missing, expired and unreadable ones are left out."""
        now = self.now()
        found: dict[str, CacheEntry[M]] = {}
        for item in self._batch_get(list(dict.fromkeys(keys))):
            entry = self._entry_from_item(item)
            if entry is not None and entry.expires_at > now:
                found[entry.key] = entry
        return found

    def _batch_get(self, keys: list[str]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        requests = [{"pk": key} for key in keys]
        try:
            # Eventually consistent: an answer cached a moment ago and not yet visible costs one more lookup.
            attempts = _MAX_BATCH_RETRIES + 1
            for item in batch_get(self._table, requests, consistent=False, sleep=self._sleep, max_attempts=attempts):
                items.append(item)
        except StorageBusyError:
            logger.warning("cache read left keys unprocessed", extra={"namespace": self._namespace})
        except Exception as exc:  # any DynamoDB failure is a miss, not a failed request
            logger.warning("cache read failed", extra={"namespace": self._namespace, "error": repr(exc)})
        return items

    def _entry_from_item(self, item: Mapping[str, Any]) -> CacheEntry[M] | None:
        try:
            key = str(item["pk"])
            kind = str(item["kind"])
            payload = str(item["payload"])
            stored_at = int(item["stored_at"])
            expires_at = int(item["expires_at"])
            if kind == "value":
                return CacheEntry(key, self._model.model_validate_json(payload), None, stored_at, expires_at)
            if kind == "error":
                return CacheEntry(key, None, CachedError.model_validate_json(payload), stored_at, expires_at)
        except (KeyError, TypeError, ValueError, ValidationError) as exc:
            # An entry written by an older model version, or damaged: a miss, and the next answer overwrites it.
            logger.warning("unreadable cache entry", extra={"namespace": self._namespace, "error": type(exc).__name__})
            return None
        logger.warning("unknown cache entry kind", extra={"namespace": self._namespace, "kind": kind})
        return None

    # -- writing ------------------------------------------------------------------------------------------------

    def put_many(self, values: Mapping[str, M], ttl_seconds: int, *, stored_at: int | None = None) -> int:
        """Store answers for ``ttl_seconds`` (BatchWriteItem); returns how many were stored. TTL ≤ 0 stores none.

        ``stored_at`` (epoch seconds, default now) is when the answer was obtained; expiry counts from it.
        """
        payloads = {key: value.model_dump_json() for key, value in values.items()}
        return self._put("value", payloads, ttl_seconds, stored_at)

    def put_errors(self, errors: Mapping[str, CachedError], ttl_seconds: int, *, stored_at: int | None = None) -> int:
        """Store definitive per-item errors for ``ttl_seconds``; returns how many were stored."""
        payloads = {key: error.model_dump_json() for key, error in errors.items()}
        return self._put("error", payloads, ttl_seconds, stored_at)

    def _put(
        self, kind: Literal["value", "error"], payloads: Mapping[str, str], ttl_seconds: int, stored_at: int | None
    ) -> int:
        if ttl_seconds <= 0 or not payloads:
            return 0
        now = self.now() if stored_at is None else stored_at
        expires_at = now + ttl_seconds
        requests = [
            {
                "PutRequest": {
                    "Item": {
                        "pk": key,
                        "kind": kind,
                        "payload": payload,
                        "stored_at": now,
                        "expires_at": expires_at,
                    }
                }
            }
            for key, payload in payloads.items()
        ]
        stored = 0
        for start in range(0, len(requests), _WRITE_BATCH):
            stored += self._batch_write(requests[start : start + _WRITE_BATCH])
        return stored

    def _batch_write(self, requests: list[dict[str, Any]]) -> int:
        # WriteRequest shapes as the resource's client takes them (plain Python values, not typed attribute maps).
        pending: list[Any] = requests
        for attempt in range(_MAX_BATCH_RETRIES + 1):
            try:
                response = self._table.meta.client.batch_write_item(RequestItems={self._table.name: pending})
            except Exception as exc:  # a failed cache write must not fail a paid-for answer
                logger.warning("cache write failed", extra={"namespace": self._namespace, "error": repr(exc)})
                return len(requests) - len(pending)
            pending = list((response.get("UnprocessedItems") or {}).get(self._table.name, []))
            if not pending:
                return len(requests)
            if attempt < _MAX_BATCH_RETRIES:
                self._sleep(_RETRY_BACKOFF_SECONDS * 2**attempt)
        logger.warning("cache write left items unprocessed", extra={"namespace": self._namespace})
        return len(requests) - len(pending)
