"""A typed client for the TrackingMore API v2 (https://api.trackingmore.com/v2).

Knows nothing about AWS or shiptrack. Start with ``TrackingMoreClient``; webhook helpers live in
``trackingmore.webhooks``.

The exceptions (``trackingmore.errors``: the standard library only, and loaded by every other module of the package)
are imported with the package. Every other name is imported on first use, from the module ``_LAZY`` names for it, so
that ``import trackingmore`` stays cheap for Lambda cold starts: a webhook receiver that only needs
``trackingmore.webhooks`` never loads ``requests``, and nothing loads ``pydantic`` before it needs a model.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from trackingmore import errors as _errors
from trackingmore.errors import *  # noqa: F403 (every name of ``errors.__all__``)

if TYPE_CHECKING:  # what ``_LAZY`` imports on first use, as mypy should see it
    from trackingmore.client import BATCH_CREATE_LIMIT as BATCH_CREATE_LIMIT
    from trackingmore.client import DEFAULT_BASE_URL as DEFAULT_BASE_URL
    from trackingmore.client import TrackingMoreClient as TrackingMoreClient
    from trackingmore.deadline import Deadline as Deadline
    from trackingmore.models import *  # noqa: F403 (the names of ``_LAZY["trackingmore.models"]``, and a few more)
    from trackingmore.ratelimit import InProcessRateGate as InProcessRateGate
    from trackingmore.ratelimit import RateGate as RateGate
    from trackingmore.ratelimit import RateLimit as RateLimit
    from trackingmore.ratelimit import Reservation as Reservation

#: The names imported on first use, by the module that defines them.
_LAZY: dict[str, tuple[str, ...]] = {
    "trackingmore.client": ("BATCH_CREATE_LIMIT", "DEFAULT_BASE_URL", "TrackingMoreClient"),
    "trackingmore.deadline": ("Deadline",),
    "trackingmore.ratelimit": ("InProcessRateGate", "RateGate", "RateLimit", "Reservation"),
    # The request and response models; not the query models and limits the client builds its requests with.
    "trackingmore.models": (
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
    ),
}
_MODULE_OF: dict[str, str] = {name: module for module, names in _LAZY.items() for name in names}

# Built from the tables (mypy reads the same names from the imports above).
__all__ = sorted([*_errors.__all__, *_MODULE_OF])  # noqa: PLE0605


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'trackingmore' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_MODULE_OF])
