"""Strict input and the repair route, through the real handlers on moto + the sandbox (docs/security.md).

The probes of issue 10 each have a test here: ``"archived": "yes"`` is a 422, ``"max_age_seconds": "60"`` too; NUL,
ESC and bidi overrides are refused with a 422 naming the field; unknown query parameters are a 400 naming them; a
non-ASCII cursor is a 400 ``invalid_cursor``; and a bad copy that got in is repaired by ``POST …/resync``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from shiptrack.data.trackings import TrackingsRepository
from shiptrack.models import TrackingRef
from tests.integration.events_support import BusTap, publish_stream
from tests.integration.test_trackings_support import GET_ONE, Api, api_fixture  # noqa: F401 - fixture
from trackingmore.models import Tracking as UpstreamTracking

pytestmark = pytest.mark.integration

NUMBER = "RR123456785CN"
PATH = f"/trackings/china-post/{NUMBER}"
REF = TrackingRef("china-post", NUMBER)


def total_calls(api: Api) -> int:
    return int(api.sandbox.stats()["total_calls"])


@pytest.fixture
def tracked(api: Api) -> dict[str, Any]:
    answer = api.post("/trackings", {"tracking_number": NUMBER, "carrier_code": "china-post", "title": "Blue mug"})
    assert answer.status == 201, answer.body
    body: dict[str, Any] = answer.body
    return body


def item(api: Api) -> dict[str, Any]:
    stored: dict[str, Any] = api.aws.table().get_item(Key={"pk": REF.key}, ConsistentRead=True)["Item"]
    return stored


# ------------------------------------------------------------------------------------------------ types


@pytest.mark.parametrize("value", ["yes", "true", 1, 0, "false"])
def test_archived_takes_a_json_boolean_only(api: Api, tracked: dict[str, Any], value: Any) -> None:
    before, calls = item(api), total_calls(api)

    answer = api.patch(PATH, {"archived": value})

    assert answer.status == 422, answer.body
    assert ["body", "archived"] in [error["loc"] for error in answer.body["errors"]]
    assert item(api) == before
    assert total_calls(api) == calls


@pytest.mark.parametrize("value", ["60", 60.5, True, "sixty"])
def test_max_age_seconds_takes_a_json_integer_only(api: Api, value: Any) -> None:
    body = {"carrier_code": "china-post", "tracking_number": NUMBER, "max_age_seconds": value}

    answer = api.post("/trackings/realtime", body)

    assert answer.status == 422, answer.body
    assert ["body", "max_age_seconds"] in [error["loc"] for error in answer.body["errors"]]
    assert total_calls(api) == 0


def test_a_timestamp_is_text_not_epoch_seconds(api: Api) -> None:
    answer = api.post("/trackings", {"tracking_number": NUMBER, "carrier_code": "china-post", "order_created_at": 1})

    assert answer.status == 422
    assert total_calls(api) == 0


# ------------------------------------------------------------------------------------------------ characters


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("comment", "left at\x00door"),
        ("comment", "\x1b[31mred\x1b[0m"),
        ("comment", "price \u202e0001$"),  # right-to-left override: shows as $1000
        ("title", "Blue\nmug"),  # one line only
        ("title", "mug\u2066isolated\u2069"),
        ("order_id", "SO-1\x07"),
        ("logistics_channel", "air\x85mail"),  # C1 control (NEL)
    ],
)
def test_control_and_bidi_override_characters_are_422_naming_the_field(
    api: Api, tracked: dict[str, Any], field: str, value: str
) -> None:
    before = item(api)

    answer = api.patch(PATH, {field: value})

    assert answer.status == 422, answer.body
    [error] = answer.body["errors"]
    assert (error["loc"], error["type"]) == (["body", field], "forbidden_character")
    assert item(api) == before


def test_right_to_left_text_and_line_breaks_in_free_text_are_ordinary_text(api: Api, tracked: dict[str, Any]) -> None:
    answer = api.patch(PATH, {"title": "كوب أزرق", "comment": "Leave with\tneighbour\nat no. 4\r\n\u200fשלום"})

    assert answer.status == 200, answer.body
    assert answer.body["title"] == "كوب أزرق"
    assert item(api)["comment"] == "Leave with\tneighbour\nat no. 4\r\n\u200fשלום"


def test_a_batch_item_with_a_control_character_fails_alone(api: Api) -> None:
    items = [
        {"tracking_number": NUMBER, "carrier_code": "china-post"},
        {"tracking_number": "RR999999990CN", "title": "\x00"},
    ]

    answer = api.post("/trackings/batch", {"items": items})

    assert answer.status == 200
    assert [r["outcome"] for r in answer.body["results"]] == ["created", "failed"]
    assert answer.body["results"][1]["problem"]["errors"][0]["loc"] == ["title"]


# ------------------------------------------------------------------------------------------------ query and cursor


@pytest.mark.parametrize(
    ("path", "query", "named"),
    [
        ("/trackings", {"stauts": "transit"}, "stauts"),
        ("/trackings", {"limit": "5", "sort": "asc"}, "sort"),
        (PATH, {"verbose": "1"}, "verbose"),
    ],
)
def test_unknown_query_parameters_are_400_naming_them(
    api: Api, tracked: dict[str, Any], path: str, query: dict[str, str], named: str
) -> None:
    answer = api.get(path, query=query)

    assert answer.status == 400, answer.body
    assert answer.body["code"] == "unknown_query_parameter"
    assert named in answer.body["detail"]
    assert answer.body["errors"] == [
        {"loc": ["query", named], "msg": "unknown query parameter", "type": "unknown_parameter"}
    ]


@pytest.mark.parametrize("cursor", ["eyJhIjoxfQ.é", "é", "eyJhIjoxfQ", "eyJhIjoxfQ.\u202e", "...."])
def test_a_malformed_cursor_is_400_invalid_cursor(api: Api, tracked: dict[str, Any], cursor: str) -> None:
    # GET /trackings?cursor=eyJhIjoxfQ.%C3%A9 was a 500 (hmac.compare_digest on non-ASCII text)
    answer = api.get("/trackings", query={"cursor": cursor})

    assert answer.status == 400, answer.body
    assert answer.body["code"] == "invalid_cursor"


def test_a_deeply_nested_body_is_400_invalid_json_on_every_body_route(api: Api, tracked: dict[str, Any]) -> None:
    deep = '{"items": ' + "[" * 1000 + "]" * 1000 + "}"

    for method, path in (
        ("POST", "/trackings"),
        ("POST", "/trackings/batch"),
        ("PATCH", PATH),
        ("POST", "/trackings/realtime"),
    ):
        answer = api.call(method, path, raw_body=deep)
        assert (answer.status, answer.body["code"]) == (400, "invalid_json"), (path, answer.body)


# ------------------------------------------------------------------------------------------------ resync


def test_resync_repairs_a_forged_delivered_copy_and_publishes_the_repair(api: Api, tracked: dict[str, Any]) -> None:
    # Given a copy that should never have been stored: delivered, by MALLORY, versioned in 2099
    store = TrackingsRepository(api.aws.table())
    forged = UpstreamTracking.model_validate(
        {
            "tracking_number": NUMBER,
            "carrier_code": "china-post",
            "status": "delivered",
            "updated_at": "2099-12-31T23:59:59+08:00",
            "lastEvent": "Delivered, signed for by MALLORY",
        }
    )
    assert store.apply_upstream_update(forged, observed_at=store.load(REF).tracking.created_at, source="test").changed  # type: ignore[union-attr]
    tap = BusTap(api.aws)
    reader = api.aws.stream_reader()
    reader.read()
    upstream = next(t for t in api.sandbox.trackings() if t["tracking_number"] == NUMBER)

    # When the operator resyncs it
    answer = api.post(f"{PATH}/resync")

    # Then TrackingMore's copy is stored (back from delivered), our metadata kept, and subscribers hear it
    assert answer.status == 200, answer.body
    assert answer.body["status"] == upstream["status"] != "delivered"
    assert answer.body["title"] == "Blue mug"
    assert "MALLORY" not in json.dumps(item(api), default=str)
    assert api.calls(GET_ONE) == 1
    assert publish_stream(api.aws, reader) == {"batchItemFailures": []}
    [event] = tap.events()
    assert event["detail-type"] == "Tracking Status Changed"
    assert (event["detail"]["previous_status"], event["detail"]["status"]) == ("delivered", upstream["status"])


def test_resync_of_a_tracking_we_do_not_hold_is_404_without_a_call(api: Api) -> None:
    answer = api.post(f"{PATH}/resync")

    assert (answer.status, answer.body["code"]) == (404, "tracking_not_found")
    assert total_calls(api) == 0


def test_resync_of_a_tracking_trackingmore_no_longer_has_is_409_and_changes_nothing(
    api: Api, tracked: dict[str, Any]
) -> None:
    api.sandbox.reset(restore_config=True)  # TrackingMore forgot it
    before = item(api)

    answer = api.post(f"{PATH}/resync")

    assert (answer.status, answer.body["code"]) == (409, "tracking_missing_upstream")
    assert item(api) == before
