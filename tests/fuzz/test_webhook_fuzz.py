"""Hostile webhook bodies (Hypothesis) through WebhookFunction on moto: 4xx, never a 5xx, never an unauthorised change.

Three kinds of input, from least to most trusted:

1. anything at all (bytes, text, JSON values, mangled pushes) on the right token: 400 or 401, nothing changes;
2. correctly signed, fresh pushes whose ``data`` is hostile (wrong types, huge or odd text, out-of-range times,
   broken events) naming trackings we do not hold: 200 ``unknown`` or 400, nothing is created or changed;
3. the same for the one tracking we hold: 200 or 400, never a 5xx, and what is stored stays as it was: the push
   only names the tracking, and TrackingMore's copy (read at most once per push) is what would be applied.

"Nothing changes" compares both tables and the sandbox's account before and after each example.
DynamoDB's key-size limit on reads is enforced (moto only checks it on writes; see ``dynamodb_key_limits``).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shiptrack.data.trackings import TrackingsRepository
from shiptrack.models import Tracking, TrackingRef
from tests.reliability.harness import EMAIL, TOKEN, System
from trackingmore.webhooks import sign

pytestmark = [pytest.mark.fuzz, pytest.mark.usefixtures("dynamodb_key_limits")]

HELD = ("china-post", "RR123456785CN")
fuzz_settings = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture
def held(system: System) -> System:
    """One tracking we hold, as a signed push would find it."""
    now = datetime.now(UTC) - timedelta(days=1)
    tracking = Tracking(
        carrier_code=HELD[0],
        tracking_number=HELD[1],
        order_id="SO-1",
        created_at=now,
        updated_at=now,
        last_changed_at=now,
    )
    assert TrackingsRepository(system.aws.table()).put_new(tracking).created
    return system


# ------------------------------------------------------------------------------------------------------- strategies

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
odd_text = st.one_of(
    st.text(max_size=60),
    st.integers(2000, 5000).map(lambda n: "9" * n),  # around and past DynamoDB's 2048-byte key limit
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=20),
    st.sampled_from(["", " ", "null", "NULL", "0", "#", "a#b", "../../etc", "\u0000", "🚚" * 3]),
)
# Instants TrackingMore might send and ones it should never send: offsets at the edge of datetime's range.
instants = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.sampled_from(
        [
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-05:00",
            "2026-11-22T14:00:00",  # no offset
            "2026-02-30T10:00:00+08:00",
            "not a time",
            "",
        ]
    ),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False),
)
event_time = st.one_of(
    st.datetimes().map(lambda d: f"{d:%Y-%m-%d %H:%M:%S}"),
    st.sampled_from(["", "0000-00-00 00:00:00", "9999-99-99 99:99", "2026-11-22", "yesterday"]),
    st.text(max_size=30),
)
checkpoint = st.fixed_dictionaries(
    {},
    optional={
        "Date": event_time | json_scalars,
        "StatusDescription": odd_text | json_scalars,
        "Details": odd_text,
        "checkpoint_status": st.sampled_from(["transit", "delivered", "bogus", ""]) | json_scalars,
        "substatus": odd_text | json_scalars,
    },
)
carrier_info = st.fixed_dictionaries(
    {},
    optional={
        "trackinfo": st.lists(checkpoint | json_values, max_size=6) | json_scalars,
        "ItemReceived": event_time | json_scalars,
        "carrier_code": odd_text,
    },
)
tracking_fields = {
    "status": st.sampled_from(["pending", "transit", "delivered", "exception", "expired", "bogus", ""]) | json_values,
    "substatus": odd_text | json_scalars,
    "updated_at": instants,
    "created_at": instants,
    "order_create_time": instants | odd_text,
    "title": odd_text | json_values,
    "order_id": odd_text | json_scalars,
    "customer_email": odd_text | st.lists(odd_text, max_size=3) | json_scalars,
    "customer_name": odd_text,
    "destination_code": odd_text,
    "archived": st.sampled_from([True, False, "true", "false", "yes", 2, None]),
    "itemTimeLength": st.integers() | odd_text | json_scalars,
    "origin_info": carrier_info | json_scalars,
    "destination_info": carrier_info | json_scalars,
    "lastEvent": odd_text | json_scalars,
    "id": odd_text | json_scalars,
}


def tracking_data(identity: st.SearchStrategy[tuple[Any, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.tuples(identity, st.fixed_dictionaries({}, optional=tracking_fields)).map(
        lambda pair: {"carrier_code": pair[0][0], "tracking_number": pair[0][1], **pair[1]}
    )


def signed(data: Any, *, sent_at: datetime | None = None) -> str:
    time_str = str(int((sent_at or datetime.now(UTC)).timestamp()))
    verify = {"timeStr": time_str, "signature": sign(time_str, EMAIL)}
    return json.dumps({"meta": {"code": 200, "type": "Success"}, "data": data, "verifyInfo": verify})


def mangled_push() -> st.SearchStrategy[str]:
    """A genuine-looking push with one thing wrong: signature, time, shape."""
    now = datetime.now(UTC)
    good = {"tracking_number": HELD[1], "carrier_code": HELD[0], "status": "delivered"}
    return st.one_of(
        # wrong signature (or none), right time
        st.text(max_size=70).map(
            lambda sig: json.dumps(
                {"data": good, "verifyInfo": {"timeStr": str(int(now.timestamp())), "signature": sig}}
            )
        ),
        # a real signature of a time outside the tolerance, either way
        st.integers(301, 10**9).flatmap(
            lambda skew: st.sampled_from([-skew, skew]).map(lambda s: signed(good, sent_at=now + timedelta(seconds=s)))
        ),
        # a real signature, but of another account
        st.just(
            json.dumps({"data": good, "verifyInfo": {"timeStr": "1", "signature": sign("1", "other@example.com")}})
        ),
        # verifyInfo or data of the wrong shape
        json_values.map(lambda v: json.dumps({"data": good, "verifyInfo": v})),
        json_values.map(lambda v: json.dumps({"data": v, "verifyInfo": {"timeStr": "x", "signature": "y"}})),
    )


any_body = st.one_of(
    st.binary(max_size=300).map(lambda b: ("b64", base64.b64encode(b).decode())),
    st.text(max_size=300).map(lambda t: ("text", t)),
    json_values.map(lambda v: ("text", json.dumps(v))),
    mangled_push().map(lambda t: ("text", t)),
)


# ------------------------------------------------------------------------------------------------------------ tests


# One path segment (API Gateway routes nothing else here); the resolver may not route every character (404).
tokens = st.one_of(st.just(TOKEN), odd_text.filter(lambda t: t != TOKEN and t.strip() and "/" not in t))


@fuzz_settings
@given(body=any_body, token=tokens)
def test_unauthenticated_or_unreadable_pushes_are_refused_and_change_nothing(
    held: System, body: tuple[str, str], token: str
) -> None:
    kind, payload = body
    before = held.snapshot()

    reply = held.webhook_raw(payload, token=token, base64_body=kind == "b64")

    assert reply.status in ((400, 401) if token == TOKEN else (400, 401, 404)), (reply.status, reply.body)
    assert reply.headers.get("Content-Type") == "application/problem+json"
    assert reply.body["status"] == reply.status
    assert held.snapshot() == before


def not_held(identity: tuple[Any, Any]) -> bool:
    carrier, number = identity
    if not isinstance(carrier, str) or not isinstance(number, str):
        return True
    return (carrier.strip().lower(), "".join(number.split()).upper()) != HELD


unknown_identity = st.tuples(odd_text | json_scalars, odd_text | json_scalars).filter(not_held)


@fuzz_settings
@given(data=tracking_data(unknown_identity))
def test_signed_hostile_pushes_for_trackings_we_do_not_hold_create_nothing(held: System, data: dict[str, Any]) -> None:
    before = held.snapshot()

    reply = held.webhook_raw(signed(data))

    assert reply.status in (200, 400), (reply.status, reply.body)
    if reply.status == 200:
        assert reply.body["outcome"] == "unknown"
    assert held.snapshot() == before


held_identity = st.sampled_from([HELD, (" China-Post ", "rr 1234 5678 5cn")])


@fuzz_settings
@given(data=tracking_data(held_identity))
def test_signed_hostile_pushes_for_a_tracking_we_hold_never_fail_and_leave_a_valid_tracking(
    held: System, data: dict[str, Any]
) -> None:
    previous = held.store.get(TrackingRef(*HELD))
    assert previous is not None
    reads = held.calls("GET /trackings/{carrier_code}/{tracking_number}")

    reply = held.webhook_raw(signed(data))

    assert reply.status in (200, 400), (reply.status, reply.body)
    served = held.api("GET", f"/trackings/{HELD[0]}/{HELD[1]}")
    assert served.status == 200, served.body
    Tracking.model_validate(served.body)
    if previous.status == "delivered":
        assert served.body["status"] == "delivered"
    # A signed push reads the tracking from TrackingMore (once at most) and never writes there; the sandbox does not
    # hold this one (4031), so nothing the body says reaches the store.
    assert held.upstream() == []
    assert held.calls("GET /trackings/{carrier_code}/{tracking_number}") - reads <= 1
    assert held.store.get(TrackingRef(*HELD)) == previous
