"""Test doubles for the TrackingMore client: a scripted upstream, a fake clock, a fixed jitter source.

``FakeUpstream`` is a ``requests`` transport adapter: mount it on a ``requests.Session`` and every request the
client sends is recorded and answered from a script (a reply, a raised ``requests`` exception, or a handler
function). Nothing leaves the process.
"""

from __future__ import annotations

import http
import json
import random
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from trackingmore import TrackingMoreClient

#: The key every test client uses: tests search for it in reprs, errors and logs.
API_KEY = "tm-secret-key-4f1c9b7a2e"
#: ``make_client`` fixture: builds a client on the fake upstream (keyword overrides: api_key, max_retries, jitter).
ClientFactory = Callable[..., TrackingMoreClient]
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "trackingmore"
BASE_URL = "https://api.trackingmore.com/v2"


def fixture(name: str) -> Any:
    """A JSON fixture from tests/fixtures/trackingmore/ (see the README there for each file's source)."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def envelope(data: Any = None, *, code: int = 200, type: str = "Success", message: str = "Success") -> dict[str, Any]:
    return {"meta": {"code": code, "type": type, "message": message}, "data": data}


@dataclass
class Reply:
    body: bytes
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: CaseInsensitiveDict[str]
    body: bytes | None
    timeout: Any

    @property
    def json(self) -> Any:
        return None if self.body is None else json.loads(self.body)


Script = Reply | BaseException | Callable[[RecordedRequest], "Reply | BaseException"]


class FakeUpstream(BaseAdapter):
    """Records requests and answers them from per-route scripts (FIFO), or from a standing handler."""

    def __init__(self, base_url: str = BASE_URL) -> None:
        super().__init__()
        self.base_path = urlsplit(base_url).path.rstrip("/")
        self.requests: list[RecordedRequest] = []
        self._queued: dict[tuple[str, str], deque[Script]] = {}
        self._handlers: dict[tuple[str, str], Callable[[RecordedRequest], Reply | BaseException]] = {}

    # -- scripting ------------------------------------------------------------------------------------------------

    def queue(self, method: str, path: str, *scripts: Script) -> None:
        self._queued.setdefault((method, path), deque()).extend(scripts)

    def reply(
        self,
        method: str,
        path: str,
        data: Any = None,
        *,
        code: int = 200,
        type: str = "Success",
        message: str = "Success",
        status: int = 200,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer with a v2 envelope (``meta.code`` = ``code``) ``times`` times."""
        body = json.dumps(envelope(data, code=code, type=type, message=message)).encode()
        for _ in range(times):
            self.queue(method, path, Reply(body, status, dict(headers or {})))

    def reply_json(self, method: str, path: str, document: Any, *, status: int = 200) -> None:
        """Answer with a whole JSON document (a fixture)."""
        self.queue(method, path, Reply(json.dumps(document).encode(), status))

    def reply_raw(
        self, method: str, path: str, body: bytes, *, status: int = 200, headers: dict[str, str] | None = None
    ) -> None:
        self.queue(method, path, Reply(body, status, dict(headers or {})))

    def fail(self, method: str, path: str, error: BaseException, *, times: int = 1) -> None:
        for _ in range(times):
            self.queue(method, path, error)

    def handle(self, method: str, path: str, handler: Callable[[RecordedRequest], Reply | BaseException]) -> None:
        """Answer every request to the route (after any queued scripts) with ``handler``."""
        self._handlers[(method, path)] = handler

    def calls(self, method: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.requests if (method in (None, r.method)) and (path in (None, r.path))]

    # -- requests adapter -----------------------------------------------------------------------------------------

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        url = urlsplit(request.url or "")
        path = url.path[len(self.base_path) :] if url.path.startswith(self.base_path) else url.path
        body = request.body.encode() if isinstance(request.body, str) else request.body
        recorded = RecordedRequest(
            method=request.method or "",
            path=path,
            query=dict(parse_qsl(url.query, keep_blank_values=True)),
            headers=CaseInsensitiveDict(request.headers),
            body=body if isinstance(body, bytes) else None,
            timeout=timeout,
        )
        self.requests.append(recorded)
        key = (recorded.method, path)
        queued = self._queued.get(key)
        if queued:
            script: Script = queued.popleft()
        elif key in self._handlers:
            script = self._handlers[key]
        else:
            raise AssertionError(f"unexpected request {recorded.method} {path}")
        outcome = script(recorded) if callable(script) and not isinstance(script, BaseException) else script
        if isinstance(outcome, BaseException):
            raise outcome
        return _response(request, outcome)

    def close(self) -> None:
        pass

    def session(self) -> requests.Session:
        session = requests.Session()
        session.mount("https://", self)
        session.mount("http://", self)
        return session


def _response(request: requests.PreparedRequest, reply: Reply) -> requests.Response:
    response = requests.Response()
    response.status_code = reply.status
    response._content = reply.body
    response.headers = CaseInsensitiveDict(reply.headers)
    response.url = request.url or ""
    response.request = request
    response.encoding = "utf-8"
    try:
        response.reason = http.HTTPStatus(reply.status).phrase
    except ValueError:
        response.reason = ""
    return response


def json_reply(document: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
    return Reply(json.dumps(document).encode(), status, dict(headers or {}))


class FakeClock:
    """A monotonic clock that only moves when the code under test sleeps (or a test advances it)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._late: deque[float] = deque()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds + (self._late.popleft() if self._late else 0.0)

    def oversleep(self, *late: float) -> None:
        """The next sleeps end this much later than asked, one value each (a busy host wakes late)."""
        self._late.extend(late)

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FixedRandom(random.Random):
    """A jitter source that always draws ``value``: backoff sleeps become exact (bound × value)."""

    def __init__(self, value: float = 0.5) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value
