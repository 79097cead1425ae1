"""Handing an import's chunks to the workers: one ImportChunksQueue message per chunk (docs/architecture.md).

``POST /imports`` only writes DynamoDB — the chunks, then the header — so a crash can never leave an import stored
without its messages, or messages without their import. The header's stream INSERT (ImportDispatchFunction, filtered
to new headers) is what queues the chunks: at least once, since the stream retries a batch until it succeeds, and
sending a chunk twice is harmless (the worker's chunk claim makes the second a no-op). The same queue takes the
worker's own re-sends (a chunk to try again later, or to look at again when another worker's claim has expired).

A message is ``{"import_id": …, "chunk": n}``; everything else is read from the chunk.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from shiptrack.data.imports import ImportsRepository, is_header_image, record_from_item
from shiptrack.observability import logger
from shiptrack.streams import record_images, sequence_number

__all__ = ["MAX_DELAY_SECONDS", "ChunkMessage", "ChunkQueue", "DispatchResult", "dispatch_new_imports"]

#: SQS delays a message at most 15 minutes.
MAX_DELAY_SECONDS: Final = 900
# SendMessageBatch takes 10 entries; entries it reports failed are sent again at most this many times.
_SEND_BATCH: Final = 10
_MAX_SEND_ATTEMPTS: Final = 4


class ChunkMessage(NamedTuple):
    """What a chunk message names: the import and the chunk's number."""

    import_id: str
    chunk: int

    def body(self) -> str:
        return json.dumps({"import_id": self.import_id, "chunk": self.chunk}, separators=(",", ":"))

    @classmethod
    def parse(cls, body: str) -> ChunkMessage:
        """The message in an SQS body; ``ValueError`` when it is not one (a poison message: it ends in the DLQ)."""
        data = json.loads(body)
        if not isinstance(data, dict) or not isinstance(data.get("import_id"), str):
            raise ValueError("not an import chunk message")
        chunk = data.get("chunk")
        if not isinstance(chunk, int) or isinstance(chunk, bool) or chunk < 0:
            raise ValueError("not an import chunk message")
        return cls(data["import_id"], chunk)


class ChunkQueue:
    """ImportChunksQueue: ``sqs`` is a boto3 SQS client, ``queue_url`` the queue's URL."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self._sqs = sqs
        self._queue_url = queue_url

    def send(self, import_id: str, chunks: Sequence[int], *, delay_seconds: int = 0) -> None:
        """One message per chunk, visible after ``delay_seconds`` (at most 15 minutes). Raises when SQS still
        refuses some after a few attempts: the caller's retry sends them all again (duplicates are harmless)."""
        delay = max(0, min(int(delay_seconds), MAX_DELAY_SECONDS))
        messages = [ChunkMessage(import_id, number) for number in chunks]
        for start in range(0, len(messages), _SEND_BATCH):
            entries = [
                {"Id": str(offset), "MessageBody": message.body(), "DelaySeconds": delay}
                for offset, message in enumerate(messages[start : start + _SEND_BATCH])
            ]
            for _attempt in range(_MAX_SEND_ATTEMPTS):
                response = self._sqs.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
                failed = {entry["Id"] for entry in response.get("Failed") or []}
                entries = [entry for entry in entries if entry["Id"] in failed]
                if not entries:
                    break
            else:
                msg = f"SQS refused {len(entries)} chunk message(s) of import {import_id}"
                raise RuntimeError(msg)


@dataclass
class DispatchResult:
    """What one batch of stream records did: the imports dispatched, their messages, the records to retry."""

    imports: int = 0
    messages: int = 0
    failed_sequence_numbers: list[str] = field(default_factory=list)

    def response(self) -> dict[str, Any]:
        """The ``ReportBatchItemFailures`` response for Lambda's DynamoDB stream poller."""
        return {"batchItemFailures": [{"itemIdentifier": seq} for seq in self.failed_sequence_numbers]}


def dispatch_new_imports(
    records: Sequence[Mapping[str, Any]],
    *,
    queue: ChunkQueue,
    imports: ImportsRepository,
) -> DispatchResult:
    """Queue the chunks of every new import in ``records`` (ImportsTable stream records, oldest first) and mark it
    started. A failure reports that record and every later one, so the stream retries from there."""
    result = DispatchResult()
    for index, record in enumerate(records):
        _old, new_image = record_images(record)
        if record.get("eventName") != "INSERT" or not is_header_image(new_image):
            continue
        assert new_image is not None
        header = record_from_item(new_image)
        try:
            if header.queued_chunks:
                queue.send(header.import_id, header.queued_chunks)
                imports.mark_started(header.import_id)
        except Exception:
            logger.exception("import not dispatched; the stream retries it", extra={"import_id": header.import_id})
            result.failed_sequence_numbers = [sequence_number(r) for r in records[index:]]
            return result
        result.imports += 1
        result.messages += len(header.queued_chunks)
        logger.info("import dispatched", extra={"import_id": header.import_id, "chunks": len(header.queued_chunks)})
    return result
