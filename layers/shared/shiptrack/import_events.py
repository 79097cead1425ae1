"""``Import Completed``: the outbound event of a bulk import whose every item has its outcome (docs/design.md §6).

It comes from the ImportsTable stream, through the publisher, like every tracking event — never from a second
write next to the last chunk's (no dual writes). The header's counters move with each chunk done, in one
transaction with the chunk; the stream record whose new image has every chunk done and whose old image did not is
the completion (or the INSERT of an import that had nothing to create: every item invalid or repeated). Redelivered
records give the same ``event_id`` (the import's id and the detail-type), so subscribers deduplicate on it.

Storefront webhooks deliver it as ``import.completed``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shiptrack.data.imports import is_header_image, record_from_item
from shiptrack.events import EVENT_SOURCE, IMPORT_COMPLETED
from shiptrack.import_models import Import
from shiptrack.models import UtcTimestamp

__all__ = ["IMPORT_COMPLETED", "ImportCompleted", "ImportCompletedDetail", "import_events_for_record"]


class ImportCompletedDetail(BaseModel):
    """The ``detail`` of ``Import Completed``: the import as it ended (status, counts, times)."""

    model_config = ConfigDict(populate_by_name=True)

    event_id: str = Field(description="Stable id of this event: the same on every redelivery; deduplicate on it")
    occurred_at: UtcTimestamp = Field(description="When the import's last item got its outcome")
    import_: Import = Field(alias="import")


class ImportCompleted(BaseModel):
    """One ``Import Completed`` event for the bus, before it is sent."""

    detail_type: Literal["Import Completed"] = IMPORT_COMPLETED
    detail: ImportCompletedDetail

    @property
    def event_id(self) -> str:
        return self.detail.event_id

    def to_entry(self, bus_name: str) -> dict[str, Any]:
        """The PutEvents entry (a few hundred bytes: no trimming needed)."""
        return {
            "Source": EVENT_SOURCE,
            "DetailType": self.detail_type,
            "Detail": self.detail.model_dump_json(by_alias=True),
            "EventBusName": bus_name,
            "Time": self.detail.occurred_at,
            "Resources": [],
        }


def import_events_for_record(
    event_name: str, old_image: Mapping[str, Any] | None, new_image: Mapping[str, Any] | None
) -> list[ImportCompleted]:
    """The events of one ImportsTable stream record: ``Import Completed`` when this write completed the import."""
    from shiptrack.services.imports import import_view

    if event_name == "REMOVE" or not is_header_image(new_image):
        return []
    assert new_image is not None
    new = record_from_item(new_image)
    if not new.done:
        return []
    if event_name == "MODIFY" and is_header_image(old_image) and old_image and record_from_item(old_image).done:
        return []
    material = json.dumps([str(new_image.get("pk")), IMPORT_COMPLETED], separators=(",", ":"))
    detail = ImportCompletedDetail(
        event_id=hashlib.sha256(material.encode()).hexdigest()[:32],
        occurred_at=new.updated_at.astimezone(UTC),
        import_=import_view(new),
    )
    return [ImportCompleted(detail=detail)]
