"""Every input bound of the tracking routes answers a problem (422 / 413 / 400), never a 5xx, and calls no one."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.test_trackings_support import Api, api_fixture  # noqa: F401 - fixture

pytestmark = pytest.mark.integration

VALID = {"tracking_number": "RR123456785CN", "carrier_code": "china-post"}


def upstream_total(api: Api) -> int:
    return int(api.sandbox.stats()["total_calls"])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"tracking_number": "ABCD"}, "tracking_number"),  # fewer than 5 characters
        ({"tracking_number": "A" * 51}, "tracking_number"),  # more than 50
        ({"tracking_number": "RR1234/5678CN"}, "tracking_number"),
        ({"tracking_number": 12345678}, "tracking_number"),
        ({"carrier_code": "china post"}, "carrier_code"),
        ({"carrier_code": "c" * 61}, "carrier_code"),
        ({"order_id": "o" * 101}, "order_id"),
        ({"order_id": "a,b"}, "order_id"),
        ({"title": "t" * 201}, "title"),
        ({"logistics_channel": "l" * 101}, "logistics_channel"),
        ({"comment": "c" * 501}, "comment"),
        ({"customer": {"name": "n" * 101}}, "customer"),
        ({"customer": {"email": "not-an-email"}}, "customer"),
        ({"customer": {"email": "a" * 250 + "@x.co"}}, "customer"),
        ({"customer": {"phone": "call me"}}, "customer"),
        ({"customer": {"fax": "123"}}, "customer"),
        ({"destination_code": "USA"}, "destination_code"),
        ({"order_created_at": "2026-01-01T10:00:00"}, "order_created_at"),  # no offset: ambiguous
        ({"surprise": True}, "surprise"),
    ],
)
def test_create_bounds(api: Api, change: dict[str, Any], field: str) -> None:
    answer = api.post("/trackings", {**VALID, **change})

    assert answer.status == 422, answer.body
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.body["code"] == "validation_failed"
    assert any(field in error["loc"] for error in answer.body["errors"])
    assert all(error["msg"] for error in answer.body["errors"])
    assert upstream_total(api) == 0


def test_create_requires_a_tracking_number(api: Api) -> None:
    answer = api.post("/trackings", {"carrier_code": "ups"})

    assert answer.status == 422
    assert ["body", "tracking_number"] in [error["loc"] for error in answer.body["errors"]]


@pytest.mark.parametrize("raw", ['{"tracking_number": ', "[1, 2", "not json at all", "[]", "null", '"text"'])
def test_unreadable_or_non_object_bodies_are_problems(api: Api, raw: str) -> None:
    answer = api.call("POST", "/trackings", raw_body=raw)

    assert answer.status in (400, 422)
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert upstream_total(api) == 0


def test_a_body_over_1_mb_is_413(api: Api) -> None:
    huge = json.dumps({**VALID, "title": "x" * (1024 * 1024)})

    answer = api.call("POST", "/trackings", raw_body=huge)

    assert answer.status == 413
    assert answer.body["code"] == "payload_too_large"


def test_an_idempotency_key_over_255_characters_is_422(api: Api) -> None:
    answer = api.post("/trackings", VALID, headers={"Idempotency-Key": "k" * 256})

    assert answer.status == 422
    assert upstream_total(api) == 0


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"items": "RR123456785CN"},
        {"items": []},
        {"items": [VALID], "extra": 1},
        [VALID],
    ],
)
def test_batch_bounds_reject_the_request_as_a_whole(api: Api, body: Any) -> None:
    answer = api.post("/trackings/batch", body)

    assert answer.status == 422
    assert upstream_total(api) == 0


def test_batch_item_problems_are_per_item(api: Api) -> None:
    answer = api.post("/trackings/batch", {"items": [{**VALID, "title": "t" * 201}, 42, None]})

    assert answer.status == 200
    assert [r["outcome"] for r in answer.body["results"]] == ["failed"] * 3
    title_error = answer.body["results"][0]["problem"]["errors"][0]
    assert title_error["loc"] == ["title"]
    assert upstream_total(api) == 0


@pytest.mark.parametrize(
    "query",
    [
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "ten"},
        {"status": "lost"},
        {"lifecycle": "gone"},
        {"carrier_code": "china post"},
        {"order_id": "o" * 101},
        {"created_after": "yesterday"},
        {"created_after": "2026-01-01T00:00:00"},
        {"created_after": "2026-02-01T00:00:00Z", "created_before": "2026-01-01T00:00:00Z"},
        {"updated_after": "2026-01-01T00:00:00"},
        {"updated_after": "recently"},
        {"cursor": "c" * 2049},
    ],
)
def test_list_bounds(api: Api, query: dict[str, str]) -> None:
    answer = api.get("/trackings", query=query)

    assert answer.status == 422, answer.body
    assert answer.body["errors"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"status_override": "lost"},
        {"archived": "maybe"},
        {"title": "t" * 201},
        {"carrier_code": "china post"},
        {"customer": {"email": "nope"}},
        {"created_at": "2026-01-01T00:00:00Z"},
    ],
)
def test_patch_bounds(api: Api, body: dict[str, Any]) -> None:
    answer = api.patch("/trackings/china-post/RR123456785CN", body)

    assert answer.status == 422, answer.body
    assert upstream_total(api) == 0


@pytest.mark.parametrize("path", ["/trackings/china%20post/RR123456785CN", "/trackings/ups/" + "1" * 61])
def test_path_bounds(api: Api, path: str) -> None:
    answer = api.get(path)

    assert answer.status in (404, 422)
    assert answer.headers["Content-Type"] == "application/problem+json"
