"""The CLI's HTTP client: problems become errors, Retry-After retries, cursors, unreachable APIs."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest
import requests

from shiptrack_cli.client import MAX_RETRIES, ApiClient, retry_after_seconds
from shiptrack_cli.errors import ApiError, ApiUnreachableError, CliError, ExitCode
from tests.unit.trackingmore.fakes import FakeClock, FakeUpstream, Reply, json_reply

pytestmark = pytest.mark.unit

BASE = "http://api.test/v1"
NOT_FOUND = {
    "type": "https://shiptrack.dev/problems/tracking-not-found",
    "title": "Not found",
    "status": 404,
    "detail": "No tracking ups/1Z999.",
    "code": "tracking_not_found",
}
BUSY = {"title": "Too many requests", "status": 429, "detail": "slow down", "code": "upstream_rate_limited"}


@pytest.fixture
def api() -> FakeUpstream:
    return FakeUpstream(BASE)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_client(api: FakeUpstream, clock: FakeClock, **options: object) -> ApiClient:
    return ApiClient(BASE, "key-123", session=api.session(), sleep=clock.sleep, **options)  # type: ignore[arg-type]


def test_a_success_is_returned_with_the_key_and_a_user_agent(api: FakeUpstream, clock: FakeClock) -> None:
    api.queue("GET", "/trackings", json_reply({"items": []}))

    body = make_client(api, clock).get_json("/trackings", {"status": "transit", "cursor": None})

    assert body == {"items": []}
    sent = api.calls("GET", "/trackings")[0]
    assert sent.headers["x-api-key"] == "key-123"
    assert sent.headers["user-agent"].startswith("shiptrack-cli/")
    assert sent.query == {"status": "transit"}  # None filters are not sent


def test_a_problem_becomes_an_api_error_with_its_fields(api: FakeUpstream, clock: FakeClock) -> None:
    api.queue("GET", "/trackings/ups/1Z999", json_reply(NOT_FOUND, 404, {"Content-Type": "application/problem+json"}))

    with pytest.raises(ApiError) as caught:
        make_client(api, clock).get_json("/trackings/ups/1Z999")

    error = caught.value
    assert (error.status, error.code, error.exit_code) == (404, "tracking_not_found", ExitCode.API_ERROR)
    assert error.problem == NOT_FOUND
    assert error.message == "404 Not found"
    assert clock.sleeps == []


@pytest.mark.parametrize("status", [429, 503, 504])
def test_an_answer_with_retry_after_is_retried_after_that_long(
    api: FakeUpstream, clock: FakeClock, status: int
) -> None:
    notices: list[tuple[int, float]] = []
    api.queue("POST", "/imports", json_reply(BUSY, status, {"Retry-After": "2"}), json_reply({"id": "imp-1"}, 202))

    response = make_client(api, clock, on_retry=lambda s, w: notices.append((s, w))).request(
        "POST", "/imports", body=b"tracking_number\nRR1\n", headers={"idempotency-key": "k-1"}
    )

    assert response.status_code == 202
    assert clock.sleeps == [2.0]
    assert notices == [(status, 2.0)]
    first, second = api.calls("POST", "/imports")
    assert first.body == second.body == b"tracking_number\nRR1\n"
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"] == "k-1"


def test_retries_stop_after_the_limit_with_the_last_problem(api: FakeUpstream, clock: FakeClock) -> None:
    busy = json_reply(BUSY, 503, {"Retry-After": "1"})
    api.queue("GET", "/trackings", *[busy] * (MAX_RETRIES + 2))

    with pytest.raises(ApiError) as caught:
        make_client(api, clock).get_json("/trackings")

    assert caught.value.status == 503
    assert caught.value.retry_after == 1.0
    assert len(api.calls("GET", "/trackings")) == MAX_RETRIES + 1
    assert clock.sleeps == [1.0] * MAX_RETRIES


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        (429, {}),  # no Retry-After: nothing says when to come back
        (500, {"Retry-After": "1"}),  # not a status that means "later"
        (502, {"Retry-After": "1"}),
        (429, {"Retry-After": "soon"}),  # unreadable
        (429, {"Retry-After": "3600"}),  # longer than the CLI waits: reported instead
    ],
)
def test_other_errors_are_not_retried(
    api: FakeUpstream, clock: FakeClock, status: int, headers: dict[str, str]
) -> None:
    api.queue("GET", "/trackings", json_reply(BUSY, status, headers))

    with pytest.raises(ApiError):
        make_client(api, clock).get_json("/trackings")

    assert len(api.calls("GET", "/trackings")) == 1
    assert clock.sleeps == []


def test_retry_after_as_an_http_date(api: FakeUpstream, clock: FakeClock) -> None:
    api.queue(
        "GET",
        "/trackings",
        json_reply(BUSY, 429, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),  # in the past: go now
        json_reply({"items": []}),
    )

    make_client(api, clock).get_json("/trackings")

    assert clock.sleeps == [0.0]


def test_retry_after_values() -> None:
    now = datetime(2026, 12, 6, 10, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("7", now=now) == 7.0
    assert retry_after_seconds(" 0 ", now=now) == 0.0
    assert retry_after_seconds("Sun, 06 Dec 2026 10:00:30 GMT", now=now) == 30.0
    assert retry_after_seconds("Sun, 06 Dec 2026 09:00:00 GMT", now=now) == 0.0
    assert retry_after_seconds("-3", now=now) is None
    assert retry_after_seconds("later", now=now) is None
    assert retry_after_seconds("", now=now) is None
    assert retry_after_seconds(None, now=now) is None


def test_a_body_that_is_not_a_problem_still_gives_a_readable_error(api: FakeUpstream, clock: FakeClock) -> None:
    api.queue("GET", "/trackings", Reply(b"<html>Bad Gateway</html>", 502, {"Content-Type": "text/html"}))
    api.queue("GET", "/imports", json_reply({"message": "Forbidden"}, 403))

    with pytest.raises(ApiError) as html:
        make_client(api, clock).get_json("/trackings")
    with pytest.raises(ApiError) as gateway:
        make_client(api, clock).get_json("/imports")

    assert html.value.message == "502 Bad Gateway"
    assert html.value.problem["detail"] == "<html>Bad Gateway</html>"
    assert gateway.value.message == "403 Forbidden"
    assert gateway.value.hint is not None
    assert "SHIPTRACK_API_KEY" in gateway.value.hint


def test_a_route_the_api_lacks_says_so(api: FakeUpstream, clock: FakeClock) -> None:
    missing = {"title": "Missing Authentication Token", "status": 403, "code": "missing_authentication_token"}
    api.queue("GET", "/imports", json_reply(missing, 403))

    with pytest.raises(ApiError) as caught:
        make_client(api, clock).get_json("/imports", {"limit": 5})

    assert caught.value.hint is not None
    assert "has no route GET /imports" in caught.value.hint


def test_pages_are_followed_with_the_cursor(api: FakeUpstream, clock: FakeClock) -> None:
    api.queue(
        "GET",
        "/trackings",
        json_reply({"items": [1, 2], "next_cursor": "c1"}),
        json_reply({"items": [3], "next_cursor": "c2"}),
        json_reply({"items": [4], "next_cursor": None}),
    )

    pages = list(make_client(api, clock).iter_pages("/trackings", {"order_id": "o-1", "limit": 2}))

    assert [page["items"] for page in pages] == [[1, 2], [3], [4]]
    assert [call.query for call in api.calls("GET", "/trackings")] == [
        {"order_id": "o-1", "limit": "2"},
        {"order_id": "o-1", "limit": "2", "cursor": "c1"},
        {"order_id": "o-1", "limit": "2", "cursor": "c2"},
    ]


def test_a_cursor_answered_twice_stops_instead_of_looping(api: FakeUpstream, clock: FakeClock) -> None:
    api.handle("GET", "/trackings", lambda _: json_reply({"items": [1], "next_cursor": "same"}))

    with pytest.raises(CliError, match="cursor"):
        list(make_client(api, clock).iter_pages("/trackings"))

    assert len(api.calls("GET", "/trackings")) == 2


def test_an_api_that_times_out_is_unreachable(api: FakeUpstream, clock: FakeClock) -> None:
    api.fail("GET", "/trackings", requests.ReadTimeout("read timed out"))

    with pytest.raises(ApiUnreachableError, match="no answer from") as caught:
        make_client(api, clock).get_json("/trackings")

    assert caught.value.exit_code == ExitCode.UNREACHABLE


def test_a_closed_port_is_unreachable_with_the_reason_and_a_hint() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again when the block ends: nothing listens there

    with pytest.raises(ApiUnreachableError) as caught:
        ApiClient(f"http://127.0.0.1:{port}", "k").get_json("/trackings")

    assert caught.value.message == f"cannot reach the shiptrack API at http://127.0.0.1:{port}: Connection refused"
    assert caught.value.hint is not None
    assert "make dev" in caught.value.hint


def test_a_url_that_is_not_one_is_a_usage_error() -> None:
    with pytest.raises(CliError, match="not a usable API URL") as caught:
        ApiClient("127.0.0.1:3000", "k").get_json("/trackings")

    assert caught.value.exit_code == ExitCode.USAGE
