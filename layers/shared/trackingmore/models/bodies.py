"""Request bodies (strict): unknown fields are refused and values are checked before anything is sent, with the
official SDK's rules for tracking numbers and carrier codes (reference §1)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, StringConstraints

# Official v2 SDK validation (reference §1): tracking number ^[0-9a-z-_]{5,}$, carrier code ^[0-9a-z-_]+$ (ci).
TrackingNumber = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z_-]{5,}$")]
CarrierCode = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z_-]+$")]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$")]
Lang = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]
ShipDate = (
    Annotated[str, StringConstraints(pattern=r"^\d{8}$")]
    | Annotated[date, PlainSerializer(lambda value: value.strftime("%Y%m%d"), return_type=str)]
)
# v2 takes archived as the strings "true"/"false" (reference §3.5, seed 004).
ArchivedFlag = Annotated[bool, PlainSerializer(lambda value: "true" if value else "false", return_type=str)]
NonEmptyText = Annotated[str, StringConstraints(min_length=1)]


class _RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    def to_payload(self) -> dict[str, Any]:
        """The JSON object sent upstream: upstream field names, unset (``None``) fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class _ExtraFields(_RequestModel):
    title: str | None = None
    logistics_channel: str | None = None
    customer_name: str | None = None
    customer_email: str | None = None
    order_id: str | None = None
    destination_code: CountryCode | None = None


class CreateTrackingRequest(_ExtraFields):
    """Body of ``POST /trackings/post`` and one item of ``POST /trackings/batch`` (reference §3.1)."""

    tracking_number: TrackingNumber
    carrier_code: CarrierCode
    customer_phone: str | None = None
    order_create_time: str | None = None
    tracking_ship_date: ShipDate | None = None
    tracking_postal_code: str | None = None
    tracking_account_number: str | None = None
    special_number_destination: str | None = Field(default=None, serialization_alias="specialNumberDestination")
    lang: Lang | None = None
    comment: str | None = None


class UpdateTrackingRequest(_ExtraFields):
    """Body of ``PUT /trackings/{carrier_code}/{tracking_number}`` (reference §3.5, seed 004).

    ``status`` may only be 4 (delivered), 7 (exception) or 8 (back to the computed status).
    """

    customer_phone: str | None = None
    status: Literal[4, 7, 8] | None = None
    archived: ArchivedFlag | None = None


class UpdateTrackingsItem(_ExtraFields):
    """One item of ``POST /trackings/updatemore`` (reference §3.7)."""

    tracking_number: TrackingNumber
    carrier_code: CarrierCode
    status: Literal[4, 7, 8] | None = None
    archived: ArchivedFlag | None = None


class TrackingRef(_RequestModel):
    """Identifies a tracking: ``(carrier_code, tracking_number)``."""

    carrier_code: CarrierCode
    tracking_number: TrackingNumber


class RealtimeRequest(_RequestModel):
    """Body of ``POST /trackings/realtime`` (reference §3.9). The order id field is ``order`` upstream."""

    tracking_number: TrackingNumber
    carrier_code: CarrierCode
    destination_code: CountryCode | None = None
    tracking_ship_date: ShipDate | None = None
    tracking_postal_code: str | None = None
    tracking_account_number: str | None = None
    special_number_destination: str | None = Field(default=None, serialization_alias="specialNumberDestination")
    order: str | None = None
    order_create_time: str | None = None
    lang: Lang | None = None


class RemoteCheck(_RequestModel):
    """One remote-area question (reference §3.14): country name or 2-letter code, postcode (or city)."""

    country: NonEmptyText
    postcode: NonEmptyText
    company: str | None = None


class TransitTimeQuery(_RequestModel):
    """One transit-time question (reference §3.15): courier, origin and destination 2-letter codes."""

    carrier_code: CarrierCode
    original: CountryCode
    destination: CountryCode
