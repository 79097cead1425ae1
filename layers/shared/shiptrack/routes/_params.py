"""Query parameters more than one router takes."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from shiptrack.models import MAX_CURSOR_LENGTH

__all__ = ["CursorQuery"]

#: The ``next_cursor`` of the page before, for the next one (every listing: trackings, imports, webhook endpoints and
#: their deliveries).
CursorQuery = Annotated[
    str | None, Query(min_length=1, max_length=MAX_CURSOR_LENGTH, description="A page's `next_cursor`")
]
