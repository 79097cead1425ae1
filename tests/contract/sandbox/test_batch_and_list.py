"""Batch create and the list endpoint: shapes, per-item errors, filters, limits (reference §3.2, §3.3, §8)."""

from __future__ import annotations

import time

import pytest

from local.sandbox import SandboxServer
from tests.contract.sandbox.helpers import V2, code_of

pytestmark = pytest.mark.contract


def _items(count: int, carrier: str = "dhl", start: int = 0) -> list[dict[str, str]]:
    return [{"tracking_number": f"{start + i:010d}", "carrier_code": carrier} for i in range(count)]


# -- batch --------------------------------------------------------------------------------------------------------
def test_batch_answers_201_created_with_submitted_added_trackings_errors(v2: V2) -> None:
    v2.create("0000000003", "dhl")

    body = v2.post("/trackings/batch", _items(4))

    assert body["meta"]["code"] == 201
    assert body["meta"]["type"] == "Created"
    data = body["data"]
    assert set(data) == {"submitted", "added", "trackings", "errors"}
    assert data["submitted"] == 4
    assert data["added"] == 3
    assert len(data["trackings"]) == 3
    assert data["errors"] == [
        {"tracking_number": "0000000003", "carrier_code": "dhl", "code": 4016, "message": "Tracking already exists."}
    ]
    item = data["trackings"][0]
    assert item["status"] == "pending"
    assert item["order_create_time"] == 0
    assert item["destination"] == ""


def test_batch_reports_each_invalid_item(v2: V2) -> None:
    body = v2.post(
        "/trackings/batch",
        [
            {"tracking_number": "1234567890", "carrier_code": "dhl"},
            {"tracking_number": "12", "carrier_code": "dhl"},
            {"tracking_number": "1234567891", "carrier_code": "unknown-carrier"},
            {"carrier_code": "dhl"},
            {"tracking_number": "1234567890", "carrier_code": "dhl"},
        ],
    )

    assert body["data"]["added"] == 1
    assert [e["code"] for e in body["data"]["errors"]] == [4014, 4015, 4013, 4016]


def test_batch_of_40_is_accepted(v2: V2) -> None:
    body = v2.post("/trackings/batch", _items(40))

    assert body["data"]["added"] == 40


def test_batch_of_41_is_refused_with_4020(v2: V2) -> None:
    body = v2.post("/trackings/batch", _items(41))

    assert code_of(body) == 4020
    assert v2.get("/trackings/get")["data"]["total"] == "0"


def test_batch_body_must_be_an_array(v2: V2) -> None:
    assert code_of(v2.post("/trackings/batch", {"tracking_number": "1234567890", "carrier_code": "dhl"})) == 4012


# -- list ---------------------------------------------------------------------------------------------------------
def test_list_shape_total_is_a_string_and_count_an_int(v2: V2) -> None:
    v2.post("/trackings/batch", _items(3))

    body = v2.get("/trackings/get", page=1, limit=2)

    data = body["data"]
    assert set(data) == {"page", "limit", "total", "count", "items"}
    assert data["page"] == 1
    assert data["limit"] == 2
    assert data["total"] == "3"
    assert data["count"] == 2
    assert len(data["items"]) == 2
    assert {"id", "tracking_number", "carrier_code", "status", "origin_info", "lastEvent"} <= set(data["items"][0])


def test_list_defaults_to_page_1_limit_100(v2: V2) -> None:
    data = v2.get("/trackings/get")["data"]

    assert (data["page"], data["limit"], data["total"], data["count"], data["items"]) == (1, 100, "0", 0, [])


def test_list_pages_cover_every_item_once(v2: V2) -> None:
    v2.post("/trackings/batch", _items(5))

    pages = [v2.get("/trackings/get", page=p, limit=2)["data"] for p in (1, 2, 3, 4)]

    numbers = [i["tracking_number"] for page in pages for i in page["items"]]
    assert sorted(numbers) == [f"{i:010d}" for i in range(5)]
    assert [p["count"] for p in pages] == [2, 2, 1, 0]


def test_list_limit_2000_is_accepted_and_2001_refused(v2: V2) -> None:
    assert code_of(v2.get("/trackings/get", limit=2000)) == 200
    assert code_of(v2.get("/trackings/get", limit=2001)) == 4020


def test_list_numbers_filter_takes_at_most_40(v2: V2) -> None:
    v2.post("/trackings/batch", _items(3))

    forty = ",".join(f"{i:010d}" for i in range(40))
    body = v2.get("/trackings/get", numbers=forty)
    too_many = v2.get("/trackings/get", numbers=",".join(f"{i:010d}" for i in range(41)))

    assert body["data"]["total"] == "3"
    assert code_of(too_many) == 4020


def test_list_orders_filter_takes_at_most_40(v2: V2) -> None:
    v2.create("1234567890", "dhl", order_id="A-1")
    v2.create("1234567891", "dhl", order_id="A-2")

    body = v2.get("/trackings/get", orders="A-2,A-3")
    too_many = v2.get("/trackings/get", orders=",".join(f"O{i}" for i in range(41)))

    assert [i["tracking_number"] for i in body["data"]["items"]] == ["1234567891"]
    assert code_of(too_many) == 4020


def test_list_filters_by_status_and_archived(v2: V2) -> None:
    v2.post("/trackings/batch", _items(3))
    v2.put("/trackings/dhl/0000000001", {"status": 4, "archived": "true"})

    delivered = v2.get("/trackings/get", status="delivered")["data"]
    archived = v2.get("/trackings/get", archived="true")["data"]
    not_archived = v2.get("/trackings/get", archived="false")["data"]
    mixed = v2.get("/trackings/get", archived="whatever")["data"]

    assert [i["tracking_number"] for i in delivered["items"]] == ["0000000001"]
    assert [i["tracking_number"] for i in archived["items"]] == ["0000000001"]
    assert not_archived["total"] == "2"
    assert mixed["total"] == "3"


def test_list_filters_by_created_at_in_unix_seconds(v2: V2) -> None:
    before = int(time.time()) - 1
    v2.create("1234567890", "dhl")

    recent = v2.get("/trackings/get", created_at_min=before)["data"]
    old = v2.get("/trackings/get", created_at_max=before - 3600)["data"]

    assert recent["total"] == "1"
    assert old["total"] == "0"


def test_update_time_filter_uses_the_real_clock_of_the_last_change(v2: V2, sandbox: SandboxServer) -> None:
    # Clients ask "what changed since my watermark" with update_time_min relative to THEIR real clock (§3.3).
    v2.create("1Z999AA10123456784", "ups")
    v2.create("RN123456785CN", "china-post")
    watermark = int(time.time()) + 1
    while int(time.time()) < watermark:
        time.sleep(0.05)
    v2.put("/trackings/ups/1Z999AA10123456784", {"title": "changed after the watermark"})

    changed = v2.get("/trackings/get", update_time_min=watermark)["data"]
    unchanged = v2.get("/trackings/get", update_time_max=watermark - 1)["data"]

    assert [i["tracking_number"] for i in changed["items"]] == ["1Z999AA10123456784"]
    assert [i["tracking_number"] for i in unchanged["items"]] == ["RN123456785CN"]
    updated_at = changed["items"][0]["updated_at"]
    assert updated_at >= changed["items"][0]["created_at"]


def test_list_filters_by_order_created_time(v2: V2) -> None:
    v2.create("1234567890", "dhl", order_create_time="2018-05-11 12:00")
    v2.create("1234567891", "dhl", order_create_time="2021-01-01 00:00")
    v2.create("1234567892", "dhl")

    body = v2.get("/trackings/get", order_created_time_min=1_577_836_800)  # 2020-01-01

    assert [i["tracking_number"] for i in body["data"]["items"]] == ["1234567891"]


def test_list_rejects_a_non_numeric_page(v2: V2) -> None:
    assert code_of(v2.get("/trackings/get", page="first")) == 4012
