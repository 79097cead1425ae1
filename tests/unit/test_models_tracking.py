"""The tracking domain: identity normalisation, request bounds, and the TrackingMore → resource mapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from shiptrack.models import (
    MAX_STORED_CHECKPOINTS,
    CreateContext,
    CreateTrackingRequest,
    CustomerInput,
    ListQuery,
    Tracking,
    TrackingRef,
    UpdateTrackingRequest,
    content_fingerprint,
    format_utc,
    normalize_carrier_code,
    normalize_tracking_number,
)
from shiptrack.upstream import checkpoints_from_upstream, local_event_time, tracking_from_upstream, upstream_version
from trackingmore.models import Tracking as UpstreamTracking

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 22, 12, 0, 0, 123456, tzinfo=UTC)


def upstream(**fields: Any) -> UpstreamTracking:
    data = {"id": "9eee8f3e935e2b6c4767345e599bf673", "tracking_number": "RR123456785CN", "carrier_code": "china-post"}
    data.update(fields)
    return UpstreamTracking.model_validate(data)


def events(*entries: tuple[str, str]) -> dict[str, Any]:
    return {"trackinfo": [{"Date": date, "StatusDescription": text, "Details": "Riga"} for date, text in entries]}


# ---------------------------------------------------------------------------------------------------------- identity


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("rr 123 456 785 cn", "RR123456785CN"), ("\tRR123456785cn\n", "RR123456785CN"), ("1z-999_aa", "1Z-999_AA")],
)
def test_tracking_numbers_are_upper_cased_without_whitespace(raw: str, expected: str) -> None:
    assert normalize_tracking_number(raw) == expected


def test_carrier_codes_are_lower_case() -> None:
    assert normalize_carrier_code(" China-Post ") == "china-post"


def test_one_normalisation_everywhere() -> None:
    # Given the same parcel written three ways
    ref = TrackingRef.of("China-Post", "rr 123456785 cn")
    request = CreateTrackingRequest(tracking_number="rr 123456785 cn", carrier_code="China-Post")

    # Then the identity, the request and the store key agree
    assert ref == TrackingRef("china-post", "RR123456785CN")
    assert (request.carrier_code, request.tracking_number) == (ref.carrier_code, ref.tracking_number)
    assert ref.key == "china-post#RR123456785CN"
    assert TrackingRef.from_key(ref.key) == ref


@pytest.mark.parametrize("key", ["", "nohash", "#RR1", "ups#"])
def test_malformed_store_keys_are_refused(key: str) -> None:
    with pytest.raises(ValueError, match="tracking key"):
        TrackingRef.from_key(key)


# ------------------------------------------------------------------------------------------------------------ times


def test_our_timestamps_are_utc_milliseconds_with_z() -> None:
    assert format_utc(datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=2)))) == (
        "2026-01-02T01:04:05.678Z"
    )
    with pytest.raises(ValueError, match="naive"):
        format_utc(datetime(2026, 1, 2))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2020-10-30 14:42:00", "2020-10-30T14:42:00"),
        ("2020-10-30 14:42", "2020-10-30T14:42:00"),
        ("2020-10-30", "2020-10-30"),
        ("yesterday", None),
        ("", None),
        (None, None),
    ],
)
def test_carrier_times_stay_local_without_an_offset(raw: str | None, expected: str | None) -> None:
    assert local_event_time(raw) == expected


# ----------------------------------------------------------------------------------------------------------- requests


def test_create_request_fills_gaps_from_the_batch_context() -> None:
    context = CreateContext(
        order_id="#1001",
        order_created_at=datetime(2026, 1, 1, tzinfo=UTC),
        customer=CustomerInput(name="Ada", email="ada@example.com"),
        destination_code="us",
    )
    request = CreateTrackingRequest(
        tracking_number="RR123456785CN", order_id="#own", customer=CustomerInput(phone="+1 555 010 9999")
    )

    merged = request.with_context(context)

    assert merged.order_id == "#own"  # the item's own value wins
    assert merged.destination_code == "US"
    assert merged.order_created_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert merged.customer == CustomerInput(name="Ada", email="ada@example.com", phone="+1 555 010 9999")


@pytest.mark.parametrize(
    "body",
    [
        {"tracking_number": "AB  CD"},  # 4 characters once spaces are gone
        {"tracking_number": "X" * 51},
        {"tracking_number": "RR123", "carrier_code": ""},
        {"tracking_number": "RR12345", "order_created_at": "2026-01-01T00:00:00"},
    ],
)
def test_create_request_bounds(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        CreateTrackingRequest.model_validate(body)


def test_update_request_needs_at_least_one_change() -> None:
    with pytest.raises(ValidationError, match="at least one field"):
        UpdateTrackingRequest.model_validate({})
    assert UpdateTrackingRequest(archived=False).archived is False


def test_list_query_window_and_filter_key() -> None:
    with pytest.raises(ValidationError, match="earlier"):
        ListQuery(created_after=NOW, created_before=NOW)
    assert ListQuery(status="transit", limit=5).filter_key() == ListQuery(status="transit", limit=50).filter_key()
    assert ListQuery(status="transit").filter_key() != ListQuery(status="pending").filter_key()


# ------------------------------------------------------------------------------------------------------------ mapping


def test_checkpoints_merge_origin_and_destination_newest_first() -> None:
    tracking = upstream(
        origin_info=events(("2026-01-01 08:00", "Accepted"), ("2026-01-02 09:30", "Departed")),
        destination_info={
            "trackinfo": [
                {"Date": "2026-01-05 10:00:00", "StatusDescription": "Delivered", "checkpoint_status": "delivered"},
                {"Date": "2026-01-02 09:30", "StatusDescription": "Departed", "Details": "Riga"},  # echo of origin
            ]
        },
    )

    checkpoints = checkpoints_from_upstream(tracking)

    assert [(c.time, c.description, c.source) for c in checkpoints] == [
        ("2026-01-05T10:00:00", "Delivered", "destination"),
        ("2026-01-02T09:30:00", "Departed", "origin"),
        ("2026-01-01T08:00:00", "Accepted", "origin"),
    ]
    assert checkpoints[0].status == "delivered"


def test_mapping_a_new_tracking() -> None:
    tracking = tracking_from_upstream(
        upstream(
            status="transit",
            substatus="transit001",
            customer_email="ada@example.com,bob@example.com",
            customer_name="null",
            original_country="China",
            destination_country="",
            itemTimeLength=12,
            lastEvent="Departed,Riga,2026-01-02 09:30",
            destination_code="us",
            origin_info=events(("2026-01-02 09:30", "Departed")),
        ),
        now=NOW,
    )

    assert tracking.ref == TrackingRef("china-post", "RR123456785CN")
    assert tracking.status == "transit"
    assert tracking.substatus == "transit001"
    assert tracking.customer.email == "ada@example.com"
    assert tracking.customer.name is None  # "null" is not a name
    assert tracking.origin_country == "China"
    assert tracking.destination_country is None
    assert tracking.transit_days == 12
    assert tracking.destination_code == "US"
    assert tracking.upstream_id == "9eee8f3e935e2b6c4767345e599bf673"
    assert tracking.created_at == tracking.last_checked_at == NOW.replace(microsecond=123000)
    dumped = tracking.model_dump(mode="json")
    assert dumped["created_at"] == "2026-11-22T12:00:00.123Z"
    assert dumped["checkpoints"][0]["time"] == "2026-01-02T09:30:00"


def test_mapping_onto_a_stored_tracking_keeps_our_metadata() -> None:
    base = Tracking(
        carrier_code="china-post",
        tracking_number="RR123456785CN",
        title="Blue mug",
        order_id="#1001",
        created_at=NOW - timedelta(days=1),
        updated_at=NOW - timedelta(days=1),
    )

    merged = tracking_from_upstream(
        upstream(status="pickup", title="null", order_id="#other", comment="left at door"), now=NOW, base=base
    )

    assert merged.status == "pickup"
    assert (merged.title, merged.order_id) == ("Blue mug", "#1001")  # ours win
    assert merged.comment == "left at door"  # upstream fills what we lack
    assert merged.created_at == base.created_at


def test_an_unknown_upstream_status_keeps_ours() -> None:
    base = Tracking(
        carrier_code="china-post", tracking_number="RR123456785CN", status="transit", created_at=NOW, updated_at=NOW
    )

    assert tracking_from_upstream(upstream(status="4"), now=NOW, base=base).status == "transit"
    assert tracking_from_upstream(upstream(status="weird"), now=NOW).status == "pending"


def test_checkpoints_are_capped_newest_kept() -> None:
    many = [(f"2026-01-01 {h:02d}:{m:02d}", f"event {h}:{m}") for h in range(24) for m in range(0, 60, 10)]

    tracking = tracking_from_upstream(upstream(origin_info=events(*many)), now=NOW)

    assert len(tracking.checkpoints) == MAX_STORED_CHECKPOINTS
    assert tracking.checkpoints[0].time == "2026-01-01T23:50:00"


def test_fingerprint_ignores_volatile_timestamps_only() -> None:
    tracking = tracking_from_upstream(upstream(status="transit"), now=NOW)
    later = tracking.model_copy(update={"last_checked_at": NOW + timedelta(hours=1), "updated_at": NOW})

    assert content_fingerprint(later) == content_fingerprint(tracking)
    assert content_fingerprint(tracking.model_copy(update={"status": "pickup"})) != content_fingerprint(tracking)


# ------------------------------------------------------------------------------------------------------------ version


def test_upstream_version_orders_by_update_time_then_latest_event_then_count() -> None:
    old = upstream(updated_at="2026-01-01T10:00:00+08:00", origin_info=events(("2026-01-05 10:00", "late event")))
    newer = upstream(updated_at="2026-01-01T03:00:00+00:00")  # one hour later in UTC, fewer events
    same_time_more_recent_event = upstream(
        updated_at="2026-01-01T02:00:00Z", origin_info=events(("2026-01-06 10:00", "x"))
    )
    same_time_more_events = upstream(
        updated_at="2026-01-01T02:00:00Z", origin_info=events(("2026-01-05 10:00", "a"), ("2026-01-05 10:00", "b"))
    )
    no_time = upstream()

    assert upstream_version(no_time) < upstream_version(old) < upstream_version(newer)
    assert upstream_version(old) < upstream_version(same_time_more_recent_event)
    assert upstream_version(old) < upstream_version(same_time_more_events)
    assert upstream_version(old) == upstream_version(upstream(**old.model_dump(by_alias=False)))
