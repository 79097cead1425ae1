"""Storefront webhooks, pure rules: Standard Webhooks signatures (checked with the reference library), the SSRF
address and URL rules, the retry schedule, and sortable ids."""

from __future__ import annotations

import base64
import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from shiptrack.data.sortable_ids import derived_entropy, sortable_id
from shiptrack.errors import WebhookUrlNotAllowedError
from shiptrack.services.webhook_delivery import MAX_ATTEMPTS, RetryPolicy
from shiptrack.services.webhook_signing import delivery_headers, new_secret, sign
from shiptrack.services.webhook_urls import address_refusal, check_url

pytestmark = pytest.mark.unit


def now() -> int:
    """Receivers refuse timestamps over 5 minutes old: take it when the test runs, not at import."""
    return int(datetime.now(UTC).timestamp())


BODY = '{"type":"tracking.created","timestamp":"2026-11-22T14:08:28.869Z","data":{"a":1}}'


# -- signing ---------------------------------------------------------------------------------------------------------


def test_a_secret_is_whsec_and_32_random_bytes() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert new_secret() != secret


def test_our_signature_is_the_reference_libraries_signature() -> None:
    secret, stamp_now = new_secret(), now()
    stamp = datetime.fromtimestamp(stamp_now, UTC)
    assert sign(secret, "msg_1", stamp_now, BODY) == Webhook(secret).sign("msg_1", stamp, BODY)


def test_the_headers_verify_and_a_change_of_id_time_or_body_does_not() -> None:
    secret, stamp_now = new_secret(), now()
    headers = delivery_headers([secret], "evt-1", stamp_now, BODY)
    assert Webhook(secret).verify(BODY, headers) == {"type": "tracking.created", **{
        "timestamp": "2026-11-22T14:08:28.869Z", "data": {"a": 1}}}  # fmt: skip
    for changed in ({"webhook-id": "evt-2"}, {"webhook-timestamp": str(stamp_now - 1)}):
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(BODY, {**headers, **changed})
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace("1", "2"), headers)


def test_two_secrets_give_two_signatures_each_verifying() -> None:
    new, old = new_secret(), new_secret()
    headers = delivery_headers([new, old], "evt-1", now(), BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(new).verify(BODY, headers)
    Webhook(old).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)


def test_a_stale_timestamp_is_refused_by_receivers() -> None:
    secret = new_secret()
    headers = delivery_headers([secret], "evt-1", now() - 3600, BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, headers)


# -- SSRF: addresses -------------------------------------------------------------------------------------------------

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("::1", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.5.4", "private"),
    ("192.168.1.1", "private"),
    ("100.64.0.1", "not a public"),
    ("169.254.169.254", "metadata"),
    ("169.254.170.2", "metadata"),
    ("169.254.1.1", "link-local"),
    ("fe80::1", "link-local"),
    ("fd00:ec2::254", "metadata"),
    ("fc00::5", "private"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("240.0.0.1", "private"),
    ("255.255.255.255", "private"),
    ("192.0.2.10", "private"),
    ("198.18.0.1", "private"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:10.1.2.3", "private"),
    ("::ffff:169.254.169.254", "metadata"),
    ("64:ff9b::a9fe:a9fe", "metadata"),
    ("2002:7f00:1::", "loopback"),
    ("2002:c0a8:101::", "private"),
    ("2001:db8::1", "private"),
]
ALLOWED = ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:93.184.216.34", "64:ff9b::808:808"]


@pytest.mark.parametrize(("address", "reason"), REFUSED)
def test_addresses_a_webhook_is_never_sent_to(address: str, reason: str) -> None:
    refusal = address_refusal(ipaddress.ip_address(address))
    assert refusal is not None
    assert reason in refusal


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is None


def test_loopback_is_allowed_only_when_asked_and_nothing_else_with_it() -> None:
    assert address_refusal(ipaddress.ip_address("127.0.0.1"), allow_loopback=True) is None
    assert address_refusal(ipaddress.ip_address("::1"), allow_loopback=True) is None
    for other in ("10.0.0.1", "169.254.169.254", "0.0.0.0", "fe80::1"):
        assert address_refusal(ipaddress.ip_address(other), allow_loopback=True) is not None


# -- SSRF: URLs ------------------------------------------------------------------------------------------------------


def resolver(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("no such host")
        return table[host]

    return resolve


DNS = resolver(
    {
        "shop.example": ["93.184.216.34"],
        "dual.example": ["93.184.216.34", "2606:4700:4700::1111"],
        "mixed.example": ["93.184.216.34", "10.0.0.7"],
        "rebind.example": ["169.254.169.254"],
        "localhost": ["127.0.0.1", "::1"],
    }
)


def test_a_public_https_url_passes_with_its_checked_addresses() -> None:
    target = check_url("https://shop.example:8443/hooks?x=1", resolver=DNS)
    assert (target.host, target.port, target.path, target.address) == (
        "shop.example",
        8443,
        "/hooks?x=1",
        "93.184.216.34",
    )
    assert check_url("https://dual.example", resolver=DNS).addresses == ("93.184.216.34", "2606:4700:4700::1111")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://shop.example/hooks", "https"),
        ("ftp://shop.example/", "https"),
        ("https://user:pw@shop.example/", "credentials"),
        ("https://shop.example/#frag", "fragment"),
        ("https:///nohost", "no host"),
        ("https://shop.example:99999/", "not valid"),
        ("https://sho p.example/", "whitespace"),
        ("https://nowhere.example/", "does not resolve"),
        ("https://mixed.example/", "10.0.0.7, a private address"),
        ("https://rebind.example/", "metadata"),
        ("https://127.0.0.1/", "loopback"),
        ("https://[::1]/", "loopback"),
        ("https://[::ffff:7f00:1]/", "loopback"),
        ("https://localhost/", "loopback"),
        ("https://169.254.169.254/latest/meta-data", "metadata"),
    ],
)
def test_urls_that_are_refused(url: str, why: str) -> None:
    with pytest.raises(WebhookUrlNotAllowedError) as caught:
        check_url(url, resolver=DNS)
    assert why in caught.value.errors[0].msg
    assert caught.value.status == 422
    assert caught.value.errors[0].loc == ["body", "url"]


@pytest.mark.parametrize("host", ["2130706433", "0x7f.0.0.1", "127.1", "017700000001", "localhost"])
def test_odd_spellings_of_loopback_are_caught_by_checking_what_they_resolve_to(host: str) -> None:
    with pytest.raises(WebhookUrlNotAllowedError) as caught:
        check_url(f"https://{host}/hooks")  # the system resolver: numeric forms need no network
    assert "loopback" in caught.value.errors[0].msg


def test_http_is_for_loopback_receivers_only_and_only_when_allowed() -> None:
    assert check_url("http://127.0.0.1:8080/h", allow_loopback=True, resolver=DNS).address == "127.0.0.1"
    assert check_url("http://localhost:8080/h", allow_loopback=True, resolver=DNS).scheme == "http"
    with pytest.raises(WebhookUrlNotAllowedError):
        check_url("http://shop.example/h", allow_loopback=True, resolver=DNS)
    with pytest.raises(WebhookUrlNotAllowedError):
        check_url("http://127.0.0.1:8080/h", resolver=DNS)
    with pytest.raises(WebhookUrlNotAllowedError):
        check_url("https://10.0.0.1/h", allow_loopback=True, resolver=DNS)


# -- retries and ids -------------------------------------------------------------------------------------------------


def test_the_retry_schedule_grows_over_about_a_day_then_gives_up() -> None:
    policy = RetryPolicy()
    delays = [policy.delay_after(n) for n in range(1, MAX_ATTEMPTS + 1)]
    assert delays == [5, 300, 1800, 7200, 18000, 36000, 36000, None]
    assert timedelta(hours=24) < timedelta(seconds=sum(d for d in delays if d)) < timedelta(hours=30)
    assert all(d is None or d <= 12 * 3600 for d in delays)  # SQS visibility limit per receive


def test_the_scaled_schedule_keeps_its_shape() -> None:
    assert [RetryPolicy(0.01).delay_after(n) for n in range(1, MAX_ATTEMPTS + 1)] == [1, 3, 18, 72, 180, 360, 360, None]
    assert [RetryPolicy(0).delay_after(n) for n in range(1, 4)] == [0, 0, 0]


def test_sortable_ids_sort_by_time_and_derived_ones_repeat() -> None:
    early = datetime(2026, 11, 22, 14, 8, 28, 869000, tzinfo=UTC)
    later = early + timedelta(milliseconds=1)
    assert sortable_id("ep_", early) < sortable_id("ep_", later)
    assert len(sortable_id("ep_", early)) == 3 + 26
    same = derived_entropy("event", "endpoint")
    assert sortable_id("dlv_", early, same) == sortable_id("dlv_", early, same)
    assert sortable_id("dlv_", early, same) != sortable_id("dlv_", early, derived_entropy("event", "other"))
