"""``GET /imports/{id}/results``: each item's outcome, in input order, a page at a time.

Results live in the import's chunks (``shiptrack.data.imports``): a page reads chunks in order from its cursor,
turns each item into a result — a created item's outcome once its chunk is done (``pending`` before), an invalid
item's problem, a repeat's from its first occurrence (``existing`` once that one is created or existing, the same
failure if it failed) — keeps those of the asked ``outcome``, and attaches each created or existing tracking as
stored now (its summary: no checkpoints). A page reads at most :data:`MAX_CHUNKS_PER_PAGE` chunks, so a filter that
matches little answers with fewer items and a cursor rather than reading a whole 50,000-item import at once.

Cursors are signed (``shiptrack.data.cursors``) and bound to the import and the filter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from shiptrack.data.cursors import CursorSigner, decode_payload, encode_payload
from shiptrack.data.imports import ChunkEntry, ChunkResult, ImportChunk, ImportsRepository, iter_entries
from shiptrack.data.trackings import TrackingsRepository
from shiptrack.errors import ImportNotFoundError, InvalidCursorError, Problem
from shiptrack.import_models import ImportItemResult, ImportOutcome, ImportResults
from shiptrack.models import TrackingRef

__all__ = ["MAX_CHUNKS_PER_PAGE", "import_results"]

#: Chunks one page reads at most (each holds up to 200 items).
MAX_CHUNKS_PER_PAGE: Final = 100
# Chunks per Query (each up to 256 KB of entries: DynamoDB's 1 MB page holds a few whatever this says).
_QUERY_CHUNKS: Final = 25
_CURSOR_KIND: Final = "import-results"


def import_results(
    import_id: str,
    *,
    outcome: ImportOutcome | None,
    limit: int,
    cursor: str | None,
    imports: ImportsRepository,
    store: TrackingsRepository,
    signer: CursorSigner,
) -> ImportResults:
    """One page of an import's results (module docstring); 404 when the import is unknown or expired."""
    record = imports.get(import_id)
    if record is None:
        raise ImportNotFoundError(f"There is no import {import_id} (imports are kept for a limited time).")
    start = _position(cursor, signer, import_id, outcome) if cursor else (0, 0)
    found, resume = _scan(import_id, record.chunks, start, outcome=outcome, limit=limit, imports=imports)
    if resume == (record.chunks - 1, record.total):
        resume = None  # the last item was the page's last: no empty page to follow
    next_cursor = _cursor(signer, import_id, outcome, resume) if resume is not None else None
    return ImportResults(items=_with_trackings(found, store), next_cursor=next_cursor)


def _scan(
    import_id: str,
    chunk_count: int,
    start: tuple[int, int],
    *,
    outcome: ImportOutcome | None,
    limit: int,
    imports: ImportsRepository,
) -> tuple[list[ImportItemResult], tuple[int, int] | None]:
    """Up to ``limit`` results of ``outcome`` from ``start`` (chunk, index) on, and where the next page starts
    (``None`` at the end)."""
    chunk_number, next_index = start
    found: list[ImportItemResult] = []
    read = 0
    while chunk_number < chunk_count:
        if read >= MAX_CHUNKS_PER_PAGE:
            return found, (chunk_number, 0)  # the page's reading budget ran out: the caller continues from here
        chunks = imports.chunks_from(import_id, chunk_number, limit=min(_QUERY_CHUNKS, MAX_CHUNKS_PER_PAGE - read))
        if not chunks:
            break
        read += len(chunks)
        firsts = _first_results(import_id, chunks, imports)
        for index, chunk, entry in iter_entries(chunks):
            if index < next_index:
                continue
            result = _result(index, chunk, entry, firsts)
            if outcome is None or result.outcome == outcome:
                found.append(result)
            if len(found) == limit:
                return found, (chunk.number, index + 1)
        chunk_number, next_index = chunks[-1].number + 1, 0
    return found, None


def _first_results(
    import_id: str, chunks: Sequence[ImportChunk], imports: ImportsRepository
) -> dict[int, tuple[ChunkEntry, ChunkResult | None]]:
    """The first occurrence (entry and result, ``None`` while pending) of every repeat in ``chunks``, by index,
    reading the chunks they are in when they are not among ``chunks``."""
    by_number = {chunk.number: chunk for chunk in chunks}
    wanted = {
        entry.first_chunk
        for _index, _chunk, entry in iter_entries(chunks)
        if entry.kind == "repeat" and entry.first_chunk is not None
    }
    missing = wanted - set(by_number)
    if missing:
        by_number.update(imports.chunks_at(import_id, missing))
    firsts: dict[int, tuple[ChunkEntry, ChunkResult | None]] = {}
    for number in wanted:
        chunk = by_number.get(number)
        if chunk is None:
            continue
        results = chunk.result_of()
        for index, _chunk, entry in iter_entries([chunk]):
            if entry.kind == "work":
                firsts[index] = (entry, results.get(index))
    return firsts


def _result(
    index: int, chunk: ImportChunk, entry: ChunkEntry, firsts: Mapping[int, tuple[ChunkEntry, ChunkResult | None]]
) -> ImportItemResult:
    number, carrier = entry.tracking_number, entry.carrier_code
    if entry.kind == "failed":
        return ImportItemResult(
            index=index,
            outcome="failed",
            tracking_number=number,
            carrier_code=carrier,
            problem=Problem.model_validate(entry.problem),
        )
    if entry.kind == "work":
        return _from(index, chunk.result_of().get(index), number, carrier)
    first_entry, first_result = firsts.get(entry.first if entry.first is not None else -1, (entry, None))
    repeated = _from(index, first_result, number, first_entry.carrier_code or carrier)
    if repeated.outcome == "created":
        repeated = repeated.model_copy(update={"outcome": "existing"})
    return repeated.model_copy(update={"duplicate_of": entry.first})


def _from(index: int, result: ChunkResult | None, number: str | None, carrier: str | None) -> ImportItemResult:
    if result is None:
        return ImportItemResult(index=index, outcome="pending", tracking_number=number, carrier_code=carrier)
    return ImportItemResult(
        index=index,
        outcome=result.outcome,
        tracking_number=result.tracking_number or number,
        carrier_code=result.carrier_code or carrier,
        problem=Problem.model_validate(result.problem) if result.problem else None,
    )


def _with_trackings(results: Iterable[ImportItemResult], store: TrackingsRepository) -> list[ImportItemResult]:
    """The results, each created or existing one with its tracking as stored now (one batch read)."""
    results = list(results)

    def ref(result: ImportItemResult) -> TrackingRef | None:
        if result.outcome not in ("created", "existing") or not result.carrier_code or not result.tracking_number:
            return None
        return TrackingRef.of(result.carrier_code, result.tracking_number)

    refs = {found for found in (ref(result) for result in results) if found is not None}
    trackings = store.batch_get_summaries(refs) if refs else {}
    attached: list[ImportItemResult] = []
    for result in results:
        key = ref(result)
        tracking = trackings.get(key) if key is not None else None
        attached.append(result.model_copy(update={"tracking": tracking}) if tracking else result)
    return attached


def _cursor(signer: CursorSigner, import_id: str, outcome: str | None, position: tuple[int, int]) -> str:
    chunk, index = position
    return encode_payload(signer, {"k": _CURSOR_KIND, "i": import_id, "o": outcome, "c": chunk, "x": index})


def _position(cursor: str, signer: CursorSigner, import_id: str, outcome: str | None) -> tuple[int, int]:
    data = decode_payload(signer, cursor)
    chunk, index = data.get("c"), data.get("x")
    if (
        data.get("k") != _CURSOR_KIND
        or data.get("i") != import_id
        or data.get("o") != outcome
        or not isinstance(chunk, int)
        or not isinstance(index, int)
        or chunk < 0
        or index < 0
    ):
        raise InvalidCursorError("The cursor is not valid for these results; start again without it.")
    return chunk, index
