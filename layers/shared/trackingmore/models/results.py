"""Outcomes of the calls that act on many trackings: batch create, updatemore, delete, notupdate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from trackingmore.errors import TrackingMoreError
from trackingmore.models._base import ResponseModel, only_mappings
from trackingmore.models.trackings import Tracking


class BatchCreateItem(BaseModel):
    """The outcome of one requested tracking in ``batch_create_trackings``.

    ``outcome`` is ``"created"``, ``"exists"`` (upstream 4016) or ``"failed"``. ``tracking`` is present when
    the client holds it: always for ``"created"``; for ``"exists"`` only when it was learnt while reconciling an
    ambiguous failure. A tracking found by that reconciliation is reported ``"created"``: the lost request is
    by far the likeliest author, and upstream offers no way to tell. ``retryable`` says whether sending the
    item again later may succeed (the chunk failed in transit, was rate-limited, hit a server error, or was never
    sent because the client's deadline came first).

    ``error`` is, for a ``"failed"`` item, the client error that failed it: the chunk's (a ``TimeoutError``, a
    ``DeadlineExceededError`` for items the deadline left unsent …) or the per-item error upstream reported, as the
    class ``errors.error_class_for`` gives its code. Callers map it like any raised error. It is left out of
    ``model_dump`` and of equality.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    tracking_number: str
    carrier_code: str
    outcome: Literal["created", "exists", "failed"]
    tracking: Tracking | None = None
    error_code: int | None = None
    error_message: str | None = None
    retryable: bool = False
    error: TrackingMoreError | None = Field(default=None, exclude=True, repr=False)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BatchCreateItem):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]  # mutable: unhashable, like any pydantic model that is not frozen


class BatchCreateResult(BaseModel):
    """All outcomes of ``batch_create_trackings``, one per requested item, in input order."""

    model_config = ConfigDict(extra="forbid")

    items: list[BatchCreateItem] = Field(default_factory=list)

    @property
    def submitted(self) -> int:
        """How many trackings were asked for."""
        return len(self.items)

    @property
    def added(self) -> int:
        """How many were created."""
        return len(self.created)

    @property
    def created(self) -> list[BatchCreateItem]:
        """Items created by this call."""
        return [item for item in self.items if item.outcome == "created"]

    @property
    def existing(self) -> list[BatchCreateItem]:
        """Items that already existed upstream (4016)."""
        return [item for item in self.items if item.outcome == "exists"]

    @property
    def failed(self) -> list[BatchCreateItem]:
        """Items not created; see ``retryable``."""
        return [item for item in self.items if item.outcome == "failed"]

    @property
    def retryable(self) -> list[BatchCreateItem]:
        """Failed items worth sending again later."""
        return [item for item in self.failed if item.retryable]


class BatchResultItem(ResponseModel):
    """One per-item entry of ``updatemore``/``delete``/``notupdate`` (shapes undocumented, reference §3.7–3.13)."""

    tracking_number: str | None = None
    carrier_code: str | None = None
    code: int | None = None
    message: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _unwrap_meta(cls, data: Any) -> Any:
        # POST /trackings/delete wraps each item in its own "meta" object (reference §3.8).
        if isinstance(data, Mapping) and isinstance(data.get("meta"), Mapping):
            merged = {key: value for key, value in data.items() if key != "meta"}
            merged.update(data["meta"])
            return merged
        return data

    @property
    def ok(self) -> bool:
        """No error code, or a success code."""
        return self.code is None or self.code in (200, 201)


class BatchResult(ResponseModel):
    """The answer to ``updatemore``, ``delete`` (many) or ``notupdate``.

    ``succeeded`` comes from the count upstream gives (``change`` for notupdate, ``delete`` for delete …);
    ``items`` merges upstream's ``trackings`` and ``errors`` lists. See ``TrackingMoreClient.update_trackings``.
    """

    submitted: int = 0
    succeeded: int = 0
    items: Annotated[list[BatchResultItem], BeforeValidator(only_mappings)] = Field(default_factory=list)

    @property
    def failed(self) -> list[BatchResultItem]:
        """Items upstream reported with an error code."""
        return [item for item in self.items if not item.ok]
