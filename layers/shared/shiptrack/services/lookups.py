"""The cached-lookup pattern shared by air waybills, remote areas and transit times.

Each of these lookups asks TrackingMore about independent items and pays per item (reference §8), so they all
work the same way:

1. the request's items are validated and normalised by the route models, duplicates collapsed;
2. the cache is read for all of them at once (one BatchGetItem);
3. the items not in the cache go to TrackingMore in **one** call;
4. every answer, and every *definitive* per-item error, is cached (errors for a shorter time); transient
   per-item errors and items the answer left out are returned as failures and not cached;
5. results come back one per distinct item, in the order the caller gave them.

If the upstream call itself fails (rate limit, timeout, 5xx, quota), the whole request fails with the mapped
problem (``shiptrack.errors.problem_for``) and nothing is written to the cache.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, Literal, TypeVar

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from pydantic import BaseModel, Field

from shiptrack.data.cache import CachedError, CacheEntry, TtlCache
from shiptrack.errors import Problem
from shiptrack.observability import counted_call, logger, metrics

__all__ = [
    "ItemFailure",
    "LookupOutcome",
    "LookupSummary",
    "cached_lookup",
    "item_problem",
    "record_cache_lookups",
    "summarize",
]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V", bound=BaseModel)

#: Where an item's result came from: the cache, TrackingMore, or our own checks before any lookup.
Source = Literal["cache", "upstream", "validation"]


@dataclass(frozen=True, slots=True)
class ItemFailure:
    """A per-item upstream error. ``definitive`` ones are cached (e.g. an unknown air waybill); others are not."""

    code: str
    title: str
    detail: str
    definitive: bool


@dataclass(frozen=True, slots=True)
class LookupOutcome(Generic[K, V]):
    """The result for one distinct item: an answer or a failure, and where it came from."""

    item: K
    value: V | None
    failure: CachedError | None
    source: Source
    fetched_at: datetime | None


class LookupSummary(BaseModel):
    """Counts for one lookup request."""

    requested: int = Field(description="Distinct items after normalisation (duplicates collapse)")
    from_cache: int = Field(description="Items answered from the cache, no upstream call")
    from_upstream: int = Field(description="Items sent to TrackingMore (all in one call)")
    failed: int = Field(description="Items whose result is a problem")


def item_problem(failure: CachedError, *, status: int = 422) -> Problem:
    """The problem document shown for one failed item."""
    return Problem.build(status=status, code=failure.code, title=failure.title, detail=failure.detail)


def record_cache_lookups(cache_name: str, hits: int, misses: int) -> None:
    """Metrics ``CacheHits`` and ``CacheMisses`` by ``cache`` (aircargo, remote, transit)."""
    for name, value in (("CacheHits", hits), ("CacheMisses", misses)):
        with single_metric(name=name, unit=MetricUnit.Count, value=value) as metric:
            metric.add_dimension(name="cache", value=cache_name)


def cached_lookup(
    items: Sequence[K],
    *,
    cache: TtlCache[V],
    key_of: Callable[[K], str],
    fetch: Callable[[Sequence[K]], Mapping[K, V | ItemFailure]],
    ttl_seconds: int,
    error_ttl_seconds: int,
    endpoint: str,
    missing: Callable[[K], ItemFailure],
) -> list[LookupOutcome[K, V]]:
    """Answer ``items`` (distinct, in order) from the cache and at most one ``fetch`` call for the rest.

    ``fetch`` makes the single upstream call for the uncached items and maps each to an answer or an
    :class:`ItemFailure`; an item it leaves out gets ``missing(item)`` (never cached unless definitive).
    Exceptions from ``fetch`` propagate (the route turns them into a problem) and nothing is cached.
    """
    metrics.add_metric(name="LookupItems", unit=MetricUnit.Count, value=len(items))
    keys = {item: key_of(item) for item in items}
    cached: dict[str, CacheEntry[V]] = cache.get_many(keys.values()) if items else {}
    uncached = [item for item in items if keys[item] not in cached]
    record_cache_lookups(endpoint, hits=len(items) - len(uncached), misses=len(uncached))

    fetched: Mapping[K, V | ItemFailure] = {}
    if uncached:
        fetched = counted_call(endpoint, lambda: fetch(uncached), items=len(uncached))
    now = cache.now()  # when the answer arrived: shown as fetched_at, and the start of its TTL
    fetched_at = datetime.fromtimestamp(now, tz=UTC)

    answers: dict[str, V] = {}
    errors: dict[str, CachedError] = {}
    outcomes: list[LookupOutcome[K, V]] = []
    for item in items:
        entry = cached.get(keys[item])
        if entry is not None:
            outcomes.append(LookupOutcome(item, entry.value, entry.error, "cache", entry.stored_at_datetime))
            continue
        result = fetched.get(item)
        if result is None:
            result = missing(item)
        if isinstance(result, ItemFailure):
            failure = CachedError(code=result.code, title=result.title, detail=result.detail)
            if result.definitive:
                errors[keys[item]] = failure
            outcomes.append(LookupOutcome(item, None, failure, "upstream", fetched_at))
        else:
            answers[keys[item]] = result
            outcomes.append(LookupOutcome(item, result, None, "upstream", fetched_at))

    stored = cache.put_many(answers, ttl_seconds, stored_at=now)
    stored += cache.put_errors(errors, min(error_ttl_seconds, ttl_seconds), stored_at=now)
    if uncached:
        logger.info(
            "lookup answered",
            extra={
                "endpoint": endpoint,
                "cached": len(items) - len(uncached),
                "fetched": len(uncached),
                "stored": stored,
            },
        )
    return outcomes


def summarize(outcomes: Sequence[LookupOutcome[K, V]]) -> LookupSummary:
    """The counts of a lookup's outcomes."""
    return LookupSummary(
        requested=len(outcomes),
        from_cache=sum(1 for outcome in outcomes if outcome.source == "cache"),
        from_upstream=sum(1 for outcome in outcomes if outcome.source == "upstream"),
        failed=sum(1 for outcome in outcomes if outcome.failure is not None),
    )
