"""Shared harness for the TrackingsFunction / RealtimeFunction integration tests (no tests here).

Import the fixtures by their function names (``api_fixture``, ``no_backoff_fixture``); tests ask for them as
``api`` and ``no_backoff``.

``api`` calls the real ``lambda_handler`` of a function with an API Gateway REST proxy event built from the
committed sample events, on in-process moto (``aws``) against the TrackingMore sandbox (``sandbox``).
"""

from __future__ import annotations

import copy
import importlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from shiptrack import runtime
from shiptrack.data.trackings import TrackingsRepository
from shiptrack.models import TrackingRef
from shiptrack.settings import clear_caches
from tests.lambda_context import LambdaContext

EVENTS = Path(__file__).resolve().parents[2] / "events"
CREATE = "POST /trackings/post"
BATCH = "POST /trackings/batch"
GET_ONE = "GET /trackings/{carrier_code}/{tracking_number}"
PUT_ONE = "PUT /trackings/{carrier_code}/{tracking_number}"
DELETE_ONE = "DELETE /trackings/{carrier_code}/{tracking_number}"
CHANGE_CARRIER = "POST /trackings/update"
DETECT = "POST /carriers/detect"
REALTIME = "POST /trackings/realtime"


def api_context() -> LambdaContext:
    """An API function's context: 29 s, API Gateway's integration timeout."""
    return LambdaContext("TrackingsFunction", remaining=lambda: 29_000)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


def event(
    method: str,
    path: str,
    *,
    body: Any = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    raw_body: str | None = None,
) -> dict[str, Any]:
    """An API Gateway REST proxy event, shaped like the committed samples."""
    base: dict[str, Any] = json.loads((EVENTS / "trackings" / "create.json").read_text())
    evt = copy.deepcopy(base)
    parts = path.strip("/").split("/")
    resource = path
    path_params = None
    if len(parts) == 3 and parts[0] == "trackings":
        resource = "/trackings/{carrier_code}/{tracking_number}"
        path_params = {"carrier_code": parts[1], "tracking_number": parts[2]}
    evt.update(
        resource=resource,
        path=path,
        httpMethod=method,
        pathParameters=path_params,
        queryStringParameters=query or None,
        multiValueQueryStringParameters={k: [v] for k, v in query.items()} if query else None,
        body=raw_body if raw_body is not None else (json.dumps(body) if body is not None else None),
    )
    evt["requestContext"].update(resourcePath=resource, httpMethod=method, path=f"/v1{path}")
    all_headers = dict(evt["headers"])
    all_headers.update(headers or {})
    evt["headers"] = all_headers
    evt["multiValueHeaders"] = {k: [v] for k, v in all_headers.items()}
    return evt


@dataclass
class Api:
    """Invokes the functions' handlers; ``store`` reads TrackingsTable directly for assertions."""

    aws: Any
    sandbox: Any
    handlers: dict[str, Any] = field(default_factory=dict)

    def call(self, method: str, path: str, **kwargs: Any) -> Answer:
        function = "realtime" if path == "/trackings/realtime" else "trackings"
        response = self.handlers[function](event(method, path, **kwargs), api_context())
        headers = {k: v[-1] for k, v in (response.get("multiValueHeaders") or {}).items()}
        headers.update(response.get("headers") or {})
        body = json.loads(response["body"]) if response.get("body") else None
        return Answer(response["statusCode"], headers, body)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Answer:
        return self.call("POST", path, body=body, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Answer:
        return self.call("GET", path, **kwargs)

    def patch(self, path: str, body: Any) -> Answer:
        return self.call("PATCH", path, body=body)

    def delete(self, path: str) -> Answer:
        return self.call("DELETE", path)

    @property
    def store(self) -> TrackingsRepository:
        return TrackingsRepository(self.aws.table())

    def stored(self, carrier_code: str, tracking_number: str) -> Any:
        return self.store.get(TrackingRef.of(carrier_code, tracking_number))

    def calls(self, route: str) -> int:
        return int(self.sandbox.stats()["calls"].get(route, 0))

    def upstream_numbers(self) -> set[tuple[str, str]]:
        return {(t["carrier_code"], t["tracking_number"]) for t in self.sandbox.trackings()}


def reset_caches() -> None:
    clear_caches()
    runtime.clear()


@pytest.fixture(name="api")
def api_fixture(aws: Any, sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    """The two functions on moto, pointed at a clean sandbox."""
    monkeypatch.setenv("TRACKINGMORE_BASE_URL", sandbox.base_url)
    reset_caches()
    handlers = {
        name: importlib.import_module(f"functions.{name}.app").lambda_handler for name in ("trackings", "realtime")
    }
    yield Api(aws, sandbox, handlers)
    reset_caches()


@pytest.fixture(name="no_backoff")
def no_backoff_fixture(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shared TrackingMore client without backoff sleeps (fault tests retry fast; behaviour is unchanged)."""
    from trackingmore import TrackingMoreClient

    client = TrackingMoreClient(sandbox.api_key, base_url=sandbox.base_url, sleep=lambda _seconds: None)
    monkeypatch.setattr(runtime, "trackingmore_client", lambda **_: client)
