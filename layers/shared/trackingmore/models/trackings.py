"""Trackings as TrackingMore returns them (reference §6), and a page of them (reference §3.3)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal, get_args

from pydantic import AliasChoices, BeforeValidator, Field, model_validator

from trackingmore.models._base import EmailList, Instant, LooseBool, OptionalText, ResponseModel, only_mappings

#: The eight v2 shipment statuses (reference §5.1).
StatusName = Literal["pending", "notfound", "transit", "pickup", "delivered", "undelivered", "exception", "expired"]
TRACKING_STATUSES: Final[frozenset[str]] = frozenset(get_args(StatusName))


class Checkpoint(ResponseModel):
    """One carrier event (``trackinfo[]`` item, reference §6).

    ``date`` is the carrier-local time exactly as sent (``YYYY-MM-DD HH:MM[:SS]``): v2 gives no zone, so none
    is invented and the text is not converted.
    """

    date: str | None = Field(default=None, validation_alias=AliasChoices("Date", "date"))
    status_description: str | None = Field(
        default=None, validation_alias=AliasChoices("StatusDescription", "status_description")
    )
    details: str | None = Field(default=None, validation_alias=AliasChoices("Details", "details"))
    checkpoint_status: str | None = None
    substatus: str | None = None
    item_node: str | None = Field(default=None, validation_alias=AliasChoices("ItemNode", "item_node"))


class CarrierInfo(ResponseModel):
    """``origin_info`` / ``destination_info``: the courier, its milestones and its events (newest first)."""

    carrier_code: str | None = None
    weblink: str | None = None
    phone: str | None = None
    reference_number: str | None = Field(
        default=None, validation_alias=AliasChoices("ReferenceNumber", "reference_number")
    )
    item_received: str | None = Field(default=None, validation_alias=AliasChoices("ItemReceived", "item_received"))
    item_dispatched: str | None = Field(
        default=None, validation_alias=AliasChoices("ItemDispatched", "item_dispatched")
    )
    depart_from_airport: str | None = Field(
        default=None, validation_alias=AliasChoices("DepartfromAirport", "DepartFromAirport", "depart_from_airport")
    )
    arrival_from_abroad: str | None = Field(
        default=None, validation_alias=AliasChoices("ArrivalfromAbroad", "ArrivalFromAbroad", "arrival_from_abroad")
    )
    customs_clearance: str | None = Field(
        default=None, validation_alias=AliasChoices("CustomsClearance", "customs_clearance")
    )
    destination_arrived: str | None = Field(
        default=None, validation_alias=AliasChoices("DestinationArrived", "destination_arrived")
    )
    trackinfo: Annotated[list[Checkpoint], BeforeValidator(only_mappings)] = Field(default_factory=list)


class Tracking(ResponseModel):
    """A tracking as TrackingMore returns it (reference §6), with its quirks smoothed out.

    * ``created_at``/``updated_at`` are aware datetimes (``None`` when missing or without an offset);
    * ``order_create_time`` is the text as sent, ``None`` for ``0``, ``""``, ``null`` or ``"null"``;
    * ``customer_email`` is always a list;
    * ``archived``/``track_update`` accept booleans and ``"true"``/``"false"``;
    * ``status`` is kept as sent, even when it is not one of ``TRACKING_STATUSES`` (see ``has_known_status``);
    * fields this model does not name (``service_code``, ``packageStatus`` …) stay in ``model_extra``.
    """

    id: str | None = None
    tracking_number: str | None = None
    carrier_code: str | None = None
    status: str | None = None
    substatus: str | None = None
    track_update: LooseBool = None
    created_at: Instant = None
    updated_at: Instant = None
    order_create_time: OptionalText = None
    title: str | None = None
    order_id: str | None = None
    comment: str | None = None
    customer_name: str | None = None
    customer_email: EmailList = Field(default_factory=list)
    customer_phone: str | None = None
    logistics_channel: str | None = None
    destination: str | None = None
    destination_code: str | None = None
    archived: LooseBool = None
    original_country: str | None = None
    destination_country: str | None = None
    item_time_length: int | None = Field(
        default=None, validation_alias=AliasChoices("itemTimeLength", "item_time_length")
    )
    stay_time_length: int | None = Field(
        default=None, validation_alias=AliasChoices("stayTimeLength", "stay_time_length")
    )
    origin_info: CarrierInfo | None = None
    destination_info: CarrierInfo | None = None
    last_event: str | None = Field(default=None, validation_alias=AliasChoices("lastEvent", "last_event"))
    last_update_time: str | None = Field(
        default=None, validation_alias=AliasChoices("lastUpdateTime", "last_update_time")
    )

    @property
    def has_known_status(self) -> bool:
        """Whether ``status`` is one of the eight documented v2 statuses."""
        return self.status in TRACKING_STATUSES


class TrackingPage(ResponseModel):
    """One page of ``GET /trackings/get``. ``total`` arrives as a string upstream (reference §3.3)."""

    page: int = 1
    limit: int = 0
    total: int = 0
    count: int = 0
    items: Annotated[list[Tracking], BeforeValidator(only_mappings)] = Field(default_factory=list)

    @model_validator(mode="after")
    def _count_defaults_to_items(self) -> TrackingPage:
        if "count" not in self.model_fields_set:
            self.count = len(self.items)
        return self

    @property
    def has_more(self) -> bool:
        """Whether a later page holds more trackings."""
        if not self.items:
            return False
        if "total" in self.model_fields_set:
            return self.page * max(self.limit, len(self.items)) < self.total
        return self.limit > 0 and len(self.items) >= self.limit


def find_tracking(data: object) -> Mapping[str, Any] | None:
    """The tracking object in a response's ``data`` (or a push's), whichever shape it comes in; ``None`` if none.

    In this order: a bare tracking (an object with ``tracking_number``: create, get, update, pushes); the realtime
    wrapper ``{"items": [<tracking>]}`` (reference §3.9); a list whose first object is the tracking. A bare object
    without ``tracking_number`` and without an ``items`` list is taken as the tracking too (a sparse answer is
    still the answer); ``{"items": []}`` holds none.
    """
    if isinstance(data, Mapping):
        items = data.get("items")
        if "tracking_number" in data or not isinstance(items, list):
            return data
        data = items
    if isinstance(data, list):
        return next((item for item in data if isinstance(item, Mapping)), None)
    return None
