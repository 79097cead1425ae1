"""``with_deadline``: every timeout, retry, Retry-After and rate-limit wait fits in the time left, on a fake clock.

The fake upstream answers at once, so a handler that stands for a slow TrackingMore moves the clock itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import requests

from tests.unit.trackingmore.fakes import ClientFactory, FakeClock, FakeUpstream, RecordedRequest, Reply, json_reply
from trackingmore import (
    CreateTrackingRequest,
    Deadline,
    DeadlineExceededError,
    InProcessRateGate,
    RateLimitError,
    RealtimeRequest,
    ServerError,
    TimeoutError,
    TrackingMoreClient,
)
from trackingmore._transport import RATE_LIMIT_MARGIN_SECONDS
from trackingmore.ratelimit import RateLimit

pytestmark = pytest.mark.unit

USER_INFO = "/trackings/getuserinfo"
LIST = "/trackings/get"
REALTIME = "/trackings/realtime"
BATCH = "/trackings/batch"
WINDOW = 1.0 + RATE_LIMIT_MARGIN_SECONDS
OK = {"email": "ops@example.com"}


def within(client: TrackingMoreClient, seconds: float, **policy: float) -> TrackingMoreClient:
    """``client`` bound to a deadline ``seconds`` from now on its fake clock (margin and minimum attempt: 1 s)."""
    return client.with_deadline(client.deadline_in(seconds), **policy)


def takes(
    clock: FakeClock, seconds: float, answer: Reply | BaseException
) -> Callable[[RecordedRequest], Reply | BaseException]:
    """A handler for an upstream that takes ``seconds`` (capped by the request's read timeout) to give ``answer``."""

    def handler(request: RecordedRequest) -> Reply | BaseException:
        read_timeout = request.timeout[1] if isinstance(request.timeout, tuple) else request.timeout
        if seconds > read_timeout:
            clock.advance(read_timeout)
            return requests.ReadTimeout("HTTPSConnectionPool(host='api.trackingmore.com', port=443): Read timed out.")
        clock.advance(seconds)
        return answer

    return handler


def envelope_reply(data: object, code: int = 200) -> Reply:
    return json_reply({"meta": {"code": code, "type": "Success", "message": "Success"}, "data": data})


# -- the view --------------------------------------------------------------------------------------------------------


def test_a_view_shares_the_session_and_leaves_the_client_unbound(
    client: TrackingMoreClient, upstream: FakeUpstream
) -> None:
    upstream.reply("GET", USER_INFO, OK, times=2)
    deadline = client.deadline_in(30)

    view = client.with_deadline(deadline)
    view.get_user_info()
    view.close()  # a view never closes the session it shares
    client.get_user_info()

    assert len(upstream.requests) == 2
    assert (view.deadline, client.deadline) == (deadline, None)


def test_timeouts_are_as_configured_while_the_deadline_is_far(
    client: TrackingMoreClient, upstream: FakeUpstream
) -> None:
    upstream.reply("GET", USER_INFO, OK)

    within(client, 60).get_user_info()

    assert upstream.requests[0].timeout == (3.05, 20.0)


@pytest.mark.parametrize(("seconds", "expected"), [(10.0, (3.05, 9.0)), (2.5, (1.5, 1.5))])
def test_each_attempt_gets_at_most_the_time_left_minus_the_margin(
    client: TrackingMoreClient, upstream: FakeUpstream, seconds: float, expected: tuple[float, float]
) -> None:
    upstream.reply("GET", USER_INFO, OK)

    within(client, seconds).get_user_info()

    assert upstream.requests[0].timeout == pytest.approx(expected)


def test_no_attempt_starts_with_less_than_a_minimum_attempt_left(
    client: TrackingMoreClient, upstream: FakeUpstream, clock: FakeClock
) -> None:
    with pytest.raises(DeadlineExceededError) as caught:
        within(client, 1.9).get_user_info()  # 0.9 s left after the 1 s margin

    error = caught.value
    assert (error.request_sent, error.retryable, error.code, error.endpoint) == (False, True, None, "GET " + USER_INFO)
    assert isinstance(error, TimeoutError)
    assert error.message == "no time left to call TrackingMore before the deadline"
    assert (upstream.requests, clock.sleeps) == ([], [])


def test_margin_and_minimum_attempt_are_the_callers_to_choose(
    client: TrackingMoreClient, upstream: FakeUpstream
) -> None:
    upstream.reply("GET", USER_INFO, OK)

    within(client, 0.5, margin=0.1, min_attempt=0.2).get_user_info()

    assert upstream.requests[0].timeout == pytest.approx((0.4, 0.4))
    with pytest.raises(ValueError, match="min_attempt"):
        client.with_deadline(client.deadline_in(5), min_attempt=0)


def test_an_attempt_the_deadline_cuts_short_is_a_deadline_error_that_may_have_arrived(
    client: TrackingMoreClient, upstream: FakeUpstream, clock: FakeClock
) -> None:
    upstream.handle("POST", "/trackings/post", takes(clock, 30, envelope_reply({})))

    with pytest.raises(DeadlineExceededError) as caught:
        within(client, 6).create_tracking(
            CreateTrackingRequest(tracking_number="RR050349575PH", carrier_code="phlpost")
        )

    assert caught.value.request_sent is True
    assert caught.value.message == "TrackingMore did not answer within 5 s, the time left before the deadline"
    assert len(upstream.requests) == 1  # no time was left for a retry
    assert clock.now == pytest.approx(1005.0)  # the call gave up 1 s (the margin) before the deadline


def test_our_own_read_timeout_stays_a_plain_timeout(
    client: TrackingMoreClient, upstream: FakeUpstream, clock: FakeClock
) -> None:
    upstream.handle("GET", USER_INFO, takes(clock, 30, envelope_reply(OK)))

    with pytest.raises(TimeoutError) as caught:
        within(client, 25, min_attempt=10).get_user_info()

    assert type(caught.value) is TimeoutError
    assert caught.value.message == "TrackingMore did not answer within 20 s"


# -- retries ---------------------------------------------------------------------------------------------------------


def test_a_retry_happens_when_backoff_and_an_attempt_fit(
    client: TrackingMoreClient, upstream: FakeUpstream, clock: FakeClock
) -> None:
    upstream.reply("GET", USER_INFO, None, code=503)
    upstream.reply("GET", USER_INFO, OK)

    assert within(client, 2.3).get_user_info().email == "ops@example.com"  # 1.3 s left: 0.25 + 1 fits

    assert clock.sleeps == [0.25]


def test_no_retry_when_backoff_and_an_attempt_do_not_fit(
    client: TrackingMoreClient, upstream: FakeUpstream, clock: FakeClock
) -> None:
    upstream.reply("GET", USER_INFO, None, code=503, type="Service Unavailable", message="busy")

    with pytest.raises(ServerError) as caught:  # the call ends with what its last attempt met
        within(client, 2.2).get_user_info()  # 1.2 s left: 0.25 + 1 does not fit

    assert caught.value.code == 503
    assert (len(upstream.requests), clock.sleeps) == (1, [])


def test_retries_stop_when_the_time_runs_out(
    make_client: ClientFactory, upstream: FakeUpstream, clock: FakeClock
) -> None:
    upstream.handle("GET", USER_INFO, takes(clock, 1.0, envelope_reply(None, code=500)))

    with pytest.raises(ServerError):
        within(make_client(max_retries=10), 6).get_user_info()

    # attempts at 0, 1.25, 2.75 (each 1 s long, backoff 0.25, 0.5); at 3.75 a 1 s backoff + 1 s no longer fits in 5
    assert len(upstream.requests) == 3
    assert clock.sleeps == [0.25, 0.5]


def test_retry_after_is_never_slept_past_the_deadline(
    client: TrackingMoreClient, upstream: FakeUpstream, clock: FakeClock
) -> None:
    upstream.reply_raw("GET", USER_INFO, b"", status=429, headers={"Retry-After": "7"})

    with pytest.raises(RateLimitError) as caught:
        within(client, 8).get_user_info()  # 7 s left: 7 + 1 does not fit

    assert caught.value.retry_after == 7.0
    assert (len(upstream.requests), clock.sleeps) == (1, [])


def test_retry_after_that_fits_is_slept(client: TrackingMoreClient, upstream: FakeUpstream, clock: FakeClock) -> None:
    upstream.reply_raw("GET", USER_INFO, b"", status=429, headers={"Retry-After": "7"})
    upstream.reply("GET", USER_INFO, OK)

    within(client, 9).get_user_info()

    assert clock.sleeps == [7.0]


# -- rate limits -----------------------------------------------------------------------------------------------------


def test_a_rate_limit_wait_that_fits_is_waited(
    client: TrackingMoreClient, upstream: FakeUpstream, clock: FakeClock
) -> None:
    upstream.reply("GET", LIST, {"items": []}, times=2)
    view = within(client, 10)

    view.list_trackings()
    view.list_trackings()

    assert clock.sleeps == pytest.approx([WINDOW])


def test_a_rate_limit_wait_past_the_deadline_is_a_rate_limit_error_with_the_wait(
    client: TrackingMoreClient, upstream: FakeUpstream, clock: FakeClock
) -> None:
    upstream.reply("GET", LIST, {"items": []}, times=2)
    client.list_trackings()

    with pytest.raises(RateLimitError) as caught:
        within(client, 2.5).list_trackings()  # 1.5 s left: a 1.05 s wait leaves less than a 1 s attempt

    error = caught.value
    assert error.retry_after == pytest.approx(WINDOW)
    assert (error.code, error.http_status, error.endpoint) == (None, None, "GET " + LIST)
    assert error.message.startswith("TrackingMore's rate limit allows this call again in 1.")
    assert (len(upstream.requests), clock.sleeps) == (1, [])
    client.list_trackings()  # the refusal took no slot: the next caller waits only the window
    assert clock.sleeps == pytest.approx([WINDOW])


def test_a_slot_retaken_after_a_late_wake_must_fit_the_deadline_too(
    client: TrackingMoreClient, upstream: FakeUpstream, clock: FakeClock
) -> None:
    upstream.reply("GET", LIST, {"items": []})
    client.list_trackings()
    clock.oversleep(0.2)

    with pytest.raises(RateLimitError) as caught:
        within(client, 3.5).list_trackings()  # 1.5 s to wait; woken at 1.25 s, the next slot is 0.85 s on: too late

    assert caught.value.retry_after == pytest.approx(2 * WINDOW - (WINDOW + 0.2))
    assert len(upstream.requests) == 1  # nothing sent on the late wake
    assert clock.sleeps == pytest.approx([WINDOW])


def test_realtime_429_pauses_every_caller_and_no_one_sleeps_past_a_deadline(
    upstream: FakeUpstream, clock: FakeClock
) -> None:
    client = TrackingMoreClient("k" * 12, session=upstream.session(), clock=clock, sleep=clock.sleep,
                                rate_gate=InProcessRateGate(clock))  # fmt: skip
    upstream.reply("POST", REALTIME, None, code=429, type="Too Many Requests")
    request = RealtimeRequest(tracking_number="LB181539674SG", carrier_code="cainiao")

    with pytest.raises(RateLimitError) as first:
        within(client, 20).realtime_tracking(request)
    clock.advance(30)
    with pytest.raises(RateLimitError) as second:
        within(client, 20).realtime_tracking(request)  # no call: the account is paused for 90 s more

    assert first.value.retry_after == 120.0
    assert first.value.http_status == 200
    assert second.value.retry_after == pytest.approx(90.0)
    assert second.value.http_status is None
    assert (len(upstream.requests), clock.sleeps) == (1, [])


def test_a_retry_sits_out_the_realtime_pause_without_a_deadline(
    client: TrackingMoreClient, upstream: FakeUpstream, clock: FakeClock
) -> None:
    upstream.reply("POST", REALTIME, None, code=429, type="Too Many Requests")
    upstream.reply("POST", REALTIME, {"items": [{"tracking_number": "LB181539674SG"}]}, times=2)
    request = RealtimeRequest(tracking_number="LB181539674SG", carrier_code="cainiao")

    client.realtime_tracking(request)  # 429: sleeps the documented 120 s, then succeeds
    client.realtime_tracking(request)  # the pause is over: no further wait

    assert clock.sleeps == [120.0]
    assert len(upstream.requests) == 3


# -- the deadline itself ----------------------------------------------------------------------------------------------


def test_a_lambda_context_is_a_deadline() -> None:
    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 4500

    assert Deadline.from_remaining_millis(Context().get_remaining_time_in_millis).remaining() == 4.5


def test_a_deadline_on_a_clock_and_the_earliest_of_two(clock: FakeClock) -> None:
    soon = Deadline.within(5, clock=clock)
    late = Deadline.within(50, clock=clock)

    clock.advance(2)

    assert soon.remaining() == pytest.approx(3)
    assert late.earliest(soon).remaining() == pytest.approx(3)


def test_a_plain_callable_is_a_deadline(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    with pytest.raises(DeadlineExceededError):
        client.with_deadline(lambda: 0.5).get_user_info()
    with pytest.raises(TypeError):
        client.with_deadline(5)  # type: ignore[arg-type]


def test_views_of_one_client_keep_their_own_deadlines_across_threads(
    client: TrackingMoreClient, upstream: FakeUpstream
) -> None:
    upstream.handle("GET", USER_INFO, lambda _: envelope_reply(OK))
    outcomes: dict[str, str] = {}

    def call(name: str, seconds: float) -> None:
        try:
            within(client, seconds).get_user_info()
            outcomes[name] = "answered"
        except DeadlineExceededError:
            outcomes[name] = "deadline"

    threads = [threading.Thread(target=call, args=(f"{n}", 30 if n % 2 else 0.5)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcomes == {f"{n}": "answered" if n % 2 else "deadline" for n in range(8)}
    assert len(upstream.requests) == 4


# -- batch create ----------------------------------------------------------------------------------------------------


def requests_for(count: int) -> list[CreateTrackingRequest]:
    return [CreateTrackingRequest(tracking_number=f"1Z{i:08d}", carrier_code="ups") for i in range(count)]


def create_all(request: RecordedRequest) -> Reply:
    created = [{"tracking_number": i["tracking_number"], "carrier_code": i["carrier_code"]} for i in request.json]
    return envelope_reply({"submitted": len(created), "added": len(created), "trackings": created, "errors": []}, 201)


def test_batch_stops_sending_when_the_deadline_nears_and_fails_the_rest_retryable(
    client: TrackingMoreClient, upstream: FakeUpstream, clock: FakeClock
) -> None:
    upstream.handle("POST", BATCH, lambda request: takes(clock, 2.0, create_all(request))(request))

    result = within(client, 5.5).batch_create_trackings(requests_for(125))  # chunks at 4.5 and 2.5 s left, then 0.5

    assert len(upstream.calls("POST", BATCH)) == 2
    assert [item.tracking_number for item in result.items] == [r.tracking_number for r in requests_for(125)]
    assert [item.outcome for item in result.items] == ["created"] * 80 + ["failed"] * 45
    unsent = result.items[80:]
    assert all(item.retryable for item in unsent)
    assert {type(item.error) for item in unsent} == {DeadlineExceededError}
    assert {item.error.request_sent for item in unsent if isinstance(item.error, DeadlineExceededError)} == {False}
    assert {item.error_message for item in unsent} == {"no time left to call TrackingMore before the deadline"}


def test_a_batch_chunk_the_deadline_cuts_short_fails_retryable_as_a_deadline(
    client: TrackingMoreClient, upstream: FakeUpstream, clock: FakeClock
) -> None:
    upstream.handle("POST", BATCH, takes(clock, 30, envelope_reply({})))

    result = within(client, 6).batch_create_trackings(requests_for(45))

    assert len(upstream.calls("POST", BATCH)) == 1
    assert upstream.calls("GET", LIST) == []  # no time was left to ask which items exist
    first, later = result.items[:40], result.items[40:]
    assert all(item.outcome == "failed" and item.retryable for item in result.items)
    assert all(isinstance(item.error, DeadlineExceededError) and item.error.request_sent for item in first)
    assert all(isinstance(item.error, DeadlineExceededError) and not item.error.request_sent for item in later)
    assert first[0].error_message == (
        "TrackingMore did not answer within 5 s, the time left before the deadline; "
        "reconciliation failed: no time left to call TrackingMore before the deadline"
    )


def test_batch_waits_for_its_rate_limit_only_while_the_deadline_allows(
    upstream: FakeUpstream, clock: FakeClock
) -> None:
    upstream.handle("POST", BATCH, create_all)
    client = TrackingMoreClient(
        "k" * 12,
        base_url="https://api.trackingmore.com/v2",
        session=upstream.session(),
        clock=clock,
        sleep=clock.sleep,
        batch_create_rate_limit=RateLimit(requests=1, per_seconds=2.0),
    )

    result = within(client, 6).batch_create_trackings(requests_for(125))  # slots at 0, 2.05; 4.1 is too late

    assert len(upstream.calls("POST", BATCH)) == 2
    assert clock.sleeps == pytest.approx([2.05])
    assert [item.outcome for item in result.items] == ["created"] * 80 + ["failed"] * 45
    assert {type(item.error) for item in result.items[80:]} == {RateLimitError}
    assert all(item.retryable for item in result.items[80:])
