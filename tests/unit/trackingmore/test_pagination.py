"""iter_trackings walks every page lazily, at the list endpoint's 1 request/s."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.trackingmore.fakes import FakeClock, FakeUpstream
from trackingmore import TrackingMoreClient
from trackingmore._transport import RATE_LIMIT_MARGIN_SECONDS

pytestmark = pytest.mark.unit

LIST = "/trackings/get"


def page(number: int, limit: int, total: int, start: int, count: int) -> dict[str, Any]:
    items = [{"tracking_number": f"RR{i:09d}CN", "carrier_code": "china-post"} for i in range(start, start + count)]
    return {"page": number, "limit": limit, "total": str(total), "items": items}


def test_iter_trackings_walks_all_pages(client: TrackingMoreClient, upstream: FakeUpstream, clock: FakeClock) -> None:
    upstream.reply("GET", LIST, page(1, 2, 5, 0, 2))
    upstream.reply("GET", LIST, page(2, 2, 5, 2, 2))
    upstream.reply("GET", LIST, page(3, 2, 5, 4, 1))

    numbers = [t.tracking_number for t in client.iter_trackings(limit=2, status="transit")]

    assert numbers == [f"RR{i:09d}CN" for i in range(5)]
    assert [r.query for r in upstream.requests] == [
        {"page": "1", "limit": "2", "status": "transit"},
        {"page": "2", "limit": "2", "status": "transit"},
        {"page": "3", "limit": "2", "status": "transit"},
    ]
    assert clock.sleeps == pytest.approx([1.0 + RATE_LIMIT_MARGIN_SECONDS] * 2)  # 1 request/s, plus the jitter margin


def test_iter_trackings_is_lazy(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.reply("GET", LIST, page(1, 2, 5, 0, 2))

    trackings = client.iter_trackings(limit=2)
    assert upstream.requests == []

    first = next(trackings)
    second = next(trackings)

    assert (first.tracking_number, second.tracking_number) == ("RR000000000CN", "RR000000001CN")
    assert len(upstream.requests) == 1  # page 2 is not fetched until needed


def test_iter_trackings_starts_at_the_given_page(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.reply("GET", LIST, page(3, 2, 5, 4, 1))

    assert len(list(client.iter_trackings(page=3, limit=2))) == 1
    assert upstream.requests[0].query["page"] == "3"


def test_iter_trackings_stops_on_an_empty_page(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.reply("GET", LIST, {"page": 1, "limit": 2, "total": "10", "items": []})

    assert list(client.iter_trackings(limit=2)) == []
    assert len(upstream.requests) == 1


def test_iter_trackings_stops_when_upstream_ignores_the_page(
    client: TrackingMoreClient, upstream: FakeUpstream
) -> None:
    upstream.reply("GET", LIST, page(1, 2, 10, 0, 2), times=2)

    assert len(list(client.iter_trackings(limit=2))) == 4
    assert len(upstream.requests) == 2


def test_iter_trackings_without_total_stops_on_a_short_page(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.reply("GET", LIST, {"page": 1, "limit": 2, "items": [{"id": "a"}, {"id": "b"}]})
    upstream.reply("GET", LIST, {"page": 2, "limit": 2, "items": [{"id": "c"}]})

    assert [t.id for t in client.iter_trackings(limit=2)] == ["a", "b", "c"]
