"""The carrier list (``GET /carriers``) and carrier detection from number formats (``POST /carriers/detect``).

Names and codes follow TrackingMore's lower-case code style (reference §3.17, §3.1 examples such as ``china-ems``,
``poste-italiane``, ``4px``, ``phlpost``, ``lietuvos-pastas``). Phones and homepages are the carriers' public
customer-service numbers and sites as best known (china-post, dhl, korea-post, phlpost and lietuvos-pastas are copied
from the reference §3.17 and seed 002); picture URLs follow the CDN pattern of reference §3.17 (inferred for all but
china-post and dhl). ``type`` is ``express`` for couriers and ``globalpost`` for postal services, the two values seen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Carrier:
    code: str
    name: str
    type: str  # "express" | "globalpost"
    country: str  # ISO2 of the carrier's home
    phone: str
    homepage: str

    @property
    def picture(self) -> str:
        if self.code == "china-post":  # the one globalpost picture the reference shows (§3.17)
            return "//cdn.trackingmore.com/images/icons/express/companylogo/3010.jpg"
        return f"//cdn.trackingmore.com/images/icons/express/{self.code}.png"

    @property
    def postal(self) -> bool:
        return self.type == "globalpost"

    def as_list_item(self) -> dict[str, str]:
        return {
            "name": self.name,
            "code": self.code,
            "phone": self.phone,
            "homepage": self.homepage,
            "type": self.type,
            "picture": self.picture,
        }


_E = "express"
_P = "globalpost"

_ROWS: list[tuple[str, str, str, str, str, str]] = [
    # code, name, type, home country, phone, homepage
    ("dhl", "DHL", _E, "DE", "1 800 225 5345", "//www.dhl.com/"),
    ("ups", "UPS", _E, "US", "1 800 742 5877", "//www.ups.com/"),
    ("fedex", "Fedex", _E, "US", "1 800 463 3339", "//www.fedex.com/"),
    ("tnt", "TNT", _E, "NL", "1 800 558 5555", "//www.tnt.com/"),
    ("aramex", "Aramex", _E, "AE", "600 544000", "//www.aramex.com/"),
    ("dpd", "DPD", _E, "DE", "+49 6021 0843 0", "//www.dpd.com/"),
    ("gls", "GLS", _E, "DE", "+49 6677 646 907 000", "//gls-group.com/"),
    ("dhl-germany", "DHL Germany", _E, "DE", "+49 228 4333112", "//www.dhl.de/"),
    ("dhlparcel-nl", "DHL Parcel NL", _E, "NL", "+31 900 222 21 20", "//www.dhlparcel.nl/"),
    ("hermes", "Hermes Germany", _E, "DE", "+49 40 537 55 847", "//www.myhermes.de/"),
    ("evri", "Evri", _E, "GB", "+44 330 808 5456", "//www.evri.com/"),
    ("purolator", "Purolator", _E, "CA", "1 888 744 7123", "//www.purolator.com/"),
    ("ontrac", "OnTrac", _E, "US", "1 800 334 5000", "//www.ontrac.com/"),
    ("lasership", "LaserShip", _E, "US", "1 804 414 2590", "//www.lasership.com/"),
    ("chronopost", "Chronopost", _E, "FR", "+33 9 69 39 13 91", "//www.chronopost.fr/"),
    ("bluedart", "Blue Dart", _E, "IN", "1860 233 1234", "//www.bluedart.com/"),
    ("sf-express", "SF Express", _E, "CN", "95338", "//www.sf-express.com/"),
    ("zto", "ZTO Express", _E, "CN", "95311", "//www.zto.com/"),
    ("sto", "STO Express", _E, "CN", "95543", "//www.sto.cn/"),
    ("yto", "YTO Express", _E, "CN", "95554", "//www.yto.net.cn/"),
    ("yunda", "Yunda Express", _E, "CN", "95546", "//www.yundaex.com/"),
    ("yanwen", "Yanwen", _E, "CN", "400 108 5656", "//www.yw56.com.cn/"),
    ("cainiao", "Cainiao", _E, "CN", "+86 571 8778 8888", "//global.cainiao.com/"),
    ("4px", "4PX", _E, "CN", "+86 755 2350 8000", "//www.4px.com/"),
    ("yunexpress", "YunExpress", _E, "CN", "400 0262 126", "//www.yunexpress.com/"),
    ("ems", "EMS", _P, "CN", "86 11183", "//www.ems.post/"),
    ("china-ems", "China EMS", _P, "CN", "86 11183", "//www.ems.com.cn/"),
    ("china-post", "China post", _P, "CN", "86 20 11185", "//intmail.183.com.cn/"),
    ("usps", "USPS", _P, "US", "1 800 275 8777", "//www.usps.com/"),
    ("royal-mail", "Royal Mail", _P, "GB", "+44 3457 740 740", "//www.royalmail.com/"),
    ("deutsche-post", "Deutsche Post", _P, "DE", "+49 228 4333112", "//www.deutschepost.de/"),
    ("la-poste", "La Poste", _P, "FR", "+33 3631", "//www.laposte.fr/"),
    ("colissimo", "Colissimo", _P, "FR", "+33 3631", "//www.colissimo.fr/"),
    ("postnl", "PostNL", _P, "NL", "+31 88 868 6161", "//www.postnl.nl/"),
    ("canada-post", "Canada Post", _P, "CA", "1 866 607 6301", "//www.canadapost-postescanada.ca/"),
    ("australia-post", "Australia Post", _P, "AU", "+61 13 13 18", "//auspost.com.au/"),
    ("japan-post", "Japan Post", _P, "JP", "+81 570 046 111", "//www.post.japanpost.jp/"),
    ("korea-post", "Korea Post", _P, "KR", "82-2-2108-9895", "//www.epost.go.kr/"),
    ("singapore-post", "Singapore Post", _P, "SG", "+65 6841 2000", "//www.singpost.com/"),
    ("hong-kong-post", "Hong Kong Post", _P, "HK", "+852 2921 2222", "//www.hongkongpost.hk/"),
    ("taiwan-post", "Taiwan Post", _P, "TW", "+886 2 2703 7527", "//www.post.gov.tw/"),
    ("poste-italiane", "Poste Italiane", _P, "IT", "+39 06 4526 3322", "//www.poste.it/"),
    ("correos-spain", "Correos Spain", _P, "ES", "+34 915 197 280", "//www.correos.es/"),
    ("ctt", "CTT Portugal", _P, "PT", "+351 210 471 616", "//www.ctt.pt/"),
    ("swiss-post", "Swiss Post", _P, "CH", "+41 848 888 888", "//www.post.ch/"),
    ("austria-post", "Austria Post", _P, "AT", "+43 800 010 100", "//www.post.at/"),
    ("bpost", "bpost", _P, "BE", "+32 2 201 23 45", "//www.bpost.be/"),
    ("posten-norge", "Posten Norge", _P, "NO", "+47 04045", "//www.posten.no/"),
    ("posti", "Posti", _P, "FI", "+358 200 71000", "//www.posti.fi/"),
    ("postnord", "PostNord", _P, "SE", "+46 771 33 33 10", "//www.postnord.se/"),
    ("an-post", "An Post", _P, "IE", "+353 1 705 7600", "//www.anpost.com/"),
    ("poczta-polska", "Poczta Polska", _P, "PL", "+48 43 842 06 00", "//www.poczta-polska.pl/"),
    ("czech-post", "Czech Post", _P, "CZ", "+420 954 292 102", "//www.postaonline.cz/"),
    ("magyar-posta", "Magyar Posta", _P, "HU", "+36 1 767 8200", "//www.posta.hu/"),
    ("elta", "ELTA Hellenic Post", _P, "GR", "+30 800 11 82000", "//www.elta.gr/"),
    ("lietuvos-pastas", "Lietuvos Paštas", _P, "LT", "(370) 8 700 55400", "//www.post.lt/"),
    ("ukrposhta", "Ukrposhta", _P, "UA", "+380 800 300 545", "//www.ukrposhta.ua/"),
    ("russian-post", "Russian Post", _P, "RU", "+7 800 100 00 00", "//www.pochta.ru/"),
    ("turkey-post", "Turkey Post (PTT)", _P, "TR", "+90 444 1 788", "//www.ptt.gov.tr/"),
    ("israel-post", "Israel Post", _P, "IL", "+972 76 887 6789", "//www.israelpost.co.il/"),
    ("emirates-post", "Emirates Post", _P, "AE", "+971 600 599 999", "//www.emiratespost.ae/"),
    ("saudi-post", "Saudi Post", _P, "SA", "+966 920005700", "//www.splonline.com.sa/"),
    ("india-post", "India Post", _P, "IN", "1800 266 6868", "//www.indiapost.gov.in/"),
    ("thailand-post", "Thailand Post", _P, "TH", "+66 1545", "//www.thailandpost.co.th/"),
    ("vietnam-post", "Vietnam Post", _P, "VN", "+84 1900 54 54 81", "//www.vnpost.vn/"),
    ("malaysia-post", "Malaysia Post", _P, "MY", "+60 1300 300 300", "//www.pos.com.my/"),
    ("pos-indonesia", "Pos Indonesia", _P, "ID", "+62 1500161", "//www.posindonesia.co.id/"),
    ("phlpost", "PHLPost", _P, "PH", "+ (63) 854-9825", "//www.phlpost.gov.ph/"),
    ("brazil-correios", "Brazil Correios", _P, "BR", "+55 3003 0100", "//www.correios.com.br/"),
    ("mexico-post", "Mexico Post", _P, "MX", "+52 55 5340 3300", "//www.correosdemexico.gob.mx/"),
    ("correo-argentino", "Correo Argentino", _P, "AR", "+54 810 777 7787", "//www.correoargentino.com.ar/"),
    ("correos-chile", "Correos Chile", _P, "CL", "+56 600 950 2020", "//www.correos.cl/"),
    ("new-zealand-post", "New Zealand Post", _P, "NZ", "+64 9 367 9710", "//www.nzpost.co.nz/"),
    ("south-africa-post", "South African Post Office", _P, "ZA", "+27 860 111 502", "//www.postoffice.co.za/"),
]

CARRIERS: dict[str, Carrier] = {row[0]: Carrier(*row) for row in _ROWS}

# The national post of each country (S10 numbers end with the issuing country's code).
POST_OF_COUNTRY: dict[str, str] = {
    c.country: c.code for c in CARRIERS.values() if c.postal and c.code not in {"ems", "china-ems", "colissimo"}
}
POST_OF_COUNTRY["DK"] = "postnord"

CARRIER_CODE_RE = re.compile(r"^[0-9a-z_-]+$", re.IGNORECASE)  # reference §1 (official SDK rule)
TRACKING_NUMBER_RE = re.compile(r"^[0-9a-z_-]{5,}$", re.IGNORECASE)  # reference §1 (official SDK rule)
MAX_TRACKING_NUMBER_LENGTH = 50  # inferred: no documented maximum


def get_carrier(code: str) -> Carrier | None:
    return CARRIERS.get(code.lower())


# ---------------------------------------------------------------------------------------------------------------
# Detection

S10_RE = re.compile(r"^([A-Z])([A-Z])(\d{8})(\d)([A-Z]{2})$")
_S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)


def s10_check_digit(serial: str) -> int:
    """UPU S10 check digit of an 8-digit serial (weights 8 6 4 2 3 5 9 7, mod 11; 10 → 0, 11 → 5)."""
    total = sum(int(d) * w for d, w in zip(serial, _S10_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: 0, 11: 5}.get(check, check)


def s10_valid(number: str) -> bool:
    match = S10_RE.match(number.upper())
    return match is not None and s10_check_digit(match.group(3)) == int(match.group(4))


def s10_country(number: str) -> str | None:
    match = S10_RE.match(number.upper())
    return match.group(5) if match else None


def _s10_candidates(number: str) -> list[tuple[float, str]]:
    match = S10_RE.match(number)
    if not match:
        return []
    service, country = match.group(1), match.group(5)
    valid = s10_check_digit(match.group(3)) == int(match.group(4))
    base = 90.0 if valid else 30.0
    found: list[tuple[float, str]] = []
    if country == "YP":  # Yanwen's own S10-like numbers end in "YP" (not a country)
        return [(95.0, "yanwen")]
    if country == "WW" and number.startswith("GE"):  # TNT consignments "GE123456789WW"
        return [(95.0, "tnt")]
    post = POST_OF_COUNTRY.get(country)
    if service == "E":  # EMS items
        if country == "CN":
            found += [(base + 5, "china-ems"), (base - 5, "china-post")]
        elif country == "FR":
            found += [(base + 5, "chronopost"), (base - 5, "la-poste")]
        elif post:
            found.append((base, post))
        found.append((base - 20, "ems"))
        return found
    if country == "FR" and service == "C":
        return [(base + 5, "colissimo"), (base - 5, "la-poste")]
    if post:
        found.append((base, post))
    # Marketplace consolidators ship registered/e-packet items (L*, U*) via these posts (§3.9: LB…SG → cainiao).
    if service in {"L", "U"} and country in {"CN", "SG", "HK", "MY", "NL", "SE", "GB"}:
        found.append((base - 25, "cainiao"))
    return found


# (pattern, score, carrier) — checked on the upper-cased number with spaces removed; several may match.
_PATTERNS: list[tuple[re.Pattern[str], float, str]] = [
    (re.compile(r"^1Z[0-9A-Z]{16}$"), 99, "ups"),
    (re.compile(r"^(9[1-5])\d{18,20}$"), 92, "usps"),  # 20–22 digits: 9400…, 9205…, 9261…, 9270…, 9300…
    (re.compile(r"^92\d{20}$"), 50, "fedex"),  # FedEx SmartPost also prints 92… (22 digits)
    (re.compile(r"^96\d{20}$"), 90, "fedex"),  # FedEx Ground 96 + 20 digits
    (re.compile(r"^\d{20}$"), 60, "fedex"),
    (re.compile(r"^00340434\d{12}$"), 95, "dhl-germany"),
    (re.compile(r"^JJD\d{18,20}$"), 92, "dhl-germany"),
    (re.compile(r"^JVGL\d{10,20}$"), 92, "dhlparcel-nl"),
    (re.compile(r"^3S[A-Z]{4}\d{7,9}$"), 85, "postnl"),
    (re.compile(r"^3S[A-Z]{4}\d{7,9}$"), 60, "dhlparcel-nl"),
    (re.compile(r"^\d{10}$"), 85, "dhl"),  # DHL Express waybill
    (re.compile(r"^\d{10}$"), 40, "aramex"),
    (re.compile(r"^\d{12}$"), 80, "fedex"),  # FedEx Express
    (re.compile(r"^30\d{10}$"), 82, "4px"),  # 4PX numeric (reference §3.4 example 300403513351)
    (re.compile(r"^7[3568]\d{10}$"), 55, "zto"),
    (re.compile(r"^\d{15}$"), 80, "fedex"),  # FedEx Ground
    (re.compile(r"^\d{9}$"), 70, "tnt"),
    (re.compile(r"^\d{11}$"), 70, "gls"),
    (re.compile(r"^\d{11}$"), 50, "bluedart"),
    (re.compile(r"^0\d{13}$"), 80, "dpd"),
    (re.compile(r"^[1-9]\d{13}$"), 75, "hermes"),
    (re.compile(r"^[1-9]\d{13}$"), 45, "dpd"),
    (re.compile(r"^H[0-9A-Z]{15}$"), 88, "evri"),
    (re.compile(r"^\d{16}$"), 70, "canada-post"),
    (re.compile(r"^[A-Z]{3}\d{9}$"), 80, "purolator"),
    (re.compile(r"^[CD]\d{14}$"), 85, "ontrac"),
    (re.compile(r"^1LS[0-9A-Z]{10,}$"), 90, "lasership"),
    (re.compile(r"^LX\d{8}$"), 80, "lasership"),
    (re.compile(r"^\d[A-Z]\d{11}$"), 80, "colissimo"),  # Colissimo domestic, e.g. 6A12345678901
    (re.compile(r"^SF\d{12,13}$"), 97, "sf-express"),
    (re.compile(r"^YT\d{16}$"), 95, "yunexpress"),
    (re.compile(r"^YT\d{13}$"), 90, "yto"),
    (re.compile(r"^(77|88|66|55)\d{11}$"), 70, "sto"),
    (re.compile(r"^(31|43|46)\d{11}$"), 65, "yunda"),
    (re.compile(r"^LP\d{14}$"), 95, "cainiao"),
    (re.compile(r"^4PX\d{10,15}CN$"), 96, "4px"),
    (re.compile(r"^[A-Z]{2}\d{9}YP$"), 95, "yanwen"),
    (re.compile(r"^GM\d{16,18}$"), 85, "dhl"),  # DHL eCommerce
]


def detect(number: str) -> list[Carrier]:
    """Carriers whose number formats match, most likely first (empty when none match)."""
    cleaned = re.sub(r"[\s-]", "", number).upper()
    scored: dict[str, float] = {}
    for score, code in _s10_candidates(cleaned):
        scored[code] = max(score, scored.get(code, 0.0))
    for pattern, score, code in _PATTERNS:
        if pattern.match(cleaned):
            scored[code] = max(float(score), scored.get(code, 0.0))
    ordered = sorted(scored.items(), key=lambda item: (-item[1], item[0]))
    return [CARRIERS[code] for code, _ in ordered if code in CARRIERS]
