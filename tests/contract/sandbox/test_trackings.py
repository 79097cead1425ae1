"""Create, get, edit, delete, change carrier, stop updating (reference §3.1, §3.4–§3.8, §3.10–§3.13, §6)."""

from __future__ import annotations

import re

import pytest

from local.sandbox import SandboxServer
from tests.contract.sandbox.helpers import V2, code_of

pytestmark = pytest.mark.contract

ID_RE = re.compile(r"^[0-9a-f]{32}$")
ISO_WITH_OFFSET_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$")
CREATE_KEYS = {
    "id",
    "tracking_number",
    "carrier_code",
    "order_create_time",
    "status",
    "created_at",
    "customer_email",
    "customer_name",
    "customer_phone",
    "order_id",
    "comment",
    "title",
    "logistics_channel",
    "destination",
}


# -- create -------------------------------------------------------------------------------------------------------
def test_create_returns_the_documented_item_shape(v2: V2) -> None:
    body = v2.post("/trackings/post", {"tracking_number": "RN123456785CN", "carrier_code": "china-post"})

    assert body["meta"]["code"] in (200, 201)
    data = body["data"]
    assert set(data) == CREATE_KEYS
    assert ID_RE.match(data["id"])
    assert data["tracking_number"] == "RN123456785CN"
    assert data["carrier_code"] == "china-post"
    assert data["status"] == "pending"
    assert ISO_WITH_OFFSET_RE.match(data["created_at"])
    assert data["order_create_time"] == 0  # int 0 when unset (§3.1)
    assert data["customer_email"] is None
    assert data["title"] is None
    assert data["destination"] == ""


def test_create_echoes_optional_fields(v2: V2) -> None:
    data = v2.create(
        "1Z999AA10123456784",
        "ups",
        title="Blue mug",
        order_id="#123",
        customer_name="Sandy",
        customer_email="sandy@example.com",
        customer_phone="+15551234567",
        order_create_time="2018-05-11 12:00",
        destination_code="us",
        logistics_channel="UPS Standard",
        comment="fragile",
    )

    assert data["title"] == "Blue mug"
    assert data["order_id"] == "#123"
    assert data["customer_name"] == "Sandy"
    assert data["customer_email"] == "sandy@example.com"
    assert data["customer_phone"] == "+15551234567"
    assert data["order_create_time"] == "2018-05-11 12:00"
    assert data["destination"] == "us"
    assert data["logistics_channel"] == "UPS Standard"
    assert data["comment"] == "fragile"


def test_duplicate_create_is_4016(v2: V2) -> None:
    v2.create("RN123456785CN", "china-post")

    body = v2.post("/trackings/post", {"tracking_number": "RN123456785CN", "carrier_code": "china-post"})

    assert code_of(body) == 4016


def test_same_number_with_another_carrier_is_a_different_tracking(v2: V2) -> None:
    v2.create("RN123456785CN", "china-post")

    assert v2.create("RN123456785CN", "china-ems")["carrier_code"] == "china-ems"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"carrier_code": "dhl"}, 4013),
        ({"tracking_number": "", "carrier_code": "dhl"}, 4013),
        ({"tracking_number": "1234567890"}, 4012),
        ({"tracking_number": "12#4567", "carrier_code": "dhl"}, 4014),
        ({"tracking_number": "1234", "carrier_code": "dhl"}, 4014),
        ({"tracking_number": "1234567890", "carrier_code": "DHL Express!"}, 4015),
        ({"tracking_number": "1234567890", "carrier_code": "not-a-carrier"}, 4015),
    ],
)
def test_create_validation_codes(v2: V2, body: dict[str, str], code: int) -> None:
    assert code_of(v2.post("/trackings/post", body)) == code


def test_create_with_a_json_array_body_is_rejected(v2: V2) -> None:
    assert code_of(v2.post("/trackings/post", [{"tracking_number": "1234567890", "carrier_code": "dhl"}])) == 4012


# -- get one ------------------------------------------------------------------------------------------------------
TRACKING_KEYS = {
    "id",
    "tracking_number",
    "carrier_code",
    "status",
    "substatus",
    "track_update",
    "created_at",
    "updated_at",
    "order_create_time",
    "title",
    "order_id",
    "comment",
    "customer_name",
    "customer_email",
    "customer_phone",
    "logistics_channel",
    "destination",
    "destination_code",
    "archived",
    "original_country",
    "destination_country",
    "itemTimeLength",
    "stayTimeLength",
    "service_code",
    "origin_info",
    "destination_info",
    "lastEvent",
    "lastUpdateTime",
}


def test_get_one_returns_the_tracking_object(v2: V2) -> None:
    created = v2.create("RN123456785CN", "china-post")

    data = v2.tracking("china-post", "RN123456785CN")

    assert set(data) >= TRACKING_KEYS
    assert data["id"] == created["id"]
    assert data["status"] == "pending"
    assert data["archived"] is False
    assert data["track_update"] is True
    assert ISO_WITH_OFFSET_RE.match(data["updated_at"])


def test_get_one_accepts_the_optional_lang_segment(v2: V2) -> None:
    v2.create("300403513351", "4px")

    body = v2.get("/trackings/4px/300403513351/en")

    assert code_of(body) == 200
    assert body["data"]["tracking_number"] == "300403513351"


def test_get_unknown_tracking_is_4031(v2: V2) -> None:
    assert code_of(v2.get("/trackings/dhl/1234567890")) == 4031


def test_get_with_unknown_carrier_is_4015(v2: V2) -> None:
    assert code_of(v2.get("/trackings/not-a-carrier/1234567890")) == 4015


def test_list_route_accepts_post_with_a_json_body(v2: V2) -> None:
    v2.create("RN123456785CN", "china-post")

    body = v2.post("/trackings/get", {"page": 1, "limit": 10, "numbers": "RN123456785CN"})

    assert code_of(body) == 200
    assert body["data"]["total"] == "1"


# -- PUT ----------------------------------------------------------------------------------------------------------
def test_put_updates_fields_and_echoes_archived_and_status_as_strings(v2: V2) -> None:
    v2.create("402934299065", "sto")

    body = v2.put(
        "/trackings/sto/402934299065",
        {
            "title": "new title",
            "logistics_channel": "4PX挂号小包",
            "customer_name": "sandy",
            "customer_email": "sandy@example.com",
            "order_id": "986574521568",
            "destination_code": "CN",
            "archived": "true",
            "status": 7,
        },
    )

    assert code_of(body) == 200
    data = body["data"]
    # seed 004: archived and status come back as strings
    assert data["archived"] == "true"
    assert data["status"] == "7"
    assert data["title"] == "new title"
    assert data["logistics_channel"] == "4PX挂号小包"
    assert data["destination_code"] == "CN"
    assert ISO_WITH_OFFSET_RE.match(data["updated_at"])
    stored = v2.tracking("sto", "402934299065")
    assert stored["status"] == "exception"
    assert stored["archived"] is True
    assert stored["customer_name"] == "sandy"


@pytest.mark.parametrize(("value", "expected"), [(4, "delivered"), ("7", "exception")])
def test_put_status_override(v2: V2, value: object, expected: str) -> None:
    v2.create("1Z999AA10123456784", "ups")

    v2.put("/trackings/ups/1Z999AA10123456784", {"status": value})

    assert v2.tracking("ups", "1Z999AA10123456784")["status"] == expected


def test_put_status_8_reverts_to_the_computed_status(v2: V2, sandbox: SandboxServer) -> None:
    v2.create("1Z999AA10123456784", "ups")
    sandbox.advance(6)
    computed = v2.tracking("ups", "1Z999AA10123456784")["status"]
    v2.put("/trackings/ups/1Z999AA10123456784", {"status": 4})

    v2.put("/trackings/ups/1Z999AA10123456784", {"status": 8})

    assert v2.tracking("ups", "1Z999AA10123456784")["status"] == computed


@pytest.mark.parametrize("status", [1, 5, "delivered", 9])
def test_put_with_a_status_other_than_4_7_8_is_4033(v2: V2, status: object) -> None:
    v2.create("1Z999AA10123456784", "ups")

    assert code_of(v2.put("/trackings/ups/1Z999AA10123456784", {"status": status})) == 4033


def test_put_unknown_tracking_is_4017(v2: V2) -> None:
    assert code_of(v2.put("/trackings/ups/1Z999AA10123456784", {"title": "x"})) == 4017


# -- DELETE -------------------------------------------------------------------------------------------------------
def test_delete_answers_an_empty_array_then_4017(v2: V2) -> None:
    v2.create("1Z999AA10123456784", "ups")

    first = v2.delete("/trackings/ups/1Z999AA10123456784")
    second = v2.delete("/trackings/ups/1Z999AA10123456784")

    assert first == {"meta": {"code": 200, "type": "Success", "message": first["meta"]["message"]}, "data": []}
    assert code_of(second) == 4017
    assert code_of(v2.get("/trackings/ups/1Z999AA10123456784")) == 4031


def test_delete_many_wraps_each_item_in_meta(v2: V2) -> None:
    v2.create("1Z999AA10123456784", "ups")
    v2.create("RN123456785CN", "china-post")

    body = v2.post(
        "/trackings/delete",
        [
            {"tracking_number": "1Z999AA10123456784", "carrier_code": "ups"},
            {"tracking_number": "RN123456785CN", "carrier_code": "china-post"},
            {"tracking_number": "1234567890", "carrier_code": "dhl"},
        ],
    )

    assert code_of(body) == 200
    data = body["data"]
    assert data["submitted"] == 3
    assert data["delete"] == 2
    assert [item["meta"]["tracking_number"] for item in data["trackings"]] == [
        "1Z999AA10123456784",
        "RN123456785CN",
        "1234567890",
    ]
    assert data["trackings"][2]["meta"]["code"] == 4017
    assert v2.get("/trackings/get")["data"]["total"] == "0"


# -- updatemore ---------------------------------------------------------------------------------------------------
def test_updatemore_edits_many_and_reports_unknown_items(v2: V2) -> None:
    v2.create("1Z999AA10123456784", "ups")
    v2.create("RN123456785CN", "china-post")

    body = v2.post(
        "/trackings/updatemore",
        [
            {"tracking_number": "1Z999AA10123456784", "carrier_code": "ups", "title": "A", "status": "7"},
            {"tracking_number": "RN123456785CN", "carrier_code": "china-post", "archived": "true"},
            {"tracking_number": "1234567890", "carrier_code": "dhl", "title": "nobody"},
            {"tracking_number": "RN123456785CN", "carrier_code": "china-post", "status": 2},
        ],
    )

    assert code_of(body) == 200
    data = body["data"]
    assert data["submitted"] == 4
    assert data["updated"] == 2
    assert sorted(e["code"] for e in data["errors"]) == [4017, 4033]
    assert v2.tracking("ups", "1Z999AA10123456784")["status"] == "exception"
    assert v2.tracking("ups", "1Z999AA10123456784")["title"] == "A"
    assert v2.tracking("china-post", "RN123456785CN")["archived"] is True


# -- change carrier -----------------------------------------------------------------------------------------------
def test_update_carrier_answers_usertag_and_moves_the_identity(v2: V2) -> None:
    created = v2.create("LK664578623CN", "china-ems")

    body = v2.post(
        "/trackings/update",
        {"tracking_number": "LK664578623CN", "carrier_code": "china-ems", "update_carrier_code": "china-post"},
    )

    assert body["data"] == {"Usertag": ""}
    assert code_of(v2.get("/trackings/china-ems/LK664578623CN")) == 4031
    moved = v2.tracking("china-post", "LK664578623CN")
    assert moved["id"] == created["id"]
    assert moved["carrier_code"] == "china-post"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"tracking_number": "LK664578623CN", "carrier_code": "china-ems", "update_carrier_code": "nope"}, 4015),
        ({"tracking_number": "RR000000000CN", "carrier_code": "china-ems", "update_carrier_code": "usps"}, 4017),
        ({"carrier_code": "china-ems", "update_carrier_code": "usps"}, 4013),
    ],
)
def test_update_carrier_errors(v2: V2, body: dict[str, str], code: int) -> None:
    v2.create("LK664578623CN", "china-ems")

    assert code_of(v2.post("/trackings/update", body)) == code


def test_update_carrier_onto_an_existing_tracking_is_4016(v2: V2) -> None:
    v2.create("LK664578623CN", "china-ems")
    v2.create("LK664578623CN", "china-post")

    body = v2.post(
        "/trackings/update",
        {"tracking_number": "LK664578623CN", "carrier_code": "china-ems", "update_carrier_code": "china-post"},
    )

    assert code_of(body) == 4016


# -- notupdate ----------------------------------------------------------------------------------------------------
def test_notupdate_stops_the_parcel_moving(v2: V2, sandbox: SandboxServer) -> None:
    v2.create("1Z999AA10123456784", "ups")
    v2.create("RN123456785CN", "china-post")
    sandbox.advance(1)
    frozen_before = v2.tracking("ups", "1Z999AA10123456784")

    body = v2.post(
        "/trackings/notupdate",
        [
            {"tracking_number": "1Z999AA10123456784", "carrier_code": "ups"},
            {"tracking_number": "1234567890", "carrier_code": "dhl"},
        ],
    )
    sandbox.advance(24 * 20)

    assert code_of(body) == 200
    assert body["data"]["submitted"] == 2
    assert body["data"]["change"] == 1
    assert body["data"]["trackings"][0]["tracking_number"] == "1Z999AA10123456784"
    frozen = v2.tracking("ups", "1Z999AA10123456784")
    assert frozen["track_update"] is False
    assert frozen["status"] == frozen_before["status"]
    assert frozen["origin_info"]["trackinfo"] == frozen_before["origin_info"]["trackinfo"]
    assert v2.tracking("china-post", "RN123456785CN")["track_update"] is True


# -- account ------------------------------------------------------------------------------------------------------
def test_getuserinfo_shape(v2: V2, sandbox: SandboxServer) -> None:
    data = v2.get("/trackings/getuserinfo")["data"]

    assert data["email"] == sandbox.email
    assert isinstance(data["regtime"], str)
    assert data["regtime"].isdigit()
    assert isinstance(data["phone"], str)
    assert isinstance(data["money"], (int, float))
    assert isinstance(data["track_number"], (int, float))


def test_getstatusnumber_counts_per_status(v2: V2, sandbox: SandboxServer) -> None:
    v2.create("1Z999AA10123456784", "ups")
    v2.create("RN123456785CN", "china-post")
    v2.create("1234567890", "dhl")
    v2.put("/trackings/dhl/1234567890", {"status": 4})

    data = v2.get("/trackings/getstatusnumber")["data"]

    assert set(data) == {"pending", "notfound", "transit", "pickup", "delivered", "undelivered", "exception", "expired"}
    assert data["pending"] == 2
    assert data["delivered"] == 1
    assert sum(data.values()) == 3


def test_getstatusnumber_filters_by_created_at(v2: V2) -> None:
    v2.create("1Z999AA10123456784", "ups")

    data = v2.get("/trackings/getstatusnumber", created_at_max=1_000_000_000)["data"]

    assert sum(data.values()) == 0
