"""A typed client for the TrackingMore API v2 (https://api.trackingmore.com/v2).

Knows nothing about AWS or shiptrack. Start with ``TrackingMoreClient``; webhook helpers live in
``trackingmore.webhooks``.

Names are imported lazily on first use so that ``import trackingmore`` stays cheap for Lambda cold starts:
a webhook receiver that only needs ``trackingmore.webhooks`` never loads ``requests``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trackingmore.client import (
        BATCH_CREATE_LIMIT,
        DEFAULT_BASE_URL,
        TrackingMoreClient,
    )
    from trackingmore.deadline import Deadline
    from trackingmore.errors import (
        AuthenticationError,
        CarrierNotDetectedError,
        DeadlineExceededError,
        InvalidRequestError,
        QuotaExceededError,
        RateLimitError,
        RequestTimeoutError,
        ServerError,
        TimeoutError,
        TrackingAlreadyExistsError,
        TrackingMoreError,
        TrackingNotFoundError,
        TransportError,
        WebhookPayloadError,
    )
    from trackingmore.models import (
        TRACKING_STATUSES,
        AirCargo,
        AirCargoEvent,
        AirlineInfo,
        BatchCreateItem,
        BatchCreateResult,
        BatchResult,
        BatchResultItem,
        Carrier,
        CarrierInfo,
        CarrierMatch,
        Checkpoint,
        CreateTrackingRequest,
        FlightInfo,
        RealtimeRequest,
        RemoteArea,
        RemoteCheck,
        RemoteCheckResult,
        StatusCounts,
        StatusCountsFilters,
        Tracking,
        TrackingListFilters,
        TrackingPage,
        TrackingRef,
        TransitTime,
        TransitTimeQuery,
        UpdateTrackingRequest,
        UpdateTrackingsItem,
        UserInfo,
        WebhookMeta,
        WebhookPush,
    )
    from trackingmore.ratelimit import InProcessRateGate, RateGate, RateLimit, Reservation

_EXPORTS: dict[str, str] = {
    **dict.fromkeys(["BATCH_CREATE_LIMIT", "DEFAULT_BASE_URL", "TrackingMoreClient"], "trackingmore.client"),
    "Deadline": "trackingmore.deadline",
    **dict.fromkeys(["InProcessRateGate", "RateGate", "RateLimit", "Reservation"], "trackingmore.ratelimit"),
    **dict.fromkeys(
        [
            "AuthenticationError",
            "CarrierNotDetectedError",
            "DeadlineExceededError",
            "InvalidRequestError",
            "QuotaExceededError",
            "RateLimitError",
            "RequestTimeoutError",
            "ServerError",
            "TimeoutError",
            "TrackingAlreadyExistsError",
            "TrackingMoreError",
            "TrackingNotFoundError",
            "TransportError",
            "WebhookPayloadError",
        ],
        "trackingmore.errors",
    ),
    **dict.fromkeys(
        [
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
            "RealtimeRequest",
            "RemoteArea",
            "RemoteCheck",
            "RemoteCheckResult",
            "StatusCounts",
            "StatusCountsFilters",
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
        ],
        "trackingmore.models",
    ),
}

__all__ = [
    "BATCH_CREATE_LIMIT",
    "DEFAULT_BASE_URL",
    "TRACKING_STATUSES",
    "AirCargo",
    "AirCargoEvent",
    "AirlineInfo",
    "AuthenticationError",
    "BatchCreateItem",
    "BatchCreateResult",
    "BatchResult",
    "BatchResultItem",
    "Carrier",
    "CarrierInfo",
    "CarrierMatch",
    "CarrierNotDetectedError",
    "Checkpoint",
    "CreateTrackingRequest",
    "Deadline",
    "DeadlineExceededError",
    "FlightInfo",
    "InProcessRateGate",
    "InvalidRequestError",
    "QuotaExceededError",
    "RateGate",
    "RateLimit",
    "RateLimitError",
    "RealtimeRequest",
    "RemoteArea",
    "RemoteCheck",
    "RemoteCheckResult",
    "RequestTimeoutError",
    "Reservation",
    "ServerError",
    "StatusCounts",
    "StatusCountsFilters",
    "TimeoutError",
    "Tracking",
    "TrackingAlreadyExistsError",
    "TrackingListFilters",
    "TrackingMoreClient",
    "TrackingMoreError",
    "TrackingNotFoundError",
    "TrackingPage",
    "TrackingRef",
    "TransitTime",
    "TransitTimeQuery",
    "TransportError",
    "UpdateTrackingRequest",
    "UpdateTrackingsItem",
    "UserInfo",
    "WebhookMeta",
    "WebhookPayloadError",
    "WebhookPush",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'trackingmore' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
