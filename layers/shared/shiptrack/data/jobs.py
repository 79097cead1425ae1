"""Job state for the scheduled jobs (refresh, archive) in CacheTable: watermarks and resume cursors.

One item per job, ``pk = JOB#{name}``. The job's own state is a pydantic model stored as a JSON string
(so no float/Decimal round-trips), next to a ``revision`` counter. Every save is conditional on the
revision that was loaded: two overlapping runs (reserved concurrency 1 prevents that on AWS, a manual
invoke during a scheduled one does not) cannot overwrite each other's checkpoints; the loser gets
:class:`~shiptrack.errors.JobConflictError` and stops without writing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, Generic, TypeVar

from pydantic import BaseModel

from shiptrack.data.dynamodb import conditional
from shiptrack.errors import JobConflictError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

__all__ = ["JOB_PREFIX", "JobStateStore", "LoadedJob"]

JOB_PREFIX: Final = "JOB#"

StateT = TypeVar("StateT", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class LoadedJob(Generic[StateT]):
    """A job's state and the revision it was read at (the precondition of the next save)."""

    state: StateT
    revision: int


class JobStateStore:
    """Reads and writes job state items in CacheTable."""

    def __init__(self, table: Table) -> None:
        self._table = table

    @staticmethod
    def key(name: str) -> str:
        return f"{JOB_PREFIX}{name}"

    def load(self, name: str, model: type[StateT]) -> LoadedJob[StateT]:
        """The job's state, or a fresh ``model()`` at revision 0 when the job never ran."""
        item = self._table.get_item(Key={"pk": self.key(name)}, ConsistentRead=True).get("Item")
        if not item:
            return LoadedJob(model(), 0)
        return LoadedJob(model.model_validate_json(str(item["state"])), int(str(item["revision"])))

    def save(self, name: str, state: BaseModel, *, revision: int, now: datetime | None = None) -> int:
        """Store ``state`` if the job is still at ``revision``; returns the new revision."""
        new_revision = revision + 1
        when = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        saved = conditional(
            lambda: self._table.put_item(
                Item={
                    "pk": self.key(name),
                    "state": state.model_dump_json(),
                    "revision": new_revision,
                    "updated_at": when,
                },
                ConditionExpression="attribute_not_exists(pk) OR revision = :expected",
                ExpressionAttributeValues={":expected": revision},
            )
        )
        if not saved:
            raise JobConflictError(f"job {name} was saved by another run (expected revision {revision})")
        return new_revision
