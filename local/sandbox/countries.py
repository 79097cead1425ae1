"""Countries: ISO 3166-1 alpha-2 code → the English name TrackingMore prints, a standard UTC offset for
carrier-local event times, and a few cities used as checkpoint locations.

Names follow TrackingMore's style as seen in captured responses ("United States", "Korea, South",
reference §6 and seed 002). Offsets are standard time (no DST): good enough for a simulator.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Country:
    code: str
    name: str
    utc_offset: float
    cities: tuple[str, ...]


_ROWS: list[tuple[str, str, float, tuple[str, ...]]] = [
    ("CN", "China", 8, ("Shenzhen", "Guangzhou", "Shanghai", "Yiwu", "Beijing", "Hangzhou", "Dongguan")),
    ("HK", "Hong Kong", 8, ("Hong Kong", "Kowloon", "Tsuen Wan")),
    ("TW", "Taiwan", 8, ("Taipei", "Taoyuan", "Kaohsiung")),
    (
        "US",
        "United States",
        -5,
        (
            "NEW YORK, NY 10001",
            "LOS ANGELES, CA 90001",
            "CHICAGO, IL 60607",
            "RENTON, WA 98056",
            "MEMPHIS, TN 38118",
            "LOUISVILLE, KY 40209",
            "JAMAICA, NY 11430",
        ),
    ),
    ("CA", "Canada", -5, ("Toronto, ON", "Mississauga, ON", "Vancouver, BC", "Montreal, QC")),
    ("MX", "Mexico", -6, ("Ciudad de Mexico", "Guadalajara", "Monterrey")),
    ("BR", "Brazil", -3, ("Curitiba - PR", "Sao Paulo - SP", "Rio de Janeiro - RJ")),
    ("AR", "Argentina", -3, ("Buenos Aires", "Cordoba")),
    ("CL", "Chile", -4, ("Santiago", "Valparaiso")),
    ("GB", "United Kingdom", 0, ("London", "Manchester", "Birmingham", "Glasgow", "Heathrow")),
    ("IE", "Ireland", 0, ("Dublin", "Cork")),
    ("DE", "Germany", 1, ("Leipzig", "Frankfurt", "Hamburg", "Berlin", "Koeln")),
    ("FR", "France", 1, ("Paris", "Roissy CDG", "Lyon", "Marseille")),
    ("NL", "Netherlands", 1, ("Amsterdam", "Utrecht", "Rotterdam", "Nieuwegein")),
    ("BE", "Belgium", 1, ("Brussels", "Antwerpen", "Liege")),
    ("LU", "Luxembourg", 1, ("Luxembourg",)),
    ("IT", "Italy", 1, ("Milano", "Roma", "Bologna")),
    ("ES", "Spain", 1, ("Madrid", "Barcelona", "Valencia")),
    ("PT", "Portugal", 0, ("Lisboa", "Porto")),
    ("CH", "Switzerland", 1, ("Zuerich", "Basel", "Bern")),
    ("AT", "Austria", 1, ("Wien", "Graz", "Linz")),
    ("DK", "Denmark", 1, ("Kobenhavn", "Aarhus")),
    ("SE", "Sweden", 1, ("Stockholm", "Malmo", "Goteborg")),
    ("NO", "Norway", 1, ("Oslo", "Bergen", "Trondheim")),
    ("FI", "Finland", 2, ("Helsinki", "Vantaa", "Tampere")),
    ("PL", "Poland", 1, ("Warszawa", "Krakow", "Poznan")),
    ("CZ", "Czech Republic", 1, ("Praha", "Brno")),
    ("HU", "Hungary", 1, ("Budapest",)),
    ("GR", "Greece", 2, ("Athens", "Thessaloniki")),
    ("LT", "Lithuania", 2, ("Vilnius", "Kaunas")),
    ("UA", "Ukraine", 2, ("Kyiv", "Lviv")),
    ("RU", "Russian Federation", 3, ("Moscow", "Saint Petersburg")),
    ("TR", "Turkey", 3, ("Istanbul", "Ankara")),
    ("IL", "Israel", 2, ("Tel Aviv", "Jerusalem")),
    ("AE", "United Arab Emirates", 4, ("Dubai", "Abu Dhabi")),
    ("QA", "Qatar", 3, ("Doha",)),
    ("ET", "Ethiopia", 3, ("Addis Ababa",)),
    ("SA", "Saudi Arabia", 3, ("Riyadh", "Jeddah")),
    ("IN", "India", 5.5, ("Mumbai", "New Delhi", "Bengaluru", "Chennai")),
    ("TH", "Thailand", 7, ("Bangkok",)),
    ("VN", "Vietnam", 7, ("Ho Chi Minh City", "Ha Noi")),
    ("MY", "Malaysia", 8, ("Kuala Lumpur", "Penang")),
    ("SG", "Singapore", 8, ("Singapore",)),
    ("ID", "Indonesia", 7, ("Jakarta", "Surabaya")),
    ("PH", "Philippines", 8, ("Manila", "Pasay City", "Cebu")),
    ("JP", "Japan", 9, ("Tokyo", "Osaka", "Narita", "Nagoya")),
    ("KR", "Korea, South", 9, ("Seoul", "Incheon", "Busan")),
    ("AU", "Australia", 10, ("Sydney", "Melbourne", "Brisbane", "Perth")),
    ("NZ", "New Zealand", 12, ("Auckland", "Wellington", "Christchurch")),
    ("ZA", "South Africa", 2, ("Johannesburg", "Cape Town")),
]

COUNTRIES: dict[str, Country] = {code: Country(code, name, off, cities) for code, name, off, cities in _ROWS}

# Names people type that are not the ISO code or the name above (used by POST /trackings/remote).
_ALIASES = {
    "UK": "GB",
    "GREAT BRITAIN": "GB",
    "ENGLAND": "GB",
    "SCOTLAND": "GB",
    "USA": "US",
    "UNITED STATES OF AMERICA": "US",
    "AMERICA": "US",
    "SOUTH KOREA": "KR",
    "KOREA": "KR",
    "RUSSIA": "RU",
    "HOLLAND": "NL",
    "THE NETHERLANDS": "NL",
    "UAE": "AE",
    "CZECHIA": "CZ",
}


def country_name(code: str | None) -> str:
    if not code:
        return ""
    country = COUNTRIES.get(code.upper())
    return country.name if country else code.upper()


def resolve_country(value: str) -> Country | None:
    """A country from a 2-letter code or an English name (case-insensitive)."""
    key = value.strip().upper()
    if key in COUNTRIES:
        return COUNTRIES[key]
    key = _ALIASES.get(key, key)
    if key in COUNTRIES:
        return COUNTRIES[key]
    for country in COUNTRIES.values():
        if country.name.upper() == key:
            return country
    return None
