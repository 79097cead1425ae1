"""Webhook authentication: path token, v2 signature, timeStr tolerance in both directions (reference §7.1)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shiptrack.errors import BadRequestError, InvalidJsonError, UnauthorizedError
from shiptrack.services.webhooks import authenticate_push, parse_time_str
from trackingmore.webhooks import sign

pytestmark = pytest.mark.unit

EMAIL = "merchant@example.com"
TOKEN = "s3cr3t-path-token-0123456789"
NOW = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)
TOLERANCE = 300


def body(time_str: str | int, signature: str | None = None, data: object = None) -> bytes:
    tracking = data if data is not None else {"tracking_number": "RR123456785CN", "carrier_code": "china-post"}
    signature = sign(str(time_str), EMAIL) if signature is None else signature
    return json.dumps(
        {"meta": {"code": 200}, "data": tracking, "verifyInfo": {"timeStr": time_str, "signature": signature}}
    ).encode()


def authenticate(
    raw: bytes, token: str = TOKEN, *, now: datetime = NOW, expected: tuple[str, ...] = (TOKEN,)
) -> object:
    return authenticate_push(raw, token, tokens=expected, account_email=EMAIL, now=now, tolerance_seconds=TOLERANCE)


def at(offset_seconds: float) -> str:
    return str(int((NOW + timedelta(seconds=offset_seconds)).timestamp()))


def test_a_signed_fresh_push_is_accepted() -> None:
    push = authenticate(body(at(-10)))
    assert push.tracking.tracking_number == "RR123456785CN"  # type: ignore[attr-defined]


def test_wrong_token_is_401_before_the_body_is_read() -> None:
    with pytest.raises(UnauthorizedError):
        authenticate(b"not even json", token="guessed-token")


def test_an_unconfigured_token_never_matches_an_empty_path_segment() -> None:
    with pytest.raises(UnauthorizedError):
        authenticate(body(at(0)), token="", expected=("",))


def test_the_previous_token_is_accepted_during_a_rotation_and_no_other() -> None:
    rotating = ("new-token-after-rotation", TOKEN)

    assert authenticate(body(at(0)), token=TOKEN, expected=rotating)
    assert authenticate(body(at(0)), token="new-token-after-rotation", expected=rotating)
    with pytest.raises(UnauthorizedError):
        authenticate(body(at(0)), token="some-other-token", expected=rotating)


def test_a_signature_made_with_another_key_is_401() -> None:
    with pytest.raises(UnauthorizedError, match="signature"):
        authenticate(body(at(0), signature=sign(at(0), "attacker@example.com")))


def test_a_tampered_time_str_breaks_the_signature() -> None:
    # The signature of one time, sent with a fresher time: exactly what a replay with a bumped timeStr looks like.
    with pytest.raises(UnauthorizedError, match="signature"):
        authenticate(body(at(-1), signature=sign(at(-3600), EMAIL)))


@pytest.mark.parametrize("offset", [-(TOLERANCE + 1), TOLERANCE + 1, -86_400, 86_400])
def test_a_time_outside_the_tolerance_either_way_is_a_replay(offset: int) -> None:
    with pytest.raises(UnauthorizedError, match="replay"):
        authenticate(body(at(offset)))


@pytest.mark.parametrize("offset", [-TOLERANCE, TOLERANCE, 0])
def test_the_tolerance_bounds_themselves_are_accepted(offset: int) -> None:
    authenticate(body(at(offset)))


@given(st.integers(min_value=-3 * TOLERANCE, max_value=3 * TOLERANCE))
def test_skew_is_judged_symmetrically(offset: int) -> None:
    raw = body(at(offset))
    if abs(offset) <= TOLERANCE:
        authenticate(raw)
    else:
        with pytest.raises(UnauthorizedError):
            authenticate(raw)


def test_milliseconds_are_understood() -> None:
    millis = str(int(NOW.timestamp() * 1000) - 2000)
    authenticate(body(millis))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1795356000", datetime(2026, 11, 22, 14, 0, tzinfo=UTC)),
        ("1795356000000", datetime(2026, 11, 22, 14, 0, tzinfo=UTC)),
        ("2026-11-22T22:00:00+08:00", datetime(2026, 11, 22, 14, 0, tzinfo=UTC)),
        ("2026-11-22 14:00:00", None),  # no offset: the zone would be a guess
        ("yesterday", None),
        ("-5", None),
        ("nan", None),
    ],
)
def test_parse_time_str(value: str, expected: datetime | None) -> None:
    assert parse_time_str(value) == expected


def test_an_unparseable_time_is_401_even_when_signed() -> None:
    with pytest.raises(UnauthorizedError):
        authenticate(body("2026-11-22 14:00:00"))


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"[]",
        json.dumps({"data": {"tracking_number": "RR123456785CN", "carrier_code": "china-post"}}).encode(),
        json.dumps({"verifyInfo": {"timeStr": "1", "signature": "ab"}, "data": {"status": "transit"}}).encode(),
    ],
)
def test_a_body_that_is_not_a_push_is_400(raw: bytes) -> None:
    with pytest.raises(BadRequestError):
        authenticate(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 1000 + b"]" * 1000,  # a 2 KB body that used to be a RecursionError (500)
        b'{"data": ' + b'{"a": ' * 40 + b"1" + b"}" * 40 + b"}",
        b'{"verifyInfo": {}, "verifyInfo": {}}',
        b'{"data": NaN}',
        b'{"data": "\\ud800"}',
    ],
    ids=["1000-deep", "40-deep", "duplicate-member", "nan", "lone-surrogate"],
)
def test_a_body_that_cannot_be_read_safely_is_400_invalid_json(raw: bytes) -> None:
    with pytest.raises(InvalidJsonError):
        authenticate(raw)


def test_a_hostile_body_with_a_wrong_token_is_still_401() -> None:
    # The token is checked before the body is read: a scanner learns nothing about what the body may hold.
    with pytest.raises(UnauthorizedError):
        authenticate(b"[" * 1000 + b"]" * 1000, token="guessed-token")
