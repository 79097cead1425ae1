"""The package's public surface, and its import cost (it runs in Lambda cold starts)."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import trackingmore

pytestmark = pytest.mark.unit

PACKAGE = Path(trackingmore.__file__).parent
LAYER = PACKAGE.parent

CLIENT_METHODS = [
    "list_carriers",
    "detect_carrier",
    "create_tracking",
    "batch_create_trackings",
    "get_tracking",
    "update_tracking",
    "delete_tracking",
    "list_trackings",
    "iter_trackings",
    "update_trackings",
    "delete_trackings",
    "stop_updating",
    "realtime_tracking",
    "change_carrier",
    "get_user_info",
    "get_status_counts",
    "check_remote_areas",
    "get_transit_times",
    "track_air_cargo",
]


def loaded_modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    output = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=LAYER,
        env={"PYTHONPATH": str(LAYER)},
    ).stdout
    return set(output.split())


def test_importing_the_package_loads_neither_requests_nor_pydantic() -> None:
    loaded = loaded_modules_after("import trackingmore")

    assert "requests" not in loaded
    assert "pydantic" not in loaded


def test_the_webhook_module_does_not_load_requests() -> None:
    loaded = loaded_modules_after("from trackingmore.webhooks import parse_push, verify_signature")

    assert "requests" not in loaded


def test_every_exported_name_resolves() -> None:
    for name in trackingmore.__all__:
        assert getattr(trackingmore, name) is not None
    assert set(trackingmore.__all__) <= set(dir(trackingmore))


def test_every_model_is_exported_from_the_package() -> None:
    import trackingmore.models

    assert set(trackingmore.models.__all__) <= set(trackingmore.__all__)
    assert trackingmore.ListTrackingsQuery is trackingmore.models.ListTrackingsQuery


def test_unknown_attribute_raises() -> None:
    with pytest.raises(AttributeError):
        trackingmore.NoSuchThing  # noqa: B018


def test_client_surface_and_defaults() -> None:
    client = trackingmore.TrackingMoreClient
    for name in CLIENT_METHODS:
        assert callable(getattr(client, name)), name
        assert getattr(client, name).__doc__, f"{name} has no docstring"
    parameters = inspect.signature(client.__init__).parameters
    assert parameters["base_url"].default == "https://api.trackingmore.com/v2"
    assert parameters["timeout"].default == (3.05, 20)
    assert parameters["max_retries"].default == 3
    assert parameters["session"].default is None


def test_package_is_typed() -> None:
    assert (PACKAGE / "py.typed").exists()
