"""Retries, backoff, Retry-After, the realtime pause and client-side rate limits, on an injected clock."""

from __future__ import annotations

import logging
import threading

import pytest
import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError

from tests.unit.trackingmore.fakes import ClientFactory, FakeClock, FakeUpstream
from trackingmore import (
    CreateTrackingRequest,
    InvalidRequestError,
    RateLimitError,
    RealtimeRequest,
    ServerError,
    TimeoutError,
    TrackingAlreadyExistsError,
    TrackingMoreClient,
    TrackingNotFoundError,
    TransportError,
)
from trackingmore._transport import (
    BASE_DELAY,
    MAX_DELAY,
    RATE_LIMIT_MARGIN_SECONDS,
    RETRY_AFTER_CAP,
    RateLimit,
    RateLimiter,
)
from trackingmore.client import REALTIME_RATE_LIMIT_PAUSE

# A rate-limit window as the client spaces it: the documented second plus the safety margin for jitter.
WINDOW = 1.0 + RATE_LIMIT_MARGIN_SECONDS

pytestmark = pytest.mark.unit

USER_INFO = "/trackings/getuserinfo"
REALTIME = "/trackings/realtime"
CREATE = "/trackings/post"
REFUSED = requests.ConnectionError(MaxRetryError(None, "/v2", NewConnectionError(None, "refused")))  # type: ignore[arg-type]


def realtime_request() -> RealtimeRequest:
    return RealtimeRequest(tracking_number="LB181539674SG", carrier_code="cainiao")


def realtime_data() -> dict[str, object]:
    return {"items": [{"tracking_number": "LB181539674SG", "carrier_code": "cainiao", "status": "transit"}]}


def test_named_policy_constants() -> None:
    assert (BASE_DELAY, MAX_DELAY, RETRY_AFTER_CAP, REALTIME_RATE_LIMIT_PAUSE) == (0.5, 8.0, 120.0, 120.0)


# -- backoff -----------------------------------------------------------------------------------------------------------


def test_server_error_then_success_backs_off_with_jitter(
    client: TrackingMoreClient, upstream: FakeUpstream, clock: FakeClock
) -> None:
    upstream.reply("GET", USER_INFO, None, code=503, type="Service Unavailable")
    upstream.reply("GET", USER_INFO, {"email": "ops@example.com"})

    assert client.get_user_info().email == "ops@example.com"

    assert len(upstream.requests) == 2
    assert clock.sleeps == [0.25]  # bound 0.5 s × jitter 0.5


def test_retries_are_bounded_and_exponential(
    client: TrackingMoreClient, upstream: FakeUpstream, clock: FakeClock
) -> None:
    upstream.reply_raw("GET", USER_INFO, b"<html>bad gateway</html>", status=502)
    upstream.reply_raw("GET", USER_INFO, b"", status=500)
    upstream.fail("GET", USER_INFO, requests.ReadTimeout("slow"))
    upstream.fail("GET", USER_INFO, requests.ConnectionError("reset"))

    with pytest.raises(TransportError):
        client.get_user_info()

    assert len(upstream.requests) == 4  # 1 + max_retries
    assert clock.sleeps == [0.25, 0.5, 1.0]


def test_backoff_is_capped(make_client: ClientFactory, upstream: FakeUpstream, clock: FakeClock) -> None:
    upstream.reply("GET", USER_INFO, None, code=500, times=7)

    with pytest.raises(ServerError):
        make_client(max_retries=6, jitter=1.0).get_user_info()

    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]


def test_no_retries_when_disabled(make_client: ClientFactory, upstream: FakeUpstream, clock: FakeClock) -> None:
    upstream.reply("GET", USER_INFO, None, code=500)

    with pytest.raises(ServerError):
        make_client(max_retries=0).get_user_info()

    assert (len(upstream.requests), clock.sleeps) == (1, [])


@pytest.mark.parametrize("code", [4001, 4014, 4017, 4021, 501])
def test_definite_errors_are_not_retried(
    client: TrackingMoreClient, upstream: FakeUpstream, clock: FakeClock, code: int
) -> None:
    upstream.reply("GET", USER_INFO, None, code=code)

    with pytest.raises(Exception):  # noqa: PT011 - the class is covered in test_errors
        client.get_user_info()

    assert (len(upstream.requests), clock.sleeps) == (1, [])


# -- Retry-After -------------------------------------------------------------------------------------------------------


def test_rate_limit_honours_retry_after(client: TrackingMoreClient, upstream: FakeUpstream, clock: FakeClock) -> None:
    upstream.reply_raw("GET", USER_INFO, b"", status=429, headers={"Retry-After": "7"})
    upstream.reply("GET", USER_INFO, {"email": "x"})

    client.get_user_info()

    assert clock.sleeps == [7.0]


def test_rate_limit_in_meta_without_retry_after_backs_off(
    client: TrackingMoreClient, upstream: FakeUpstream, clock: FakeClock
) -> None:
    upstream.reply("GET", USER_INFO, None, code=429, type="Too Many Requests")
    upstream.reply("GET", USER_INFO, {"email": "x"})

    client.get_user_info()

    assert clock.sleeps == [0.25]


def test_retry_after_beyond_the_cap_is_left_to_the_caller(
    client: TrackingMoreClient, upstream: FakeUpstream, clock: FakeClock
) -> None:
    upstream.reply_raw("GET", USER_INFO, b"", status=429, headers={"Retry-After": "600"})

    with pytest.raises(RateLimitError) as caught:
        client.get_user_info()

    assert caught.value.retry_after == 600.0
    assert (len(upstream.requests), clock.sleeps) == (1, [])


def test_unparseable_retry_after_falls_back_to_backoff(
    client: TrackingMoreClient, upstream: FakeUpstream, clock: FakeClock
) -> None:
    upstream.reply_raw("GET", USER_INFO, b"", status=429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    upstream.reply("GET", USER_INFO, {"email": "x"})

    client.get_user_info()

    assert clock.sleeps == [0.25]


# -- realtime: only what surely did not arrive ------------------------------------------------------------------------


def test_realtime_429_waits_the_documented_120_seconds(
    client: TrackingMoreClient, upstream: FakeUpstream, clock: FakeClock
) -> None:
    upstream.reply("POST", REALTIME, None, code=429, type="Too Many Requests")
    upstream.reply("POST", REALTIME, realtime_data())

    assert client.realtime_tracking(realtime_request()).status == "transit"

    assert clock.sleeps == [120.0]
    assert len(upstream.requests) == 2


def test_realtime_429_with_retry_after_uses_the_header(
    client: TrackingMoreClient, upstream: FakeUpstream, clock: FakeClock
) -> None:
    upstream.reply_raw("POST", REALTIME, b"", status=429, headers={"Retry-After": "30"})
    upstream.reply("POST", REALTIME, realtime_data())

    client.realtime_tracking(realtime_request())

    assert clock.sleeps == [30.0]


def test_realtime_429_without_retries_tells_the_caller_how_long(
    make_client: ClientFactory, upstream: FakeUpstream
) -> None:
    upstream.reply("POST", REALTIME, None, code=429)

    with pytest.raises(RateLimitError) as caught:
        make_client(max_retries=0).realtime_tracking(realtime_request())

    assert caught.value.retry_after == 120.0


@pytest.mark.parametrize("error", [requests.ConnectTimeout("connect timeout"), REFUSED])
def test_realtime_is_retried_when_the_request_never_left(
    client: TrackingMoreClient, upstream: FakeUpstream, clock: FakeClock, error: Exception
) -> None:
    upstream.fail("POST", REALTIME, error)
    upstream.reply("POST", REALTIME, realtime_data())

    client.realtime_tracking(realtime_request())

    assert (len(upstream.requests), clock.sleeps) == (2, [0.25])


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (requests.ReadTimeout("read timeout"), TimeoutError),
        (requests.ConnectionError("Connection reset by peer"), TransportError),
    ],
)
def test_realtime_is_not_retried_when_it_may_have_arrived(
    client: TrackingMoreClient,
    upstream: FakeUpstream,
    clock: FakeClock,
    script: Exception,
    expected: type[Exception],
) -> None:
    upstream.fail("POST", REALTIME, script)

    with pytest.raises(expected):
        client.realtime_tracking(realtime_request())

    assert (len(upstream.requests), clock.sleeps) == (1, [])


def test_realtime_server_error_is_not_retried(
    client: TrackingMoreClient, upstream: FakeUpstream, clock: FakeClock
) -> None:
    upstream.reply("POST", REALTIME, None, code=500)

    with pytest.raises(ServerError):
        client.realtime_tracking(realtime_request())

    assert (len(upstream.requests), clock.sleeps) == (1, [])


def test_air_cargo_is_not_paid_for_twice(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.fail("POST", "/trackings/aircargo", requests.ReadTimeout("read timeout"))

    with pytest.raises(TimeoutError):
        client.track_air_cargo(["172-28891936"])

    assert len(upstream.requests) == 1


# -- create / delete / change carrier after an ambiguous failure ------------------------------------------------------


def create_request() -> CreateTrackingRequest:
    return CreateTrackingRequest(tracking_number="RR050349575PH", carrier_code="phlpost")


def test_create_resolves_its_own_duplicate_after_a_lost_attempt(
    client: TrackingMoreClient, upstream: FakeUpstream
) -> None:
    upstream.fail("POST", CREATE, requests.ReadTimeout("read timeout"))
    upstream.reply("POST", CREATE, None, code=4016, type="Bad Request", message="Tracking already exists.")
    upstream.reply("GET", "/trackings/phlpost/RR050349575PH", {"id": "abc", "tracking_number": "RR050349575PH"})

    tracking = client.create_tracking(create_request())

    assert tracking.id == "abc"
    assert [(r.method, r.path) for r in upstream.requests] == [
        ("POST", CREATE),
        ("POST", CREATE),
        ("GET", "/trackings/phlpost/RR050349575PH"),
    ]


def test_create_of_a_genuine_duplicate_raises(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.reply("POST", CREATE, None, code=4016, type="Bad Request", message="Tracking already exists.")

    with pytest.raises(TrackingAlreadyExistsError) as caught:
        client.create_tracking(create_request())

    assert caught.value.retried_after_ambiguous_failure is False
    assert len(upstream.requests) == 1


def test_create_after_a_connect_failure_does_not_treat_4016_as_its_own(
    client: TrackingMoreClient, upstream: FakeUpstream
) -> None:
    upstream.fail("POST", CREATE, requests.ConnectTimeout("connect timeout"))
    upstream.reply("POST", CREATE, None, code=4016)

    with pytest.raises(TrackingAlreadyExistsError):
        client.create_tracking(create_request())


def test_create_retries_server_errors(client: TrackingMoreClient, upstream: FakeUpstream, clock: FakeClock) -> None:
    upstream.reply("POST", CREATE, None, code=503)
    upstream.reply("POST", CREATE, {"id": "new", "tracking_number": "RR050349575PH"})

    assert client.create_tracking(create_request()).id == "new"
    assert clock.sleeps == [0.25]


def test_delete_after_a_lost_attempt_accepts_4017(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    path = "/trackings/phlpost/RR050349575PH"
    upstream.fail("DELETE", path, requests.ReadTimeout("read timeout"))
    upstream.reply("DELETE", path, [], code=4017)

    client.delete_tracking("phlpost", "RR050349575PH")

    assert len(upstream.requests) == 2


def test_change_carrier_after_a_lost_attempt_checks_the_new_carrier(
    client: TrackingMoreClient, upstream: FakeUpstream
) -> None:
    upstream.fail("POST", "/trackings/update", requests.ReadTimeout("read timeout"))
    upstream.reply("POST", "/trackings/update", None, code=4017)
    upstream.reply("GET", "/trackings/usps/LK664578623CN", {"tracking_number": "LK664578623CN", "carrier_code": "usps"})

    client.change_carrier("china-ems", "LK664578623CN", "usps")

    assert upstream.requests[-1].path == "/trackings/usps/LK664578623CN"


def test_change_carrier_4017_stands_when_the_new_carrier_lacks_it(
    client: TrackingMoreClient, upstream: FakeUpstream
) -> None:
    upstream.fail("POST", "/trackings/update", requests.ReadTimeout("read timeout"))
    upstream.reply("POST", "/trackings/update", None, code=4017, message="Tracking does not exist.")
    upstream.reply("GET", "/trackings/usps/LK664578623CN", None, code=4031)

    with pytest.raises(TrackingNotFoundError) as caught:
        client.change_carrier("china-ems", "LK664578623CN", "usps")

    assert caught.value.code == 4017


def test_update_many_is_retried(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.fail("POST", "/trackings/notupdate", requests.ReadTimeout("read timeout"))
    upstream.reply("POST", "/trackings/notupdate", {"submitted": 1, "change": 1})
    from trackingmore import TrackingRef

    result = client.stop_updating([TrackingRef(carrier_code="ups", tracking_number="1Z999AA1")])

    assert result.succeeded == 1
    assert len(upstream.requests) == 2


# -- client-side rate limits ----------------------------------------------------------------------------------------


def test_list_is_kept_under_one_request_per_second(
    client: TrackingMoreClient, upstream: FakeUpstream, clock: FakeClock
) -> None:
    upstream.reply("GET", "/trackings/get", {"items": []}, times=3)

    for _ in range(3):
        client.list_trackings()

    assert clock.sleeps == pytest.approx([WINDOW, WINDOW])


def test_list_does_not_wait_when_time_has_passed(
    client: TrackingMoreClient, upstream: FakeUpstream, clock: FakeClock
) -> None:
    upstream.reply("GET", "/trackings/get", {"items": []}, times=2)

    client.list_trackings()
    clock.advance(0.4)
    client.list_trackings()
    clock.advance(5)

    assert clock.sleeps == [pytest.approx(WINDOW - 0.4)]


def test_realtime_is_kept_under_three_requests_per_second(
    client: TrackingMoreClient, upstream: FakeUpstream, clock: FakeClock
) -> None:
    upstream.reply("POST", REALTIME, realtime_data(), times=7)

    for _ in range(7):
        client.realtime_tracking(realtime_request())

    assert clock.sleeps == pytest.approx([WINDOW, WINDOW])  # requests 4 and 7 wait for the window


def test_unlimited_endpoints_never_wait(client: TrackingMoreClient, upstream: FakeUpstream, clock: FakeClock) -> None:
    upstream.reply("GET", USER_INFO, {"email": "x"}, times=5)

    for _ in range(5):
        client.get_user_info()

    assert clock.sleeps == []


def test_clients_of_one_account_share_the_limit(
    make_client: ClientFactory, upstream: FakeUpstream, clock: FakeClock
) -> None:
    upstream.reply("GET", "/trackings/get", {"items": []}, times=3)

    make_client().list_trackings()
    make_client().list_trackings()
    make_client(api_key="another-account").list_trackings()

    assert clock.sleeps == pytest.approx([WINDOW])


def test_retries_also_respect_the_rate_limit(
    client: TrackingMoreClient, upstream: FakeUpstream, clock: FakeClock
) -> None:
    upstream.reply("GET", "/trackings/get", None, code=500)
    upstream.reply("GET", "/trackings/get", {"items": []})

    client.list_trackings()

    assert clock.sleeps == [0.25, pytest.approx(WINDOW - 0.25)]  # backoff, then the rest of the window


def test_rate_limiter_is_thread_safe() -> None:
    # The clock stands still, so every waiter must have reserved a distinct slot: 0, 1, 2, … windows ahead.
    waits: list[float] = []
    lock = threading.Lock()

    def record(seconds: float) -> None:
        with lock:
            waits.append(seconds)

    limiter = RateLimiter(RateLimit(requests=1, per_seconds=1.0), clock=lambda: 0.0, sleep=record)
    threads = [threading.Thread(target=limiter.acquire) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(waits) == pytest.approx([n * WINDOW for n in range(1, 8)])


# -- logging ----------------------------------------------------------------------------------------------------------


def test_attempts_are_logged_at_debug(
    client: TrackingMoreClient, upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    upstream.reply("GET", USER_INFO, None, code=503)
    upstream.reply("GET", USER_INFO, {"email": "x"})

    with caplog.at_level(logging.DEBUG, logger="trackingmore"):
        client.get_user_info()

    lines = [r.getMessage() for r in caplog.records if r.name == "trackingmore"]
    assert lines[0] == "GET /trackings/getuserinfo -> HTTP 200 code=503 attempt=1 elapsed=0.000s"
    assert lines[1] == "GET /trackings/getuserinfo retry 1 in 0.250s after ServerError"
    assert lines[2] == "GET /trackings/getuserinfo -> HTTP 200 attempt=2 elapsed=0.000s"


def test_invalid_request_is_raised_at_once(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.reply("POST", CREATE, None, code=4015, message="carrier_code invalid")

    with pytest.raises(InvalidRequestError):
        client.create_tracking(create_request())
