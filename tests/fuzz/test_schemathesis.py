"""schemathesis on ``docs/openapi.json`` against the local stack (template.yaml's real functions over HTTP).

1. Every operation (one test per operation, so pytest-xdist spreads them): the examples, coverage and fuzzing
   phases, positive and negative data, up to 100 fuzzed cases each (operations without parameters have fewer
   distinct inputs), seeded: no 5xx, every status, content type, header and body as the document declares, and
   the API key really enforced (``ignored_auth``). Each call goes through the local stack's API Gateway with the
   key. schemathesis's pytest integration runs each operation in-process (its CLI's worker threads can trip a
   CPython 3.11 ``ast`` race inside Hypothesis: "AST constructor recursion depth mismatch").
2. The happy path of every operation on a tracking that exists (fuzzing rarely names one): every response is the
   documented one.
3. Every operation that needs the key, without it and with a wrong one: API Gateway's 403, and no function ran
   (the gateway's request id never shows up as a Lambda ``START`` line in the stack's log).

Checks left out, on purpose (docs/reliability.md): ``positive_data_acceptance`` (a schema-valid tracking number may
still be refused by TrackingMore: 422 carrier not detected), ``negative_data_rejection`` (a batch answers 200 with
per-item failures by design), ``unsupported_method`` / ``allow_header_conformance`` (API Gateway answers 403
Missing Authentication Token for a method a resource does not have, not 405), and the stateful phase (the document
has no links).
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from local.stack import StackProcess

pytestmark = pytest.mark.fuzz

OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
SEED = 20261122
CONFIG = SchemathesisConfig.from_str(
    f"""
seed = {SEED}

[generation]
max-examples = 100
mode = "all"
database = "none"

[phases.examples]
enabled = true

[phases.coverage]
enabled = true

[phases.fuzzing]
enabled = true

[phases.stateful]
enabled = false
"""
)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    missing_required_header,
    ignored_auth,
]

schema = schemathesis.openapi.from_path(str(OPENAPI), config=CONFIG)


@schema.parametrize()
def test_every_operation_conforms(case: Any, local_stack: StackProcess) -> None:
    case.call_and_validate(
        base_url=f"{local_stack.api_url}/v1",
        headers={"x-api-key": local_stack.api_key},
        checks=CHECKS,
        timeout=60,
    )


def operations() -> list[tuple[str, str, bool]]:
    """(method, path, needs the API key) for every operation of the document."""
    document = json.loads(OPENAPI.read_text())
    default_security = document.get("security")
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            security = operation.get("security", default_security)
            found.append((method.upper(), path, bool(security)))
    return found


def test_each_operation_is_a_test_with_its_own_node_id() -> None:
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", __file__],
        capture_output=True,
        text=True,
        check=True,
        cwd=OPENAPI.parents[1],
    ).stdout.splitlines()
    ids = [line.split("::", 1)[1] for line in collected if "::test_every_operation_conforms" in line]

    assert len(ids) == len(set(ids)), "operations share a node id: xdist may schedule only one of them"
    assert sorted(ids) == sorted(f"test_every_operation_conforms[{method} {path}]" for method, path, _ in operations())


def test_the_happy_path_of_every_tracking_operation_is_the_documented_response(local_stack: StackProcess) -> None:
    number = f"HP{secrets.randbelow(10**9):09d}CN"
    one = f"/trackings/china-post/{number}"
    headers = {"x-api-key": local_stack.api_key}
    base = f"{local_stack.api_url}/v1"
    calls: list[tuple[str, str, str, dict[str, Any] | None, int]] = [
        ("POST", "/trackings", "/trackings", {"tracking_number": number, "carrier_code": "china-post"}, 201),
        ("POST", "/trackings", "/trackings", {"tracking_number": number, "carrier_code": "china-post"}, 200),
        ("GET", "/trackings", "/trackings", None, 200),
        ("GET", "/trackings/{carrier_code}/{tracking_number}", one, None, 200),
        ("PATCH", "/trackings/{carrier_code}/{tracking_number}", one, {"title": "Blue mug"}, 200),
        (
            "POST",
            "/trackings/realtime",
            "/trackings/realtime",
            {"carrier_code": "china-post", "tracking_number": number},
            200,
        ),
        ("DELETE", "/trackings/{carrier_code}/{tracking_number}", one, None, 204),
        ("GET", "/trackings/{carrier_code}/{tracking_number}", one, None, 404),
    ]
    for method, template, path, body, status in calls:
        response = requests.request(method, base + path, json=body, headers=headers, timeout=60)
        assert response.status_code == status, (method, path, response.text)
        schema[template][method].validate_response(response)


def call(stack: StackProcess, method: str, path: str, headers: dict[str, str]) -> requests.Response:
    concrete = path.replace("{carrier_code}", "china-post").replace("{tracking_number}", "RR123456785CN")
    body: dict[str, Any] | None = {"tracking_number": "RR123456785CN"} if method in ("POST", "PATCH") else None
    return requests.request(method, f"{stack.api_url}/v1{concrete}", json=body, headers=headers, timeout=30)


def started(stack: StackProcess, request_id: str) -> bool:
    return f"START RequestId: {request_id}" in stack.logs()


def test_without_the_api_key_every_operation_is_403_and_no_function_runs(local_stack: StackProcess) -> None:
    keyed = [(method, path) for method, path, needs_key in operations() if needs_key]
    assert len(keyed) >= 10  # every route but the webhook and the docs

    refused: list[str] = []
    for method, path in keyed:
        for headers in ({}, {"x-api-key": "not-the-key"}, {"X-API-KEY": local_stack.api_key.upper() + "x"}):
            answer = call(local_stack, method, path, headers)
            assert answer.status_code == 403, (method, path, headers, answer.text)
            assert answer.headers["Content-Type"] == "application/problem+json"
            assert answer.json()["status"] == 403
            refused.append(answer.headers["x-amzn-RequestId"])

    # Control: the same request WITH the key reaches its function, and its START line appears in the log
    control = call(local_stack, "GET", "/trackings", {"x-api-key": local_stack.api_key})
    assert control.status_code == 200
    control_id = control.headers["x-amzn-RequestId"]
    deadline = time.monotonic() + 30
    while not started(local_stack, control_id) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert started(local_stack, control_id), "the log does not show invocations: this test could not see one"

    logs = local_stack.logs()
    reached = [request_id for request_id in refused if f"START RequestId: {request_id}" in logs]
    assert reached == [], f"{len(reached)} requests without a valid key reached a function"
