"""Query filters of ``GET /trackings/get`` and ``GET /trackings/getstatusnumber`` (reference §3.3, §3.12)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Final, TypedDict

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from trackingmore.models.bodies import Lang, TrackingNumber
from trackingmore.models.trackings import StatusName

TimeFilter = datetime | int

#: Most tracking numbers / order ids one list call takes (reference §3.3).
MAX_FILTER_VALUES: Final = 40
#: Largest page of ``GET /trackings/get`` (reference §3.3).
MAX_PAGE_LIMIT: Final = 2000


class TrackingListFilters(TypedDict, total=False):
    """Keyword arguments of ``list_trackings``/``iter_trackings`` (reference §3.3)."""

    page: int
    limit: int
    status: StatusName
    created_at_min: TimeFilter
    created_at_max: TimeFilter
    update_time_min: TimeFilter
    update_time_max: TimeFilter
    order_created_time_min: TimeFilter
    order_created_time_max: TimeFilter
    lang: str
    numbers: Sequence[str]
    orders: Sequence[str]
    archived: bool | None


class StatusCountsFilters(TypedDict, total=False):
    """Keyword arguments of ``get_status_counts`` (reference §3.12)."""

    created_at_min: TimeFilter
    created_at_max: TimeFilter
    order_created_time_min: TimeFilter
    order_created_time_max: TimeFilter


def _unix_seconds(value: TimeFilter) -> int:
    if isinstance(value, datetime):
        return int(value.timestamp())
    return value


def _aware_or_int(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("a time filter must be a datetime or unix seconds, not a bool")
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValueError("a naive datetime has no zone; pass an aware datetime or unix seconds")
    return value


TimeFilterValue = Annotated[TimeFilter, BeforeValidator(_aware_or_int)]
OrderId = Annotated[str, StringConstraints(pattern=r"^[^,]+$")]


class _QueryModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_params(self) -> dict[str, str]:
        """Query-string parameters: times as unix seconds, lists comma-joined, booleans as "true"/"false"."""
        params: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool):
                params[name] = "true" if value else "false"
            elif isinstance(value, datetime | int):
                params[name] = str(_unix_seconds(value))
            elif isinstance(value, list):
                params[name] = ",".join(value)
            else:
                params[name] = str(value)
        return params


class StatusCountsQuery(_QueryModel):
    """Validated filters of ``GET /trackings/getstatusnumber``."""

    created_at_min: TimeFilterValue | None = None
    created_at_max: TimeFilterValue | None = None
    order_created_time_min: TimeFilterValue | None = None
    order_created_time_max: TimeFilterValue | None = None


class ListTrackingsQuery(StatusCountsQuery):
    """Validated filters of ``GET /trackings/get``."""

    page: Annotated[int, Field(ge=1, strict=True)] | None = None
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE_LIMIT, strict=True)] | None = None
    status: StatusName | None = None
    update_time_min: TimeFilterValue | None = None
    update_time_max: TimeFilterValue | None = None
    lang: Lang | None = None
    numbers: Annotated[list[TrackingNumber], Field(min_length=1, max_length=MAX_FILTER_VALUES)] | None = None
    orders: Annotated[list[OrderId], Field(min_length=1, max_length=MAX_FILTER_VALUES)] | None = None
    archived: Annotated[bool, Field(strict=True)] | None = None
