"""ImportsTable: bulk imports and their chunks (docs/data-model.md, "ImportsTable").

Keys ``pk`` / ``sk``; every item of one import shares ``pk = IMPORT#{id}``:

* the **header**, ``sk = IMPORT``: the counters (``total``, ``created``, ``existing``, ``failed``, ``chunks``,
  ``chunks_done``), ``created_at`` / ``started_at`` / ``updated_at``, the chunks to hand to the workers
  (``queued_chunks``, as ranges) and, for ``GET /imports``, ``list_pk = IMPORTS`` / ``created_sk`` on the
  **ByCreated** index. Its stream records are what the publisher turns into ``Import Completed`` and what the
  dispatcher turns into queue messages: the header is written last, so its INSERT means the whole import is stored;
* one **chunk** per run of consecutive items holding at most 40 identities to create, ``sk = CHUNK#{n:06d}``: the
  items (validated requests, the problems of invalid ones, pointers from a repeated identity to its first
  occurrence), the chunk's state (``queued`` → ``sending`` → ``done``) with its claim (``owner``, ``lease_until``,
  ``attempts``) and, once done, one result per item to create.

A chunk is claimed with one conditional update (queued, or sending with an expired lease) and completed with one
transaction that sets it ``done`` — only if its claim still holds — and adds its outcomes to the header's counters,
so counters move exactly once per chunk whatever crashes or redeliveries happen. Everything expires with the
import (``expires_at``, TTL; expired items still present are treated as absent).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Literal

from shiptrack.data.dynamodb import batch_get, cancellation_reasons, conditional
from shiptrack.errors import StorageBusyError
from shiptrack.models import format_utc, parse_utc, utc_now

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

__all__ = [
    "CHUNK_STATES",
    "HEADER_SK",
    "IMPORT_PREFIX",
    "LIST_IMPORTS",
    "ChunkEntry",
    "ChunkResult",
    "ImportChunk",
    "ImportRecord",
    "ImportsRepository",
    "chunk_from_item",
    "format_ranges",
    "is_header_image",
    "iter_entries",
    "parse_ranges",
    "record_from_item",
]

IMPORT_PREFIX: Final = "IMPORT#"
HEADER_SK: Final = "IMPORT"
CHUNK_PREFIX: Final = "CHUNK#"
#: The ByCreated partition every import header sits in (imports are few: one partition is ample).
LIST_IMPORTS: Final = "IMPORTS"
CHUNK_STATES: Final = ("queued", "sending", "done")
ChunkState = Literal["queued", "sending", "done"]
# BatchWriteItem takes 25 requests; unprocessed ones are sent again at most this many times.
_WRITE_BATCH: Final = 25
_MAX_WRITE_ATTEMPTS: Final = 8


def _import_pk(import_id: str) -> str:
    return f"{IMPORT_PREFIX}{import_id}"


def _chunk_sk(number: int) -> str:
    return f"{CHUNK_PREFIX}{number:06d}"


def format_ranges(numbers: Iterable[int]) -> str:
    """``[0, 1, 2, 5, 7, 8]`` → ``"0-2,5,7-8"``: the chunks an import hands to its workers, compactly."""
    parts: list[str] = []
    ordered = sorted(set(numbers))
    start = previous = None
    for number in [*ordered, None]:
        if number is not None and previous is not None and number == previous + 1:
            previous = number
            continue
        if start is not None:
            parts.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = number
    return ",".join(parts)


def parse_ranges(text: str) -> list[int]:
    """The inverse of :func:`format_ranges`."""
    numbers: list[int] = []
    for part in filter(None, text.split(",")):
        low, _, high = part.partition("-")
        numbers.extend(range(int(low), int(high or low) + 1))
    return numbers


@dataclass(frozen=True, slots=True)
class ImportRecord:
    """An import header. ``status``, ``pending`` and ``completed_at`` are derived from the counters."""

    import_id: str
    created_at: datetime
    updated_at: datetime
    expires_at: int
    total: int
    chunks: int
    chunks_done: int = 0
    created: int = 0
    existing: int = 0
    failed: int = 0
    queued_chunks: tuple[int, ...] = ()
    started_at: datetime | None = None

    @property
    def pending(self) -> int:
        return self.total - self.created - self.existing - self.failed

    @property
    def done(self) -> bool:
        return self.chunks_done >= self.chunks

    @property
    def status(self) -> Literal["queued", "running", "completed", "failed"]:
        if self.done:
            return "completed" if self.created + self.existing else "failed"
        return "running" if self.started_at is not None else "queued"

    @property
    def completed_at(self) -> datetime | None:
        # The counters move with every chunk done and never after the last one: its update is the completion.
        return self.updated_at if self.done else None


@dataclass(frozen=True, slots=True)
class ChunkEntry:
    """One input item of a chunk: ``work`` (to create: its validated ``request``), ``failed`` (invalid when
    accepted: its ``problem``) or ``repeat`` (the same identity as the item at index ``first``, in chunk
    ``first_chunk``: it shares that item's outcome)."""

    kind: Literal["work", "failed", "repeat"]
    tracking_number: str | None = None
    carrier_code: str | None = None
    request: dict[str, Any] | None = None
    problem: dict[str, Any] | None = None
    first: int | None = None
    first_chunk: int | None = None  # repeat: the chunk of the item at ``first``
    repeats: int = 0  # work: how many later items repeat it (they share its outcome in the counters)

    def to_json(self) -> dict[str, Any]:
        data = {
            "k": self.kind,
            "n": self.tracking_number,
            "c": self.carrier_code,
            "r": self.request,
            "p": self.problem,
            "f": self.first,
            "fc": self.first_chunk,
            "x": self.repeats or None,
        }
        return {key: value for key, value in data.items() if value is not None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ChunkEntry:
        return cls(
            kind=data["k"],
            tracking_number=data.get("n"),
            carrier_code=data.get("c"),
            request=data.get("r"),
            problem=data.get("p"),
            first=data.get("f"),
            first_chunk=data.get("fc"),
            repeats=int(data.get("x") or 0),
        )


@dataclass(frozen=True, slots=True)
class ChunkResult:
    """The outcome of one ``work`` entry, once its chunk is done."""

    outcome: Literal["created", "existing", "failed"]
    tracking_number: str | None = None
    carrier_code: str | None = None
    problem: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        data = {"o": self.outcome, "n": self.tracking_number, "c": self.carrier_code, "p": self.problem}
        return {key: value for key, value in data.items() if value is not None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ChunkResult:
        return cls(outcome=data["o"], tracking_number=data.get("n"), carrier_code=data.get("c"), problem=data.get("p"))


@dataclass(frozen=True, slots=True)
class ImportChunk:
    """A chunk: items ``first_index`` … ``first_index + len(entries) - 1`` of its import, and its state."""

    import_id: str
    number: int
    first_index: int
    entries: tuple[ChunkEntry, ...]
    state: ChunkState = "queued"
    owner: str | None = None
    lease_until: float | None = None  # epoch seconds
    attempts: int = 0
    results: tuple[ChunkResult, ...] | None = None
    expires_at: int = 0

    @property
    def work(self) -> list[tuple[int, ChunkEntry]]:
        """The entries to create, with their input index."""
        return [(self.first_index + offset, e) for offset, e in enumerate(self.entries) if e.kind == "work"]

    def result_of(self) -> dict[int, ChunkResult]:
        """The result of each work entry by input index (empty until the chunk is done)."""
        if self.results is None:
            return {}
        return {index: result for (index, _entry), result in zip(self.work, self.results, strict=True)}


class ImportsRepository:
    """Reads and writes ImportsTable (see the module docstring). ``clock`` gives the current time (tests move it)."""

    def __init__(
        self,
        table: Table,
        *,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._table = table
        self._clock = clock
        self._sleep = sleep

    def now(self) -> datetime:
        """The repository's clock: what imports are stamped with, and claims and leases measured against."""
        return self._clock()

    # ------------------------------------------------------------------------------------------------ writes

    def put_import(self, record: ImportRecord, chunks: Sequence[ImportChunk]) -> None:
        """Store a new import: its chunks first, then the header (the commit: its stream INSERT starts the work).

        An import whose header never got written (a crash in between) is invisible and its chunks expire.
        """
        requests = [{"PutRequest": {"Item": self._chunk_item(chunk)}} for chunk in chunks]
        for start in range(0, len(requests), _WRITE_BATCH):
            self._batch_write(requests[start : start + _WRITE_BATCH])
        self._table.put_item(Item=self._header_item(record), ConditionExpression="attribute_not_exists(pk)")

    def mark_started(self, import_id: str) -> None:
        """Record when the import's chunks were handed to the workers (the first time only)."""
        at = self.now()
        conditional(
            lambda: self._table.update_item(
                Key={"pk": _import_pk(import_id), "sk": HEADER_SK},
                UpdateExpression="SET started_at = if_not_exists(started_at, :at)",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":at": format_utc(at)},
            )
        )

    def claim(self, chunk: ImportChunk, owner: str, lease_until: float) -> ImportChunk | None:
        """Take the chunk for ``owner`` until ``lease_until`` (epoch seconds), if it is queued or its claim has
        expired; the claimed chunk (``attempts`` counted), or ``None`` when someone else holds it or it is done."""
        now = self.now().timestamp()
        claimed = conditional(
            lambda: self._table.update_item(
                Key={"pk": _import_pk(chunk.import_id), "sk": _chunk_sk(chunk.number)},
                UpdateExpression="SET #state = :sending, #owner = :owner, lease_until = :lease ADD attempts :one",
                ConditionExpression="#state = :queued OR (#state = :sending AND lease_until < :now)",
                ExpressionAttributeNames={"#state": "state", "#owner": "owner"},
                ExpressionAttributeValues={
                    ":sending": "sending",
                    ":queued": "queued",
                    ":owner": owner,
                    ":lease": _decimal(lease_until),
                    ":now": _decimal(now),
                    ":one": 1,
                },
            )
        )
        if not claimed:
            return None
        return replace(chunk, state="sending", owner=owner, lease_until=lease_until, attempts=chunk.attempts + 1)

    def release(self, chunk: ImportChunk) -> bool:
        """Give the claim back (the chunk is ``queued`` again, its attempts kept); ``False`` if it was lost."""
        return conditional(
            lambda: self._table.update_item(
                Key={"pk": _import_pk(chunk.import_id), "sk": _chunk_sk(chunk.number)},
                UpdateExpression="SET #state = :queued REMOVE #owner, lease_until",
                ConditionExpression="#state = :sending AND #owner = :owner",
                ExpressionAttributeNames={"#state": "state", "#owner": "owner"},
                ExpressionAttributeValues={":queued": "queued", ":sending": "sending", ":owner": chunk.owner},
            )
        )

    def complete(self, chunk: ImportChunk, results: Sequence[ChunkResult], counts: Mapping[str, int]) -> bool:
        """One transaction: the chunk becomes ``done`` with ``results`` — only while ``chunk.owner`` still holds
        it — and ``counts`` (``created``, ``existing``, ``failed``) are added to the header with ``chunks_done``.

        ``False`` when the claim was lost (its lease expired and another worker took the chunk): nothing changed.
        """
        from botocore.exceptions import ClientError

        pk = _import_pk(chunk.import_id)
        now = format_utc(self._clock())
        values = {f":{name}": int(counts.get(name, 0)) for name in ("created", "existing", "failed")}
        try:
            self._table.meta.client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self._table.name,
                            "Key": {"pk": pk, "sk": _chunk_sk(chunk.number)},
                            "UpdateExpression": "SET #state = :done, results = :results, done_at = :now "
                            "REMOVE #owner, lease_until",
                            "ConditionExpression": "#state = :sending AND #owner = :owner",
                            "ExpressionAttributeNames": {"#state": "state", "#owner": "owner"},
                            "ExpressionAttributeValues": {
                                ":done": "done",
                                ":sending": "sending",
                                ":owner": chunk.owner,
                                ":results": json.dumps([r.to_json() for r in results], separators=(",", ":")),
                                ":now": now,
                            },
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table.name,
                            "Key": {"pk": pk, "sk": HEADER_SK},
                            "UpdateExpression": "ADD created :created, existing :existing, failed :failed, "
                            "chunks_done :one SET updated_at = :now",
                            "ConditionExpression": "attribute_exists(pk)",
                            "ExpressionAttributeValues": {**values, ":one": 1, ":now": now},
                        }
                    },
                ]
            )
        except ClientError as exc:
            if cancellation_reasons(exc) is None:
                raise
            return False
        return True

    # ------------------------------------------------------------------------------------------------ reads

    def get(self, import_id: str) -> ImportRecord | None:
        """The import's header (strongly consistent); ``None`` when unknown or past its retention."""
        item = self._table.get_item(Key={"pk": _import_pk(import_id), "sk": HEADER_SK}, ConsistentRead=True).get("Item")
        return self._live(record_from_item(item)) if item else None

    def recent(
        self, *, limit: int, after: Mapping[str, str] | None = None
    ) -> tuple[list[ImportRecord], dict[str, str]]:
        """Imports newest first (ByCreated), ``limit`` at most, after the index key ``after``; with the key of the
        last one returned when there may be more (else an empty dict)."""
        request: dict[str, Any] = {
            "IndexName": "ByCreated",
            "KeyConditionExpression": "list_pk = :list",
            "ExpressionAttributeValues": {":list": LIST_IMPORTS},
            "ScanIndexForward": False,
            "Limit": limit + 1,
        }
        if after:
            request["ExclusiveStartKey"] = dict(after)
        items = list(self._table.query(**request).get("Items", []))
        records = [record for record in (self._live(record_from_item(item)) for item in items[:limit]) if record]
        if len(items) <= limit:
            return records, {}
        last = items[limit - 1]
        return records, {name: str(last[name]) for name in ("pk", "sk", "list_pk", "created_sk")}

    def load_chunk(self, import_id: str, number: int) -> ImportChunk | None:
        """One chunk (strongly consistent); ``None`` when unknown or expired."""
        item = self._table.get_item(
            Key={"pk": _import_pk(import_id), "sk": _chunk_sk(number)}, ConsistentRead=True
        ).get("Item")
        return self._live_chunk(chunk_from_item(item)) if item else None

    def chunks_from(self, import_id: str, start: int, *, limit: int) -> list[ImportChunk]:
        """Up to ``limit`` chunks from number ``start`` on, in order (one Query; fewer when DynamoDB's 1 MB page is
        reached first)."""
        response = self._table.query(
            KeyConditionExpression="pk = :pk AND sk BETWEEN :from AND :to",
            ExpressionAttributeValues={
                ":pk": _import_pk(import_id),
                ":from": _chunk_sk(start),
                ":to": CHUNK_PREFIX + "~",
            },
            ConsistentRead=True,
            Limit=limit,
        )
        return [
            chunk for chunk in (chunk_from_item(item) for item in response.get("Items", [])) if self._live_chunk(chunk)
        ]

    def chunks_at(self, import_id: str, numbers: Iterable[int]) -> dict[int, ImportChunk]:
        """The chunks of these numbers (BatchGetItem, strongly consistent)."""
        keys = [{"pk": _import_pk(import_id), "sk": _chunk_sk(number)} for number in sorted(set(numbers))]
        chunks = (chunk_from_item(item) for item in batch_get(self._table, keys, sleep=self._sleep))
        return {chunk.number: chunk for chunk in chunks if self._live_chunk(chunk)}

    # ------------------------------------------------------------------------------------------------ internals

    def _live(self, record: ImportRecord) -> ImportRecord | None:
        # DynamoDB deletes expired items lazily (within days): past its retention an import is gone to callers.
        return record if record.expires_at > self._clock().timestamp() else None

    def _live_chunk(self, chunk: ImportChunk) -> ImportChunk | None:
        return chunk if chunk.expires_at > self._clock().timestamp() else None

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        pending: list[Any] = requests
        for attempt in range(_MAX_WRITE_ATTEMPTS):
            response = self._table.meta.client.batch_write_item(RequestItems={self._table.name: pending})
            pending = list((response.get("UnprocessedItems") or {}).get(self._table.name, []))
            if not pending:
                return
            self._sleep(min(0.05 * 2**attempt, 1.0))
        raise StorageBusyError(f"DynamoDB left writes to {self._table.name} unprocessed; retry the import.")

    @staticmethod
    def _header_item(record: ImportRecord) -> dict[str, Any]:
        created = format_utc(record.created_at)
        item: dict[str, Any] = {
            "pk": _import_pk(record.import_id),
            "sk": HEADER_SK,
            "import_id": record.import_id,
            "created_at": created,
            "updated_at": format_utc(record.updated_at),
            "expires_at": record.expires_at,
            "total": record.total,
            "chunks": record.chunks,
            "chunks_done": record.chunks_done,
            "created": record.created,
            "existing": record.existing,
            "failed": record.failed,
            "queued_chunks": format_ranges(record.queued_chunks),
            "list_pk": LIST_IMPORTS,
            "created_sk": f"{created}#{record.import_id}",
        }
        if record.started_at is not None:
            item["started_at"] = format_utc(record.started_at)
        return item

    @staticmethod
    def _chunk_item(chunk: ImportChunk) -> dict[str, Any]:
        return {
            "pk": _import_pk(chunk.import_id),
            "sk": _chunk_sk(chunk.number),
            "first_index": chunk.first_index,
            "entries": json.dumps([entry.to_json() for entry in chunk.entries], separators=(",", ":")),
            "state": chunk.state,
            "attempts": chunk.attempts,
            "expires_at": chunk.expires_at,
            **(
                {"results": json.dumps([r.to_json() for r in chunk.results], separators=(",", ":"))}
                if chunk.results is not None
                else {}
            ),
        }


def _decimal(value: float) -> Any:
    from decimal import Decimal

    return Decimal(str(round(value, 3)))


def _int(item: Mapping[str, Any], name: str) -> int:
    return int(item.get(name) or 0)


def record_from_item(item: Mapping[str, Any]) -> ImportRecord:
    """An import header from its item (or a deserialised stream image)."""
    started = item.get("started_at")
    return ImportRecord(
        import_id=str(item["import_id"]),
        created_at=parse_utc(str(item["created_at"])),
        updated_at=parse_utc(str(item.get("updated_at") or item["created_at"])),
        expires_at=_int(item, "expires_at"),
        total=_int(item, "total"),
        chunks=_int(item, "chunks"),
        chunks_done=_int(item, "chunks_done"),
        created=_int(item, "created"),
        existing=_int(item, "existing"),
        failed=_int(item, "failed"),
        queued_chunks=tuple(parse_ranges(str(item.get("queued_chunks") or ""))),
        started_at=parse_utc(str(started)) if started else None,
    )


def chunk_from_item(item: Mapping[str, Any]) -> ImportChunk:
    """A chunk from its item."""
    pk, sk = str(item["pk"]), str(item["sk"])
    results = item.get("results")
    lease = item.get("lease_until")
    return ImportChunk(
        import_id=pk.removeprefix(IMPORT_PREFIX),
        number=int(sk.removeprefix(CHUNK_PREFIX)),
        first_index=_int(item, "first_index"),
        entries=tuple(ChunkEntry.from_json(entry) for entry in json.loads(str(item["entries"]))),
        state=item.get("state", "queued"),
        owner=item.get("owner"),
        lease_until=float(lease) if lease is not None else None,
        attempts=_int(item, "attempts"),
        results=tuple(ChunkResult.from_json(r) for r in json.loads(str(results))) if results else None,
        expires_at=_int(item, "expires_at"),
    )


def is_header_image(image: Mapping[str, Any] | None) -> bool:
    """Whether a stream image is an import header (the stream carries the chunks' writes too)."""
    if not image:
        return False
    return image.get("sk") == HEADER_SK and str(image.get("pk", "")).startswith(IMPORT_PREFIX)


def iter_entries(chunks: Iterable[ImportChunk]) -> Iterator[tuple[int, ImportChunk, ChunkEntry]]:
    """Every entry of ``chunks`` with its input index and its chunk, in input order."""
    for chunk in chunks:
        for offset, entry in enumerate(chunk.entries):
            yield chunk.first_index + offset, chunk, entry
