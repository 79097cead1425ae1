"""Bulk imports (``/imports``): the request, the import resource and its per-item results (docs/api.md).

An import takes up to :data:`MAX_IMPORT_ITEMS` items of the batch route's shape (``CreateTrackingRequest``), as
JSON or CSV, answers ``202`` at once and creates the trackings in the background, chunk by chunk
(``shiptrack.services.imports``, ``shiptrack.services.import_worker``). Its ``status`` is:

* ``queued`` — accepted, not yet handed to the workers;
* ``running`` — its chunks are queued for (or with) the workers;
* ``completed`` — every item has its outcome;
* ``failed`` — every item has its outcome and none was created or existing (all invalid, or refused upstream).

``summary`` counts items: ``created + existing + failed + pending = total``. Like the batch route, a repeated
identity counts once as created (or existing) and its later occurrences as ``existing``.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from shiptrack.errors import Problem
from shiptrack.models import CreateContext, TrackingSummary, UtcTimestamp

__all__ = [
    "DEFAULT_RESULTS_LIMIT",
    "MAX_IMPORTS_LIMIT",
    "MAX_IMPORT_ITEMS",
    "MAX_RESULTS_LIMIT",
    "Import",
    "ImportItemResult",
    "ImportList",
    "ImportOutcome",
    "ImportRequest",
    "ImportResults",
    "ImportStatus",
    "ImportSummary",
]

#: The most items one import takes (more is a 413). The Lambda request payload (6 MB) bounds it too: see docs/api.md.
MAX_IMPORT_ITEMS: Final = 50_000
#: Results per page of ``GET /imports/{id}/results``: the largest page (each result with its tracking summary, every
#: text at its longest, escaped) stays under Lambda's 6 MB answer (tests/contract/test_payload_limits.py).
MAX_RESULTS_LIMIT: Final = 500
DEFAULT_RESULTS_LIMIT: Final = 100
MAX_IMPORTS_LIMIT: Final = 100

ImportStatus = Literal["queued", "running", "completed", "failed"]
ImportOutcome = Literal["created", "existing", "failed", "pending"]


class _Model(BaseModel):
    model_config = ConfigDict(defer_build=True)


class ImportRequest(_Model):
    """The JSON body of ``POST /imports``: the items, and values filling what each item leaves unset.

    Items are validated one by one after the import is accepted: an invalid item fails alone, in the results.
    """

    model_config = ConfigDict(extra="forbid", defer_build=True)

    items: Annotated[
        list[Any],
        Field(
            min_length=1,
            description=(
                f"1 to {MAX_IMPORT_ITEMS} trackings, each of the shape of `CreateTrackingRequest` (or a CSV body: "
                "docs/api.md)"
            ),
            json_schema_extra={
                "items": {"$ref": "#/components/schemas/CreateTrackingRequest"},
                "maxItems": MAX_IMPORT_ITEMS,
            },
        ),
    ]
    context: CreateContext | None = Field(
        default=None, description="Order id, order time, customer and destination for the items that leave them out"
    )


class ImportSummary(_Model):
    """Items by outcome so far: ``created + existing + failed + pending = total``."""

    total: int
    created: int = 0
    existing: int = 0
    failed: int = 0
    pending: int = 0


class Import(_Model):
    """A bulk import: where it stands, and when it started and ended."""

    id: str
    status: ImportStatus
    summary: ImportSummary
    created_at: UtcTimestamp
    started_at: UtcTimestamp | None = None
    completed_at: UtcTimestamp | None = None
    expires_at: UtcTimestamp = Field(description="When the import and its results are deleted (retention)")


class ImportList(_Model):
    """A page of ``GET /imports``, newest first; ``next_cursor`` is absent on the last page."""

    items: list[Import]
    next_cursor: str | None = None


class ImportItemResult(_Model):
    """One input item's outcome, at its position in the input (``index``, from 0)."""

    index: int
    outcome: ImportOutcome
    tracking_number: str | None = None
    carrier_code: str | None = None
    problem: Problem | None = Field(default=None, description="Why the item failed (RFC 9457)")
    tracking: TrackingSummary | None = Field(
        default=None, description="The tracking as stored now, when created or existing"
    )
    duplicate_of: int | None = Field(
        default=None, description="The index of the earlier item with the same tracking, when this one repeats it"
    )


class ImportResults(_Model):
    """A page of ``GET /imports/{id}/results``, in input order; ``next_cursor`` is absent on the last page."""

    items: list[ImportItemResult]
    next_cursor: str | None = None
