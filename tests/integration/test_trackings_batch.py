"""``POST /trackings/batch`` as the create pipeline drives it: concurrent chunks, cached concurrent detection, and what
the route does when its deadline nears (TrackingsFunction's handler on moto, against the sandbox with latency)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

import pytest
import requests

from shiptrack.services.create import CHUNK_CONCURRENCY, CHUNK_SIZE
from shiptrack.services.detection import DETECT_CONCURRENCY
from tests.integration.test_trackings_support import (  # noqa: F401 - fixtures
    BATCH,
    DETECT,
    Answer,
    Api,
    api_fixture,
    event,
)
from tests.lambda_context import LambdaContext
from trackingmore import TrackingMoreClient

pytestmark = pytest.mark.integration


class CountingSession(requests.Session):
    """Counts the upstream calls in flight per path, the most at once, and the answers received."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.in_flight: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.answered: Counter[str] = Counter()
        self.on_answer: list[Any] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        path = str(url).split("/v2", 1)[-1]
        with self.lock:
            self.in_flight[path] += 1
            self.peak[path] = max(self.peak[path], self.in_flight[path])
        try:
            return super().request(method, url, *args, **kwargs)
        finally:
            with self.lock:
                self.in_flight[path] -= 1
                self.answered[path] += 1
            for hook in self.on_answer:
                hook(path)


@pytest.fixture
def session(api: Api, monkeypatch: pytest.MonkeyPatch) -> CountingSession:
    counting = CountingSession()
    client = TrackingMoreClient(api.sandbox.api_key, base_url=api.sandbox.base_url, session=counting)
    monkeypatch.setattr("shiptrack.runtime.trackingmore_client", lambda **_options: client)
    return counting


def batch(api: Api, items: list[dict[str, Any]], *, remaining: Any = lambda: 29_000) -> Answer:
    context = LambdaContext("TrackingsFunction", remaining=remaining)
    response = api.handlers["trackings"](event("POST", "/trackings/batch", body={"items": items}), context)
    headers = {k: v[-1] for k, v in (response.get("multiValueHeaders") or {}).items()}
    return Answer(response["statusCode"], headers, json.loads(response["body"]))


def numbers(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{index:09d}CN" for index in range(count)]


@pytest.fixture
def more_chunks_than_the_bound(monkeypatch: pytest.MonkeyPatch) -> int:
    """The route's size limit raised past ``CHUNK_CONCURRENCY`` chunks: ``MAX_BATCH_ITEMS`` (200) is exactly the
    bound, so only a larger batch shows the pipeline holding it (the Order Shipped consumer and imports have no such
    limit)."""
    limit = CHUNK_SIZE * (CHUNK_CONCURRENCY + 3)
    monkeypatch.setattr("shiptrack.routes.trackings.MAX_BATCH_ITEMS", limit)
    return limit


def test_chunks_go_upstream_several_at_once_but_never_more_than_the_bound(
    api: Api, session: CountingSession, more_chunks_than_the_bound: int
) -> None:
    api.sandbox.set_latency("flat", scale=0.3)  # every call takes 300 ms, so chunks sent together overlap
    items = [{"tracking_number": n, "carrier_code": "china-post"} for n in numbers("CC", CHUNK_SIZE * 7)]

    answer = batch(api, items)

    assert answer.status == 200
    assert answer.body["summary"] == {"created": len(items), "existing": 0, "failed": 0}
    assert api.calls(BATCH) == 7
    assert 1 < session.peak["/trackings/batch"] <= CHUNK_CONCURRENCY


def test_carriers_are_detected_once_per_number_concurrently_and_cached_for_the_next_request(
    api: Api, session: CountingSession
) -> None:
    api.sandbox.set_latency("flat", scale=0.2)
    distinct = numbers("RR", 12)
    items = [{"tracking_number": n} for n in distinct + distinct[:5]]  # five numbers twice, no carrier code

    first = batch(api, items)
    again = batch(api, [{"tracking_number": n} for n in distinct])

    assert first.body["summary"] == {"created": 12, "existing": 5, "failed": 0}
    assert api.calls(DETECT) == len(distinct)  # once per number, not per item, and not again for the second batch
    assert 1 < session.peak["/carriers/detect"] <= DETECT_CONCURRENCY
    assert again.body["summary"] == {"created": 0, "existing": 12, "failed": 0}


def test_an_undetectable_number_is_remembered_too(api: Api, session: CountingSession) -> None:
    items = [{"tracking_number": "ZZZZZZZZZZZZZZZZ"}]

    first = batch(api, items)
    second = batch(api, items)

    assert first.body["results"][0]["problem"]["code"] == "carrier_not_detected"
    assert second.body["results"][0]["problem"]["code"] == "carrier_not_detected"
    assert api.calls(DETECT) == 1


def test_when_the_deadline_nears_the_batch_stops_sending_stores_what_it_has_and_fails_the_rest_retryably(
    api: Api, session: CountingSession, more_chunks_than_the_bound: int
) -> None:
    # Given a slow upstream and a request whose time runs short once the first chunk has been answered
    api.sandbox.set_latency("flat", scale=0.5)
    short = threading.Event()
    session.on_answer.append(lambda path: short.set() if path == "/trackings/batch" else None)
    sent = numbers("DL", CHUNK_SIZE * 8)
    items = [{"tracking_number": n, "carrier_code": "china-post"} for n in sent]

    # When the batch runs: 29 s left at first, then less than the answer's reserve, the batch client's margin and one
    # attempt (docs/operations.md "Deadlines": 1.5 s + 4 s + 1 s)
    answer = batch(api, items, remaining=lambda: 6_000 if short.is_set() else 29_000)

    # Then it answers 200: the chunks sent before are created and stored, no later chunk was sent, and the
    # rest failed with a retryable deadline problem, stored nowhere
    assert answer.status == 200
    outcomes = [r["outcome"] for r in answer.body["results"]]
    created = outcomes.count("created")
    assert created % CHUNK_SIZE == 0
    assert CHUNK_SIZE <= created <= CHUNK_SIZE * CHUNK_CONCURRENCY
    assert outcomes == ["created"] * created + ["failed"] * (len(items) - created)
    for failed in answer.body["results"][created:]:
        assert failed["problem"]["code"] == "deadline_exceeded"
        assert failed["problem"]["retryable"] is True
    assert api.calls(BATCH) == created // CHUNK_SIZE
    upstream = {number for _carrier, number in api.upstream_numbers()}
    assert upstream == set(sent[:created])
    assert all(api.stored("china-post", n) is not None for n in sent[:created])
    assert all(api.stored("china-post", n) is None for n in sent[created:])


def test_each_result_carries_the_tracking_without_its_checkpoints(api: Api) -> None:
    answer = api.post("/trackings/batch", {"items": [{"tracking_number": "RR123456785CN", "carrier_code": "usps"}]})

    tracking = answer.body["results"][0]["tracking"]
    assert tracking["tracking_number"] == "RR123456785CN"
    assert "checkpoints" not in tracking
    assert "customer" not in tracking
