"""What the lookup functions' integration tests share: calling a handler on moto against the sandbox."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from shiptrack import runtime
from shiptrack.settings import clear_caches
from tests.lambda_context import LambdaContext

Invoke = Callable[[dict[str, Any]], tuple[int, dict[str, str], Any]]


def invoke_handler(module: str, function_name: str, sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Invoke]:
    """Yields a caller of ``module``'s handler pointed at ``sandbox``; returns (status, headers, body)."""
    monkeypatch.setenv("TRACKINGMORE_BASE_URL", sandbox.base_url)
    clear_caches()
    runtime.clear()
    app = importlib.import_module(module)

    def call(event: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        response = app.lambda_handler(event, LambdaContext(function_name))
        body = json.loads(response["body"]) if response.get("body") else None
        headers = {name: values[-1] for name, values in (response.get("multiValueHeaders") or {}).items()}
        return response["statusCode"], {**headers, **(response.get("headers") or {})}, body

    yield call
    clear_caches()
    runtime.clear()


def upstream_without_sleeps(monkeypatch: pytest.MonkeyPatch, sandbox: Any) -> None:
    """Give the functions the real client without sleeps between its retries (fault tests stay fast)."""
    from trackingmore import TrackingMoreClient

    client = TrackingMoreClient(sandbox.api_key, base_url=sandbox.base_url, sleep=lambda _: None)
    monkeypatch.setattr(runtime, "trackingmore_client", lambda **_: client)
