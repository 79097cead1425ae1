"""Remote delivery areas (``POST /trackings/remote``; reference §3.14, seed 003).

Where the list comes from: a modest table compiled for the sandbox from zones that DHL Express (Remote Area
Services), UPS (Extended/Remote Area surcharge), FedEx (Out of Delivery Area) and TNT publicly class as remote:
Arctic and island postcodes and the Australian outback, simplified to postcode ranges. It is representative, not a
copy of any carrier's current list. The two rows marked "seed 003" are the documented examples
(Japan 7621094 → UPS and TNT; New Zealand "Papaaroha" → FedEx).

Response (seed 003): ``{"submitted", "other", "remote": [{far_express_company, two_code, far_country,
far_city_postcode}], "errors"}``. Choices where the page is silent: ``other`` lists the items that are not remote
(``{two_code, far_country, far_city_postcode}``); ``errors`` lists invalid items (``{country, postcode, company,
code, message}``, code 4012 for a missing/unknown country or postcode, 4015 for a company other than
DHL/UPS/FedEx/TNT).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local.sandbox.countries import resolve_country

COMPANIES = ("dhl", "ups", "fedex", "tnt")
_ALL = COMPANIES


@dataclass(frozen=True)
class RemoteZone:
    country: str
    description: str
    companies: tuple[str, ...]
    matches: Callable[[str], bool]


def _numeric_range(low: int, high: int, digits: int) -> Callable[[str], bool]:
    def match(postcode: str) -> bool:
        value = re.sub(r"[\s-]", "", postcode)
        return value.isdigit() and len(value) == digits and low <= int(value) <= high

    return match


def _prefix_range(low: int, high: int, digits: int, length: int) -> Callable[[str], bool]:
    """Postcodes (of ``length`` digits) whose first ``digits`` digits fall in [low, high]."""

    def match(postcode: str) -> bool:
        value = re.sub(r"[\s-]", "", postcode)
        return value.isdigit() and len(value) == length and low <= int(value[:digits]) <= high

    return match


def _exact(*values: str) -> Callable[[str], bool]:
    wanted = {re.sub(r"[\s-]", "", v).lower() for v in values}
    return lambda postcode: re.sub(r"[\s-]", "", postcode).lower() in wanted


def _uk_districts(areas: dict[str, tuple[int, int] | None]) -> Callable[[str], bool]:
    """UK outward codes: area letters → district range (None = the whole area)."""

    def match(postcode: str) -> bool:
        value = postcode.upper().replace(" ", "")
        if len(value) >= 5 and value[-3].isdigit():
            value = value[:-3]  # full postcode → outward code
        found = re.match(r"^([A-Z]{1,2})(\d{1,2})[A-Z]?$", value)
        if not found:
            return False
        area, district = found.group(1), int(found.group(2))
        if area not in areas:
            return False
        bounds = areas[area]
        return bounds is None or bounds[0] <= district <= bounds[1]

    return match


def _ca_fsa(*prefixes: str) -> Callable[[str], bool]:
    return lambda postcode: postcode.upper().replace(" ", "")[:3] in prefixes


ZONES: list[RemoteZone] = [
    RemoteZone("JP", "seed 003 example", ("ups", "tnt"), _exact("7621094")),
    RemoteZone("JP", "Izu Islands (Tokyo)", _ALL, _numeric_range(1000100, 1001799, 7)),
    RemoteZone("JP", "Ogasawara Islands", _ALL, _numeric_range(1002100, 1002299, 7)),
    RemoteZone("JP", "Amami Islands", _ALL, _prefix_range(894, 894, 3, 7)),
    RemoteZone("JP", "Tokunoshima, Okinoerabu, Yoron", _ALL, _prefix_range(8917, 8919, 4, 7)),
    RemoteZone("JP", "Miyako Islands (Okinawa)", _ALL, _prefix_range(906, 906, 3, 7)),
    RemoteZone("JP", "Yaeyama Islands (Okinawa)", _ALL, _prefix_range(907, 907, 3, 7)),
    RemoteZone("NZ", "seed 003 example", ("fedex",), _exact("Papaaroha")),
    RemoteZone("NZ", "Great Barrier Island", _ALL, _exact("0991", "Great Barrier Island")),
    RemoteZone("NZ", "Chatham Islands", _ALL, _exact("8942", "Chatham Islands")),
    RemoteZone("NZ", "Stewart Island", _ALL, _exact("9818", "Stewart Island", "Oban")),
    RemoteZone("AU", "Northern Territory remote communities", _ALL, _exact("0822", "0872")),
    RemoteZone("AU", "Pilbara and Kimberley (WA)", _ALL, _numeric_range(6710, 6770, 4)),
    RemoteZone("AU", "Torres Strait (QLD)", _ALL, _numeric_range(4875, 4876, 4)),
    RemoteZone("AU", "Flinders and King Island (TAS)", _ALL, _numeric_range(7255, 7256, 4)),
    RemoteZone("AU", "Christmas and Cocos Islands", _ALL, _numeric_range(6798, 6799, 4)),
    RemoteZone("NO", "Svalbard", _ALL, _numeric_range(9170, 9178, 4)),
    RemoteZone(
        "GB",
        "Scottish Highlands and Islands",
        _ALL,
        _uk_districts({"ZE": None, "HS": None, "KW": (15, 17), "IV": (41, 56), "PA": (41, 78), "KA": (27, 28)}),
    ),
    RemoteZone("US", "Alaska", ("dhl", "ups", "fedex"), _prefix_range(995, 999, 3, 5)),
    RemoteZone("US", "Hawaii", ("dhl", "ups", "fedex"), _prefix_range(967, 968, 3, 5)),
    RemoteZone(
        "CA",
        "Nunavut, Northwest Territories, rural Yukon",
        ("dhl", "ups", "fedex"),
        _ca_fsa("X0A", "X0B", "X0C", "X0E", "X0G", "Y0A", "Y0B"),
    ),
]


def check(items: list[Any]) -> dict[str, Any]:
    remote: list[dict[str, str]] = []
    other: list[dict[str, str]] = []
    errors: list[dict[str, Any]] = []
    for item in items:
        source = item if isinstance(item, dict) else {}
        country_raw, postcode_raw, company_raw = source.get("country"), source.get("postcode"), source.get("company")

        def fail(
            code: int,
            message: str,
            country: Any = country_raw,
            postcode: Any = postcode_raw,
            company: Any = company_raw,
        ) -> None:
            errors.append(
                {"country": country, "postcode": postcode, "company": company, "code": code, "message": message}
            )

        if not isinstance(country_raw, str) or not country_raw.strip():
            fail(4012, "country is required.")
            continue
        if not isinstance(postcode_raw, (str, int)) or not str(postcode_raw).strip():
            fail(4012, "postcode is required.")
            continue
        country = resolve_country(country_raw)
        if country is None:
            fail(4012, f"Unknown country {country_raw!r}: give a country name or a 2-letter code.")
            continue
        company: str | None = None
        if company_raw not in (None, ""):
            company = str(company_raw).strip().lower()
            if company not in COMPANIES:
                fail(4015, "company must be one of DHL, UPS, FedEx, TNT.")
                continue
        postcode = str(postcode_raw).strip()
        found: list[str] = []
        for zone in ZONES:
            if zone.country == country.code and zone.matches(postcode):
                found += [c for c in zone.companies if c not in found and (company is None or c == company)]
        shown = postcode.lower()
        if found:
            remote += [
                {
                    "far_express_company": c,
                    "two_code": country.code,
                    "far_country": country.name,
                    "far_city_postcode": shown,
                }
                for c in found
            ]
        else:
            other.append({"two_code": country.code, "far_country": country.name, "far_city_postcode": shown})
    return {"submitted": len(items), "other": other, "remote": remote, "errors": errors}
