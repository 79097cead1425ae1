"""API requests against API Gateway's 29 s, through the TrackingsFunction handler on moto + the sandbox.

Each request's budget runs from when the gateway received it (``requestContext.requestTimeEpoch``): the tests
say the gateway received it long ago, so only a little of the 29 s is left, and check what the route does with
it — never how long it took.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from shiptrack.data.claims import CreateClaims
from shiptrack.deadline import ANSWER_RESERVE_MS, GATEWAY_TIMEOUT_MS
from shiptrack.models import TrackingRef
from tests.integration.test_trackings_support import Api, api_context, api_fixture, event  # noqa: F401 - fixture

pytestmark = pytest.mark.integration

CREATE = "POST /trackings/post"
NUMBER = "RR123456785CN"
BODY = {"tracking_number": NUMBER, "carrier_code": "china-post"}


def post_late(
    api: Api, body: Any, *, left_ms: int, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    """POST /trackings as if the gateway had received it long enough ago to leave ``left_ms`` of work."""
    request = event("POST", "/trackings", body=body, headers=headers)
    request["requestContext"]["requestTimeEpoch"] = int(time.time() * 1000) - (
        GATEWAY_TIMEOUT_MS - ANSWER_RESERVE_MS - left_ms
    )
    response = api.handlers["trackings"](request, api_context())
    headers_out = {k: v[-1] for k, v in (response.get("multiValueHeaders") or {}).items()}
    return response["statusCode"], headers_out, json.loads(response["body"])


def test_trackingmore_not_answering_is_a_retryable_504_within_the_budget_and_frees_the_identity(api: Api) -> None:
    api.sandbox.set_faults(error_rate=1.0, kinds=["timeout"], endpoints=[CREATE], timeout_s=60)

    status, headers, problem = post_late(api, BODY, left_ms=5_000)  # the call is sent, then given up on
    api.sandbox.clear_faults()
    retry = api.post("/trackings", BODY)

    assert status == 504
    assert problem["code"] == "deadline_exceeded"
    assert problem["retryable"] is True
    assert int(headers["Retry-After"]) >= 1
    # The claim went with the failure: an immediate retry creates instead of waiting for a 409
    assert retry.status == 201
    assert api.calls(CREATE) == 2


def test_a_create_waiting_for_an_identical_one_waits_only_within_its_deadline(api: Api) -> None:
    claims = CreateClaims(api.aws.table("CacheTable"))
    assert claims.acquire(TrackingRef("china-post", NUMBER), "another-request")  # a create in flight elsewhere

    status, headers, problem = post_late(api, BODY, left_ms=500)

    assert status == 409
    assert problem["code"] == "request_in_progress"
    assert headers["Retry-After"] == "1"
    assert api.calls(CREATE) == 0


def test_a_request_waiting_on_its_idempotency_key_in_flight_waits_only_within_its_deadline(api: Api) -> None:
    key = {"Idempotency-Key": "late-repeat-1"}
    api.sandbox.set_latency("none", overrides={CREATE: {"p50_ms": 4_000, "p99_ms": 4_000}})
    first: list[Any] = []
    running = threading.Thread(target=lambda: first.append(api.post("/trackings", BODY, headers=key)))
    running.start()
    while api.calls(CREATE) == 0:  # the first request has claimed its key and called TrackingMore
        time.sleep(0.05)

    status, headers, problem = post_late(api, BODY, left_ms=500, headers=key)
    running.join()

    assert (status, problem["code"], headers["Retry-After"]) == (409, "request_in_progress", "1")
    assert first[0].status == 201  # the first one was not disturbed
    assert api.calls(CREATE) == 1
