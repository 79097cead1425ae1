"""Air waybills (seed 001 shape), remote areas (seed 003 shape) and transit-time statistics (reference §3.14–§3.16)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from local.sandbox import SandboxServer
from tests.contract.sandbox.helpers import V2, code_of

pytestmark = pytest.mark.contract

LOCAL_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
AIR_STATUSES = {"RCS", "MAN", "DEP", "ARR", "RCF", "NFD", "DLV"}


def _awb(prefix: str, first7: int) -> str:
    return f"{prefix}-{first7:07d}{first7 % 7}"


def _air(v2: V2, *awbs: str) -> dict[str, Any]:
    body = v2.post("/trackings/aircargo", {"track_number": list(awbs), "lang": "en"})
    assert code_of(body) == 200, body
    data = body["data"]
    assert isinstance(data, dict)
    return data


# -- aircargo -----------------------------------------------------------------------------------------------------
def test_aircargo_answers_the_seed_001_shape(v2: V2) -> None:
    body = v2.post("/trackings/aircargo", {"track_number": ["172-28891936"], "lang": "en"})

    assert body["meta"] == {"code": 200, "type": "Success", "message": "Request Success"}
    item = body["data"]["172-28891936"]
    assert set(item) == {"track_number", "return_data", "airline_info"}
    assert item["track_number"] == "172-28891936"
    assert item["airline_info"]["name"] == "Cargolux Airlines"
    assert set(item["airline_info"]) == {"name", "url", "track_url"}
    data = item["return_data"]
    assert set(data) == {
        "weight",
        "piece",
        "origin",
        "destination",
        "track_info",
        "status_number",
        "flight_info",
        "flight_way_station",
        "last_event",
    }
    assert re.match(r"^\d+K$", data["weight"])
    assert isinstance(data["piece"], int)
    assert re.match(r"^[A-Z]{3}$", data["origin"])
    assert re.match(r"^[A-Z]{3}$", data["destination"])
    assert data["flight_way_station"][0] == data["origin"]
    assert data["flight_way_station"][-1] == data["destination"]
    assert isinstance(data["status_number"], int)


def test_aircargo_events_and_flights(v2: V2, sandbox: SandboxServer) -> None:
    awb = _awb("020", 1234567)
    _air(v2, awb)
    sandbox.advance(24 * 6)

    data = _air(v2, awb)[awb]["return_data"]

    assert data["status_number"] == 4
    assert data["track_info"][0]["status"] == "DLV"
    for event in data["track_info"]:
        assert set(event) == {"plan_date", "actual_date", "event", "station", "flight_number", "status", "piece",
                              "weight"}  # fmt: skip
        assert event["status"] in AIR_STATUSES
        assert LOCAL_TIME_RE.match(event["actual_date"])
        assert re.match(r"^[A-Z]{3}$", event["station"])
        assert isinstance(event["piece"], str)
    assert {e["status"] for e in data["track_info"]} == AIR_STATUSES
    for flight, info in data["flight_info"].items():
        assert flight.startswith("LH")
        assert set(info) == {"plan_depart_time", "depart_time", "depart_station", "plan_arrival_time", "arrival_time",
                             "arrival_station"}  # fmt: skip
    newest = data["track_info"][0]
    assert (
        data["last_event"]
        == f"{newest['actual_date']}, {newest['event']}, {newest['station']}, {newest['flight_number']}"
    )


def test_aircargo_progresses_with_simulated_time_and_is_deterministic(v2: V2, sandbox: SandboxServer) -> None:
    awb = _awb("176", 7654321)

    def run() -> list[int]:
        numbers = []
        for _ in range(8):
            numbers.append(_air(v2, awb)[awb]["return_data"]["status_number"])
            sandbox.advance(12)
        return numbers

    sandbox.reset(seed=5)
    first = run()
    sandbox.reset(seed=5)
    second = run()

    assert first == second
    assert first == sorted(first)
    assert first[-1] == 4


@pytest.mark.parametrize(
    ("prefix", "name"),
    [
        ("172", "Cargolux"),
        ("020", "Lufthansa"),
        ("176", "Emirates"),
        ("157", "Qatar"),
        ("160", "Cathay"),
        ("618", "Singapore"),
        ("057", "Air France"),
        ("074", "KLM"),
        ("001", "American"),
        ("006", "Delta"),
        ("016", "United"),
        ("125", "British Airways"),
        ("180", "Korean"),
        ("297", "China Airlines"),
        ("999", "Air China"),
        ("784", "China Southern"),
        ("112", "China Cargo"),
        ("205", "ANA"),
        ("131", "JAL"),
        ("235", "Turkish"),
        ("724", "Swiss"),
        ("023", "FedEx"),
        ("406", "UPS"),
    ],
)
def test_aircargo_knows_major_airline_prefixes(v2: V2, prefix: str, name: str) -> None:
    awb = _awb(prefix, 1000003)

    assert name in _air(v2, awb)[awb]["airline_info"]["name"]


@pytest.mark.parametrize(
    ("awb", "code"),
    [
        ("172-28891937", 4014),  # check digit: 2889193 mod 7 = 6
        ("172-2889193", 4014),  # 7-digit serial: no check digit
        ("17228891936X", 4014),
        ("555-12345675", 4015),  # no such airline prefix
    ],
)
def test_aircargo_per_awb_errors_keep_the_other_results(v2: V2, awb: str, code: int) -> None:
    data = _air(v2, awb, "172-28891936")

    assert data["172-28891936"]["return_data"] is not None
    errors = [item for key, item in data.items() if key != "172-28891936"]
    assert len(errors) == 1
    assert errors[0]["code"] == code
    assert errors[0]["return_data"] is None
    assert errors[0]["message"]


def test_aircargo_without_numbers_is_4013(v2: V2) -> None:
    assert code_of(v2.post("/trackings/aircargo", {"lang": "en"})) == 4013


# -- remote -------------------------------------------------------------------------------------------------------
def _remote(v2: V2, items: list[dict[str, str]]) -> dict[str, Any]:
    body = v2.post("/trackings/remote", items)
    assert code_of(body) == 200, body
    data = body["data"]
    assert isinstance(data, dict)
    return data


def test_remote_answers_the_seed_003_example(v2: V2) -> None:
    body = v2.post(
        "/trackings/remote", [{"country": "Japan", "postcode": "7621094"}, {"country": "NZ", "postcode": "Papaaroha"}]
    )

    assert body["meta"] == {"code": 200, "type": "Success", "message": "The request was successful."}
    data = body["data"]
    assert set(data) == {"submitted", "other", "remote", "errors"}
    assert data["submitted"] == 2
    assert data["other"] == []
    assert data["errors"] == []
    assert sorted((r["far_express_company"], r["two_code"]) for r in data["remote"]) == [
        ("fedex", "NZ"),
        ("tnt", "JP"),
        ("ups", "JP"),
    ]
    japan = next(r for r in data["remote"] if r["two_code"] == "JP")
    assert japan == {"far_express_company": japan["far_express_company"], "two_code": "JP", "far_country": "Japan",
                     "far_city_postcode": "7621094"}  # fmt: skip
    assert next(r for r in data["remote"] if r["two_code"] == "NZ")["far_country"] == "New Zealand"


@pytest.mark.parametrize(
    ("country", "postcode"),
    [
        ("NO", "9170"),  # Svalbard
        ("Norway", "9178"),
        ("GB", "ZE1 0AA"),  # Shetland
        ("United Kingdom", "HS2"),  # Outer Hebrides
        ("GB", "KW15 1AB"),  # Orkney
        ("US", "99501"),  # Alaska
        ("US", "96813"),  # Hawaii
        ("CA", "X0A 0H0"),  # Nunavut
        ("AU", "0872"),  # Northern Territory remote
        ("AU", "6725"),  # Kimberley, WA
        ("JP", "9071801"),  # Yaeyama islands
    ],
)
def test_known_remote_postcodes(v2: V2, country: str, postcode: str) -> None:
    data = _remote(v2, [{"country": country, "postcode": postcode}])

    assert data["remote"]
    assert {r["far_express_company"] for r in data["remote"]} <= {"dhl", "ups", "fedex", "tnt"}


@pytest.mark.parametrize(("country", "postcode"), [("NO", "0150"), ("GB", "KW1 4AA"), ("US", "10001"), ("AU", "2000")])
def test_ordinary_postcodes_are_not_remote(v2: V2, country: str, postcode: str) -> None:
    data = _remote(v2, [{"country": country, "postcode": postcode}])

    assert data["remote"] == []
    assert len(data["other"]) == 1


def test_remote_company_filter(v2: V2) -> None:
    data = _remote(v2, [{"country": "JP", "postcode": "7621094", "company": "UPS"}])

    assert [r["far_express_company"] for r in data["remote"]] == ["ups"]


def test_remote_invalid_items_go_to_errors(v2: V2) -> None:
    data = _remote(
        v2,
        [
            {"country": "Atlantis", "postcode": "1"},
            {"country": "NO"},
            {"postcode": "9170"},
            {"country": "NO", "postcode": "9170", "company": "pigeon"},
            {"country": "NO", "postcode": "9170"},
        ],
    )

    assert data["submitted"] == 5
    assert len(data["errors"]) == 4
    assert all("code" in e and "message" in e for e in data["errors"])
    assert len(data["remote"]) == 4


# -- costtime -----------------------------------------------------------------------------------------------------
def test_costtime_statistics_per_route(v2: V2) -> None:
    body = v2.post(
        "/trackings/costtime",
        [
            {"original": "CN", "destination": "US", "carrier_code": "dhl"},
            {"original": "CN", "destination": "US", "carrier_code": "china-post"},
        ],
    )

    assert code_of(body) == 200
    express, postal = body["data"]
    for item in (express, postal):
        assert {"carrier_code", "original", "destination", "total", "delivered", "range1", "range3", "range4",
                "range5"} <= set(item)  # fmt: skip
        assert 0 < item["delivered"] <= item["total"]
        shares = [item[f"range{i}"] for i in range(1, 6)]
        assert all(0 <= share <= 100 for share in shares)
        assert sum(shares) == pytest.approx(100, abs=0.05)
    assert (express["carrier_code"], express["original"], express["destination"]) == ("dhl", "CN", "US")
    assert express["range1"] > postal["range1"]  # express is faster than postal


def test_costtime_is_deterministic_and_reports_bad_items_in_place(v2: V2) -> None:
    items = [
        {"original": "CN", "destination": "US", "carrier_code": "ups"},
        {"original": "CN", "destination": "US", "carrier_code": "no-such"},
        {"original": "XX", "destination": "US", "carrier_code": "ups"},
    ]

    first = v2.post("/trackings/costtime", items)["data"]
    second = v2.post("/trackings/costtime", items)["data"]

    assert first == second
    assert [item.get("code") for item in first] == [None, 4015, 4012]
