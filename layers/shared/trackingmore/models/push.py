"""A parsed v2 webhook push (reference §7.1)."""

from __future__ import annotations

from pydantic import BaseModel

from trackingmore.models._base import ResponseModel
from trackingmore.models.trackings import Tracking


class WebhookMeta(ResponseModel):
    """The ``meta`` object of a webhook push, when present."""

    code: int | None = None
    type: str | None = None
    message: str | None = None


class WebhookPush(BaseModel):
    """A parsed v2 webhook push (reference §7.1): the tracking and the signature fields."""

    tracking: Tracking
    time_str: str
    signature: str
    meta: WebhookMeta | None = None
