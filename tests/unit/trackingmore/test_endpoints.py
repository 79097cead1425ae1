"""Every endpoint: the request as documented (method, path, query, body, headers) and the parsed answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from tests.unit.trackingmore.fakes import API_KEY, FakeUpstream, RecordedRequest, fixture
from trackingmore import (
    AirCargo,
    BatchResult,
    Carrier,
    CarrierMatch,
    CarrierNotDetectedError,
    CreateTrackingRequest,
    RealtimeRequest,
    RemoteCheck,
    TrackingMoreClient,
    TrackingNotFoundError,
    TrackingRef,
    TransitTimeQuery,
    TransportError,
    UpdateTrackingRequest,
    UpdateTrackingsItem,
)

pytestmark = pytest.mark.unit


def only_request(upstream: FakeUpstream) -> RecordedRequest:
    assert len(upstream.requests) == 1
    return upstream.requests[0]


def assert_sent(
    upstream: FakeUpstream,
    method: str,
    path: str,
    *,
    query: dict[str, str] | None = None,
    body: Any = None,
) -> RecordedRequest:
    request = only_request(upstream)
    assert (request.method, request.path) == (method, path)
    assert request.query == (query or {})
    assert request.json == body
    assert request.headers["Trackingmore-Api-Key"] == API_KEY
    assert request.headers["Content-Type"] == "application/json"
    assert request.timeout == (3.05, 20.0)
    return request


# -- carriers ----------------------------------------------------------------------------------------------------------


def test_list_carriers(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.reply_json("GET", "/carriers", fixture("carriers_response.json"))

    carriers = client.list_carriers()

    assert_sent(upstream, "GET", "/carriers")
    assert "Lang" not in upstream.requests[0].headers
    assert carriers[0] == Carrier(
        name="DHL",
        code="dhl",
        phone="1 800 225 5345",
        homepage="//www.dhl.com/",
        type="express",
        picture="//cdn.trackingmore.com/images/icons/express/dhl.png",
    )
    assert [c.code for c in carriers] == ["dhl", "china-post"]


def test_list_carriers_in_a_language_sends_the_lang_header(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.reply_json("GET", "/carriers", fixture("carriers_response.json"))

    client.list_carriers(lang="cn")

    assert upstream.requests[0].headers["Lang"] == "cn"


def test_detect_carrier(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.reply_json("POST", "/carriers/detect", fixture("detect_carrier_response.json"))

    matches = client.detect_carrier("RN123456789CN")

    assert_sent(upstream, "POST", "/carriers/detect", body={"tracking_number": "RN123456789CN"})
    assert matches == [CarrierMatch(name="China post", code="china-post")]


def test_detect_carrier_not_found(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.reply("POST", "/carriers/detect", [], code=4032, type="No Content", message="Cannot detect courier")

    with pytest.raises(CarrierNotDetectedError):
        client.detect_carrier("RN123456789CN")


def test_detect_carrier_refuses_an_invalid_number_before_sending(
    client: TrackingMoreClient, upstream: FakeUpstream
) -> None:
    with pytest.raises(ValueError, match="tracking_number"):
        client.detect_carrier("12 3")

    assert upstream.requests == []


# -- single trackings --------------------------------------------------------------------------------------------------


def test_create_tracking(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.reply_json("POST", "/trackings/post", fixture("create_tracking_response.json"))
    request = CreateTrackingRequest(
        tracking_number="1234567890",
        carrier_code="poste-italiane",
        title="Shoes",
        customer_email="buyer@example.com",
        order_id="#123",
        destination_code="IT",
    )

    tracking = client.create_tracking(request)

    assert_sent(
        upstream,
        "POST",
        "/trackings/post",
        body={
            "tracking_number": "1234567890",
            "carrier_code": "poste-italiane",
            "title": "Shoes",
            "customer_email": "buyer@example.com",
            "order_id": "#123",
            "destination_code": "IT",
        },
    )
    assert (tracking.id, tracking.status, tracking.order_create_time) == (
        "b6321d71ad627cbf8c141ccc25fc659f",
        "pending",
        None,
    )


def test_get_tracking(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    # Single GET example as described in reference §3.4 (no full JSON was published).
    upstream.reply(
        "GET",
        "/trackings/4px/300403513351",
        {
            "id": "a543163dd2474af66f64c48e3085cdfa",
            "tracking_number": "300403513351",
            "carrier_code": "4px",
            "status": "delivered",
            "created_at": "2018-04-16T06:30:02+00:00",
            "order_create_time": "2018-04-01 10:08",
            "customer_email": ["a@example.com", "b@example.com"],
        },
    )

    tracking = client.get_tracking("4px", "300403513351")

    assert_sent(upstream, "GET", "/trackings/4px/300403513351")
    assert tracking.created_at == datetime(2018, 4, 16, 6, 30, 2, tzinfo=UTC)
    assert tracking.customer_email == ["a@example.com", "b@example.com"]
    assert tracking.order_create_time == "2018-04-01 10:08"


def test_get_tracking_in_a_language(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.reply("GET", "/trackings/4px/300403513351/en", {"tracking_number": "300403513351"})

    client.get_tracking("4px", "300403513351", lang="en")

    assert_sent(upstream, "GET", "/trackings/4px/300403513351/en")


def test_get_tracking_not_created(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.reply("GET", "/trackings/4px/300403513351", [], code=4031, type="No Content", message="No Content")

    with pytest.raises(TrackingNotFoundError) as caught:
        client.get_tracking("4px", "300403513351")

    assert caught.value.endpoint == "GET /trackings/{carrier_code}/{tracking_number}"


@pytest.mark.parametrize(("carrier", "number"), [("4px", "30/0403513351"), ("a b", "300403513351"), ("4px", "123")])
def test_path_values_are_validated(
    client: TrackingMoreClient, upstream: FakeUpstream, carrier: str, number: str
) -> None:
    with pytest.raises(ValidationError):
        client.get_tracking(carrier, number)

    assert upstream.requests == []


def test_update_tracking(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.reply_json("PUT", "/trackings/sto/402934299065", fixture("update_tracking_response.json"))
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

    tracking = client.update_tracking("sto", "402934299065", request)

    assert_sent(upstream, "PUT", "/trackings/sto/402934299065", body=fixture("update_tracking_request.json"))
    assert (tracking.id, tracking.archived, tracking.title) == ("3d300c6f34a6a9711166cc44e4cc096a", True, "new title")


def test_delete_tracking(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.reply_json("DELETE", "/trackings/ups/1Z999AA10123456784", fixture("delete_tracking_response.json"))

    client.delete_tracking("ups", "1Z999AA10123456784")

    assert_sent(upstream, "DELETE", "/trackings/ups/1Z999AA10123456784")


def test_delete_tracking_that_does_not_exist(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.reply("DELETE", "/trackings/ups/1Z999AA10123456784", [], code=4017, type="Bad Request")

    with pytest.raises(TrackingNotFoundError):
        client.delete_tracking("ups", "1Z999AA10123456784")


def test_realtime_tracking(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.reply_json("POST", "/trackings/realtime", fixture("realtime_response.json"))
    request = RealtimeRequest(
        tracking_number="LB181539674SG",
        carrier_code="cainiao",
        destination_code="US",
        tracking_postal_code="71118",
        special_number_destination="US",
        order="#123",
        lang="en",
    )

    tracking = client.realtime_tracking(request)

    assert_sent(
        upstream,
        "POST",
        "/trackings/realtime",
        body={
            "tracking_number": "LB181539674SG",
            "carrier_code": "cainiao",
            "destination_code": "US",
            "tracking_postal_code": "71118",
            "specialNumberDestination": "US",
            "order": "#123",
            "lang": "en",
        },
    )
    assert (tracking.id, tracking.status, tracking.substatus) == (
        "8f5c9a09b955a2eab184b1e4b47638b5",
        "delivered",
        "delivered001",
    )


def test_realtime_without_items_is_a_transport_error(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.reply("POST", "/trackings/realtime", {"items": []})

    with pytest.raises(TransportError):
        client.realtime_tracking(RealtimeRequest(tracking_number="LB181539674SG", carrier_code="cainiao"))


def test_change_carrier(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.reply_json("POST", "/trackings/update", fixture("change_carrier_response.json"))

    client.change_carrier("china-ems", "LK664578623CN", "usps")

    assert_sent(upstream, "POST", "/trackings/update", body=fixture("change_carrier_request.json"))


# -- many trackings ----------------------------------------------------------------------------------------------------


def test_list_trackings_sends_typed_filters(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.reply_json("GET", "/trackings/get", fixture("list_trackings_response.json"))

    page = client.list_trackings(
        page=1,
        limit=25,
        created_at_min=1441314361,
        created_at_max=datetime.fromtimestamp(1446949161, UTC),
        lang="en",
        status="delivered",
        numbers=("LX123445678CN", "LX456789123CN"),
        archived=True,
    )

    assert_sent(
        upstream,
        "GET",
        "/trackings/get",
        query={
            "page": "1",
            "limit": "25",
            "created_at_min": "1441314361",
            "created_at_max": "1446949161",
            "lang": "en",
            "status": "delivered",
            "numbers": "LX123445678CN,LX456789123CN",
            "archived": "true",
        },
    )
    assert (page.total, page.count, len(page.items)) == (56, 2, 2)


def test_list_trackings_without_filters_sends_none(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.reply("GET", "/trackings/get", {"page": 1, "limit": 100, "total": "0", "items": []})

    page = client.list_trackings()

    assert_sent(upstream, "GET", "/trackings/get")
    assert page.items == []
    assert page.has_more is False


@pytest.mark.parametrize("data", [[], None])
def test_list_trackings_with_empty_data(client: TrackingMoreClient, upstream: FakeUpstream, data: Any) -> None:
    upstream.reply("GET", "/trackings/get", data)

    page = client.list_trackings(page=3, limit=10)

    assert (page.page, page.limit, page.items, page.has_more) == (3, 10, [], False)


def test_list_trackings_4031_means_empty(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.reply("GET", "/trackings/get", [], code=4031, type="No Content")

    assert client.list_trackings(numbers=["LX123445678CN"]).items == []


def test_list_trackings_refuses_invalid_filters(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    with pytest.raises(ValidationError):
        client.list_trackings(limit=5000)
    with pytest.raises(ValidationError):
        client.list_trackings(colour="red")  # type: ignore[call-arg]

    assert upstream.requests == []


def test_update_trackings(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    # No updatemore answer was published (reference §3.7); this one follows the notupdate/delete shape.
    upstream.reply(
        "POST",
        "/trackings/updatemore",
        {
            "submitted": 2,
            "update": 1,
            "trackings": [{"tracking_number": "RR050349575PH", "carrier_code": "phlpost"}],
            "errors": [{"tracking_number": "RN210552627LT", "carrier_code": "lietuvos-pastas", "code": 4017,
                        "message": "Tracking does not exist."}],
        },
    )  # fmt: skip
    items = [
        UpdateTrackingsItem(tracking_number="RR050349575PH", carrier_code="phlpost", status=4),
        UpdateTrackingsItem(tracking_number="RN210552627LT", carrier_code="lietuvos-pastas", archived=True),
    ]

    result = client.update_trackings(items)

    assert_sent(
        upstream,
        "POST",
        "/trackings/updatemore",
        body=[
            {"tracking_number": "RR050349575PH", "carrier_code": "phlpost", "status": 4},
            {"tracking_number": "RN210552627LT", "carrier_code": "lietuvos-pastas", "archived": "true"},
        ],
    )
    assert (result.submitted, result.succeeded) == (2, 1)
    assert [(i.tracking_number, i.code) for i in result.failed] == [("RN210552627LT", 4017)]


def test_delete_trackings(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.reply_json("POST", "/trackings/delete", fixture("delete_trackings_response.json"))
    refs = [
        TrackingRef(carrier_code="ups", tracking_number="1Z97X17XYW06"),
        TrackingRef(carrier_code="ups", tracking_number="1Z97X17XYW07"),
    ]

    result = client.delete_trackings(refs)

    assert_sent(
        upstream,
        "POST",
        "/trackings/delete",
        body=[
            {"carrier_code": "ups", "tracking_number": "1Z97X17XYW06"},
            {"carrier_code": "ups", "tracking_number": "1Z97X17XYW07"},
        ],
    )
    assert (result.submitted, result.succeeded) == (2, 2)
    assert [i.tracking_number for i in result.items] == ["1Z97X17XYW06"]  # unwrapped from its "meta"
    assert result.failed == []


def test_stop_updating(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.reply_json("POST", "/trackings/notupdate", fixture("stop_updating_response.json"))
    refs = [
        TrackingRef(carrier_code="china-post", tracking_number="RR050349575CN"),
        TrackingRef(carrier_code="china-post", tracking_number="RR050349576CN"),
    ]

    result = client.stop_updating(refs)

    assert_sent(upstream, "POST", "/trackings/notupdate", body=[r.to_payload() for r in refs])
    assert (result.submitted, result.succeeded) == (2, 2)  # "change": 2


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ([], (2, 2)),
        (None, (2, 2)),
        ({"submitted": "2"}, (2, 2)),
        ({"errors": [{"tracking_number": "RR050349575CN", "code": 4017}]}, (2, 1)),
        ({"submitted": 2, "delete": "0"}, (2, 0)),
    ],
)
def test_bulk_answers_of_undocumented_shapes(
    client: TrackingMoreClient, upstream: FakeUpstream, data: Any, expected: tuple[int, int]
) -> None:
    upstream.reply("POST", "/trackings/delete", data)
    refs = [
        TrackingRef(carrier_code="china-post", tracking_number="RR050349575CN"),
        TrackingRef(carrier_code="china-post", tracking_number="RR050349576CN"),
    ]

    result = client.delete_trackings(refs)

    assert (result.submitted, result.succeeded) == expected


def test_bulk_calls_are_split_at_200(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.reply("POST", "/trackings/notupdate", {"submitted": 200, "change": 200})
    upstream.reply("POST", "/trackings/notupdate", {"submitted": 50, "change": 49})
    refs = [TrackingRef(carrier_code="ups", tracking_number=f"1Z{i:08d}") for i in range(250)]

    result = client.stop_updating(refs)

    assert [len(r.json) for r in upstream.requests] == [200, 50]
    assert result == BatchResult(submitted=250, succeeded=249, items=[])


def test_bulk_with_nothing_to_do_makes_no_call(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    assert client.delete_trackings([]) == BatchResult()
    assert upstream.requests == []


# -- account and tools -------------------------------------------------------------------------------------------------


def test_get_user_info(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.reply_json("GET", "/trackings/getuserinfo", fixture("user_info_response.json"))

    info = client.get_user_info()

    assert_sent(upstream, "GET", "/trackings/getuserinfo")
    assert (info.email, info.regtime, info.phone, info.money, info.track_number) == (
        "…",
        "1469097290",
        "+8612345678910",
        999.0,
        9999,
    )
    assert info.registered_at == datetime(2016, 7, 21, 10, 34, 50, tzinfo=UTC)


def test_get_status_counts(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    # Shape inferred from the 51tracking clone (reference §3.12): no TrackingMore example was published.
    upstream.reply(
        "GET",
        "/trackings/getstatusnumber",
        {"pending": 1, "notfound": 2, "transit": 3, "pickup": 4, "delivered": 5, "undelivered": 6, "exception": 7,
         "expired": 8},
    )  # fmt: skip

    counts = client.get_status_counts(created_at_min=1441314361, order_created_time_max=1446949161)

    assert_sent(
        upstream,
        "GET",
        "/trackings/getstatusnumber",
        query={"created_at_min": "1441314361", "order_created_time_max": "1446949161"},
    )
    assert (counts.pending, counts.expired, counts.total) == (1, 8, 36)


def test_check_remote_areas(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.reply_json("POST", "/trackings/remote", fixture("remote_response.json"))

    result = client.check_remote_areas(
        [RemoteCheck(country="Japan", postcode="7621094"), RemoteCheck(country="NZ", postcode="Papaaroha")]
    )

    assert_sent(upstream, "POST", "/trackings/remote", body=fixture("remote_request.json"))
    assert result.submitted == 2
    assert [(r.far_express_company, r.two_code, r.far_city_postcode) for r in result.remote] == [
        ("ups", "JP", "7621094"),
        ("tnt", "JP", "7621094"),
        ("fedex", "NZ", "papaaroha"),
    ]
    assert (result.other, result.errors) == ([], [])


def test_check_remote_areas_with_company(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.reply("POST", "/trackings/remote", {"submitted": 1, "remote": [], "other": [], "errors": []})

    client.check_remote_areas([RemoteCheck(country="CN", postcode="518131", company="DHL")])

    assert upstream.requests[0].json == [{"country": "CN", "postcode": "518131", "company": "DHL"}]


def test_get_transit_times(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    # Attribute names from reference §3.15; no full example was published.
    upstream.reply(
        "POST",
        "/trackings/costtime",
        [{"carrier_code": "dhl", "original": "CN", "destination": "US", "total": 120, "delivered": 118,
          "range1": 35.5, "range3": 50, "range4": 10, "range5": 2.5}],
    )  # fmt: skip

    times = client.get_transit_times([TransitTimeQuery(carrier_code="dhl", original="CN", destination="US")])

    assert_sent(
        upstream,
        "POST",
        "/trackings/costtime",
        body=[{"carrier_code": "dhl", "original": "CN", "destination": "US"}],
    )
    assert (times[0].carrier_code, times[0].total, times[0].range1, times[0].range2) == ("dhl", 120, 35.5, None)


def test_track_air_cargo(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.reply_json("POST", "/trackings/aircargo", fixture("aircargo_response.json"))
    documented = fixture("aircargo_request.json")

    cargo = client.track_air_cargo(documented["track_number"], lang=documented["lang"])

    # The doc's example repeats one AWB; it is sent once (each costs 20 quota).
    assert_sent(upstream, "POST", "/trackings/aircargo", body={"track_number": ["172-28891936"], "lang": "en"})
    assert cargo == [AirCargo.model_validate(fixture("aircargo_response.json")["data"]["172-28891936"])]


def test_track_air_cargo_keeps_request_order(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    upstream.reply(
        "POST",
        "/trackings/aircargo",
        {"999-87654321": {"track_number": "999-87654321"}, "172-28891936": {"track_number": "172-28891936"}},
    )

    cargo = client.track_air_cargo(["172-28891936", "999 87654321", "999-87654321"])

    assert upstream.requests[0].json == {"track_number": ["172-28891936", "999 87654321", "999-87654321"]}
    assert [c.track_number for c in cargo] == ["172-28891936", "999-87654321"]


@pytest.mark.parametrize("numbers", [["17228891936x"], ["12-1234567"], "172-28891936"])
def test_track_air_cargo_refuses_invalid_numbers(
    client: TrackingMoreClient, upstream: FakeUpstream, numbers: Any
) -> None:
    with pytest.raises(ValueError, match="air waybill"):
        client.track_air_cargo(numbers)

    assert upstream.requests == []


def test_empty_tool_calls_make_no_request(client: TrackingMoreClient, upstream: FakeUpstream) -> None:
    assert client.track_air_cargo([]) == []
    assert client.get_transit_times([]) == []
    assert client.check_remote_areas([]).remote == []
    assert upstream.requests == []


def test_client_refuses_an_empty_key() -> None:
    with pytest.raises(ValueError, match="api_key"):
        TrackingMoreClient(" ")
