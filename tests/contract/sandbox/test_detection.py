"""Carrier detection from number formats (reference §3.18)."""

from __future__ import annotations

import pytest

from tests.contract.sandbox.helpers import V2, code_of, s10

pytestmark = pytest.mark.contract


def _detect(v2: V2, number: str) -> list[str]:
    body = v2.post("/carriers/detect", {"tracking_number": number})
    assert code_of(body) == 200, body
    assert all(set(item) == {"name", "code"} for item in body["data"])
    return [item["code"] for item in body["data"]]


@pytest.mark.parametrize(
    ("number", "first"),
    [
        (s10("RN", 12345678, "CN"), "china-post"),
        (s10("EA", 12345678, "CN"), "china-ems"),
        (s10("RR", 87654321, "US"), "usps"),
        (s10("RB", 11223344, "GB"), "royal-mail"),
        (s10("RR", 55667788, "DE"), "deutsche-post"),
        (s10("RR", 10203040, "FR"), "la-poste"),
        (s10("CP", 10203040, "FR"), "colissimo"),
        (s10("RR", 99887766, "NL"), "postnl"),
        (s10("RR", 12121212, "CA"), "canada-post"),
        (s10("RR", 13131313, "AU"), "australia-post"),
        (s10("RR", 14141414, "JP"), "japan-post"),
        (s10("RR", 15151515, "KR"), "korea-post"),
        (s10("RR", 16161616, "SG"), "singapore-post"),
        (s10("RR", 17171717, "HK"), "hong-kong-post"),
        (s10("RR", 18181818, "IT"), "poste-italiane"),
        (s10("RR", 19191919, "ES"), "correos-spain"),
        (s10("RR", 20202020, "CH"), "swiss-post"),
        (s10("RR", 21212121, "NO"), "posten-norge"),
        (s10("RR", 22222222, "IN"), "india-post"),
        (s10("RR", 23232323, "BR"), "brazil-correios"),
        (s10("RR", 24242424, "NZ"), "new-zealand-post"),
        ("1Z999AA10123456784", "ups"),
        ("9400111899223197428490", "usps"),
        ("92055901755477000271990251", None),  # 26 digits: no known format
        ("1234567890", "dhl"),
        ("123456789012", "fedex"),
        ("123456789012345", "fedex"),
        ("9612345678901234567890", "fedex"),
        ("96123456789012345678901", None),
        ("SF1234567890123", "sf-express"),
        ("LP00123456789012", "cainiao"),
        ("UG123456789YP", "yanwen"),
        ("YT1234567890123456", "yunexpress"),
        ("4PX3000123456789CN", "4px"),
        ("00340434161234567890", "dhl-germany"),
        ("C12345678901234", "ontrac"),
        ("ABC123456789", "purolator"),
        ("H01ABC1234567890", "evri"),
        ("01234567890123", "dpd"),
        ("GE123456789WW", "tnt"),
    ],
)
def test_detects_the_most_likely_carrier_first(v2: V2, number: str, first: str | None) -> None:
    body = v2.post("/carriers/detect", {"tracking_number": number})

    if first is None:
        assert code_of(body) == 4032
    else:
        assert code_of(body) == 200
        assert body["data"][0]["code"] == first


def test_several_matches_are_possible(v2: V2) -> None:
    codes = _detect(v2, s10("EA", 12345678, "CN"))

    assert codes[0] == "china-ems"
    assert "china-post" in codes


def test_s10_with_a_wrong_check_digit_is_still_recognised_by_its_format(v2: V2) -> None:
    good = s10("RR", 12345678, "US")
    bad = good[:10] + str((int(good[10]) + 1) % 10) + good[11:]

    assert _detect(v2, good)[0] == "usps"
    assert _detect(v2, bad) == ["usps"]


def test_detect_answers_names_from_the_carrier_list(v2: V2) -> None:
    names = {c["code"]: c["name"] for c in v2.get("/carriers")["data"]}

    body = v2.post("/carriers/detect", {"tracking_number": "1Z999AA10123456784"})

    assert body["data"] == [{"name": names["ups"], "code": "ups"}]


def test_undetectable_number_is_4032(v2: V2) -> None:
    assert code_of(v2.post("/carriers/detect", {"tracking_number": "NOTANUMBERATALL"})) == 4032


def test_detect_without_a_number_is_4013_and_bad_number_4014(v2: V2) -> None:
    assert code_of(v2.post("/carriers/detect", {})) == 4013
    assert code_of(v2.post("/carriers/detect", {"tracking_number": "a b"})) == 4014
