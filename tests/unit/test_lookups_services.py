"""The lookup services with scripted upstream answers the sandbox never gives: partial and odd responses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from shiptrack.data.cache import TtlCache
from shiptrack.services import remote_checks
from shiptrack.services.aircargo import AirCargoRequest, AirWaybill, track_air_cargo
from shiptrack.services.lookups import LookupSource
from trackingmore.models import AirCargo, RemoteCheckResult, TransitTime

pytestmark = pytest.mark.unit

SEED_001 = {
    "track_number": "172-28891936",
    "return_data": {
        "weight": "1981K",
        "piece": 9,
        "origin": "XMN",
        "destination": "MXP",
        "track_info": [
            {"plan_date": "2018-04-12 01:20:00", "actual_date": "2018-04-11 17:41:00", "event": "9 piece(s) accepted",
             "station": "XMN", "flight_number": "CV7493", "status": "RCS", "piece": "9", "weight": ""},
            {"plan_date": "2018-04-18 20:29:00", "actual_date": "2018-04-17 09:38:00", "event": "Delivery",
             "station": "MXP", "flight_number": "C80066", "status": "DLV", "piece": "10", "weight": ""},
        ],
        "status_number": 4,
        "flight_info": {
            "CV7493": {"plan_depart_time": "2018-04-12 08:20:00", "depart_time": "2018-04-12 08:46:00",
                       "depart_station": "XMN", "plan_arrival_time": "2018-04-12 16:27:00",
                       "arrival_time": "2018-04-11 15:56:00", "arrival_station": "LUX"},
        },
        "flight_way_station": ["XMN", "LUX", "MXP"],
        "last_event": "2018-04-17 09:38:00, Delivery, MXP, C80066",
    },
    "airline_info": {"name": "Cargolux Airlines", "url": "https://www.cargolux.com/",
                     "track_url": "https://cvtnt.champ.aero/trackntrace?awbnumber=172-28891936"},
}  # fmt: skip


class FakeClient:
    """Answers with what a test scripts and records what it was asked."""

    def __init__(self, **answers: Any) -> None:
        self.answers = answers
        self.asked: list[tuple[str, list[Any]]] = []

    def track_air_cargo(self, awb_numbers: Sequence[str], *, lang: str | None = None) -> list[AirCargo]:
        self.asked.append(("aircargo", list(awb_numbers)))
        return [AirCargo.model_validate(item) for item in self.answers["aircargo"]]

    def check_remote_areas(self, checks: Sequence[Any]) -> RemoteCheckResult:
        self.asked.append(("remote", list(checks)))
        return RemoteCheckResult.model_validate(self.answers["remote"])

    def get_transit_times(self, queries: Sequence[Any]) -> list[TransitTime]:
        self.asked.append(("transit", list(queries)))
        return [TransitTime.model_validate(item) for item in self.answers["transit"]]


@pytest.fixture
def table(aws: Any) -> Any:
    return aws.table("CacheTable")


def waybills(table: Any, client: FakeClient, ttl_seconds: int = 60) -> LookupSource[AirWaybill, FakeClient]:
    """The air waybills' cache, else ``client``."""
    return LookupSource(TtlCache(table, "AWB", AirWaybill), ttl_seconds, lambda: client)


def places(table: Any, client: FakeClient) -> LookupSource[remote_checks.RemoteAnswer, FakeClient]:
    """The remote areas' cache, else ``client``."""
    return LookupSource(TtlCache(table, "REMOTE", remote_checks.RemoteAnswer), 60, lambda: client)


def stored(table: Any) -> dict[str, str]:
    return {item["pk"]: item["kind"] for item in table.scan()["Items"]}


def test_seed_001_becomes_a_waybill_with_local_times_newest_first(table: Any) -> None:
    client = FakeClient(aircargo=[SEED_001])

    response = track_air_cargo(AirCargoRequest(awb_numbers=["17228891936"]), waybills(table, client, 1800))

    waybill = response.results[0].waybill
    assert waybill is not None
    assert (waybill.origin, waybill.destination, waybill.pieces, waybill.weight) == ("XMN", "MXP", 9, "1981K")
    assert [event.time for event in waybill.events] == ["2018-04-17T09:38:00", "2018-04-11T17:41:00"]
    assert waybill.events[0].status_code == "DLV"
    assert waybill.flights[0].departure == "2018-04-12T08:46:00"
    assert waybill.route == ["XMN", "LUX", "MXP"]
    assert client.asked == [("aircargo", ["172-28891936"])]


def test_a_waybill_the_answer_leaves_out_fails_and_is_not_cached(table: Any) -> None:
    client = FakeClient(aircargo=[SEED_001])

    response = track_air_cargo(AirCargoRequest(awb_numbers=["172-28891936", "020-12345675"]), waybills(table, client))

    assert [(r.outcome, r.problem.code if r.problem else None) for r in response.results] == [
        ("found", None),
        ("failed", "upstream_incomplete"),
    ]
    assert response.results[1].problem is not None
    assert response.results[1].problem.detail == (
        "TrackingMore's answer did not include air waybill 020-12345675; try again."
    )
    assert stored(table) == {"CACHE#AWB#172-28891936": "value"}


def test_an_empty_answer_is_a_short_lived_not_found(table: Any) -> None:
    client = FakeClient(aircargo=[{"track_number": "020-12345675", "return_data": {}, "airline_info": None}])

    response = track_air_cargo(AirCargoRequest(awb_numbers=["020-12345675"]), waybills(table, client, 1800))

    assert response.results[0].problem is not None
    assert response.results[0].problem.code == "awb_not_found"
    assert stored(table) == {"CACHE#AWB#020-12345675": "error"}


def test_the_client_is_not_built_when_everything_is_cached(table: Any) -> None:
    source = waybills(table, FakeClient(aircargo=[SEED_001]))
    track_air_cargo(AirCargoRequest(awb_numbers=["172-28891936"]), source)

    def no_client() -> FakeClient:
        raise AssertionError("reading the secret and building a client is not needed")

    response = track_air_cargo(AirCargoRequest(awb_numbers=["172-28891936"]), source._replace(client=no_client))

    assert response.results[0].source == "cache"


def remote_request(*checks: dict[str, str]) -> remote_checks.RemoteChecksRequest:
    return remote_checks.RemoteChecksRequest.model_validate({"checks": list(checks)})


def test_seed_003_places_are_matched_whatever_the_case_upstream_echoes(table: Any) -> None:
    seed_003 = {
        "submitted": 2,
        "other": [],
        "remote": [
            {"far_express_company": "ups", "two_code": "JP", "far_country": "Japan", "far_city_postcode": "7621094"},
            {"far_express_company": "tnt", "two_code": "JP", "far_country": "Japan", "far_city_postcode": "7621094"},
            {"far_express_company": "fedex", "far_country": "New Zealand", "two_code": "NZ",
             "far_city_postcode": "papaaroha"},
        ],
        "errors": [],
    }  # fmt: skip
    client = FakeClient(remote=seed_003)

    response = remote_checks.check_remote_areas(
        remote_request({"country": "Japan", "postcode": "7621094"}, {"country": "NZ", "postcode": "Papaaroha"}),
        places(table, client),
    )

    assert [(r.country_code, r.remote, r.carriers) for r in response.results] == [
        ("JP", True, ["ups", "tnt"]),
        ("NZ", True, ["fedex"]),
    ]
    sent = client.asked[0][1]
    assert [(c.country, c.postcode, c.company) for c in sent] == [("JP", "7621094", None), ("NZ", "PAPAAROHA", None)]


def test_a_carrier_is_sent_as_trackingmore_spells_it(table: Any) -> None:
    client = FakeClient(remote={"submitted": 1, "other": [], "remote": [], "errors": []})

    response = remote_checks.check_remote_areas(
        remote_request({"country": "US", "postcode": "99501", "carrier": "FEDEX"}), places(table, client)
    )

    assert client.asked[0][1][0].company == "FedEx"
    assert (response.results[0].carrier, response.results[0].remote) == ("fedex", False)


def test_a_place_no_list_mentions_is_unanswered_when_upstream_lists_the_others(table: Any) -> None:
    answer = {
        "submitted": 2,
        "other": [{"two_code": "US", "far_country": "United States", "far_city_postcode": "10001"}],
        "remote": [],
        "errors": [],
    }

    response = remote_checks.check_remote_areas(
        remote_request({"country": "US", "postcode": "10001"}, {"country": "US", "postcode": "99501"}),
        places(table, FakeClient(remote=answer)),
    )

    assert [(r.outcome, r.remote) for r in response.results] == [("found", False), ("failed", None)]
    assert response.results[1].problem is not None
    assert response.results[1].problem.code == "upstream_incomplete"
    assert response.results[1].problem.detail == "TrackingMore's answer did not include US 99501; try again."
    assert stored(table) == {"CACHE#REMOTE#US#10001#ALL": "value"}


def test_a_route_the_answer_leaves_out_fails_by_its_lane_and_is_not_cached(table: Any) -> None:
    answer = [{"carrier_code": "dhl", "original": "CN", "destination": "US", "total": 10, "delivered": 9}]
    request = remote_checks.TransitTimesRequest.model_validate(
        {"routes": [{"carrier_code": "dhl", "origin": "CN", "destination": "US"},
                    {"carrier_code": "ups", "origin": "DE", "destination": "FR"}]}
    )  # fmt: skip
    cache = TtlCache(table, "TRANSIT", remote_checks.TransitTimeStats)

    response = remote_checks.get_transit_times(request, LookupSource(cache, 60, lambda: FakeClient(transit=answer)))

    assert [(r.outcome, r.problem.code if r.problem else None) for r in response.results] == [
        ("found", None),
        ("failed", "upstream_incomplete"),
    ]
    assert response.results[1].problem is not None
    assert response.results[1].problem.detail == "TrackingMore's answer did not include ups DE→FR; try again."
    assert stored(table) == {"CACHE#TRANSIT#dhl#CN#US": "value"}


def test_transit_bands_keep_documented_bounds_and_leave_undocumented_ones_open(table: Any) -> None:
    answer = [{"carrier_code": "dhl", "original": "CN", "destination": "US", "total": 100, "delivered": 90,
               "range1": "50.5", "range2": 4.5, "range3": 30, "range4": 10, "range5": 5}]  # fmt: skip
    request = remote_checks.TransitTimesRequest.model_validate(
        {"routes": [{"carrier_code": "DHL", "origin": "China", "destination": "US"}]}
    )
    cache = TtlCache(table, "TRANSIT", remote_checks.TransitTimeStats)
    source = LookupSource(cache, 60, lambda: FakeClient(transit=answer))

    response = remote_checks.get_transit_times(request, source)

    stats = response.results[0].stats
    assert stats is not None
    assert [(b.band, b.min_days, b.max_days, b.percent) for b in stats.bands] == [
        ("range1", 0, 7, 50.5),
        ("range3", 7, 15, 30.0),
        ("range4", 16, 30, 10.0),
        ("range5", 31, 60, 5.0),
        ("range2", None, None, 4.5),
    ]
    assert (stats.samples, stats.delivered) == (100, 90)
