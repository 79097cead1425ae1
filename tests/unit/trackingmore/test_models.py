"""Response models accept every documented quirk; request models refuse what upstream would refuse."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.unit.trackingmore.fakes import fixture
from trackingmore import (
    AirCargo,
    CreateTrackingRequest,
    RealtimeRequest,
    RemoteCheck,
    Tracking,
    TrackingPage,
    TrackingRef,
    TransitTime,
    TransitTimeQuery,
    UpdateTrackingRequest,
    UpdateTrackingsItem,
)
from trackingmore.models import ListTrackingsQuery, StatusCounts
from trackingmore.models.trackings import find_tracking

pytestmark = pytest.mark.unit

CST = timezone(timedelta(hours=8))


# -- list response (seed 002) -----------------------------------------------------------------------------------------


def test_list_page_from_seed_002() -> None:
    page = TrackingPage.model_validate(fixture("list_trackings_response.json")["data"])

    assert (page.page, page.limit, page.total, page.count) == (1, 25, 56, 2)  # total sent as "56", count absent
    assert page.has_more is True
    first, second = page.items
    assert first.id == "009e9a8a6450cb5ce4b53ac75674fe78"
    assert (first.tracking_number, first.carrier_code, first.status) == ("RR050349575PH", "phlpost", "delivered")
    assert first.created_at == datetime(2015, 10, 30, 11, 35, 16, tzinfo=CST)
    assert first.updated_at == datetime(2015, 11, 3, 13, 47, 20, tzinfo=CST)
    assert first.order_create_time == "2017-08-26 16:48"
    assert first.customer_email == []
    assert first.archived is False
    assert first.item_time_length == 12
    assert second.item_time_length is None
    assert second.archived is None
    assert first.original_country == "Philippines"
    assert first.last_event == "Delivered,RENTON, WA 98056,2015-11-02 17:11"
    assert first.last_update_time == "2015-11-02 17:11"
    assert first.model_extra == {"service_code": None}


def test_checkpoints_keep_carrier_local_dates_as_sent() -> None:
    tracking = TrackingPage.model_validate(fixture("list_trackings_response.json")["data"]).items[0]

    assert tracking.origin_info is not None
    assert tracking.destination_info is not None
    assert tracking.origin_info.weblink == "http://www.phlpost.gov.ph/"
    assert tracking.destination_info.carrier_code == "usps"
    newest = tracking.destination_info.trackinfo[0]
    assert (newest.date, newest.status_description, newest.details) == (
        "2015-11-02 17:11",
        "Delivered",
        "RENTON, WA 98056",
    )
    assert [c.date for c in tracking.origin_info.trackinfo] == ["2015-10-25 15:01", "2015-10-22 16:35"]


def test_checkpoint_fields_with_seconds_substatus_and_item_node() -> None:
    info = Tracking.model_validate(
        {
            "origin_info": {
                "ReferenceNumber": None,
                "ItemReceived": "2020-09-01 10:00:00",
                "ItemDispatched": "2020-09-02 10:00:00",
                "DepartfromAirport": "2020-09-03 10:00:00",
                "ArrivalfromAbroad": "2020-09-10 10:00:00",
                "CustomsClearance": "2020-09-11 10:00:00",
                "DestinationArrived": "2020-09-12 10:00:00",
                "trackinfo": [
                    {
                        "Date": "2020-10-30 14:42:00",
                        "StatusDescription": "Delivered, In/At Mailbox",
                        "Details": "SHREVEPORT,71118",
                        "checkpoint_status": "delivered",
                        "substatus": "delivered001",
                    },
                    {"Date": "2020-09-01 10:00:00", "StatusDescription": "Accepted", "ItemNode": "ItemReceived"},
                ],
            }
        }
    ).origin_info

    assert info is not None
    assert info.item_received == "2020-09-01 10:00:00"
    assert info.item_dispatched == "2020-09-02 10:00:00"
    assert info.depart_from_airport == "2020-09-03 10:00:00"
    assert info.arrival_from_abroad == "2020-09-10 10:00:00"
    assert info.customs_clearance == "2020-09-11 10:00:00"
    assert info.destination_arrived == "2020-09-12 10:00:00"
    assert info.reference_number is None
    delivered, accepted = info.trackinfo
    assert (delivered.date, delivered.checkpoint_status, delivered.substatus) == (
        "2020-10-30 14:42:00",
        "delivered",
        "delivered001",
    )
    assert accepted.item_node == "ItemReceived"
    assert accepted.details is None


def test_has_more_is_false_on_the_last_page() -> None:
    page = TrackingPage.model_validate({"page": 3, "limit": 25, "total": "56", "items": [{"id": "x"}] * 6})

    assert page.has_more is False


def test_has_more_without_total_uses_a_full_page() -> None:
    assert TrackingPage.model_validate({"page": 1, "limit": 2, "items": [{}, {}]}).has_more is True
    assert TrackingPage.model_validate({"page": 1, "limit": 2, "items": [{}]}).has_more is False


# -- quirks ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, "0", "", "  ", None, "null", "NULL"])
def test_order_create_time_unset_forms_are_none(value: object) -> None:
    assert Tracking.model_validate({"order_create_time": value}).order_create_time is None


@pytest.mark.parametrize("value", ["2017-08-26 16:48", "2017/8/27 16:51", "2018-04-01 10:08"])
def test_order_create_time_dates_stay_as_sent(value: str) -> None:
    assert Tracking.model_validate({"order_create_time": value}).order_create_time == value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a@example.com", ["a@example.com"]),
        (["a@example.com", "b@example.com"], ["a@example.com", "b@example.com"]),
        ("a@example.com, b@example.com", ["a@example.com", "b@example.com"]),
        (None, []),
        ("null", []),
        ("", []),
        ([], []),
        (["null", "c@example.com"], ["c@example.com"]),
        (42, []),
    ],
)
def test_customer_email_is_always_a_list(value: object, expected: list[str]) -> None:
    assert Tracking.model_validate({"customer_email": value}).customer_email == expected


def test_create_response_with_literal_null_strings() -> None:
    tracking = Tracking.model_validate(fixture("create_tracking_response.json")["data"])

    assert tracking.customer_name is None
    assert tracking.order_id is None
    assert tracking.customer_email == []
    assert tracking.order_create_time is None  # 0
    assert tracking.destination == ""
    assert tracking.status == "pending"
    assert tracking.created_at == datetime(2017, 5, 20, 17, 39, 21, tzinfo=CST)


def test_literal_null_inside_nested_objects() -> None:
    tracking = Tracking.model_validate(
        {
            "substatus": "null",
            "origin_info": {"weblink": "null", "trackinfo": [{"Date": "2020-01-01 10:00", "Details": "null"}]},
            "destination_info": "null",
        }
    )

    assert tracking.substatus is None
    assert tracking.origin_info is not None
    assert tracking.origin_info.weblink is None
    assert tracking.origin_info.trackinfo[0].details is None
    assert tracking.destination_info is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False), ("true", True), ("false", False), ("True", True), (1, True), (0, False)],
)
def test_archived_accepts_booleans_and_strings(value: object, expected: bool) -> None:
    assert Tracking.model_validate({"archived": value}).archived is expected


def test_update_response_from_seed_004_keeps_numeric_status_as_sent() -> None:
    tracking = Tracking.model_validate(fixture("update_tracking_response.json")["data"])

    assert tracking.archived is True  # "true"
    assert tracking.status == "7"
    assert tracking.has_known_status is False
    assert tracking.customer_phone == "+86123456789"
    assert tracking.destination_code == "CN"
    assert tracking.logistics_channel == "4PX挂号小包"


@pytest.mark.parametrize("status", ["pending", "notfound", "transit", "pickup", "delivered", "undelivered"])
def test_known_statuses(status: str) -> None:
    assert Tracking.model_validate({"status": status}).has_known_status is True


def test_unknown_status_and_fields_are_kept() -> None:
    tracking = Tracking.model_validate(
        {"status": "inforeceived", "service_code": None, "singed_by": "J. Doe", "weight": {"value": 1}}
    )

    assert tracking.status == "inforeceived"
    assert tracking.model_extra == {"service_code": None, "singed_by": "J. Doe", "weight": {"value": 1}}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2018-04-16T06:30:02+00:00", datetime(2018, 4, 16, 6, 30, 2, tzinfo=UTC)),
        ("2019-08-20T14:56:55+08:00", datetime(2019, 8, 20, 14, 56, 55, tzinfo=CST)),
        ("2019-08-20T06:56:55Z", datetime(2019, 8, 20, 6, 56, 55, tzinfo=UTC)),
        (1469097290, datetime(2016, 7, 21, 10, 34, 50, tzinfo=UTC)),
        ("2019-08-20 14:56:55", None),  # no offset: the zone is unknown, nothing is invented
        ("yesterday", None),
        ("", None),
        (None, None),
        (0, None),
    ],
)
def test_created_at_is_aware_or_none(value: object, expected: datetime | None) -> None:
    tracking = Tracking.model_validate({"created_at": value})

    assert tracking.created_at == expected
    if tracking.created_at is not None:
        assert tracking.created_at.tzinfo is not None


def test_wrong_shapes_degrade_to_defaults() -> None:
    tracking = Tracking.model_validate(
        {
            "tracking_number": 123456789,
            "itemTimeLength": "12",
            "stayTimeLength": "soon",
            "origin_info": "unavailable",
            "destination_info": {"trackinfo": "none"},
            "track_update": "maybe",
            "title": ["a"],
        }
    )

    assert tracking.tracking_number == "123456789"
    assert tracking.item_time_length == 12
    assert tracking.stay_time_length is None
    assert tracking.origin_info is None
    assert tracking.destination_info is not None
    assert tracking.destination_info.trackinfo == []
    assert tracking.track_update is None
    assert tracking.title is None


def test_realtime_live_capture() -> None:
    item = fixture("realtime_response.json")["data"]["items"][0]
    tracking = Tracking.model_validate(item)

    assert tracking.order_create_time is None  # ""
    assert tracking.destination_code == ""
    assert tracking.track_update is False
    assert (tracking.item_time_length, tracking.stay_time_length) == (36, 292)
    assert tracking.substatus == "delivered001"
    assert tracking.last_update_time == "2020-10-30 14:42:00"
    assert tracking.model_extra is not None
    assert "packageStatus" in tracking.model_extra


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8) | st.just("null"),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
TRACKING_KEYS = [
    *(f.validation_alias.choices[0] if f.validation_alias else name for name, f in Tracking.model_fields.items()),  # type: ignore[union-attr]
    "Date",
    "trackinfo",
    "unknown",
]


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(TRACKING_KEYS), JSON, max_size=12))
def test_any_json_values_never_fail_a_tracking(document: dict[str, Any]) -> None:
    Tracking.model_validate(document)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(["page", "limit", "total", "count", "items"]), JSON, max_size=5))
def test_any_json_values_never_fail_a_page(document: dict[str, Any]) -> None:
    TrackingPage.model_validate(document)


# -- other response models ------------------------------------------------------------------------------------------


def test_air_cargo_from_seed_001_is_flattened() -> None:
    cargo = AirCargo.model_validate(fixture("aircargo_response.json")["data"]["172-28891936"])

    assert (cargo.track_number, cargo.weight, cargo.piece, cargo.origin, cargo.destination) == (
        "172-28891936",
        "1981K",
        9,
        "XMN",
        "MXP",
    )
    assert cargo.status_number == 4
    assert [e.status for e in cargo.track_info] == ["DLV", "RCS", "ARR"]
    assert cargo.track_info[0].piece == "10"
    assert cargo.track_info[0].weight == ""
    assert set(cargo.flight_info) == {"CV7493", "C80066"}
    assert cargo.flight_info["CV7493"].depart_station == "XMN"
    assert cargo.flight_info["C80066"].arrival_time == "2018-04-13 20:21:00"
    assert cargo.flight_way_station == ["XMN", "LUX", "MXP"]
    assert cargo.last_event == "2018-04-17 09:38:00, Delivery, MXP, C80066"
    assert cargo.airline_info is not None
    assert cargo.airline_info.name == "Cargolux Airlines"
    assert cargo.airline_info.track_url == "https://cvtnt.champ.aero/trackntrace?awbnumber=172-28891936"


def test_air_cargo_without_flights_sends_an_empty_list() -> None:
    cargo = AirCargo.model_validate({"track_number": "172-1", "return_data": {"flight_info": []}})

    assert cargo.flight_info == {}


def test_status_counts_accept_strings_and_default_to_zero() -> None:
    counts = StatusCounts.model_validate({"pending": "3", "delivered": 10, "transit": None, "new": 1})

    assert (counts.pending, counts.delivered, counts.transit, counts.expired) == (3, 10, 0, 0)
    assert counts.total == 13


def test_transit_time_percentages() -> None:
    stats = TransitTime.model_validate(
        {"carrier_code": "dhl", "original": "CN", "destination": "US", "total": "120", "delivered": 118,
         "range1": "35.5%", "range3": 40, "range4": "", "range5": None}
    )  # fmt: skip

    assert (stats.total, stats.delivered, stats.range1, stats.range3, stats.range4, stats.range5) == (
        120,
        118,
        35.5,
        40.0,
        None,
        None,
    )


# -- request models ---------------------------------------------------------------------------------------------------


def test_update_request_serialises_like_seed_004() -> None:
    request = UpdateTrackingRequest(
        title="new title",
        logistics_channel="4PX挂号小包",
        customer_name="sandy",
        customer_email="[email protected]",
        order_id="986574521568",
        destination_code="CN",
        archived=True,
        status=7,
    )

    assert request.to_payload() == fixture("update_tracking_request.json")


def test_create_request_uses_upstream_names_and_omits_unset_fields() -> None:
    request = CreateTrackingRequest(
        tracking_number="RR050349575PH",
        carrier_code="china-post",
        special_number_destination="UK",
        tracking_ship_date=date(2018, 10, 1),
        order_create_time="2018-05-11 12:00",
        lang="en",
    )

    assert request.to_payload() == {
        "tracking_number": "RR050349575PH",
        "carrier_code": "china-post",
        "specialNumberDestination": "UK",
        "tracking_ship_date": "20181001",
        "order_create_time": "2018-05-11 12:00",
        "lang": "en",
    }


def test_realtime_request_sends_order_not_order_id() -> None:
    request = RealtimeRequest(tracking_number="LB181539674SG", carrier_code="cainiao", order="#123")

    assert request.to_payload() == {"tracking_number": "LB181539674SG", "carrier_code": "cainiao", "order": "#123"}
    with pytest.raises(ValidationError):
        RealtimeRequest(tracking_number="LB181539674SG", carrier_code="cainiao", order_id="#123")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "fields",
    [
        {"tracking_number": "1234", "carrier_code": "ups"},  # fewer than 5 characters
        {"tracking_number": "1Z 999", "carrier_code": "ups"},  # space
        {"tracking_number": "1Z999AA1", "carrier_code": "u.p.s"},
        {"tracking_number": "1Z999AA1", "carrier_code": ""},
        {"tracking_number": "1Z999AA1", "carrier_code": "ups", "unknown": "x"},
        {"tracking_number": "1Z999AA1", "carrier_code": "ups", "destination_code": "USA"},
        {"tracking_number": "1Z999AA1", "carrier_code": "ups", "lang": "EN"},
        {"tracking_number": "1Z999AA1", "carrier_code": "ups", "tracking_ship_date": "2018-10-01"},
        {"tracking_number": 12345678, "carrier_code": "ups"},
    ],
)
def test_create_request_refuses_invalid_input(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        CreateTrackingRequest(**fields)


def test_official_sdk_rules_are_case_insensitive() -> None:
    request = CreateTrackingRequest(tracking_number="lx123445678cn", carrier_code="China-EMS_2")

    assert request.carrier_code == "China-EMS_2"


@pytest.mark.parametrize("fields", [{"status": 5}, {"status": "7"}, {"archived": "true"}, {"comment": "x"}])
def test_update_request_refuses_invalid_input(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        UpdateTrackingRequest(**fields)


def test_update_many_item_and_small_requests() -> None:
    item = UpdateTrackingsItem(tracking_number="RR050349575PH", carrier_code="phlpost", status=4, archived=False)

    assert item.to_payload() == {
        "tracking_number": "RR050349575PH",
        "carrier_code": "phlpost",
        "status": 4,
        "archived": "false",
    }
    assert TrackingRef(carrier_code="ups", tracking_number="1Z999AA1").to_payload() == {
        "carrier_code": "ups",
        "tracking_number": "1Z999AA1",
    }
    assert RemoteCheck(country="Japan", postcode="7621094").to_payload() == {"country": "Japan", "postcode": "7621094"}
    assert TransitTimeQuery(carrier_code="dhl", original="CN", destination="US").to_payload() == {
        "carrier_code": "dhl",
        "original": "CN",
        "destination": "US",
    }
    with pytest.raises(ValidationError):
        RemoteCheck(country="", postcode="1")
    with pytest.raises(ValidationError):
        TransitTimeQuery(carrier_code="dhl", original="China", destination="US")


def test_requests_are_immutable() -> None:
    request = TrackingRef(carrier_code="ups", tracking_number="1Z999AA1")

    with pytest.raises(ValidationError):
        request.carrier_code = "dhl"  # type: ignore[misc]


# -- list filters -----------------------------------------------------------------------------------------------------


def test_list_filters_become_query_parameters() -> None:
    query = ListTrackingsQuery.model_validate(
        {
            "page": 2,
            "limit": 2000,
            "status": "delivered",
            "created_at_min": datetime(2015, 9, 3, 21, 6, 1, tzinfo=UTC),
            "created_at_max": 1446949161,
            "update_time_min": datetime(2015, 9, 4, 5, 6, 1, tzinfo=CST),
            "lang": "en",
            "numbers": ["LX123445678CN", "LX456789123CN"],
            "orders": ["1234456", "456789"],
            "archived": False,
        }
    )

    assert query.to_params() == {
        "page": "2",
        "limit": "2000",
        "status": "delivered",
        "created_at_min": "1441314361",
        "created_at_max": "1446949161",
        "update_time_min": "1441314361",
        "lang": "en",
        "numbers": "LX123445678CN,LX456789123CN",
        "orders": "1234456,456789",
        "archived": "false",
    }


@pytest.mark.parametrize(
    "filters",
    [
        {"limit": 2001},
        {"limit": 0},
        {"page": 0},
        {"numbers": [f"LX{i:09d}CN" for i in range(41)]},
        {"orders": [str(i) for i in range(41)]},
        {"orders": ["a,b"]},
        {"numbers": "LX123445678CN"},
        {"status": "lost"},
        {"created_at_min": datetime(2020, 1, 1)},  # naive
        {"created_at_min": True},
        {"archived": "true"},
        {"color": "red"},
    ],
)
def test_list_filters_refuse_invalid_values(filters: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ListTrackingsQuery.model_validate(filters)


# -- the tracking in a response, whatever its shape ------------------------------------------------------------------

TRACKING = {"tracking_number": "LB181539674SG", "carrier_code": "cainiao"}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (TRACKING, TRACKING),  # create, get, update, a push
        ({"items": [TRACKING]}, TRACKING),  # realtime (reference §3.9)
        ({"items": ["junk", TRACKING]}, TRACKING),
        ([TRACKING], TRACKING),
        ({**TRACKING, "items": [{"tracking_number": "other"}]}, {**TRACKING, "items": [{"tracking_number": "other"}]}),
        ({"id": "abc"}, {"id": "abc"}),  # a sparse answer is still the answer
        ({"items": []}, None),
        ([], None),
        ("garbled", None),
        (None, None),
    ],
)
def test_find_tracking_knows_every_shape_and_prefers_a_bare_tracking(data: object, expected: object) -> None:
    assert find_tracking(data) == expected
