"""What the lookup functions' integration tests share: calling a handler on moto against the sandbox."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from shiptrack import runtime
from shiptrack.settings import clear_caches

Invoke = Callable[[dict[str, Any]], tuple[int, dict[str, str], Any]]


@dataclass
class Context:
    function_name: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = "test-request"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"


def invoke_handler(module: str, function_name: str, sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Invoke]:
    """Yields a caller of ``module``'s handler pointed at ``sandbox``; returns (status, headers, body)."""
    monkeypatch.setenv("TRACKINGMORE_BASE_URL", sandbox.base_url)
    clear_caches()
    runtime.clear()
    app = importlib.import_module(module)

    def call(event: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        response = app.lambda_handler(event, Context(function_name))
        body = json.loads(response["body"]) if response.get("body") else None
        headers = {name: values[-1] for name, values in (response.get("multiValueHeaders") or {}).items()}
        return response["statusCode"], {**headers, **(response.get("headers") or {})}, body

    yield call
    clear_caches()
    runtime.clear()
