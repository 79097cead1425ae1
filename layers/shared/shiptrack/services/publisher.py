"""The publisher: TrackingsTable stream records → events on the project bus (docs/design.md §5 "no dual writes", §6).

Events come only from the stream, never from a second write next to the first: a crash between the two would
lose an event, whereas a stream record is delivered until it is processed (or lands in the on-failure queue).

Delivery is at least once, in stream order:

* the events of a batch are sent with ``PutEvents`` in requests of at most 10 entries / 256 KB;
* PutEvents reports failures per entry: only the failed entries are sent again, with backoff, at most
  ``max_attempts`` times in all;
* when an entry still fails, its stream record and every later one are reported in ``batchItemFailures``
  (``ReportBatchItemFailures``): Lambda retries from the lowest one, bisecting on repeated failure, and after
  ``MaximumRetryAttempts`` sends the record's description to the on-failure queue (docs/operations.md);
* later chunks are not sent once a record has failed: they would be sent again on the retry anyway.

With a ``deadline`` (the invocation's), a chunk is sent only if :data:`CHUNK_BUDGET_MS` is left and a resend only if
its backoff fits: when time runs short, the first record not yet published and every later one are reported in
``batchItemFailures``, so Lambda retries from there instead of the function being killed mid-batch.

Redelivered records produce the same event ids (:func:`shiptrack.events.event_id`), so subscribers deduplicate.
A record whose image is not a tracking is logged and reported failed: it cannot be published, and the retry
policy moves it to the on-failure queue instead of silently dropping it.

The same function publishes ``Import Completed`` from the ImportsTable stream (``shiptrack.import_events``):
records keyed by ``pk`` and ``sk`` are import headers.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from shiptrack.events import MAX_ENTRY_BYTES, OutboundEvent, entry_size, events_for_record
from shiptrack.observability import logger
from shiptrack.streams import record_images, sequence_number

if TYPE_CHECKING:
    from shiptrack.deadline import Deadline
    from shiptrack.import_events import ImportCompleted

__all__ = ["CHUNK_BUDGET_MS", "MAX_PUT_ATTEMPTS", "PUT_EVENTS_MAX_ENTRIES", "PublishResult", "publish_stream_records"]

#: PutEvents takes at most 10 entries per request, 256 KB in all.
PUT_EVENTS_MAX_ENTRIES: Final = 10
#: Attempts per entry (the first send included) before its record is handed back to the stream.
MAX_PUT_ATTEMPTS: Final = 4
_BACKOFF_BASE_SECONDS: Final = 0.1
_BACKOFF_CAP_SECONDS: Final = 2.0
#: Time a chunk is given before it is sent: one PutEvents and its resends (backoff up to 0.7 s) on a slow day.
CHUNK_BUDGET_MS: Final = 3_000


@dataclass
class PublishResult:
    """What one batch of stream records produced: the Lambda response and counters for metrics."""

    failed_sequence_numbers: list[str] = field(default_factory=list)
    published: int = 0
    skipped_records: int = 0
    unpublishable_records: int = 0
    retried_entries: int = 0

    def response(self) -> dict[str, Any]:
        """The ``ReportBatchItemFailures`` response for Lambda's DynamoDB stream poller."""
        return {"batchItemFailures": [{"itemIdentifier": seq} for seq in self.failed_sequence_numbers]}


@dataclass
class _Pending:
    record_index: int
    event: OutboundEvent | ImportCompleted
    entry: dict[str, Any]
    size: int
    attempts: int = 0


def _events(record: Mapping[str, Any], *, include_customer_data: bool) -> Sequence[OutboundEvent | ImportCompleted]:
    """The events of one stream record: a TrackingsTable record's (keyed by ``pk``), or an ImportsTable one's
    (keyed by ``pk`` and ``sk``: import headers only reach the publisher)."""
    old_image, new_image = record_images(record)
    event_name = str(record.get("eventName") or "")
    keys = (record.get("dynamodb") or {}).get("Keys") or {}
    if "sk" in keys:
        # Imported here: only the function's ImportsTable event source pays for the import models.
        from shiptrack.import_events import import_events_for_record

        return import_events_for_record(event_name, old_image, new_image)
    return events_for_record(
        event_name,
        old_image,
        new_image,
        sequence_number=sequence_number(record) or None,
        include_customer_data=include_customer_data,
    )


def _chunks(pending: Sequence[_Pending]) -> list[list[_Pending]]:
    chunks: list[list[_Pending]] = []
    current: list[_Pending] = []
    size = 0
    for item in pending:
        if current and (len(current) == PUT_EVENTS_MAX_ENTRIES or size + item.size > MAX_ENTRY_BYTES):
            chunks.append(current)
            current, size = [], 0
        current.append(item)
        size += item.size
    if current:
        chunks.append(current)
    return chunks


def publish_stream_records(
    records: Sequence[Mapping[str, Any]],
    *,
    events_client: Any,
    bus_name: str,
    sleep: Callable[[float], None] = time.sleep,
    max_attempts: int = MAX_PUT_ATTEMPTS,
    include_customer_data: bool = False,
    deadline: Deadline | None = None,
) -> PublishResult:
    """Publish the events of ``records`` (raw DynamoDB stream records, oldest first) to ``bus_name``, within
    ``deadline`` when given (see the module docstring).

    ``include_customer_data``: keep the trackings' customer contact fields in the events (off by default).
    """
    result = PublishResult()
    pending, first_failed = _pending_events(records, bus_name, result, include_customer_data=include_customer_data)

    for chunk in _chunks(pending):
        if first_failed is not None and chunk[0].record_index >= first_failed:
            break
        if deadline is not None and not deadline.allows(CHUNK_BUDGET_MS):
            first_failed = chunk[0].record_index
            logger.warning("out of time: the rest of the batch goes back to the stream", extra={"at": first_failed})
            break
        failed = _put_with_retries(
            chunk, events_client=events_client, sleep=sleep, max_attempts=max_attempts, deadline=deadline
        )
        result.retried_entries += sum(1 for item in chunk if item.attempts > 1)
        result.published += len(chunk) - len(failed)
        if failed:
            lowest = min(item.record_index for item in failed)
            first_failed = lowest if first_failed is None else min(first_failed, lowest)
            for item in failed:
                logger.error(
                    "event not published",
                    extra={"event_id": item.event.event_id, "detail_type": item.event.detail_type},
                )
            break

    if first_failed is not None:
        result.failed_sequence_numbers = [sequence_number(record) for record in records[first_failed:]]
    return result


def _pending_events(
    records: Sequence[Mapping[str, Any]], bus_name: str, result: PublishResult, *, include_customer_data: bool
) -> tuple[list[_Pending], int | None]:
    """The entries to send for ``records``, in order, and the index of the first record that cannot be published
    (its events and every later record's are not sent)."""
    pending: list[_Pending] = []
    for index, record in enumerate(records):
        try:
            events = _events(record, include_customer_data=include_customer_data)
        except (ValueError, KeyError):
            # ValueError covers pydantic's ValidationError: an image that is not a tracking (or an import).
            logger.exception("stream record cannot be published", extra={"sequence_number": sequence_number(record)})
            result.unpublishable_records += 1
            return pending, index
        if not events:
            result.skipped_records += 1
        for event in events:
            entry = event.to_entry(bus_name)
            pending.append(_Pending(index, event, entry, entry_size(entry["DetailType"], entry["Detail"])))
    return pending, None


def _put_with_retries(
    chunk: list[_Pending],
    *,
    events_client: Any,
    sleep: Callable[[float], None],
    max_attempts: int,
    deadline: Deadline | None = None,
) -> list[_Pending]:
    """Send one chunk; resend only the entries PutEvents reports failed (while the ``deadline`` leaves time for
    it). Returns those that never got through."""
    from botocore.exceptions import BotoCoreError, ClientError

    remaining = chunk
    for attempt in range(1, max_attempts + 1):
        for item in remaining:
            item.attempts = attempt
        entries = [item.entry for item in remaining]
        try:
            response = events_client.put_events(Entries=entries)
        except (ClientError, BotoCoreError) as exc:
            # Throttling or a service error: the whole request failed, every entry is still to send.
            logger.warning("PutEvents failed", extra={"attempt": attempt, "error": type(exc).__name__})
            failed = remaining
        else:
            results = response.get("Entries") or []
            failed = [
                item
                for item, outcome in zip(remaining, results, strict=False)
                if outcome.get("ErrorCode") or not outcome.get("EventId")
            ]
            # Fewer results than entries should not happen; treat the missing ones as failed, never as sent.
            failed += remaining[len(results) :]
            for item, outcome in zip(remaining, results, strict=False):
                if outcome.get("ErrorCode"):
                    logger.warning(
                        "PutEvents entry failed",
                        extra={
                            "attempt": attempt,
                            "event_id": item.event.event_id,
                            "error_code": outcome.get("ErrorCode"),
                        },
                    )
        if not failed:
            return []
        remaining = failed
        if attempt < max_attempts:
            delay = min(_BACKOFF_CAP_SECONDS, _BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
            if deadline is not None and not deadline.allows(int(delay * 1000) + CHUNK_BUDGET_MS):
                break
            sleep(delay * (0.5 + random.random() / 2))  # noqa: S311 - jitter, not security
    return remaining
