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

A lookup is described once by a :class:`LookupKind` (its endpoint, cache key, upstream call, how long a per-item
error is cached); the result models share :data:`FetchedAt`, :func:`result_fields` and the per-item failures built
here (:func:`item_error`, :func:`upstream_incomplete`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Generic, Literal, NamedTuple, TypeVar

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from pydantic import BaseModel, ConfigDict, Field

from shiptrack.data.cache import CachedError, CacheEntry, TtlCache
from shiptrack.errors import Problem
from shiptrack.observability import counted_call, logger, metrics

__all__ = [
    "LOOKUP_REQUEST",
    "FetchedAt",
    "ItemFailure",
    "LookupKind",
    "LookupOutcome",
    "LookupSource",
    "LookupSummary",
    "cached_lookup",
    "distinct_items",
    "item_error",
    "item_problem",
    "record_cache_lookups",
    "result_fields",
    "summarize",
    "upstream_incomplete",
]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V", bound=BaseModel)
C = TypeVar("C")
C_co = TypeVar("C_co", covariant=True)

#: Where an item's result came from: the cache, TrackingMore, or our own checks before any lookup.
Source = Literal["cache", "upstream", "validation"]
#: The ``fetched_at`` of every lookup result.
FetchedAt = Annotated[datetime | None, Field(description="When TrackingMore gave this answer (UTC)")]


#: The config of a lookup route's body (one bounded list of items, nothing else). A shared config rather than a base
#: class: a pydantic model class costs milliseconds to create at cold start.
LOOKUP_REQUEST: Final = ConfigDict(extra="forbid")


def distinct_items(max_items: int, what: str, **extra: Any) -> Any:
    """The ``Field`` of a lookup request's list: 1 to ``max_items`` ``what``, duplicates answered once."""
    description = f"1 to {max_items} {what}; duplicates (after normalisation) are answered once"
    return Field(min_length=1, max_length=max_items, description=description, **extra)


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


class LookupKind(NamedTuple, Generic[K, V, C]):
    """One kind of cached lookup: everything :func:`cached_lookup` needs to know about it.

    ``fetch`` makes the single upstream call for the uncached items (with the client ``C``) and maps each to an
    answer or an :class:`ItemFailure`; ``named`` is how a message names an item (``air waybill 172-28891936``).
    """

    endpoint: str
    key_parts: Callable[[K], Sequence[str]]
    fetch: Callable[[C, Sequence[K]], Mapping[K, V | ItemFailure]]
    named: Callable[[K], str]
    error_ttl_seconds: int


class LookupSource(NamedTuple, Generic[V, C_co]):
    """Where one kind of lookup gets its answers: ``cache``, which keeps them ``ttl_seconds``, else TrackingMore
    through ``client``: a factory, called only when something is not cached (building the real client reads the
    secret)."""

    cache: TtlCache[V]
    ttl_seconds: int
    client: Callable[[], C_co]


def item_problem(failure: CachedError, *, status: int = 422) -> Problem:
    """The problem document shown for one failed item."""
    return Problem.build(status=status, code=failure.code, title=failure.title, detail=failure.detail)


def result_fields(outcome: LookupOutcome[Any, Any]) -> dict[str, Any]:
    """The fields every lookup result has: ``outcome``, ``source``, ``fetched_at`` and ``problem``."""
    failure = outcome.failure
    return {
        "outcome": "failed" if failure else "found",
        "source": outcome.source,
        "fetched_at": outcome.fetched_at,
        "problem": item_problem(failure) if failure else None,
    }


def item_error(
    code: Any, message: Any, *, subject: str, known: Mapping[int, tuple[str, str]], otherwise: tuple[str, str]
) -> ItemFailure:
    """A per-item error TrackingMore put in its answer for ``subject``: our (code, title) for its number from
    ``known`` (``otherwise`` for any other). 4xx/4xxx describe the item and are cached for a short while; anything
    else (5xx, 429) may pass."""
    number = int(code) if str(code).isdigit() else None
    our_code, title = known.get(number or 0, otherwise)
    detail = f"TrackingMore answered {code} for {subject}: {message}" if message else f"TrackingMore answered {code}."
    definitive = number is not None and (400 <= number < 500 or 4000 <= number < 5000) and number != 429
    return ItemFailure(code=our_code, title=title, detail=detail, definitive=definitive)


def upstream_incomplete(named: str) -> ItemFailure:
    """The item ``named`` that the answer left out: not a statement about the item, so it is not cached."""
    detail = f"TrackingMore's answer did not include {named}; try again."
    return ItemFailure(code="upstream_incomplete", title="No answer from upstream", detail=detail, definitive=False)


def record_cache_lookups(cache_name: str, hits: int, misses: int) -> None:
    """Metrics ``CacheHits`` and ``CacheMisses`` by ``cache`` (aircargo, remote, transit)."""
    for name, value in (("CacheHits", hits), ("CacheMisses", misses)):
        with single_metric(name=name, unit=MetricUnit.Count, value=value) as metric:
            metric.add_dimension(name="cache", value=cache_name)


def cached_lookup(
    items: Sequence[K], kind: LookupKind[K, V, C], source: LookupSource[V, C]
) -> list[LookupOutcome[K, V]]:
    """Answer ``items`` (distinct, in order) from the cache and at most one upstream call for the rest.

    An item the answer leaves out fails as :func:`upstream_incomplete`. Exceptions from the call propagate (the route
    turns them into a problem) and nothing is cached.
    """
    endpoint, error_ttl_seconds = kind.endpoint, kind.error_ttl_seconds
    cache, ttl_seconds = source.cache, source.ttl_seconds
    metrics.add_metric(name="LookupItems", unit=MetricUnit.Count, value=len(items))
    keys = {item: cache.key(*kind.key_parts(item)) for item in items}
    cached: dict[str, CacheEntry[V]] = cache.get_many(keys.values()) if items else {}
    uncached = [item for item in items if keys[item] not in cached]
    record_cache_lookups(endpoint, hits=len(items) - len(uncached), misses=len(uncached))

    fetched: Mapping[K, V | ItemFailure] = {}
    if uncached:
        fetched = counted_call(endpoint, lambda: kind.fetch(source.client(), uncached), items=len(uncached))
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
            result = upstream_incomplete(kind.named(item))
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
