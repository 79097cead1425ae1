"""Job state for the scheduled jobs (refresh, archive): watermarks and resume cursors in CacheTable.

One item per job, ``pk = JOB#<name>``. The job's own state is a pydantic model stored as a JSON string
(so no float/Decimal round-trips), next to a ``revision`` counter. Every save is conditional on the
revision that was loaded: two overlapping runs (reserved concurrency 1 prevents that on AWS, a manual
invoke during a scheduled one does not) cannot overwrite each other's checkpoints; the loser gets
:class:`JobConflictError` and stops without writing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

__all__ = ["JOB_PK_PREFIX", "Deadline", "JobConflictError", "JobStateStore", "LoadedJob", "job_pk"]

JOB_PK_PREFIX = "JOB#"

StateT = TypeVar("StateT", bound=BaseModel)


class JobConflictError(Exception):
    """Another run saved the job's state since this run loaded it."""


def job_pk(name: str) -> str:
    return f"{JOB_PK_PREFIX}{name}"


class Deadline:
    """When a job must stop: the Lambda context's remaining time, minus a reserve for the final checkpoint.

    ``remaining_ms`` is ``context.get_remaining_time_in_millis`` in Lambda and any callable in tests, so no
    test depends on the wall clock.
    """

    def __init__(self, remaining_ms: Callable[[], int], *, reserve_ms: int) -> None:
        self._remaining_ms = remaining_ms
        self.reserve_ms = reserve_ms

    def remaining_ms(self) -> int:
        return int(self._remaining_ms())

    def allows(self, needed_ms: int = 0) -> bool:
        """True when ``needed_ms`` more work still leaves the reserve before the timeout."""
        return self.remaining_ms() - self.reserve_ms >= needed_ms


@dataclass(frozen=True, slots=True)
class LoadedJob(Generic[StateT]):
    """A job's state and the revision it was read at (the precondition of the next save)."""

    state: StateT
    revision: int


class JobStateStore:
    """Reads and writes job state items in a table keyed by ``pk`` (CacheTable)."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def load(self, name: str, model: type[StateT]) -> LoadedJob[StateT]:
        """The job's state, or a fresh ``model()`` at revision 0 when the job never ran."""
        item = self._table.get_item(Key={"pk": job_pk(name)}, ConsistentRead=True).get("Item")
        if not item:
            return LoadedJob(model(), 0)
        return LoadedJob(model.model_validate_json(str(item["state"])), int(item["revision"]))

    def save(self, name: str, state: BaseModel, *, revision: int, now: datetime | None = None) -> int:
        """Store ``state`` if the job is still at ``revision``; returns the new revision."""
        from botocore.exceptions import ClientError

        new_revision = revision + 1
        when = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            self._table.put_item(
                Item={
                    "pk": job_pk(name),
                    "state": state.model_dump_json(),
                    "revision": new_revision,
                    "updated_at": when,
                },
                ConditionExpression="attribute_not_exists(pk) OR revision = :expected",
                ExpressionAttributeValues={":expected": revision},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                msg = f"job {name} was saved by another run (expected revision {revision})"
                raise JobConflictError(msg) from exc
            raise
        return new_revision
