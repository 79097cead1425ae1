"""v2 webhook signatures (HMAC-SHA256 of timeStr keyed with the account e-mail) and push parsing (reference §7.1)."""

from __future__ import annotations

import hmac
import json
from typing import Any

import pytest

from tests.unit.trackingmore.fakes import fixture
from trackingmore import WebhookPayloadError, WebhookPush
from trackingmore.webhooks import parse_push, sign, verify_signature

pytestmark = pytest.mark.unit

# Known answers computed outside the code under test (openssl dgst -sha256 -hmac <email>, and hashlib/hmac).
VECTORS = [
    ("1600000000", "ops@example.com", "f6646cadef7e53d2a270858cc92c543964a1b328a616db412d75263854a255d8"),
    ("1617262486", "shop@example.org", "361fff3670139d395f85447bf5a335ddd1e48b459ac92bd447efcf30b6d3be06"),
    ("", "ops@example.com", "a3d5a9c2df3221b03e4587eda13bc8913281bdb98c0bbb9689466d9aef7a9358"),
]
EMAIL = "ops@example.com"
TIME_STR = "1600000000"
SIGNATURE = VECTORS[0][2]


@pytest.mark.parametrize(("time_str", "email", "expected"), VECTORS)
def test_sign_known_answers(time_str: str, email: str, expected: str) -> None:
    assert sign(time_str, email) == expected


@pytest.mark.parametrize(("time_str", "email", "signature"), VECTORS)
def test_verify_known_answers(time_str: str, email: str, signature: str) -> None:
    assert verify_signature(time_str, signature, email) is True


def test_unix_seconds_as_int_sign_like_the_string() -> None:
    assert sign(1600000000, EMAIL) == SIGNATURE
    assert verify_signature(1600000000, SIGNATURE, EMAIL) is True


def test_uppercase_hex_verifies() -> None:
    assert verify_signature(TIME_STR, SIGNATURE.upper(), EMAIL) is True


@pytest.mark.parametrize(
    ("time_str", "signature", "email"),
    [
        (TIME_STR, SIGNATURE, "other@example.com"),  # wrong e-mail
        ("1600000001", SIGNATURE, EMAIL),  # tampered timeStr
        (TIME_STR, SIGNATURE[:-1] + "0", EMAIL),  # tampered signature
        (TIME_STR, SIGNATURE[:32], EMAIL),  # truncated
        (TIME_STR, "", EMAIL),
        (TIME_STR, "é" * 64, EMAIL),  # not ASCII
        (TIME_STR, SIGNATURE, ""),  # receiver not configured
    ],
)
def test_verify_refuses(time_str: str, signature: str, email: str) -> None:
    assert verify_signature(time_str, signature, email) is False


def test_verify_compares_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)

    assert verify_signature(TIME_STR, SIGNATURE, EMAIL) is True
    assert len(calls) == 1


# -- parse_push -------------------------------------------------------------------------------------------------------


def push_body(**overrides: Any) -> dict[str, Any]:
    # No v2 push example was published; this one follows reference §7.1: meta + a §6 tracking + verifyInfo.
    tracking = fixture("list_trackings_response.json")["data"]["items"][0]
    body: dict[str, Any] = {
        "meta": {"code": 200, "type": "Success", "message": "Success"},
        "data": tracking,
        "verifyInfo": {"timeStr": TIME_STR, "signature": SIGNATURE},
    }
    body.update(overrides)
    return body


def raw(document: Any) -> bytes:
    return json.dumps(document).encode()


def test_parse_a_realistic_push() -> None:
    push = parse_push(raw(push_body()))

    assert isinstance(push, WebhookPush)
    assert (push.time_str, push.signature) == (TIME_STR, SIGNATURE)
    assert push.meta is not None
    assert push.meta.code == 200
    assert (push.tracking.tracking_number, push.tracking.carrier_code, push.tracking.status) == (
        "RR050349575PH",
        "phlpost",
        "delivered",
    )
    assert push.tracking.destination_info is not None
    assert push.tracking.destination_info.trackinfo[0].date == "2015-11-02 17:11"
    assert verify_signature(push.time_str, push.signature, EMAIL) is True


def test_parse_accepts_int_time_str_bom_and_items_wrapper() -> None:
    tracking = {"tracking_number": "LB181539674SG", "carrier_code": "cainiao", "status": "transit"}
    body = push_body(data={"items": [tracking]}, verifyInfo={"timeStr": 1600000000, "signature": SIGNATURE})

    push = parse_push(b"\xef\xbb\xbf" + raw(body))

    assert push.time_str == "1600000000"
    assert push.tracking.tracking_number == "LB181539674SG"


def test_parse_without_meta() -> None:
    body = push_body()
    del body["meta"]

    assert parse_push(raw(body)).meta is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "not UTF-8 JSON"),
        (b"\xff\xfe", "not UTF-8 JSON"),
        (b"tracking=1", "not UTF-8 JSON"),
        (b"[]", "not a JSON object"),
        (raw({"data": {"tracking_number": "RR050349575PH", "carrier_code": "phlpost"}}), "no verifyInfo"),
        (raw(push_body(verifyInfo={"timeStr": TIME_STR})), "signature is missing"),
        (raw(push_body(verifyInfo={"signature": SIGNATURE, "timeStr": ""})), "timeStr is missing"),
        (raw(push_body(verifyInfo={"signature": SIGNATURE, "timeStr": True})), "timeStr is missing"),
        (raw(push_body(data=None)), "not a tracking object"),
        (raw(push_body(data=["x"])), "not a tracking object"),
        (raw(push_body(data={"items": []})), "not a tracking object"),
        (raw(push_body(data={"status": "delivered", "customer_email": "buyer@example.com"})), "no tracking_number"),
    ],
)
def test_bodies_that_are_not_pushes(body: bytes, reason: str) -> None:
    with pytest.raises(WebhookPayloadError, match=reason) as caught:
        parse_push(body)

    assert isinstance(caught.value, ValueError)
    assert "buyer@example.com" not in str(caught.value)
