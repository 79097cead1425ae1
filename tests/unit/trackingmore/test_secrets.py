"""The API key never shows in reprs, exception text or logs; logs carry no customer e-mail or phone."""

from __future__ import annotations

import logging

import pytest
import requests

from tests.unit.trackingmore.fakes import API_KEY, FakeUpstream
from trackingmore import (
    AuthenticationError,
    CreateTrackingRequest,
    TrackingMoreClient,
    TransportError,
)

pytestmark = pytest.mark.unit

EMAIL = "buyer@example.com"
PHONE = "+15550100200"


def test_client_repr_hides_the_key(client: TrackingMoreClient) -> None:
    assert API_KEY not in repr(client)
    assert API_KEY not in str(client)
    assert API_KEY not in repr(vars(client))
    assert repr(client) == "TrackingMoreClient(base_url='https://api.trackingmore.com/v2', max_retries=3)"


def test_an_echoed_key_is_redacted_from_errors(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.reply("GET", "/trackings/getuserinfo", None, code=4001, message=f"API key {API_KEY} is invalid")

    with pytest.raises(AuthenticationError) as caught:
        client.get_user_info()

    for text in (str(caught.value), repr(caught.value), caught.value.message):
        assert API_KEY not in text
    assert "***" in caught.value.message


def test_transport_error_text_is_redacted(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.fail("GET", "/trackings/getuserinfo", requests.ConnectionError(f"proxy refused {API_KEY}"), times=4)

    with pytest.raises(TransportError) as caught:
        client.get_user_info()

    assert API_KEY not in str(caught.value)
    assert API_KEY not in repr(caught.value)


def test_logs_hold_no_key_email_or_phone(
    client: TrackingMoreClient, upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    request = CreateTrackingRequest(
        tracking_number="RR050349575PH", carrier_code="phlpost", customer_email=EMAIL, customer_phone=PHONE
    )
    created = {"tracking_number": "RR050349575PH", "carrier_code": "phlpost", "customer_email": EMAIL,
               "customer_phone": PHONE}  # fmt: skip
    upstream.reply("POST", "/trackings/post", None, code=503, message=f"busy {API_KEY}")
    upstream.fail("POST", "/trackings/post", requests.ReadTimeout("read timeout"))
    upstream.reply("POST", "/trackings/post", None, code=4016)
    upstream.reply("GET", "/trackings/phlpost/RR050349575PH", created)
    upstream.reply("POST", "/trackings/batch", None, code=500, message="oops")
    upstream.reply("GET", "/trackings/get", {"items": [created]})
    upstream.reply("GET", "/trackings/getuserinfo", None, code=4001, message=f"bad key {API_KEY}")

    with caplog.at_level(logging.DEBUG):
        client.create_tracking(request)
        client.batch_create_trackings([request])
        with pytest.raises(AuthenticationError):
            client.get_user_info()

    assert caplog.records, "the client logs its attempts"
    for secret in (API_KEY, EMAIL, PHONE):
        assert secret not in caplog.text
