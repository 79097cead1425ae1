"""A scripted stand-in for the ``/imports`` API, for the CLI scenarios the real stack cannot stage on demand.

It serves the contract the CLI is built to, on 127.0.0.1 (free port), and records every request:

* ``POST /imports`` (``text/csv`` with a ``tracking_number`` header, or JSON ``{"items": [...]}``; keyed by
  ``Idempotency-Key``) → ``202``, ``Location: /imports/{id}``, ``{id, status: "queued", summary, created_at}``;
  a CSV without ``tracking_number`` or with a column twice, a body that is not UTF-8 or over ``max_items``
  items → a 4xx problem, and no import.
* ``GET /imports/{id}`` → the import; every poll processes ``ceil(total / steps)`` more items (a slow progression),
  until it is ``completed`` (or ``end_status``). With ``hold=True`` it stays ``running`` half-way forever.
* ``GET /imports/{id}/results?outcome=failed&cursor=…`` → results in input order, ``page_size`` per page, with an
  opaque ``next_cursor``.
* ``GET /imports`` → the imports, newest first.

Outcomes follow the tracking number: missing or shorter than 5 characters → ``failed`` (``validation_error``);
starting with ``FAIL`` → ``failed`` (``upstream_rejected``, retryable); starting with ``OLD`` → ``existing``;
anything else → ``created``. The real routes are exercised by ``tests/cli/test_cli_imports_e2e.py`` (progress,
summary, failed rows, importing them again); this double keeps the scenarios that need a scripted server: exact
progress frames, a poll answered 503, an import that fails, Ctrl-C at a chosen moment, an API that goes away.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from local.httpserver import HttpServer, Request, Response

API_KEY = "double-key"
PROBLEM = "application/problem+json"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class DoubleImport:
    id: str
    items: list[dict[str, Any]]
    created_at: str
    processed: int = 0
    polls: int = 0
    status: str = "queued"
    results: list[dict[str, Any]] = field(default_factory=list)


class ImportsDouble:
    """The ``/imports`` contract on a loopback port; ``url``, ``requests``, ``imports``; ``stop()`` when done."""

    def __init__(
        self,
        *,
        steps: int = 3,
        page_size: int = 2,
        max_items: int = 1000,
        end_status: str = "completed",
        hold: bool = False,
        unavailable_polls: int = 0,
    ) -> None:
        self.steps = steps
        self.page_size = page_size
        self.max_items = max_items
        self.end_status = end_status
        self.hold = hold
        self.unavailable_polls = unavailable_polls  # the first N polls answer 503 with Retry-After: 0
        self.requests: list[Recorded] = []
        self.imports: dict[str, DoubleImport] = {}
        self.keys: dict[str, str] = {}
        self.lock = threading.Lock()
        self.server = HttpServer("127.0.0.1", 0, self.handle, "imports-double")
        self.server.start()
        self.url = f"http://127.0.0.1:{self.server.port}"

    def stop(self) -> None:
        self.server.stop()

    def calls(self, method: str, prefix: str = "/") -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.startswith(prefix)]

    # -- routing ---------------------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        body = request.read_body()
        headers = {name.lower(): value for name, value in request.headers}
        recorded = Recorded(request.method, request.raw_path, parse_qs(request.query), headers, body)
        with self.lock:
            self.requests.append(recorded)
            if headers.get("x-api-key") != API_KEY:
                return problem(403, "Forbidden", "Forbidden", "forbidden")
            parts = [part for part in request.raw_path.split("/") if part]
            if request.method == "POST" and parts == ["imports"]:
                return self.create(recorded)
            if request.method == "GET" and parts == ["imports"]:
                return json_response(200, {"items": [self.view(i) for i in reversed(self.imports.values())]})
            record = self.imports.get(parts[1]) if len(parts) >= 2 and parts[0] == "imports" else None
            if record is None:
                return problem(404, "Not found", "No such import", "import_not_found")
            if request.method == "GET" and len(parts) == 2:
                return self.poll(record)
            if request.method == "GET" and parts[2:] == ["results"]:
                return self.results(record, recorded.query)
            return problem(405, "Method not allowed", request.method, "method_not_allowed")

    def create(self, request: Recorded) -> Response:
        key = request.headers.get("idempotency-key")
        if key and key in self.keys:
            return self.accepted(self.imports[self.keys[key]])
        try:
            items = parse_items(request.headers.get("content-type", ""), request.body)
        except DuplicateColumnError as exc:
            response = problem(422, "Not an import", "The CSV header is not valid; see errors.", "invalid_import")
            body = json.loads(response.body)
            body["errors"] = [{"loc": ["body", "header", exc.column], "msg": "duplicate column", "type": "duplicate"}]
            return json_response(422, body, content_type=PROBLEM)
        except ValueError as exc:
            return problem(422, "Not an import", str(exc), "invalid_import")
        if len(items) > self.max_items:
            return problem(413, "Too many items", f"{len(items)} items; at most {self.max_items}", "import_too_large")
        record = DoubleImport(id=f"imp-{len(self.imports) + 1:04d}", items=items, created_at="2026-12-06T10:00:00Z")
        self.imports[record.id] = record
        if key:
            self.keys[key] = record.id
        return self.accepted(record)

    def accepted(self, record: DoubleImport) -> Response:
        response = json_response(202, self.view(record))
        response.headers.append(("Location", f"/imports/{record.id}"))
        return response

    def poll(self, record: DoubleImport) -> Response:
        record.polls += 1
        if record.polls <= self.unavailable_polls:
            return problem(503, "Service unavailable", "try again", "unavailable", retry_after="0")
        total = len(record.items)
        limit = total // 2 if self.hold else total
        record.processed = min(limit, record.processed + math.ceil(total / self.steps))
        record.results = [outcome(index, item) for index, item in enumerate(record.items[: record.processed])]
        record.status = self.end_status if record.processed == total else "running"
        return json_response(200, self.view(record))

    def results(self, record: DoubleImport, query: dict[str, list[str]]) -> Response:
        wanted = query.get("outcome", [None])[0]
        chosen = [r for r in record.results if wanted in (None, r["outcome"])]
        start = int(base64.urlsafe_b64decode(query["cursor"][0])) if "cursor" in query else 0
        page: dict[str, Any] = {"items": chosen[start : start + self.page_size]}
        if start + self.page_size < len(chosen):
            page["next_cursor"] = base64.urlsafe_b64encode(str(start + self.page_size).encode()).decode()
        return json_response(200, page)

    def view(self, record: DoubleImport) -> dict[str, Any]:
        counts = {name: sum(r["outcome"] == name for r in record.results) for name in ("created", "existing", "failed")}
        view: dict[str, Any] = {
            "id": record.id,
            "status": record.status,
            "summary": {"total": len(record.items), **counts, "pending": len(record.items) - record.processed},
            "created_at": record.created_at,
            "started_at": "2026-12-06T10:00:01Z" if record.polls else None,
            "completed_at": "2026-12-06T10:00:09Z" if record.status in ("completed", "failed") else None,
        }
        return view


class DuplicateColumnError(ValueError):
    def __init__(self, column: str) -> None:
        super().__init__(f"duplicate column {column}")
        self.column = column


def parse_items(content_type: str, body: bytes) -> list[dict[str, Any]]:
    text = body.decode("utf-8")  # UnicodeDecodeError is a ValueError: "not UTF-8" is a 4xx
    if content_type.split(";", maxsplit=1)[0].strip() == "text/csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = reader.fieldnames or []
        if "tracking_number" not in header:
            raise ValueError("the CSV has no tracking_number column")
        for column in header:
            if header.count(column) > 1:
                raise DuplicateColumnError(column)
        return [dict(row) for row in reader]
    document = json.loads(text)
    if not isinstance(document, dict) or not isinstance(document.get("items"), list) or not document["items"]:
        raise ValueError("expected {items: [...]} with at least one item")
    return list(document["items"])


def outcome(index: int, item: dict[str, Any]) -> dict[str, Any]:
    number = str(item.get("tracking_number") or "").strip()
    carrier = item.get("carrier_code") or None
    result: dict[str, Any] = {"index": index, "tracking_number": number or None, "carrier_code": carrier}
    if len(number) < 5:
        detail = "tracking_number: String should have at least 5 characters"
        return {
            **result,
            "outcome": "failed",
            "problem": problem_body(422, "Invalid input", detail, "validation_error"),
        }
    if number.startswith("FAIL"):
        body = problem_body(502, "Upstream failed", f"TrackingMore refused {number}", "upstream_rejected")
        return {**result, "outcome": "failed", "problem": {**body, "retryable": True}}
    tracking = {"carrier_code": carrier or "china-post", "tracking_number": number, "status": "pending"}
    return {**result, "outcome": "existing" if number.startswith("OLD") else "created", "tracking": tracking}


def problem_body(status: int, title: str, detail: str, code: str) -> dict[str, Any]:
    kind = f"https://shiptrack.dev/problems/{code}"
    return {"type": kind, "title": title, "status": status, "detail": detail, "code": code}


def problem(status: int, title: str, detail: str, code: str, *, retry_after: str | None = None) -> Response:
    response = json_response(status, problem_body(status, title, detail, code), content_type=PROBLEM)
    if retry_after is not None:
        response.headers.append(("Retry-After", retry_after))
    return response


def json_response(status: int, document: Any, *, content_type: str = "application/json") -> Response:
    return Response(status, json.dumps(document).encode(), [("Content-Type", content_type)])


def running_double(**options: Any) -> Iterator[ImportsDouble]:
    """For fixtures: a double that is stopped when the test ends."""
    double = ImportsDouble(**options)
    try:
        yield double
    finally:
        double.stop()
