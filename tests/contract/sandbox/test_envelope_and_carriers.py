"""Envelope, authentication, meta types and the carrier list (reference §1, §3.17, §4.1)."""

from __future__ import annotations

import pytest
import requests

from local.sandbox import SandboxServer
from tests.contract.sandbox.helpers import TIMEOUT, V2, code_of

pytestmark = pytest.mark.contract

# reference §4.1: meta.code → meta.type, exactly.
META_TYPES = {
    200: "Success",
    201: "Created",
    4001: "Unauthorized",
    4012: "Bad Request",
    4013: "Bad Request",
    4014: "Bad Request",
    4015: "Bad Request",
    4016: "Bad Request",
    4017: "Bad Request",
    4020: "Bad Request",
    4021: "Bad Request",
    4031: "No Content",
    4032: "No Content",
    4033: "No Content",
    429: "Too Many Requests",
}


def test_success_envelope_has_meta_code_type_message_and_data(v2: V2) -> None:
    body = v2.get("/trackings/getuserinfo")

    assert set(body) == {"meta", "data"}
    assert body["meta"] == {"code": 200, "type": "Success", "message": body["meta"]["message"]}
    assert isinstance(body["meta"]["message"], str)


@pytest.mark.parametrize("headers", [{}, {"Trackingmore-Api-Key": "wrong-key"}], ids=["missing", "wrong"])
def test_missing_or_wrong_api_key_is_4001_with_http_200(sandbox: SandboxServer, headers: dict[str, str]) -> None:
    response = requests.get(sandbox.base_url + "/trackings/getuserinfo", headers=headers, timeout=TIMEOUT)

    assert response.status_code == 200
    assert response.json()["meta"]["code"] == 4001
    assert response.json()["meta"]["type"] == "Unauthorized"


def test_api_key_header_name_is_case_insensitive(sandbox: SandboxServer) -> None:
    response = requests.get(
        sandbox.base_url + "/trackings/getuserinfo", headers={"trackingmore-api-key": sandbox.api_key}, timeout=TIMEOUT
    )

    assert response.json()["meta"]["code"] == 200


def test_every_error_code_carries_its_documented_meta_type(v2: V2, sandbox: SandboxServer) -> None:
    seen: dict[int, str] = {}

    def note(body: dict[str, object]) -> None:
        meta = body["meta"]
        assert isinstance(meta, dict)
        seen[int(meta["code"])] = str(meta["type"])

    v2.create("RN123456785CN", "china-post")
    note(v2.post("/trackings/post", {"tracking_number": "RN123456785CN", "carrier_code": "china-post"}))  # 4016
    note(v2.post("/trackings/post", {"carrier_code": "china-post"}))  # 4013
    note(v2.post("/trackings/post", {"tracking_number": "RN1", "carrier_code": "china-post"}))  # 4014
    note(v2.post("/trackings/post", {"tracking_number": "RN123456785CN", "carrier_code": "no-such"}))  # 4015
    note(v2.post("/trackings/post", {"tracking_number": "RN123456785CN"}))  # 4012
    note(v2.get("/trackings/china-post/RR000000000CN"))  # 4031
    note(v2.delete("/trackings/china-post/RR000000000CN"))  # 4017
    note(v2.put("/trackings/china-post/RN123456785CN", {"status": 5}))  # 4033
    note(v2.post("/carriers/detect", {"tracking_number": "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"}))  # 4032
    note(v2.post("/trackings/batch", [{"tracking_number": f"N{i:08d}", "carrier_code": "dhl"} for i in range(41)]))
    note(v2.post("/trackings/batch", [{"tracking_number": "1234567890", "carrier_code": "dhl"}]))  # 201
    sandbox.configure(quota=0)
    note(v2.post("/trackings/post", {"tracking_number": "1234567891", "carrier_code": "dhl"}))  # 4021
    sandbox.configure(enforce_rate_limits=True)
    v2.get("/trackings/get")
    note(v2.get("/trackings/get"))  # 429
    note(requests.get(sandbox.base_url + "/carriers", timeout=TIMEOUT).json())  # 4001

    assert set(seen) == set(META_TYPES) - {200}
    assert seen == {code: META_TYPES[code] for code in seen}


def test_error_bodies_are_http_200_with_data(v2: V2) -> None:
    response = v2.raw("GET", "/trackings/ups/1Z999AA10123456784")

    assert response.status_code == 200
    body = response.json()
    assert code_of(body) == 4031
    assert "data" in body


def test_non_json_body_is_4015(v2: V2) -> None:
    # FAQ: 4015 is often caused by a body that is not JSON (reference §1, §4.1).
    body = v2.call("POST", "/trackings/post", data="tracking_number=RN123456785CN&carrier_code=china-post")

    assert code_of(body) == 4015


def test_unknown_path_is_answered_in_the_envelope(v2: V2) -> None:
    body = v2.get("/trackings/get/extra/segments/here")

    assert code_of(body) == 404
    assert body["meta"]["type"] == "Not Found"


def test_carriers_meta_holds_only_the_code(v2: V2) -> None:
    body = v2.get("/carriers")

    assert body["meta"] == {"code": 200}


def test_carriers_trailing_slash_is_accepted(v2: V2) -> None:
    assert v2.get("/carriers/")["data"] == v2.get("/carriers")["data"]


REQUIRED_CARRIERS = (
    "dhl",
    "ups",
    "fedex",
    "usps",
    "china-post",
    "china-ems",
    "royal-mail",
    "deutsche-post",
    "dhl-germany",
    "la-poste",
    "colissimo",
    "postnl",
    "dpd",
    "gls",
    "tnt",
    "aramex",
    "yanwen",
    "cainiao",
    "4px",
    "yunexpress",
    "canada-post",
    "australia-post",
    "japan-post",
    "korea-post",
    "singapore-post",
    "hong-kong-post",
    "poste-italiane",
    "correos-spain",
    "swiss-post",
    "austria-post",
    "bpost",
    "posten-norge",
    "posti",
    "postnord",
    "india-post",
    "brazil-correios",
    "mexico-post",
    "new-zealand-post",
    "sf-express",
    "zto",
    "sto",
    "yto",
    "ems",
    "dhlparcel-nl",
    "hermes",
    "evri",
    "purolator",
    "ontrac",
    "lasership",
    "chronopost",
    "bluedart",
)


def test_carrier_list_has_at_least_50_carriers_in_the_documented_shape(v2: V2) -> None:
    carriers = v2.get("/carriers")["data"]

    assert len(carriers) >= 50
    for carrier in carriers:
        assert set(carrier) == {"name", "code", "phone", "homepage", "type", "picture"}
        assert carrier["type"] in {"express", "globalpost"}
        assert carrier["code"] == carrier["code"].lower()
        assert carrier["name"]
        assert carrier["homepage"].startswith("//")
        assert carrier["picture"].startswith("//cdn.trackingmore.com/")
    codes = [c["code"] for c in carriers]
    assert len(codes) == len(set(codes))
    assert set(REQUIRED_CARRIERS) <= set(codes)


def test_documented_carrier_examples(v2: V2) -> None:
    carriers = {c["code"]: c for c in v2.get("/carriers")["data"]}

    assert carriers["dhl"]["name"] == "DHL"
    assert carriers["dhl"]["type"] == "express"
    assert carriers["dhl"]["phone"] == "1 800 225 5345"
    assert carriers["china-post"]["type"] == "globalpost"
    assert carriers["china-post"]["homepage"] == "//intmail.183.com.cn/"
