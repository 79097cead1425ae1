"""Request validation and normalisation of the lookup routes (air cargo, remote checks, transit times)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shiptrack.countries import COUNTRIES, country_code, country_name
from shiptrack.services.aircargo import AirCargoRequest, awb_check_digit_ok, normalize_awb
from shiptrack.services.remote_checks import (
    RemoteCheckItem,
    RemoteChecksRequest,
    TransitRoute,
    TransitTimesRequest,
    normalize_postcode,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("given", "expected"),
    [("172-28891936", "172-28891936"), ("17228891936", "172-28891936"), ("  020-12345675 ", "020-12345675")],
)
def test_awb_numbers_are_normalised_to_prefix_dash_serial(given: str, expected: str) -> None:
    assert normalize_awb(given) == expected


@pytest.mark.parametrize("given", ["172-2889193", "172--28891936", "1722-8891936", "ABC-28891936", "", "172 28891936"])
def test_malformed_awb_numbers_are_refused(given: str) -> None:
    with pytest.raises(ValidationError):
        AirCargoRequest(awb_numbers=[given])


def test_the_awb_check_digit_is_the_serial_modulo_7() -> None:
    assert awb_check_digit_ok("172-28891936")  # seed 001: 2889193 % 7 == 6
    assert not awb_check_digit_ok("172-28891937")


@pytest.mark.parametrize("count", [0, 51])
def test_between_1_and_50_awbs_are_accepted(count: int) -> None:
    with pytest.raises(ValidationError):
        AirCargoRequest(awb_numbers=["172-28891936"] * count)


def test_50_awbs_are_accepted_and_unknown_fields_refused() -> None:
    assert len(AirCargoRequest(awb_numbers=["172-28891936"] * 50).awb_numbers) == 50
    with pytest.raises(ValidationError):
        AirCargoRequest.model_validate({"awb_numbers": ["172-28891936"], "lang": "en"})


@pytest.mark.parametrize(
    ("given", "expected"),
    [("JP", "JP"), ("jp", "JP"), ("Japan", "JP"), ("  new zealand ", "NZ"), ("Côte d'Ivoire", "CI"),
     ("Cote dIvoire", "CI"), ("UK", "GB"), ("United States of America", "US"), ("Korea, Republic of", "KR"),
     ("the Netherlands", "NL"), ("Türkiye", "TR"), ("Turkey", "TR")],
)  # fmt: skip
def test_countries_are_codes_or_names(given: str, expected: str) -> None:
    assert country_code(given) == expected


@pytest.mark.parametrize("given", ["XX", "Atlantis", "J", "", "JPN"])
def test_unknown_countries_are_none(given: str) -> None:
    assert country_code(given) is None


def test_the_country_table_is_iso_3166_alpha_2() -> None:
    assert len(COUNTRIES) == 249
    assert all(len(code) == 2 and code.isupper() for code in COUNTRIES)
    assert country_name("nz") == "New Zealand"


def test_remote_checks_are_normalised() -> None:
    item = RemoteCheckItem.model_validate({"country": "japan", "postcode": " sw1a   1aa ", "carrier": "FedEx"})

    assert (item.country, item.postcode, item.carrier) == ("JP", "SW1A 1AA", "fedex")
    assert normalize_postcode("Papaaroha") == "PAPAAROHA"


@pytest.mark.parametrize(
    "check",
    [
        {"country": "Atlantis", "postcode": "1"},
        {"country": "JP", "postcode": ""},
        {"country": "JP", "postcode": "#1"},
        {"country": "JP", "postcode": "1", "carrier": "usps"},
        {"country": "JP"},
        {"country": "JP", "postcode": "1", "company": "dhl"},
    ],
)
def test_bad_remote_checks_are_refused(check: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        RemoteChecksRequest.model_validate({"checks": [check]})


@pytest.mark.parametrize("count", [0, 101])
def test_between_1_and_100_remote_checks_are_accepted(count: int) -> None:
    with pytest.raises(ValidationError):
        RemoteChecksRequest.model_validate({"checks": [{"country": "JP", "postcode": "1"}] * count})
    assert len(RemoteChecksRequest.model_validate({"checks": [{"country": "JP", "postcode": "1"}] * 100}).checks) == 100


def test_transit_routes_are_normalised() -> None:
    route = TransitRoute.model_validate({"carrier_code": " DHL ", "origin": "China", "destination": "us"})

    assert (route.carrier_code, route.origin, route.destination) == ("dhl", "CN", "US")


@pytest.mark.parametrize("count", [0, 51])
def test_between_1_and_50_transit_routes_are_accepted(count: int) -> None:
    route = {"carrier_code": "dhl", "origin": "CN", "destination": "US"}
    with pytest.raises(ValidationError):
        TransitTimesRequest.model_validate({"routes": [route] * count})


@pytest.mark.parametrize(
    "route",
    [
        {"carrier_code": "dh l", "origin": "CN", "destination": "US"},
        {"carrier_code": "dhl", "origin": "CN", "destination": "Atlantis"},
        {"carrier_code": "dhl", "origin": "CN"},
    ],
)
def test_bad_transit_routes_are_refused(route: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        TransitTimesRequest.model_validate({"routes": [route]})
