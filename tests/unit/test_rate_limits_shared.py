"""The shared rate gate (RATE# in CacheTable): the sliding window across instances, pauses, races, cost.

Every gate gets an injected clock (epoch seconds) that only moves when the test moves it; "two instances" are two
gates over the same table, each with what it last saw of a route. DynamoDB is moto in-process.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

from shiptrack.data.rate_limits import (
    CONTENTION_RETRY_SECONDS,
    FIRST_WRITE_LEAD_MS,
    OWN_LIMIT_MARGIN_SECONDS,
    SHARED_WINDOW_MARGIN_SECONDS,
    RouteState,
    SharedRateGate,
)
from shiptrack.errors import StorageBusyError
from trackingmore import RateGate, RateLimit, Reservation

pytestmark = pytest.mark.unit

REALTIME = "POST /trackings/realtime"
LIST = "GET /trackings/get"
BATCH = "POST /trackings/batch"
THREE_PER_SECOND = RateLimit(3, 1.0)
WINDOW = 1.0 + SHARED_WINDOW_MARGIN_SECONDS


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class CountingTable:
    """The CacheTable resource, counting the requests the gate makes (its cost)."""

    def __init__(self, table: Any) -> None:
        self._table = table
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._table, name)
        if not callable(attribute):
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return attribute(*args, **kwargs)

        return counted


@pytest.fixture
def table(aws: Any) -> CountingTable:
    return CountingTable(aws.table("CacheTable"))


@pytest.fixture
def clock() -> Clock:
    return Clock()


def gate(table: Any, clock: Clock) -> SharedRateGate:
    """A gate whose first write is given no lead: the test's writes take no time unless the test says so."""
    return SharedRateGate(table, clock=clock, first_lead_ms=0)


def waits(subject: SharedRateGate, count: int, *, within: float = 60.0) -> list[float]:
    return [round(subject.reserve(REALTIME, THREE_PER_SECOND, within=within).wait, 3) for _ in range(count)]


def test_it_is_a_rate_gate(table: CountingTable, clock: Clock) -> None:
    assert isinstance(gate(table, clock), RateGate)


def test_one_instance_gets_the_limit_at_once_then_waits_a_window(table: CountingTable, clock: Clock) -> None:
    subject = gate(table, clock)

    assert waits(subject, 7) == [0.0, 0.0, 0.0, WINDOW, WINDOW, WINDOW, 2 * WINDOW]


def test_two_instances_share_one_window(table: CountingTable, clock: Clock) -> None:
    first, second = gate(table, clock), gate(table, clock)

    granted = [first.reserve(REALTIME, THREE_PER_SECOND, within=60).wait for _ in range(2)]
    granted += [second.reserve(REALTIME, THREE_PER_SECOND, within=60).wait for _ in range(2)]
    granted += [first.reserve(REALTIME, THREE_PER_SECOND, within=60).wait]

    # Alone, each would have sent its first three at once: together they hold the account's 3 per window.
    assert [round(wait, 3) for wait in granted] == [0.0, 0.0, 0.0, WINDOW, WINDOW]


def test_slots_in_the_past_free_the_window(table: CountingTable, clock: Clock) -> None:
    first, second = gate(table, clock), gate(table, clock)
    assert waits(first, 3) == [0.0, 0.0, 0.0]

    clock.now += WINDOW

    assert waits(second, 3) == [0.0, 0.0, 0.0]


def test_a_slot_further_than_the_caller_can_wait_is_refused_and_takes_nothing(
    table: CountingTable, clock: Clock
) -> None:
    first, second = gate(table, clock), gate(table, clock)
    waits(first, 3)
    before = first.state(REALTIME)

    refused = second.reserve(REALTIME, THREE_PER_SECOND, within=WINDOW - 0.1)

    assert refused.granted is False
    assert refused.wait == pytest.approx(WINDOW)
    assert first.state(REALTIME) == before
    assert second.reserve(REALTIME, THREE_PER_SECOND, within=WINDOW).granted is True


def test_a_pause_holds_every_instance_until_it_ends(table: CountingTable, clock: Clock) -> None:
    first, second = gate(table, clock), gate(table, clock)
    waits(second, 1)  # the second instance has seen the route before the pause

    first.pause(REALTIME, 120)
    clock.now += 100

    refused = second.reserve(REALTIME, THREE_PER_SECOND, within=10)
    assert (refused.granted, round(refused.wait, 3)) == (False, 20.0)
    clock.now += 20
    assert second.reserve(REALTIME, THREE_PER_SECOND, within=0).granted is True


def test_a_shorter_pause_does_not_cut_a_longer_one(table: CountingTable, clock: Clock) -> None:
    subject = gate(table, clock)
    subject.pause(REALTIME, 120)
    subject.pause(REALTIME, 5)

    state = subject.state(REALTIME)

    assert state is not None
    assert state.paused_until == int((clock.now + 120) * 1000)


def test_a_limit_with_its_own_margin_is_spaced_by_it_across_instances(table: CountingTable, clock: Clock) -> None:
    first, second = gate(table, clock), gate(table, clock)
    own = RateLimit(1, 1.0, margin=OWN_LIMIT_MARGIN_SECONDS)

    granted = [subject.reserve(BATCH, own, within=60) for subject in (first, second, first)]

    step = 1.0 + OWN_LIMIT_MARGIN_SECONDS
    assert [round(reservation.wait, 3) for reservation in granted] == [0.0, step, 2 * step]
    assert {reservation.margin for reservation in granted} == {OWN_LIMIT_MARGIN_SECONDS}


class SlowTable(CountingTable):
    """Every write takes ``write_seconds`` on the test's clock (a busy DynamoDB)."""

    def __init__(self, table: Any, clock: Clock, write_seconds: float) -> None:
        super().__init__(table)
        self._clock, self._write_seconds = clock, write_seconds

    def __getattr__(self, name: str) -> Any:
        attribute = super().__getattr__(name)
        if name not in ("put_item", "update_item"):
            return attribute

        def slow(*args: Any, **kwargs: Any) -> Any:
            self._clock.now += self._write_seconds
            return attribute(*args, **kwargs)

        return slow


def test_the_caller_sleeps_until_its_slot_whatever_the_write_took(aws: Any, clock: Clock) -> None:
    subject = gate(SlowTable(aws.table("CacheTable"), clock, 0.3), clock)
    one_per_second = RateLimit(1, 1.0)
    subject.reserve(REALTIME, THREE_PER_SECOND, within=60)  # learns that its writes take 0.3 s

    first = subject.reserve(LIST, one_per_second, within=60)
    first_goes = clock.now + first.wait
    second = subject.reserve(LIST, one_per_second, within=60)
    second_goes = clock.now + second.wait

    # The second slot is a window after the first; the 0.3 s its write took is not slept on top of it.
    assert second_goes - first_goes == pytest.approx(WINDOW, abs=0.002)  # epoch milliseconds, truncated
    stored = subject.state(LIST)
    assert stored is not None
    assert second_goes * 1000 == pytest.approx(stored.slots[-1], abs=2)


def test_before_its_first_write_a_gate_gives_a_free_slot_the_default_lead(table: CountingTable, clock: Clock) -> None:
    subject = SharedRateGate(table, clock=clock)  # type: ignore[arg-type]

    granted = subject.reserve(LIST, RateLimit(1, 1.0), within=60)

    # The caller that wakes later than half the gate's margin after its slot takes another (trackingmore's Transport).
    assert granted == Reservation(granted=True, wait=FIRST_WRITE_LEAD_MS / 1000, margin=SHARED_WINDOW_MARGIN_SECONDS)


def test_a_slot_that_passed_during_a_slower_write_is_left_and_the_next_one_taken(aws: Any, clock: Clock) -> None:
    table = SlowTable(aws.table("CacheTable"), clock, 0.0)
    subject = gate(table, clock)
    one_per_second = RateLimit(1, 1.0)
    subject.reserve(LIST, one_per_second, within=60)  # writes take no time: no lead
    clock.now += 10
    table._write_seconds = 0.3  # DynamoDB got slower
    table.calls.clear()

    asked_at = clock.now
    granted = subject.reserve(LIST, one_per_second, within=60)

    stored = subject.state(LIST)
    assert stored is not None
    # The first slot (asked_at) had passed by 0.3 s when its write returned: it stays unused, and the call goes at
    # the next, a window after it, instead of reaching TrackingMore 0.3 s late.
    assert table.calls["put_item"] == 2
    assert stored.slots[-1] == pytest.approx((asked_at + WINDOW) * 1000, abs=2)
    assert (clock.now + granted.wait) * 1000 == pytest.approx(stored.slots[-1], abs=2)


def test_a_free_slot_is_taken_where_the_write_will_have_ended(aws: Any, clock: Clock) -> None:
    subject = gate(SlowTable(aws.table("CacheTable"), clock, 0.3), clock)
    one_per_second = RateLimit(1, 1.0)
    subject.reserve(LIST, one_per_second, within=60)  # learns that its writes take 0.3 s
    clock.now += 10  # the route is idle again

    asked_at = clock.now
    granted = subject.reserve(LIST, one_per_second, within=60)

    stored = subject.state(LIST)
    assert stored is not None
    # Not a slot that had passed when the write returned: its call would reach TrackingMore 0.3 s late, closer than
    # a window to the next caller's.
    assert stored.slots[-1] == pytest.approx((asked_at + 0.3) * 1000, abs=2)
    assert granted.wait == pytest.approx(0.0, abs=0.002)


def test_routes_and_limits_are_independent(table: CountingTable, clock: Clock) -> None:
    subject = gate(table, clock)
    waits(subject, 3)

    assert subject.reserve(LIST, RateLimit(1, 1.0), within=0).granted is True
    assert subject.reserve(LIST, RateLimit(1, 1.0), within=0).granted is False


def test_an_uncontended_reservation_is_one_conditional_write(table: CountingTable, clock: Clock) -> None:
    subject = gate(table, clock)
    waits(subject, 1)  # learns the route (the item is new: one write)
    table.calls.clear()

    waits(subject, 5)

    assert table.calls == Counter({"put_item": 5})


def test_a_lost_race_costs_one_more_write_and_no_read(table: CountingTable, clock: Clock) -> None:
    first, second = gate(table, clock), gate(table, clock)
    waits(first, 1)
    waits(second, 1)  # learns the item from its refused write
    waits(first, 1)  # first's view is now stale
    table.calls.clear()

    assert waits(second, 1) == [WINDOW]

    assert table.calls == Counter({"put_item": 2})


def test_racing_instances_never_exceed_the_limit(aws: Any) -> None:
    """Eight instances (threads, each its own gate) take 24 slots at once: any 1 s window holds at most 3."""
    clock = Clock()
    gates = [gate(aws.table("CacheTable"), clock) for _ in range(8)]

    def take(index: int) -> list[Reservation]:
        subject = gates[index % len(gates)]
        return [subject.reserve(REALTIME, THREE_PER_SECOND, within=60) for _ in range(3)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        reservations = [reservation for batch in pool.map(take, range(8)) for reservation in batch]
    slots = sorted(reservation.wait for reservation in reservations)

    assert all(reservation.granted for reservation in reservations)  # no one gave up on contention
    assert len(slots) == 24
    for start in slots:
        assert sum(1 for slot in slots if start <= slot < start + 1.0) <= 3, slots
    assert slots[-1] == pytest.approx(7 * WINDOW)  # and none is wasted: 3 per window, back to back


def test_the_threads_of_one_instance_take_turns_instead_of_racing(table: CountingTable, clock: Clock) -> None:
    """One gate, 20 threads at once (the import worker's chunks): every reservation granted, one write each."""
    subject = gate(table, clock)
    waits(subject, 1)
    table.calls.clear()

    with ThreadPoolExecutor(max_workers=20) as pool:
        granted = list(pool.map(lambda _: subject.reserve(LIST, RateLimit(2, 1.0), within=600).granted, range(20)))

    assert granted == [True] * 20
    assert table.calls == Counter({"put_item": 20})  # no write lost to a sibling thread


def test_contention_beyond_the_attempts_refuses_with_a_short_retry(table: Any, clock: Clock) -> None:
    class AlwaysLate(SharedRateGate):
        def _write(self, route: str, *, expected: RouteState | None, new: RouteState) -> tuple[bool, RouteState]:
            return False, RouteState(revision=(expected.revision if expected else 0) + 1)

    refused = AlwaysLate(table, clock=clock, max_attempts=3).reserve(REALTIME, THREE_PER_SECOND, within=60)

    assert refused == Reservation(False, CONTENTION_RETRY_SECONDS, margin=SHARED_WINDOW_MARGIN_SECONDS)


def test_a_throttled_table_is_a_retryable_503(clock: Clock) -> None:
    class Throttled:
        name = "CacheTable"

        def put_item(self, **_: Any) -> None:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "PutItem")

    with pytest.raises(StorageBusyError):
        SharedRateGate(Throttled(), clock=clock).reserve(REALTIME, THREE_PER_SECOND, within=60)  # type: ignore[arg-type]


def test_idle_routes_expire(table: CountingTable, clock: Clock) -> None:
    subject = gate(table, clock)
    waits(subject, 1)

    item = table.get_item(Key={"pk": "RATE#" + REALTIME})["Item"]

    assert int(item["expires_at"]) == int(clock.now) + 24 * 3600
