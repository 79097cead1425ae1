"""The monotonic rule (docs/design.md §5), property-based: upstream copies applied in any order leave the newest stored,
and a delivered parcel never goes back to a non-terminal status through upstream updates (not even via exception)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shiptrack.data.trackings import TrackingsRepository
from shiptrack.models import STATUSES, Tracking, TrackingRef
from shiptrack.upstream import upstream_version
from trackingmore.models import Tracking as UpstreamTracking

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 1, tzinfo=UTC)
_numbers = itertools.count()


def snapshot(number: str, step: int, status: str, events: int) -> UpstreamTracking:
    """TrackingMore's copy of one parcel at refresh ``step``: later steps have later times and no fewer events."""
    return UpstreamTracking.model_validate(
        {
            "tracking_number": number,
            "carrier_code": "china-post",
            "status": status,
            "updated_at": (T0 + timedelta(hours=step)).isoformat(),
            "origin_info": {
                "trackinfo": [
                    {"Date": f"2026-11-01 {e:02d}:00", "StatusDescription": f"event {e}", "checkpoint_status": status}
                    for e in reversed(range(events))
                ]
            },
        }
    )


timelines = st.lists(
    st.tuples(st.sampled_from(sorted(STATUSES)), st.integers(min_value=0, max_value=3)), min_size=1, max_size=8
).flatmap(lambda steps: st.tuples(st.just(steps), st.permutations(range(len(steps)))))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(timeline=timelines)
def test_any_arrival_order_leaves_the_newest_and_delivered_stays(aws: Any, timeline: Any) -> None:
    steps, order = timeline
    number = f"MO{next(_numbers):09d}CN"  # a fresh parcel per example: the table outlives the examples
    ref = TrackingRef("china-post", number)
    store = TrackingsRepository(aws.table(), sleep=lambda _s: None)
    store.put_new(Tracking(carrier_code="china-post", tracking_number=number, created_at=T0, updated_at=T0))

    # Cumulative event counts make later refreshes hold at least as many events, like a real parcel
    counts = list(itertools.accumulate(extra for _, extra in steps))
    copies = [snapshot(number, i, status, counts[i]) for i, (status, _) in enumerate(steps)]

    applied: list[int] = []
    was_delivered = False
    for arrival, index in enumerate(order):
        store.apply_upstream_update(copies[index], observed_at=T0 + timedelta(minutes=arrival), source="webhook")
        applied.append(index)
        stored = store.load(ref)
        assert stored is not None
        newest = max(applied)
        # The stored copy is always the newest seen so far, whatever the arrival order
        assert stored.version == upstream_version(copies[newest])
        assert len(stored.tracking.checkpoints) == len({(c.time, c.description) for c in stored.tracking.checkpoints})
        assert len(stored.tracking.checkpoints) == counts[newest]
        # Once delivered, upstream copies never move it anywhere (so never back to a non-terminal status)
        was_delivered = was_delivered or stored.tracking.status == "delivered"
        expected = "delivered" if was_delivered else steps[newest][0]
        assert stored.tracking.status == expected
        assert not was_delivered or any(steps[i][0] == "delivered" for i in applied)


@settings(max_examples=200, deadline=None)
@given(
    a=st.tuples(st.integers(0, 48), st.integers(0, 5)),
    b=st.tuples(st.integers(0, 48), st.integers(0, 5)),
)
def test_the_version_orders_like_update_time_then_events(a: tuple[int, int], b: tuple[int, int]) -> None:
    va = upstream_version(snapshot("RR123456785CN", a[0], "transit", a[1]))
    vb = upstream_version(snapshot("RR123456785CN", b[0], "transit", b[1]))

    assert (va < vb) == (a < b)
    assert (va == vb) == (a == b)
