"""The import worker: one chunk message → the chunk's trackings created, exactly once (docs/architecture.md).

A chunk is at most 40 identities, so one upstream batch create, through the same pipeline as ``POST
/trackings/batch`` (:func:`shiptrack.services.create.create_trackings`). Every chunk is idempotent: a redelivered
message, a crashed worker or a Lambda timeout creates no duplicate upstream and loses no item. The chunk's state
machine (``shiptrack.data.imports``):

``queued`` ──claim──▶ ``sending`` ──complete──▶ ``done``
   ▲                     │
   └──── release ────────┘  (a retryable failure: tried again later, its attempts counted)

* **claim** — a conditional update: the chunk is ``queued``, or ``sending`` with an expired lease (its worker
  died). The lease lasts until this invocation's timeout has surely passed. A message that finds the chunk ``done``
  is a duplicate: nothing to do. One that finds it claimed and leased queues itself again for when the lease ends
  (a new delayed message, so a duplicate never uses up the receives that lead to the DLQ).
* **create** — the pipeline, with ``created_by = import:{id}:{chunk}`` on what it stores. After a crash, the next
  attempt finds what the dead one stored and answers ``created`` for it (nothing is sent again); what it created
  upstream but did not store is answered 4016 by TrackingMore and adopted. Nothing is created twice.
* **release** — when some items failed in a way a later attempt may fix (timeouts, 5xx, rate limits, the
  deadline) and the chunk has attempts left: the claim is given back and the chunk queued again after a growing
  delay. Created items are kept (the next attempt finds them).
* **complete** — one transaction: the chunk ``done`` with its results (only while its claim holds) and its counts
  added to the import's. After :data:`MAX_CHUNK_ATTEMPTS`, retryable failures stay ``failed`` with their
  retryable problem: importing those rows again completes them.

A worker that dies mid-chunk leaves it ``sending``; SQS delivers the message again after its visibility timeout
(after the lease), and the chunk is claimed anew. After 5 such deliveries the message is in the DLQ and the
import's items of that chunk stay ``pending`` until it is redriven (docs/operations.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Final, Literal

from shiptrack.data.imports import ChunkEntry, ChunkResult, ImportChunk, ImportsRepository
from shiptrack.errors import UPSTREAM_RETRY_AFTER_SECONDS
from shiptrack.observability import logger
from shiptrack.services.create import create_trackings
from shiptrack.services.import_dispatch import MAX_DELAY_SECONDS, ChunkMessage, ChunkQueue

if TYPE_CHECKING:
    from shiptrack.data.cache import TtlCache
    from shiptrack.data.trackings import TrackingsRepository
    from shiptrack.deadline import Deadline
    from shiptrack.models import BatchItemResult
    from shiptrack.services.detection import DetectedCarrier
    from trackingmore import TrackingMoreClient

__all__ = ["LEASE_MARGIN_SECONDS", "MAX_CHUNK_ATTEMPTS", "MIN_SECONDS_FOR_A_CHUNK", "ChunkOutcome", "process_chunk"]

#: Attempts of a chunk (claims) before its retryable failures are final.
MAX_CHUNK_ATTEMPTS: Final = 4
#: A chunk is not started with less work time left than this (the deadline's reserve for the last writes aside): a
#: batch create and its retries must fit.
MIN_SECONDS_FOR_A_CHUNK: Final = 20.0
#: How long a claim outlives its invocation's timeout: then it is surely dead and another worker may take over.
LEASE_MARGIN_SECONDS: Final = 5.0

#: What a message did: ``done`` (the chunk completed), ``duplicate`` (it was already done), ``retry`` (released,
#: queued again), ``busy`` (another worker holds it: looked at again later), ``deferred`` (too little time left:
#: queued again at once), ``gone`` (the import expired), ``lost`` (the claim expired before completion).
ChunkOutcome = Literal["done", "duplicate", "retry", "busy", "deferred", "gone", "lost"]


def process_chunk(
    message: ChunkMessage,
    *,
    imports: ImportsRepository,
    store: TrackingsRepository,
    client: Callable[[], TrackingMoreClient],
    detections: TtlCache[DetectedCarrier] | None,
    queue: ChunkQueue,
    deadline: Deadline,
    retry_seconds: int,
) -> ChunkOutcome:
    """Work one chunk message (module docstring). ``client`` is bound to ``deadline``, the invocation's (with a
    reserve for the chunk's last writes); ``retry_seconds`` is the first retry delay. A chunk the deadline leaves no
    time for is queued again untouched (a checkpoint: nothing was claimed). Leases are measured on the repository's
    clock and last until the invocation's hard end has surely passed."""
    chunk = imports.load_chunk(message.import_id, message.chunk)
    if chunk is None:
        return "gone"
    if chunk.state == "done":
        return "duplicate"
    if deadline.seconds_left() < MIN_SECONDS_FOR_A_CHUNK:
        queue.send(chunk.import_id, [chunk.number])
        return "deferred"
    claimed = imports.claim(
        chunk, uuid.uuid4().hex, imports.now().timestamp() + deadline.remaining_ms() / 1000 + LEASE_MARGIN_SECONDS
    )
    if claimed is None:
        return _look_again_later(message, imports, queue)
    work = claimed.work
    response = create_trackings(
        [entry.request for _index, entry in work],
        store=store,
        client=client,
        detections=detections,
        created_by=f"import:{claimed.import_id}:{claimed.number}",
        concurrency=1,
    )
    retryable = [r for r in response.results if r.outcome == "failed" and r.problem and r.problem.retryable]
    if retryable and claimed.attempts < MAX_CHUNK_ATTEMPTS:
        return _retry_later(claimed, retryable, imports, queue, retry_seconds)
    results = [_chunk_result(result) for result in response.results]
    if not imports.complete(claimed, results, _counts(work, results)):
        logger.warning("import chunk claim lost before completion", extra=_where(claimed))
        return "lost"
    counts = {f"items_{name}": count for name, count in _counts(work, results).items()}
    logger.info("import chunk done", extra={**_where(claimed), "attempts": claimed.attempts, **counts})
    return "done"


def _look_again_later(message: ChunkMessage, imports: ImportsRepository, queue: ChunkQueue) -> ChunkOutcome:
    """Someone else holds the chunk (a duplicate message, or a worker that died with the claim): queue this message
    again for when that claim has expired, unless the chunk is done by now."""
    fresh = imports.load_chunk(message.import_id, message.chunk)
    if fresh is None:
        return "gone"
    if fresh.state == "done":
        return "duplicate"
    now = imports.now().timestamp()
    wait = (fresh.lease_until or now) - now + 1
    queue.send(message.import_id, [message.chunk], delay_seconds=max(1, int(wait)))
    return "busy"


def _retry_later(
    chunk: ImportChunk,
    retryable: Sequence[BatchItemResult],
    imports: ImportsRepository,
    queue: ChunkQueue,
    retry_seconds: int,
) -> ChunkOutcome:
    """Give the claim back and queue the chunk again after a delay: ``retry_seconds`` × 3 per earlier attempt, or
    longer when TrackingMore asked to wait (a 429's ``Retry-After``)."""
    delay = retry_seconds * 3 ** (chunk.attempts - 1)
    asked = [getattr(r.problem, "retry_after", None) for r in retryable]
    if any(r.problem is not None and r.problem.code == "deadline_exceeded" for r in retryable):
        asked.append(UPSTREAM_RETRY_AFTER_SECONDS)
    delay = min(MAX_DELAY_SECONDS, max([delay, *(int(a) for a in asked if isinstance(a, int | float))]))
    if imports.release(chunk):
        queue.send(chunk.import_id, [chunk.number], delay_seconds=delay)
    codes = sorted({r.problem.code for r in retryable if r.problem is not None})
    logger.warning(
        "import chunk left for retry",
        extra={**_where(chunk), "attempts": chunk.attempts, "failed": len(retryable), "codes": codes, "delay": delay},
    )
    return "retry"


def _chunk_result(result: BatchItemResult) -> ChunkResult:
    problem = result.problem.model_dump(mode="json", exclude_none=True) if result.problem else None
    return ChunkResult(result.outcome, result.tracking_number, result.carrier_code, problem)


def _counts(work: Iterable[tuple[int, ChunkEntry]], results: Sequence[ChunkResult]) -> dict[str, int]:
    """The import's counters this chunk adds: each item once, and each later item repeating it with it (a repeat
    of a created tracking is ``existing``)."""
    counts = {"created": 0, "existing": 0, "failed": 0}
    for (_index, entry), result in zip(work, results, strict=True):
        counts[result.outcome] += 1
        counts["failed" if result.outcome == "failed" else "existing"] += entry.repeats
    return counts


def _where(chunk: ImportChunk) -> dict[str, object]:
    return {"import_id": chunk.import_id, "chunk": chunk.number}
