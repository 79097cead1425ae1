"""A typed client for the TrackingMore API v2 (https://api.trackingmore.com/v2).

Knows nothing about AWS or shiptrack. Start with ``TrackingMoreClient``; webhook helpers live in
``trackingmore.webhooks``.

The exceptions (``trackingmore.errors``: the standard library only, and loaded by every other module of the package)
are imported with the package. Every other name is imported on first use, from the module ``_LAZY`` names for it or,
for a model, from ``trackingmore.models``, so that ``import trackingmore`` stays cheap for Lambda cold starts: a
webhook receiver that only needs ``trackingmore.webhooks`` never loads ``requests``, and nothing loads ``pydantic``
before it needs a model.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

from trackingmore import errors as _errors
from trackingmore.errors import *  # noqa: F403 (every name of ``errors.__all__``)

if TYPE_CHECKING:  # what is imported on first use, as mypy should see it
    from trackingmore.client import BATCH_CREATE_LIMIT as BATCH_CREATE_LIMIT
    from trackingmore.client import DEFAULT_BASE_URL as DEFAULT_BASE_URL
    from trackingmore.client import TrackingMoreClient as TrackingMoreClient
    from trackingmore.deadline import Deadline as Deadline
    from trackingmore.models import *  # noqa: F403 (every name of ``models.__all__``)
    from trackingmore.ratelimit import InProcessRateGate as InProcessRateGate
    from trackingmore.ratelimit import RateGate as RateGate
    from trackingmore.ratelimit import RateLimit as RateLimit
    from trackingmore.ratelimit import Reservation as Reservation

#: The names imported on first use, by the module that defines them.
_LAZY: dict[str, tuple[str, ...]] = {
    "trackingmore.client": ("BATCH_CREATE_LIMIT", "DEFAULT_BASE_URL", "TrackingMoreClient"),
    "trackingmore.deadline": ("Deadline",),
    "trackingmore.ratelimit": ("InProcessRateGate", "RateGate", "RateLimit", "Reservation"),
}
_MODULE_OF: dict[str, str] = {name: module for module, names in _LAZY.items() for name in names}

#: Every other public name is a model's: ``trackingmore.models`` lists them (its ``__all__``) and is imported, with
#: pydantic, when the first of them is used.
_MODELS: Final = "trackingmore.models"


def _public_names() -> list[str]:
    return sorted([*_errors.__all__, *_MODULE_OF, *importlib.import_module(_MODELS).__all__])


def __getattr__(name: str) -> Any:
    # ``__all__`` is built on first use too (``from trackingmore import *``, ``dir()``): it names the models.
    if name == "__all__":
        value: Any = _public_names()
    elif name in _MODULE_OF:
        value = getattr(importlib.import_module(_MODULE_OF[name]), name)
    elif not name.startswith("_") and name in importlib.import_module(_MODELS).__all__:
        value = getattr(importlib.import_module(_MODELS), name)
    else:
        raise AttributeError(f"module 'trackingmore' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_public_names()})
