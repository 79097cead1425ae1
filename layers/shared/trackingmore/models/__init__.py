"""Models of the TrackingMore v2 API, one module per kind: trackings (``trackings``), results of the calls on many
trackings (``results``), carriers, account and tools (``lookups``), webhook pushes (``push``), request bodies
(``bodies``) and query filters (``queries``). Every public name is importable from ``trackingmore.models``.

Response models are tolerant (``_base``): TrackingMore's v2 payloads vary between endpoints and over time
(reference §6), so every field is optional, the literal string ``"null"`` means ``None``, unknown fields are kept
(``model_extra``) and a value of the wrong shape degrades to the field's default instead of failing the whole
response. Request models are strict: unknown fields are refused and values are checked before anything is sent,
with the official SDK's rules for tracking numbers and carrier codes (reference §1).
"""

from __future__ import annotations

from trackingmore.models.bodies import (
    CreateTrackingRequest,
    RealtimeRequest,
    RemoteCheck,
    TrackingRef,
    TransitTimeQuery,
    UpdateTrackingRequest,
    UpdateTrackingsItem,
)
from trackingmore.models.lookups import (
    AirCargo,
    AirCargoEvent,
    AirlineInfo,
    Carrier,
    CarrierMatch,
    FlightInfo,
    RemoteArea,
    RemoteCheckResult,
    StatusCounts,
    TransitTime,
    UserInfo,
)
from trackingmore.models.push import WebhookMeta, WebhookPush
from trackingmore.models.queries import (
    MAX_FILTER_VALUES,
    MAX_PAGE_LIMIT,
    ListTrackingsQuery,
    StatusCountsFilters,
    StatusCountsQuery,
    TrackingListFilters,
)
from trackingmore.models.results import BatchCreateItem, BatchCreateResult, BatchResult, BatchResultItem
from trackingmore.models.trackings import TRACKING_STATUSES, CarrierInfo, Checkpoint, StatusName, Tracking, TrackingPage

__all__ = [
    "MAX_FILTER_VALUES",
    "MAX_PAGE_LIMIT",
    "TRACKING_STATUSES",
    "AirCargo",
    "AirCargoEvent",
    "AirlineInfo",
    "BatchCreateItem",
    "BatchCreateResult",
    "BatchResult",
    "BatchResultItem",
    "Carrier",
    "CarrierInfo",
    "CarrierMatch",
    "Checkpoint",
    "CreateTrackingRequest",
    "FlightInfo",
    "ListTrackingsQuery",
    "RealtimeRequest",
    "RemoteArea",
    "RemoteCheck",
    "RemoteCheckResult",
    "StatusCounts",
    "StatusCountsFilters",
    "StatusCountsQuery",
    "StatusName",
    "Tracking",
    "TrackingListFilters",
    "TrackingPage",
    "TrackingRef",
    "TransitTime",
    "TransitTimeQuery",
    "UpdateTrackingRequest",
    "UpdateTrackingsItem",
    "UserInfo",
    "WebhookMeta",
    "WebhookPush",
]
