"""Every v2 error code and HTTP failure becomes the right exception (reference §4.1)."""

from __future__ import annotations

import pytest
import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError

from tests.unit.trackingmore.fakes import API_KEY, ClientFactory, FakeUpstream
from trackingmore import (
    AuthenticationError,
    CarrierNotDetectedError,
    InvalidRequestError,
    QuotaExceededError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    TimeoutError,
    TrackingAlreadyExistsError,
    TrackingMoreError,
    TrackingNotFoundError,
    TransportError,
)
from trackingmore.errors import ERROR_CLASSES, error_class_for

pytestmark = pytest.mark.unit

USER_INFO = "/trackings/getuserinfo"

CODE_TABLE: list[tuple[int, type[TrackingMoreError]]] = [
    (401, AuthenticationError),
    (4001, AuthenticationError),
    (4002, AuthenticationError),
    (202, InvalidRequestError),
    (400, InvalidRequestError),
    (403, InvalidRequestError),
    (404, InvalidRequestError),
    (405, InvalidRequestError),
    (409, InvalidRequestError),
    (4012, InvalidRequestError),
    (4013, InvalidRequestError),
    (4014, InvalidRequestError),
    (4015, InvalidRequestError),
    (4018, InvalidRequestError),
    (4020, InvalidRequestError),
    (4033, InvalidRequestError),
    (4016, TrackingAlreadyExistsError),
    (4017, TrackingNotFoundError),
    (4031, TrackingNotFoundError),
    (4032, CarrierNotDetectedError),
    (402, QuotaExceededError),
    (4019, QuotaExceededError),
    (4021, QuotaExceededError),
    (429, RateLimitError),
    (500, ServerError),
    (503, ServerError),
]


@pytest.mark.parametrize(("code", "expected"), CODE_TABLE)
def test_meta_code_in_http_200_maps_to_its_class(
    make_client: ClientFactory, upstream: FakeUpstream, code: int, expected: type[TrackingMoreError]
) -> None:
    upstream.reply("GET", USER_INFO, None, code=code, type="Bad Request", message=f"message {code}")

    with pytest.raises(expected) as caught:
        make_client(max_retries=0).get_user_info()

    error = caught.value
    assert type(error) is expected
    assert (error.code, error.type, error.message, error.http_status) == (code, "Bad Request", f"message {code}", 200)
    assert error.endpoint == "GET /trackings/getuserinfo"


def test_the_table_holds_every_documented_code() -> None:
    assert {code: cls for code, cls in CODE_TABLE if code not in (500, 503)} == dict(ERROR_CLASSES)


@pytest.mark.parametrize(
    ("code", "expected"),
    [(4099, InvalidRequestError), (418, InvalidRequestError), (501, ServerError), (599, ServerError)],
)
def test_unknown_codes_fall_back_by_range(code: int, expected: type[TrackingMoreError]) -> None:
    assert error_class_for(code) is expected


def test_unknown_code_outside_ranges_is_the_base_class() -> None:
    assert error_class_for(999) is TrackingMoreError


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, InvalidRequestError),
        (401, AuthenticationError),
        (402, QuotaExceededError),
        (403, InvalidRequestError),
        (404, InvalidRequestError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
    ],
)
def test_http_status_without_envelope_maps_by_status(
    make_client: ClientFactory, upstream: FakeUpstream, status: int, expected: type[TrackingMoreError]
) -> None:
    upstream.reply_raw("GET", USER_INFO, b"<html>nope</html>", status=status)

    with pytest.raises(expected) as caught:
        make_client(max_retries=0).get_user_info()

    assert (caught.value.code, caught.value.http_status) == (status, status)


def test_http_error_with_envelope_prefers_meta_code(make_client: ClientFactory, upstream: FakeUpstream) -> None:
    upstream.reply("GET", USER_INFO, None, code=4001, type="Unauthorized", message="Invalid API key", status=401)

    with pytest.raises(AuthenticationError) as caught:
        make_client(max_retries=0).get_user_info()

    assert (caught.value.code, caught.value.http_status, caught.value.message) == (4001, 401, "Invalid API key")


def test_http_error_with_success_meta_uses_http_status(make_client: ClientFactory, upstream: FakeUpstream) -> None:
    upstream.reply("GET", USER_INFO, None, code=200, status=503)

    with pytest.raises(ServerError) as caught:
        make_client(max_retries=0).get_user_info()

    assert caught.value.code == 503


@pytest.mark.parametrize(
    "body",
    [b"not json", b"", b"[]", b'{"data": {}}', b'{"meta": {"type": "Success"}, "data": {}}', b'{"meta": "x"}'],
)
def test_200_without_a_v2_envelope_is_a_transport_error(
    make_client: ClientFactory, upstream: FakeUpstream, body: bytes
) -> None:
    upstream.reply_raw("GET", USER_INFO, body)

    with pytest.raises(TransportError) as caught:
        make_client(max_retries=0).get_user_info()

    assert caught.value.request_sent is True
    assert caught.value.http_status == 200


def test_meta_code_as_string_is_understood(make_client: ClientFactory, upstream: FakeUpstream) -> None:
    upstream.reply_raw("GET", USER_INFO, b'{"meta": {"code": "4017", "message": "gone"}, "data": []}')

    with pytest.raises(TrackingNotFoundError):
        make_client(max_retries=0).get_user_info()


def test_success_codes_200_and_201(make_client: ClientFactory, upstream: FakeUpstream) -> None:
    upstream.reply("GET", USER_INFO, {"email": "a"}, code=200)
    upstream.reply("GET", USER_INFO, {"email": "b"}, code=201, type="Created")
    client = make_client(max_retries=0)

    assert [client.get_user_info().email, client.get_user_info().email] == ["a", "b"]


def test_read_timeout_is_a_timeout_error_that_may_have_reached_the_server(
    make_client: ClientFactory, upstream: FakeUpstream
) -> None:
    upstream.fail("GET", USER_INFO, requests.ReadTimeout("read timed out"))

    with pytest.raises(TimeoutError) as caught:
        make_client(max_retries=0).get_user_info()

    assert isinstance(caught.value, TransportError)
    assert caught.value.request_sent is True
    assert caught.value.code is None
    assert isinstance(caught.value.__cause__, requests.ReadTimeout)


def test_request_timeout_error_is_an_alias_and_not_the_builtin() -> None:
    assert RequestTimeoutError is TimeoutError
    assert not issubclass(TimeoutError, OSError)


@pytest.mark.parametrize(
    "error",
    [
        requests.ConnectTimeout("connect timed out"),
        requests.ConnectionError(MaxRetryError(None, "/v2", NewConnectionError(None, "refused"))),  # type: ignore[arg-type]
    ],
)
def test_connection_never_opened_means_request_not_sent(
    make_client: ClientFactory, upstream: FakeUpstream, error: Exception
) -> None:
    upstream.fail("GET", USER_INFO, error)

    with pytest.raises(TransportError) as caught:
        make_client(max_retries=0).get_user_info()

    assert caught.value.request_sent is False


def test_connection_reset_may_have_reached_the_server(make_client: ClientFactory, upstream: FakeUpstream) -> None:
    upstream.fail("GET", USER_INFO, requests.ConnectionError("Connection reset by peer"))

    with pytest.raises(TransportError) as caught:
        make_client(max_retries=0).get_user_info()

    assert type(caught.value) is TransportError
    assert caught.value.request_sent is True


def test_a_refused_loopback_connection_is_classified_as_not_sent(upstream: FakeUpstream) -> None:
    # A real connection attempt (loopback only) to a port nobody listens on: requests' own exception shape.
    import socket

    from trackingmore import TrackingMoreClient

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = TrackingMoreClient("k", base_url=f"http://127.0.0.1:{port}/v2", max_retries=0, timeout=(1.0, 1.0))

    with pytest.raises(TransportError) as caught:
        client.get_user_info()

    assert caught.value.request_sent is False


def test_a_bad_base_url_is_not_retried() -> None:
    from trackingmore import TrackingMoreClient

    sleeps: list[float] = []
    client = TrackingMoreClient("k", base_url="nonsense", sleep=sleeps.append)

    with pytest.raises(TrackingMoreError) as caught:
        client.get_user_info()

    assert caught.value.retryable is False
    assert sleeps == []


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (RateLimitError("x", code=429), True),
        (ServerError("x", code=500), True),
        (ServerError("x", code=502), True),
        (ServerError("x", code=503), True),
        (ServerError("x", code=504), True),
        (ServerError("x", code=501), False),
        (TransportError("x"), True),
        (TimeoutError("x"), True),
        (InvalidRequestError("x", code=4014), False),
        (AuthenticationError("x", code=4001), False),
        (QuotaExceededError("x", code=4021), False),
    ],
)
def test_retryable(error: TrackingMoreError, retryable: bool) -> None:
    assert error.retryable is retryable


def test_str_and_repr_name_code_and_endpoint() -> None:
    error = InvalidRequestError(
        "Tracking number invalid", code=4014, type="Bad Request", endpoint="POST /trackings/post"
    )

    assert str(error) == "Tracking number invalid (code=4014, POST /trackings/post)"
    assert "code=4014" in repr(error)
    assert "InvalidRequestError" in repr(error)


# -- messages safe to show -----------------------------------------------------------------------------------------

HOST = "api.trackingmore.com"
POOL = f"HTTPSConnectionPool(host='{HOST}', port=443): Max retries exceeded with url: /v2/trackings/getuserinfo"
# Words that must never reach a user: where we connect, with what key, and Python's names for what went wrong.
UNSAFE = (HOST, "443", "https://", "/v2/", API_KEY, "ConnectionPool", "ReadTimeout", "ConnectTimeout",
          "ConnectionError", "MaxRetryError", "NewConnectionError", "ProtocolError", "Exception", "Error")  # fmt: skip


def refused() -> requests.ConnectionError:
    text = f"Failed to establish a new connection: [Errno 111] Connection refused ({API_KEY})"
    reason = NewConnectionError(None, text)  # type: ignore[arg-type]
    return requests.ConnectionError(MaxRetryError(None, "/v2/trackings/getuserinfo", reason))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (
            requests.ReadTimeout(f"{POOL} (Read timed out. (read timeout=20.0))"),
            "TrackingMore did not answer within 20 s",
        ),
        (requests.ConnectTimeout(f"{POOL} (connect timeout=3.05)"), "could not connect to TrackingMore within 3.05 s"),
        (refused(), "could not connect to TrackingMore"),
        (
            requests.ConnectionError(f"('Connection aborted.', RemoteDisconnected('{HOST}'))"),
            "the connection to TrackingMore broke before it answered",
        ),
        (requests.exceptions.ChunkedEncodingError(f"{POOL} IncompleteRead"), "TrackingMore's answer could not be read"),
        (
            requests.exceptions.MissingSchema(f"Invalid URL 'nonsense/trackings?key={API_KEY}'"),
            "the TrackingMore base URL is not usable",
        ),
    ],
)
def test_transport_failures_say_what_failed_and_keep_the_detail_for_logs(
    make_client: ClientFactory, upstream: FakeUpstream, failure: Exception, expected: str
) -> None:
    upstream.fail("GET", USER_INFO, failure)

    with pytest.raises(TrackingMoreError) as caught:
        make_client(max_retries=0).get_user_info()

    error = caught.value
    assert error.message == expected
    assert not [word for word in UNSAFE if word in error.message]
    assert not [word for word in UNSAFE if word in str(error)]
    assert error.debug_detail is not None
    assert error.debug_detail.startswith(type(failure).__name__ + ": ")
    assert API_KEY not in error.debug_detail


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        (b"<html>maintenance</html>", 200, "TrackingMore answered HTTP 200 without a v2 JSON envelope"),
        (b'{"meta":{"code":200},"data":{"id":"9eee', 200, "TrackingMore answered HTTP 200 without a v2 JSON envelope"),
        (b'{"meta":{"code":200},"data":"a string"}', 200, "TrackingMore's answer had an unexpected shape"),
    ],
)
def test_unreadable_answers_say_so_and_keep_the_detail_for_logs(
    make_client: ClientFactory, upstream: FakeUpstream, body: bytes, status: int, expected: str
) -> None:
    upstream.reply_raw("GET", USER_INFO, body, status=status)

    with pytest.raises(TransportError) as caught:
        make_client(max_retries=0).get_user_info()

    assert caught.value.message == expected
    assert caught.value.debug_detail


def test_upstream_messages_are_kept_and_need_no_detail(make_client: ClientFactory, upstream: FakeUpstream) -> None:
    upstream.reply("GET", USER_INFO, None, code=4021, type="Bad Request", message="Your quota is used up.")

    with pytest.raises(QuotaExceededError) as caught:
        make_client(max_retries=0).get_user_info()

    assert (caught.value.message, caught.value.debug_detail) == ("Your quota is used up.", None)
