"""The changes feed (GET /trackings?updated_after=) on TrackingsTable's ByUpdated index (in-process moto).

The store's clock is injected: it decides both the stamps of changes and where the held-back window ends.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shiptrack.data.queries import PLAIN_FILTERS, plan
from shiptrack.data.trackings import TrackingsRepository
from shiptrack.errors import InvalidCursorError, UnsupportedFiltersError
from shiptrack.models import ListQuery, Tracking, TrackingRef

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
DELAY = timedelta(seconds=90)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(aws: Any, clock: Clock) -> TrackingsRepository:
    return TrackingsRepository(aws.table(), clock=clock, sleep=lambda _s: None, changes_delay=DELAY)


def put(store: TrackingsRepository, number: str, at: datetime, **fields: Any) -> TrackingRef:
    tracking = Tracking(carrier_code="ups", tracking_number=number, created_at=at, updated_at=at, **fields)
    assert store.put_new(tracking).created
    return tracking.ref


def feed(store: TrackingsRepository, after: datetime, **params: Any) -> tuple[list[str], str | None]:
    page = store.list(ListQuery(updated_after=after, **params))
    return [t.tracking_number for t in page.items], page.next_cursor


def test_changes_come_oldest_first_from_the_instant_on_whatever_their_lifecycle(
    store: TrackingsRepository, clock: Clock
) -> None:
    put(store, "OLD", T0 - timedelta(minutes=1))
    put(store, "THIRD", T0 + timedelta(minutes=3))
    put(store, "FIRST", T0)  # at the instant itself: included
    put(store, "SECOND", T0 + timedelta(minutes=2), lifecycle="archived")
    clock.now = T0 + timedelta(hours=1)

    numbers, _ = feed(store, T0)

    assert numbers == ["FIRST", "SECOND", "THIRD"]


def test_an_instant_in_the_future_returns_nothing(store: TrackingsRepository, clock: Clock) -> None:
    put(store, "ONE", T0)
    clock.now = T0 + timedelta(hours=1)

    assert feed(store, clock.now + timedelta(days=1)) == ([], None)


def test_the_newest_changes_are_held_back_until_nothing_older_can_still_land(
    store: TrackingsRepository, clock: Clock
) -> None:
    put(store, "SETTLED", T0)
    put(store, "RECENT", T0 + timedelta(seconds=60))
    clock.now = T0 + timedelta(seconds=120)  # RECENT is 60 s old: a change stamped before it may still be written

    assert feed(store, T0)[0] == ["SETTLED"]
    clock.now = T0 + timedelta(seconds=151)
    assert feed(store, T0)[0] == ["SETTLED", "RECENT"]


def test_a_tracking_that_changed_again_comes_once_at_its_newest_change(
    store: TrackingsRepository, clock: Clock
) -> None:
    ref = put(store, "MOVING", T0)
    put(store, "STILL", T0 + timedelta(minutes=1))
    assert store.update_fields(ref, {"title": "changed"}, now=T0 + timedelta(minutes=2)) is not None
    clock.now = T0 + timedelta(hours=1)

    numbers, _ = feed(store, T0)

    assert numbers == ["STILL", "MOVING"]


def test_a_poller_continues_exactly_with_the_cursor_now_and_later(store: TrackingsRepository, clock: Clock) -> None:
    for minute in range(5):
        put(store, f"N{minute}", T0 + timedelta(minutes=minute))
    clock.now = T0 + timedelta(hours=1)

    first, cursor = feed(store, T0, limit=3)
    second, cursor = feed(store, T0, limit=3, cursor=cursor)
    caught_up, same = feed(store, T0, limit=3, cursor=cursor)
    put(store, "LATER", clock.now)  # a change after the poller caught up
    clock.now += timedelta(hours=1)
    later, _ = feed(store, T0, limit=3, cursor=same)

    assert (first, second) == (["N0", "N1", "N2"], ["N3", "N4"])
    assert (caught_up, same) == ([], cursor)  # nothing new: poll again with the same cursor
    assert later == ["LATER"]


def test_a_change_behind_the_cursor_comes_again_at_its_new_place(store: TrackingsRepository, clock: Clock) -> None:
    ref = put(store, "A", T0)
    put(store, "B", T0 + timedelta(minutes=1))
    clock.now = T0 + timedelta(hours=1)
    _, cursor = feed(store, T0)
    assert store.update_fields(ref, {"comment": "again"}, now=clock.now) is not None
    clock.now += timedelta(hours=1)

    assert feed(store, T0, cursor=cursor)[0] == ["A"]


def test_a_deleted_tracking_is_left_out(store: TrackingsRepository, clock: Clock) -> None:
    gone = put(store, "GONE", T0)
    put(store, "KEPT", T0 + timedelta(minutes=1))
    store.delete(gone)
    clock.now = T0 + timedelta(hours=1)

    assert feed(store, T0)[0] == ["KEPT"]


@pytest.mark.parametrize(
    "others",
    [
        {"status": "transit"},
        {"carrier_code": "ups"},
        {"order_id": "o-1"},
        {"lifecycle": "active"},
        {"created_after": T0},
        {"created_before": T0, "status": "pending"},
    ],
)
def test_other_filters_are_refused_by_name(others: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedFiltersError) as refused:
        plan(ListQuery(updated_after=T0, **others))

    assert refused.value.status == 400
    assert sorted(error.loc for error in refused.value.errors) == sorted(["query", name] for name in others)
    assert all(name in refused.value.detail for name in others)
    assert set(others) <= set(PLAIN_FILTERS)


def test_a_cursor_of_another_listing_is_refused(store: TrackingsRepository, clock: Clock) -> None:
    for minute in range(3):
        put(store, f"N{minute}", T0 + timedelta(minutes=minute))
    clock.now = T0 + timedelta(hours=1)
    listing_cursor = store.list(ListQuery(limit=1)).next_cursor
    _, feed_cursor = feed(store, T0, limit=1)

    with pytest.raises(InvalidCursorError):
        feed(store, T0, cursor=listing_cursor)
    with pytest.raises(InvalidCursorError):
        feed(store, T0 + timedelta(seconds=1), cursor=feed_cursor)  # bound to its instant


def test_plain_listing_cursors_are_unchanged_by_the_feed() -> None:
    # Cursors handed out before the feed existed must still verify: updated_after counts only when given.
    assert ListQuery(status="transit").filter_key() == "f23e34020a8f81e2"  # as computed before the feed existed
