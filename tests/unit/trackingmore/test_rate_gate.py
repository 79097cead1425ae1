"""The rate gate: the in-process default, and any gate a caller plugs in (an account-wide one across processes)."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field

import pytest

from tests.unit.trackingmore.fakes import (
    BASE_URL,
    ClientFactory,
    FakeClock,
    FakeUpstream,
    RecordedRequest,
    Reply,
    envelope,
    json_reply,
)
from trackingmore import (
    CreateTrackingRequest,
    InProcessRateGate,
    RateGate,
    RateLimit,
    RateLimitError,
    RealtimeRequest,
    Reservation,
    TrackingMoreClient,
)
from trackingmore._transport import MAX_SLOT_RETAKES
from trackingmore.client import LIST_RATE_LIMIT, REALTIME_RATE_LIMIT
from trackingmore.ratelimit import RATE_LIMIT_MARGIN_SECONDS

pytestmark = pytest.mark.unit

WINDOW = 1.0 + RATE_LIMIT_MARGIN_SECONDS
LIST = "GET /trackings/get"
REALTIME = "POST /trackings/realtime"
BATCH = "POST /trackings/batch"
ONE_PER_SECOND = RateLimit(requests=1, per_seconds=1.0)


def rounded(reservation: Reservation) -> tuple[bool, float]:
    return reservation.granted, round(reservation.wait, 9)


# -- the in-process gate ---------------------------------------------------------------------------------------------


def test_reservations_space_calls_by_the_window(clock: FakeClock) -> None:
    gate = InProcessRateGate(clock)

    waits = [rounded(gate.reserve(LIST, ONE_PER_SECOND, within=10)) for _ in range(3)]

    assert waits == [(True, 0.0), (True, WINDOW), (True, 2 * WINDOW)]


def test_a_limit_with_its_own_margin_spaces_calls_by_it(clock: FakeClock) -> None:
    gate = InProcessRateGate(clock)
    wide = RateLimit(requests=1, per_seconds=1.0, margin=0.25)

    waits = [rounded(gate.reserve(LIST, wide, within=10)) for _ in range(3)]

    assert waits == [(True, 0.0), (True, 1.25), (True, 2.5)]


def test_a_negative_margin_is_refused() -> None:
    with pytest.raises(ValueError, match="margin"):
        RateLimit(requests=1, per_seconds=1.0, margin=-0.1)


def test_a_refused_reservation_takes_nothing_and_says_when_the_earliest_slot_is(clock: FakeClock) -> None:
    gate = InProcessRateGate(clock)
    gate.reserve(LIST, ONE_PER_SECOND, within=10)

    refused = gate.reserve(LIST, ONE_PER_SECOND, within=0.5)
    granted = gate.reserve(LIST, ONE_PER_SECOND, within=5)

    assert rounded(refused) == (False, WINDOW)
    assert rounded(granted) == (True, WINDOW)  # the same slot: the refusal did not take it


def test_routes_are_limited_separately(clock: FakeClock) -> None:
    gate = InProcessRateGate(clock)
    gate.reserve(LIST, ONE_PER_SECOND, within=10)

    assert gate.reserve(REALTIME, REALTIME_RATE_LIMIT, within=10) == Reservation(True, 0.0)


def test_a_pause_holds_every_slot_back_and_a_shorter_one_does_not_shorten_it(clock: FakeClock) -> None:
    gate = InProcessRateGate(clock)

    gate.pause(REALTIME, 120)
    gate.pause(REALTIME, 5)
    clock.advance(20)

    assert rounded(gate.reserve(REALTIME, REALTIME_RATE_LIMIT, within=10)) == (False, 100.0)
    assert rounded(gate.reserve(REALTIME, REALTIME_RATE_LIMIT, within=100)) == (True, 100.0)
    assert gate.reserve(LIST, LIST_RATE_LIMIT, within=0) == Reservation(True, 0.0)  # other routes go on


def test_concurrent_reservations_get_distinct_slots() -> None:
    gate = InProcessRateGate(lambda: 0.0)
    waits: list[float] = []
    lock = threading.Lock()

    def reserve() -> None:
        reservation = gate.reserve(LIST, ONE_PER_SECOND, within=100)
        assert reservation.granted
        with lock:
            waits.append(reservation.wait)

    threads = [threading.Thread(target=reserve) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(waits) == pytest.approx([n * WINDOW for n in range(8)])


def test_the_in_process_gate_is_a_rate_gate() -> None:
    assert isinstance(InProcessRateGate(), RateGate)


def test_a_rate_limit_needs_a_positive_rate() -> None:
    with pytest.raises(ValueError, match="requests >= 1"):
        RateLimit(requests=0)


# -- a gate plugged into the client --------------------------------------------------------------------------------


@dataclass
class RecordingGate:
    """A gate that grants ``wait`` (or refuses when ``wait`` is beyond ``within``) and records what it was asked."""

    wait: float = 0.0
    reserved: list[tuple[str, RateLimit, float]] = field(default_factory=list)
    paused: list[tuple[str, float]] = field(default_factory=list)

    def reserve(self, route: str, limit: RateLimit, *, within: float) -> Reservation:
        self.reserved.append((route, limit, within))
        return Reservation(self.wait <= within, self.wait)

    def pause(self, route: str, seconds: float) -> None:
        self.paused.append((route, seconds))


def gated_client(upstream: FakeUpstream, clock: FakeClock, gate: RateGate, **options: object) -> TrackingMoreClient:
    return TrackingMoreClient(
        "gate-test-key",
        base_url=BASE_URL,
        session=upstream.session(),
        clock=clock,
        sleep=clock.sleep,
        rate_gate=gate,
        **options,  # type: ignore[arg-type]
    )


def test_the_client_asks_its_gate_before_each_limited_call_only(upstream: FakeUpstream, clock: FakeClock) -> None:
    gate = RecordingGate(wait=0.4)
    upstream.reply("GET", "/trackings/get", {"items": []})
    upstream.reply("GET", "/trackings/getuserinfo", {"email": "x"})
    client = gated_client(upstream, clock, gate)

    client.list_trackings()
    client.get_user_info()

    assert gate.reserved == [(LIST, LIST_RATE_LIMIT, float("inf"))]  # no deadline, no rate_limit_wait: no bound
    assert clock.sleeps == [0.4]  # the client sleeps the wait itself, outside the gate


def test_a_gate_that_has_no_slot_in_time_is_a_rate_limit_error_before_any_call(
    upstream: FakeUpstream, clock: FakeClock
) -> None:
    client = gated_client(upstream, clock, RecordingGate(wait=300), rate_limit_wait=60)

    with pytest.raises(RateLimitError) as caught:
        client.realtime_tracking(RealtimeRequest(tracking_number="LB181539674SG", carrier_code="cainiao"))

    assert (caught.value.retry_after, caught.value.code) == (300, None)
    assert caught.value.message == "TrackingMore's rate limit allows this call again in 300.0 s"
    assert upstream.requests == []


def test_a_429_pauses_the_route_at_the_gate(upstream: FakeUpstream, clock: FakeClock) -> None:
    gate = RecordingGate()
    upstream.reply("POST", "/trackings/realtime", None, code=429, type="Too Many Requests")
    client = gated_client(upstream, clock, gate, max_retries=0)

    with pytest.raises(RateLimitError):
        client.realtime_tracking(RealtimeRequest(tracking_number="LB181539674SG", carrier_code="cainiao"))

    assert gate.paused == [(REALTIME, 120.0)]


def test_batch_creates_are_unlimited_unless_the_client_says(upstream: FakeUpstream, clock: FakeClock) -> None:
    reply = {"submitted": 1, "added": 1, "trackings": [{"tracking_number": "1Z00000001", "carrier_code": "ups"}]}
    upstream.reply("POST", "/trackings/batch", reply, code=201, times=2)
    plain, limited = RecordingGate(), RecordingGate()
    batch_limit = RateLimit(requests=2, per_seconds=1.0)
    items = [CreateTrackingRequest(tracking_number="1Z00000001", carrier_code="ups")]

    gated_client(upstream, clock, plain).batch_create_trackings(items)
    gated_client(upstream, clock, limited, batch_create_rate_limit=batch_limit).batch_create_trackings(items)

    assert plain.reserved == []
    assert limited.reserved == [(BATCH, batch_limit, float("inf"))]


def arrival_times(upstream: FakeUpstream, clock: FakeClock, route: str, data: object) -> list[float]:
    """Answer every call to ``route`` (``"GET /trackings/get"``) with ``data``; the list fills with the clock's time
    at each call's arrival."""
    arrivals: list[float] = []

    def answer(request: RecordedRequest) -> Reply:
        arrivals.append(clock())
        return json_reply(envelope(data))

    method, path = route.split(" ", 1)
    upstream.handle(method, path, answer)
    return arrivals


def test_a_call_that_wakes_late_for_its_slot_takes_the_next_one_so_arrivals_stay_a_window_apart(
    upstream: FakeUpstream, clock: FakeClock
) -> None:
    arrivals = arrival_times(upstream, clock, LIST, {"items": []})
    client = gated_client(upstream, clock, InProcessRateGate(clock))
    clock.oversleep(0.2)  # the second call's sleep until its slot ends 0.2 s late: more than half the 50 ms margin

    for _ in range(3):
        client.list_trackings()

    # Sent on its late wake, the second call would arrive at +1.25 and the third at +2.10: 0.85 s apart, a 429.
    assert [t - arrivals[0] for t in arrivals] == pytest.approx([0.0, 2 * WINDOW, 3 * WINDOW])
    assert clock.sleeps == pytest.approx([WINDOW, WINDOW - 0.2, WINDOW])  # the retake sleeps only to its own slot


def test_waking_later_than_half_the_margin_is_late_though_the_window_is_wider(
    upstream: FakeUpstream, clock: FakeClock
) -> None:
    arrivals = arrival_times(upstream, clock, LIST, {"items": []})
    client = gated_client(upstream, clock, InProcessRateGate(clock))
    clock.oversleep(0.04)  # under the 50 ms margin, over its half: the other half is for the way to TrackingMore

    client.list_trackings()
    client.list_trackings()

    assert arrivals[1] - arrivals[0] == pytest.approx(2 * WINDOW)  # the slot at +1.05 was left for the next one


def test_with_no_margin_an_ordinary_sleep_overshoot_is_not_late(upstream: FakeUpstream, clock: FakeClock) -> None:
    reply = {"submitted": 1, "added": 1, "trackings": [{"tracking_number": "1Z00000001", "carrier_code": "ups"}]}
    arrivals = arrival_times(upstream, clock, BATCH, reply)
    exact = RateLimit(requests=1, per_seconds=1.0, margin=0)
    client = gated_client(upstream, clock, InProcessRateGate(clock), batch_create_rate_limit=exact)
    clock.oversleep(0.001, 0.001)  # timer slack, as every real sleep has
    items = [CreateTrackingRequest(tracking_number="1Z00000001", carrier_code="ups")]

    for _ in range(3):
        client.batch_create_trackings(items)

    assert len(clock.sleeps) == 2  # one sleep per call that waited: no slot taken again
    assert [t - arrivals[0] for t in arrivals] == pytest.approx([0.0, 1.001, 2.001])


def test_a_late_wake_within_half_the_gates_margin_is_sent_on_its_slot(upstream: FakeUpstream, clock: FakeClock) -> None:
    reply = {"submitted": 1, "added": 1, "trackings": [{"tracking_number": "1Z00000001", "carrier_code": "ups"}]}
    arrivals = arrival_times(upstream, clock, BATCH, reply)
    wide = RateLimit(requests=1, per_seconds=1.0, margin=0.25)
    client = gated_client(upstream, clock, InProcessRateGate(clock), batch_create_rate_limit=wide)
    clock.oversleep(0.1)  # within 0.125 s, half this limit's margin: its window still holds
    items = [CreateTrackingRequest(tracking_number="1Z00000001", carrier_code="ups")]

    for _ in range(3):
        client.batch_create_trackings(items)

    assert [t - arrivals[0] for t in arrivals] == pytest.approx([0.0, 1.35, 2.5])
    assert min(b - a for a, b in itertools.pairwise(arrivals)) >= 1.0  # TrackingMore's window, held


def test_a_retake_waits_only_what_is_left_of_the_callers_rate_limit_wait(
    upstream: FakeUpstream, clock: FakeClock
) -> None:
    arrivals = arrival_times(upstream, clock, LIST, {"items": []})
    client = gated_client(upstream, clock, InProcessRateGate(clock), rate_limit_wait=1.5)
    client.list_trackings()
    clock.oversleep(0.2)

    with pytest.raises(RateLimitError) as caught:
        client.list_trackings()  # woken at +1.25 of its 1.5 s: the next slot, 0.85 s on, is past what is left

    assert caught.value.retry_after == pytest.approx(2 * WINDOW - (WINDOW + 0.2))
    assert len(arrivals) == 1


def test_a_host_that_always_wakes_late_still_sends_after_the_last_retake(
    upstream: FakeUpstream, clock: FakeClock
) -> None:
    arrivals = arrival_times(upstream, clock, LIST, {"items": []})
    client = gated_client(upstream, clock, InProcessRateGate(clock))
    clock.oversleep(*[0.2] * 10)

    client.list_trackings()
    client.list_trackings()

    assert len(clock.sleeps) == MAX_SLOT_RETAKES + 1  # one sleep per slot taken, then sent late all the same
    assert arrivals[1] - arrivals[0] == pytest.approx((MAX_SLOT_RETAKES + 1) * WINDOW + 0.2)


@dataclass
class SharedBucketGate:
    """A stand-in for an account-wide gate kept in a database: one "row" per route holding the next free slot,
    updated with a compare-and-set that may fail (as a conditional write would), never a lock held across calls."""

    clock: FakeClock
    rows: dict[str, float] = field(default_factory=dict)
    lost_races: int = 0

    def reserve(self, route: str, limit: RateLimit, *, within: float) -> Reservation:
        interval = limit.per_seconds / limit.requests
        while True:
            now = self.clock()
            seen = self.rows.get(route)
            slot = max(now, seen if seen is not None else now)
            if slot - now > within:
                return Reservation(False, slot - now)
            if self._compare_and_set(route, seen, slot + interval):
                return Reservation(True, slot - now)
            self.lost_races += 1

    def pause(self, route: str, seconds: float) -> None:
        self.rows[route] = max(self.rows.get(route, 0.0), self.clock() + seconds)

    def _compare_and_set(self, route: str, expected: float | None, new: float) -> bool:
        if self.rows.get(route) != expected:
            return False
        self.rows[route] = new
        return True


def test_clients_of_separate_processes_share_one_account_wide_gate(upstream: FakeUpstream, clock: FakeClock) -> None:
    gate = SharedBucketGate(clock)
    upstream.reply("POST", "/trackings/realtime", {"items": [{"tracking_number": "LB181539674SG"}]}, times=6)
    instances = [gated_client(upstream, clock, gate) for _ in range(3)]  # three "Lambda instances", one account
    request = RealtimeRequest(tracking_number="LB181539674SG", carrier_code="cainiao")

    for instance in instances * 2:
        instance.realtime_tracking(request)

    assert clock.sleeps == pytest.approx([1 / 3] * 5)  # 3/s across all of them, not 3/s each


def test_after_a_realtime_429_a_caller_that_may_not_wait_that_long_is_refused_at_once(
    upstream: FakeUpstream, clock: FakeClock
) -> None:
    upstream.reply("POST", "/trackings/realtime", None, code=429, type="Too Many Requests")
    client = gated_client(upstream, clock, InProcessRateGate(clock), max_retries=0, rate_limit_wait=10)
    request = RealtimeRequest(tracking_number="LB181539674SG", carrier_code="cainiao")
    with pytest.raises(RateLimitError):
        client.realtime_tracking(request)
    clock.advance(20)

    with pytest.raises(RateLimitError) as caught:
        client.realtime_tracking(request)

    assert caught.value.retry_after == pytest.approx(100.0)
    assert caught.value.http_status is None
    assert (len(upstream.requests), clock.sleeps) == (1, [])  # TrackingMore was not asked again, no one slept


def test_how_long_a_call_may_wait_for_a_slot_is_the_clients_choice(upstream: FakeUpstream, clock: FakeClock) -> None:
    gate = RecordingGate(wait=30)
    upstream.reply("GET", "/trackings/get", {"items": []})

    gated_client(upstream, clock, gate, rate_limit_wait=60).list_trackings()

    assert gate.reserved == [(LIST, LIST_RATE_LIMIT, 60.0)]
    assert clock.sleeps == [30]


def test_the_default_process_wide_gate_keeps_windows_but_no_pauses(
    make_client: ClientFactory, upstream: FakeUpstream, clock: FakeClock
) -> None:
    # The limiter the client always had: a 429 does not hold back every later call of the process.
    upstream.reply("POST", "/trackings/realtime", None, code=429, type="Too Many Requests")
    upstream.reply("POST", "/trackings/realtime", {"items": [{"tracking_number": "LB181539674SG"}]})
    request = RealtimeRequest(tracking_number="LB181539674SG", carrier_code="cainiao")
    with pytest.raises(RateLimitError):
        make_client(max_retries=0).realtime_tracking(request)

    make_client(max_retries=0).realtime_tracking(request)

    assert (len(upstream.requests), clock.sleeps) == (2, [])
