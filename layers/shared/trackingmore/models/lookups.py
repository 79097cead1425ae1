"""Carriers, the account, remote areas, transit times and air waybills (reference §3.11–§3.18)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, model_validator

from trackingmore.models._base import Ratio, ResponseModel, only_mappings, to_instant
from trackingmore.models.trackings import TRACKING_STATUSES


class Carrier(ResponseModel):
    """A courier from ``GET /carriers`` (reference §3.17)."""

    name: str | None = None
    code: str | None = None
    phone: str | None = None
    homepage: str | None = None
    type: str | None = None
    picture: str | None = None


class CarrierMatch(ResponseModel):
    """A courier candidate from ``POST /carriers/detect`` (reference §3.18)."""

    name: str | None = None
    code: str | None = None


class UserInfo(ResponseModel):
    """Account information (reference §3.11). ``regtime`` is unix seconds as text."""

    email: str | None = None
    regtime: str | None = None
    phone: str | None = None
    money: float | None = None
    track_number: int | None = None

    @property
    def registered_at(self) -> datetime | None:
        """``regtime`` as an aware datetime."""
        return to_instant(self.regtime)


class StatusCounts(ResponseModel):
    """Number of trackings per status (``getstatusnumber``; shape inferred, reference §3.12)."""

    pending: int = 0
    notfound: int = 0
    transit: int = 0
    pickup: int = 0
    delivered: int = 0
    undelivered: int = 0
    exception: int = 0
    expired: int = 0

    @property
    def total(self) -> int:
        """All trackings counted."""
        return sum(getattr(self, status) for status in sorted(TRACKING_STATUSES))


class RemoteArea(ResponseModel):
    """One remote-area match: the courier for which (country, postcode) is remote (seed 003)."""

    far_express_company: str | None = None
    two_code: str | None = None
    far_country: str | None = None
    far_city_postcode: str | None = None


class RemoteCheckResult(ResponseModel):
    """The answer of ``POST /trackings/remote`` (seed 003)."""

    submitted: int = 0
    remote: Annotated[list[RemoteArea], BeforeValidator(only_mappings)] = Field(default_factory=list)
    other: list[Any] = Field(default_factory=list)
    errors: list[Any] = Field(default_factory=list)


class TransitTime(ResponseModel):
    """Transit-time statistics for a courier between two countries (``costtime``, reference §3.15).

    ``range1`` … ``range6`` are the shares delivered within each documented band (only some are documented).
    """

    carrier_code: str | None = None
    original: str | None = None
    destination: str | None = None
    total: int | None = None
    delivered: int | None = None
    range1: Ratio = None
    range2: Ratio = None
    range3: Ratio = None
    range4: Ratio = None
    range5: Ratio = None
    range6: Ratio = None


class AirCargoEvent(ResponseModel):
    """One ``track_info[]`` event of an air waybill."""

    plan_date: str | None = None
    actual_date: str | None = None
    event: str | None = None
    station: str | None = None
    flight_number: str | None = None
    status: str | None = None
    piece: str | None = None
    weight: str | None = None


class FlightInfo(ResponseModel):
    """One flight of an air waybill (``flight_info`` is keyed by flight number)."""

    plan_depart_time: str | None = None
    depart_time: str | None = None
    depart_station: str | None = None
    plan_arrival_time: str | None = None
    arrival_time: str | None = None
    arrival_station: str | None = None


class AirlineInfo(ResponseModel):
    """The airline carrying an air waybill."""

    name: str | None = None
    url: str | None = None
    track_url: str | None = None


class AirCargo(ResponseModel):
    """The tracking of one air waybill, with upstream's ``return_data`` wrapper flattened (seed 001)."""

    track_number: str | None = None
    weight: str | None = None
    piece: int | None = None
    origin: str | None = None
    destination: str | None = None
    status_number: int | None = None
    track_info: Annotated[list[AirCargoEvent], BeforeValidator(only_mappings)] = Field(default_factory=list)
    flight_info: dict[str, FlightInfo] = Field(default_factory=dict)
    flight_way_station: list[str] = Field(default_factory=list)
    last_event: str | None = None
    airline_info: AirlineInfo | None = None

    @model_validator(mode="before")
    @classmethod
    def _flatten_return_data(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and isinstance(data.get("return_data"), Mapping):
            flat = {key: value for key, value in data.items() if key != "return_data"}
            for key, value in data["return_data"].items():
                flat.setdefault(key, value)
            return flat
        return data
