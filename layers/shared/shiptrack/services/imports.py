"""Bulk imports: accepting one (``POST /imports``) and reading imports back (``GET /imports[/{id}]``).

Accepting makes no upstream call, so it answers at once, whatever TrackingMore's latency:

1. the body is read (:mod:`shiptrack.services.import_input`): a body that is not an import is a 4xx, nothing stored;
2. each item is validated alone, as the batch route's (``CreateTrackingRequest``, the ``context`` filling its
   gaps); an invalid item is recorded ``failed`` with its problem;
3. a later item with the same identity as an earlier one (same carrier code — or both without — and the same
   number) *repeats* it: it is not sent again and shares its outcome (``existing`` once the first is created);
4. the items are packed, in input order, into chunks of consecutive items holding at most
   :data:`~shiptrack.services.create.CHUNK_SIZE` identities to create (one upstream batch create each), and at most
   :data:`MAX_CHUNK_ITEMS` items or :data:`MAX_CHUNK_BYTES` bytes in all (a DynamoDB item is at most 400 KB);
5. the chunks and then the header are stored (``shiptrack.data.imports``); the header's stream INSERT hands the
   chunks to the workers (``shiptrack.services.import_dispatch``). The answer is the import, ``queued``.
"""

from __future__ import annotations

import json
import secrets
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Final

from pydantic import ValidationError

from shiptrack.data.cursors import CursorSigner, decode_payload, encode_payload
from shiptrack.data.imports import ChunkEntry, ImportChunk, ImportRecord, ImportsRepository
from shiptrack.errors import ImportNotFoundError, InvalidCursorError, Problem
from shiptrack.import_models import Import, ImportList, ImportSummary
from shiptrack.models import CreateContext, CreateTrackingRequest, to_millis
from shiptrack.observability import logger
from shiptrack.services.create import CHUNK_SIZE, invalid_item_problem
from shiptrack.services.import_input import ImportInput

__all__ = [
    "ITEM_TEXT_CHARS",
    "MAX_CHUNK_BYTES",
    "MAX_CHUNK_ITEMS",
    "PROBLEM_FIELD_ERRORS",
    "PROBLEM_LOC_CHARS",
    "PROBLEM_LOC_PARTS",
    "PROBLEM_MSG_CHARS",
    "PROBLEM_TYPE_CHARS",
    "accept_import",
    "get_import",
    "import_view",
    "list_imports",
    "new_import_id",
    "plan_import",
]

#: Items (of any kind) per chunk at most: bounds a chunk full of invalid items or repeats.
MAX_CHUNK_ITEMS: Final = 200
#: Bytes of entries per chunk at most, well under DynamoDB's 400 KB item limit.
MAX_CHUNK_BYTES: Final = 256 * 1024
#: An invalid item's result is kept small, however hostile the item (thousands of unknown keys, huge strings): its
#: problem keeps its first field errors, each ``loc`` part, ``msg`` and ``type`` cut, and the number and carrier code
#: it gave are cut too. A page of 500 such results stays under Lambda's 6 MB (tests/contract/test_payload_limits.py).
PROBLEM_FIELD_ERRORS: Final = 5
PROBLEM_LOC_PARTS: Final = 3
PROBLEM_LOC_CHARS: Final = 40
PROBLEM_MSG_CHARS: Final = 100
PROBLEM_TYPE_CHARS: Final = 40
ITEM_TEXT_CHARS: Final = 100
_LIST_CURSOR: Final = "imports"


def new_import_id(now: datetime) -> str:
    """``imp-`` + 12 hex digits of milliseconds + 12 random ones: unique, and sorted by creation time."""
    return f"imp-{int(now.timestamp() * 1000):012x}{secrets.token_hex(6)}"


def accept_import(
    raw: ImportInput,
    *,
    imports: ImportsRepository,
    retention_days: int,
    now: datetime | None = None,
    new_id: Callable[[datetime], str] = new_import_id,
) -> Import:
    """Validate, plan and store an import (module docstring); the accepted import."""
    now = to_millis(now or imports.now())
    import_id = new_id(now)
    expires_at = int((now + timedelta(days=retention_days)).timestamp())
    record, chunks = plan_import(raw.items, raw.context, import_id=import_id, now=now, expires_at=expires_at)
    imports.put_import(record, chunks)
    logger.info(
        "import accepted",
        extra={
            "import_id": import_id,
            "source": raw.source,
            "items": record.total,
            "invalid": record.failed,
            "chunks": record.chunks,
            "chunks_to_send": len(record.queued_chunks),
        },
    )
    return import_view(record)


def plan_import(
    items: Sequence[Any], context: CreateContext | None, *, import_id: str, now: datetime, expires_at: int
) -> tuple[ImportRecord, list[ImportChunk]]:
    """The header and chunks of a new import: every item validated, repeats pointed at their first occurrence,
    packed in input order (module docstring)."""
    entries = [_entry(raw, context) for raw in items]
    _link_repeats(entries)
    chunks: list[ImportChunk] = []
    starts: list[int] = []  # each chunk's first index, to find the chunk of a repeat's first occurrence
    start, size, work = 0, 0, 0
    for index, entry in enumerate(entries):
        entry_bytes = len(json.dumps(entry.to_json(), separators=(",", ":")))
        full = work == CHUNK_SIZE and entry.kind == "work"
        if index > start and (full or index - start == MAX_CHUNK_ITEMS or size + entry_bytes > MAX_CHUNK_BYTES):
            chunks.append(_chunk(import_id, len(chunks), start, entries[start:index], expires_at))
            starts.append(start)
            start, size, work = index, 0, 0
        if entry.kind == "repeat" and entry.first is not None:
            in_chunk = len(chunks) if entry.first >= start else bisect_right(starts, entry.first) - 1
            entries[index] = replace(entry, first_chunk=in_chunk)
        size += entry_bytes
        work += entry.kind == "work"
    if start < len(entries):
        chunks.append(_chunk(import_id, len(chunks), start, entries[start:], expires_at))
    record = ImportRecord(
        import_id=import_id,
        created_at=now,
        updated_at=now,
        expires_at=expires_at,
        total=len(entries),
        chunks=len(chunks),
        chunks_done=sum(1 for chunk in chunks if chunk.state == "done"),
        failed=sum(1 for entry in entries if entry.kind == "failed"),
        queued_chunks=tuple(chunk.number for chunk in chunks if chunk.state == "queued"),
        started_at=None if any(chunk.state == "queued" for chunk in chunks) else now,
    )
    return record, chunks


def _entry(raw: Any, context: CreateContext | None) -> ChunkEntry:
    try:
        request = CreateTrackingRequest.model_validate(raw).with_context(context)
    except ValidationError as exc:
        number = raw.get("tracking_number") if isinstance(raw, Mapping) else None
        carrier = raw.get("carrier_code") if isinstance(raw, Mapping) else None
        return ChunkEntry(
            "failed",
            tracking_number=number[:ITEM_TEXT_CHARS] if isinstance(number, str) else None,
            carrier_code=carrier[:ITEM_TEXT_CHARS] if isinstance(carrier, str) else None,
            problem=_bounded(invalid_item_problem(exc)),
        )
    return ChunkEntry(
        "work",
        tracking_number=request.tracking_number,
        carrier_code=request.carrier_code,
        request=request.model_dump(mode="json", exclude_none=True),
    )


def _bounded(problem: Problem) -> dict[str, Any]:
    """A problem small enough to store and show per item (the ``PROBLEM_*`` bounds)."""
    data = problem.model_dump(mode="json", exclude_none=True)
    errors = data.get("errors") or []
    data["errors"] = [
        {
            "loc": [
                part[:PROBLEM_LOC_CHARS] if isinstance(part, str) else part for part in error["loc"][:PROBLEM_LOC_PARTS]
            ],
            "msg": str(error["msg"])[:PROBLEM_MSG_CHARS],
            "type": str(error["type"])[:PROBLEM_TYPE_CHARS],
        }
        for error in errors[:PROBLEM_FIELD_ERRORS]
    ]
    if len(errors) > PROBLEM_FIELD_ERRORS:
        data["detail"] = f"This item is not valid; see errors (the first {PROBLEM_FIELD_ERRORS} of {len(errors)})."
    return data


def _link_repeats(entries: list[ChunkEntry]) -> None:
    """Turn each later occurrence of an identity into a ``repeat`` of the first, and count them on the first."""
    first: dict[tuple[str, str], int] = {}
    for index, entry in enumerate(entries):
        if entry.kind != "work" or entry.tracking_number is None:
            continue
        key = (entry.carrier_code or "", entry.tracking_number)
        if key not in first:
            first[key] = index
            continue
        origin = first[key]
        entries[origin] = replace(entries[origin], repeats=entries[origin].repeats + 1)
        entries[index] = ChunkEntry(
            "repeat", tracking_number=entry.tracking_number, carrier_code=entry.carrier_code, first=origin
        )


def _chunk(import_id: str, number: int, start: int, entries: Sequence[ChunkEntry], expires_at: int) -> ImportChunk:
    has_work = any(entry.kind == "work" for entry in entries)
    return ImportChunk(
        import_id=import_id,
        number=number,
        first_index=start,
        entries=tuple(entries),
        state="queued" if has_work else "done",
        results=None if has_work else (),
        expires_at=expires_at,
    )


# ---------------------------------------------------------------------------------------------------------------------
# Reading imports


def import_view(record: ImportRecord) -> Import:
    """The API resource of an import header."""
    return Import(
        id=record.import_id,
        status=record.status,
        summary=ImportSummary.model_validate(record, from_attributes=True),
        created_at=record.created_at,
        started_at=record.started_at,
        completed_at=record.completed_at,
        expires_at=datetime.fromtimestamp(record.expires_at, tz=record.created_at.tzinfo),
    )


def get_import(import_id: str, *, imports: ImportsRepository) -> Import:
    """One import; :class:`~shiptrack.errors.ImportNotFoundError` (404) when unknown or past its retention."""
    record = imports.get(import_id)
    if record is None:
        raise ImportNotFoundError(f"There is no import {import_id} (imports are kept for a limited time).")
    return import_view(record)


def list_imports(*, limit: int, cursor: str | None, imports: ImportsRepository, signer: CursorSigner) -> ImportList:
    """Recent imports, newest first, ``limit`` a page; ``next_cursor`` continues (signed, like every cursor)."""
    after = _list_position(cursor, signer) if cursor else None
    records, last = imports.recent(limit=limit, after=after)
    next_cursor = encode_payload(signer, {"k": _LIST_CURSOR, "after": last}) if last else None
    return ImportList(items=[import_view(record) for record in records], next_cursor=next_cursor)


def _list_position(cursor: str, signer: CursorSigner) -> dict[str, str]:
    data = decode_payload(signer, cursor)
    after = data.get("after")
    if (
        data.get("k") != _LIST_CURSOR
        or not isinstance(after, dict)
        or set(after) != {"pk", "sk", "list_pk", "created_sk"}
    ):
        raise InvalidCursorError("The cursor is not valid for this listing; start again without it.")
    if after.get("list_pk") != "IMPORTS" or not all(isinstance(value, str) for value in after.values()):
        raise InvalidCursorError("The cursor is not valid for this listing; start again without it.")
    return {str(name): str(value) for name, value in after.items()}
