"""Bulk imports through their handlers (ImportsFunction, the dispatcher, the worker, the publisher) on moto against
the sandbox: what a storefront sees over HTTP, what is stored, which upstream calls are made, what is published."""

from __future__ import annotations

import base64
import math
from typing import Any

import pytest

from shiptrack.import_models import MAX_IMPORT_ITEMS
from shiptrack.services.create import CHUNK_SIZE
from tests.integration.imports_support import (  # noqa: F401 - fixtures
    BATCH,
    DETECT,
    ImportsSystem,
    csv_text,
    imports_fixture,
)

pytestmark = pytest.mark.integration


def numbers(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{index:09d}CN" for index in range(count)]


def items(prefix: str, count: int, **extra: Any) -> list[dict[str, Any]]:
    return [{"tracking_number": n, "carrier_code": "china-post", **extra} for n in numbers(prefix, count)]


# --------------------------------------------------------------------------------------------------------- accepting


def test_an_import_is_accepted_at_once_and_created_in_the_background(imports: ImportsSystem) -> None:
    # When 100 items are posted
    answer = imports.post({"items": items("IM", 100), "context": {"order_id": "ord-7"}})

    # Then the answer is 202 with the queued import, and nothing went upstream yet
    assert answer.status == 202
    assert answer.headers["Location"] == f"/imports/{answer.body['id']}"
    assert answer.body["status"] == "queued"
    assert answer.body["summary"] == {"total": 100, "created": 0, "existing": 0, "failed": 0, "pending": 100}
    assert imports.sandbox.stats()["calls"] == {}

    # When the stream hands it to the workers and they run
    imports.dispatch()
    assert imports.import_(answer.body["id"])["status"] == "running"
    imports.work()

    # Then every item is created with ⌈100/40⌉ upstream calls, stored with the context's order id
    final = imports.import_(answer.body["id"])
    assert final["status"] == "completed"
    assert final["summary"] == {"total": 100, "created": 100, "existing": 0, "failed": 0, "pending": 0}
    assert final["completed_at"] >= final["started_at"] >= final["created_at"]
    assert imports.calls(BATCH) == math.ceil(100 / CHUNK_SIZE)
    assert imports.stored("china-post", numbers("IM", 100)[99]).order_id == "ord-7"


def test_invalid_items_repeats_and_existing_trackings_each_get_their_outcome(imports: ImportsSystem) -> None:
    # Given 5 trackings already held (imported once)
    held = items("EX", 5)
    imports.run({"items": held})
    batches = imports.calls(BATCH)

    # When an import mixes 50 new, 5 held, 3 invalid, and repeats of new and held ones
    new = items("NW", 50)
    body = [*new, *held, {"tracking_number": "x"}, "nope", {"tracking_number": "RR123456785CN", "bad": 1}]
    body += [new[0], {**new[45], "tracking_number": new[45]["tracking_number"].lower()}, held[0]]
    final = imports.run({"items": body})

    # Then the counts count trackings, and each result is in input order with its tracking or problem
    assert final["summary"] == {"total": 61, "created": 50, "existing": 8, "failed": 3, "pending": 0}
    assert imports.calls(BATCH) - batches == 2  # the 50 new ones only
    results = imports.results(final["id"])
    assert [r["index"] for r in results] == list(range(61))
    outcomes = [r["outcome"] for r in results]
    assert outcomes == ["created"] * 50 + ["existing"] * 5 + ["failed"] * 3 + ["existing"] * 3
    assert results[0]["tracking"]["tracking_number"] == new[0]["tracking_number"]
    assert "checkpoints" not in results[0]["tracking"]
    assert [r["duplicate_of"] for r in results[58:]] == [0, 45, 50]
    assert results[58]["tracking"] == results[0]["tracking"]
    assert results[55]["problem"]["code"] == "validation_failed"
    assert results[55]["tracking_number"] == "x"


def test_a_csv_import(imports: ImportsSystem) -> None:
    rows = [
        {"tracking_number": "CS000000001CN", "carrier_code": "china-post", "title": "Mug", "customer_name": "Ann",
         "customer_email": "ann@example.com", "problem_code": "upstream_timeout", "problem_detail": "retry"},
        {"tracking_number": "CS000000002CN", "carrier_code": "", "title": "", "customer_name": "",
         "customer_email": "", "problem_code": "", "problem_detail": ""},
        {"tracking_number": "  ", "carrier_code": "ups", "title": "", "customer_name": "", "customer_email": "",
         "problem_code": "", "problem_detail": ""},
    ]  # fmt: skip

    final = imports.run(csv="\ufeff" + csv_text(rows) + "\r\n\r\n")

    assert final["summary"] == {"total": 3, "created": 2, "existing": 0, "failed": 1, "pending": 0}
    first = imports.stored("china-post", "CS000000001CN")
    assert (first.title, first.customer.name, first.customer.email) == ("Mug", "Ann", "ann@example.com")
    assert imports.calls(DETECT) == 1  # the second row has no carrier: detected
    failed = imports.results(final["id"], outcome="failed")
    assert [(r["index"], r["problem"]["code"]) for r in failed] == [(2, "validation_failed")]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"csv": "carrier_code,title\r\nups,x\r\n"}, 422, "invalid_import"),  # no tracking_number column
        ({"csv": "tracking_number,tracking_number\r\nA1234567,B1234567\r\n"}, 422, "invalid_import"),
        ({"csv": "tracking_number,colour\r\nA1234567,red\r\n"}, 422, "invalid_import"),  # unknown column
        ({"csv": "tracking_number\r\n"}, 422, "invalid_import"),  # no rows
        ({"csv": "tracking_number\r\nRR12345678\xe9CN\r\n".encode("latin-1")}, 400, "invalid_encoding"),
        ({"csv": ""}, 422, "invalid_import"),
        ({"body": {"items": []}}, 422, "invalid_import"),
        ({"body": {"items": {"tracking_number": "RR123456785CN"}}}, 422, "invalid_import"),
        ({"body": {"items": [{"tracking_number": "RR123456785CN"}], "extra": 1}}, 422, "invalid_import"),
        ({"body": [{"tracking_number": "RR123456785CN"}]}, 422, "invalid_import"),
        ({"body": {"items": [{}] * (MAX_IMPORT_ITEMS + 1)}}, 413, "too_many_items"),
        ({"csv": "tracking_number\r\n" + "RR123456785CN\r\n" * (MAX_IMPORT_ITEMS + 1)}, 413, "too_many_items"),
        ({"csv": "<xml/>", "content_type": "application/xml"}, 400, "unsupported_media_type"),
    ],
)
def test_a_body_that_is_not_an_import_is_a_problem_and_creates_nothing(
    imports: ImportsSystem, body: dict[str, Any], status: int, code: str
) -> None:
    answer = imports.post(**body)

    assert (answer.status, answer.body["code"]) == (status, code), answer.body
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert imports.get("/imports").body["items"] == []


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        '{"items": ' + "[" * 2000 + "]" * 2000 + "}",  # ~4 KB nested 2000 deep: a RecursionError for json.loads
        '{"items": [{"tracking_number": "RR123456785CN"}], "items": []}',  # which items? both readers must agree
        '{"items": [{"tracking_number": "RR12345\\ud800"}]}',  # a lone surrogate cannot be stored or echoed
        '{"items": [{"tracking_number": "RR123456785CN", "title": NaN}]}',
    ],
    ids=["not-json", "deep", "duplicate-member", "lone-surrogate", "nan"],
)
def test_a_body_that_is_not_json_is_400_invalid_json(imports: ImportsSystem, text: str) -> None:
    answer = imports.post(csv=text, content_type="application/json")

    assert (answer.status, answer.body["code"]) == (400, "invalid_json"), answer.body
    assert imports.get("/imports").body["items"] == []


def test_the_same_idempotency_key_answers_the_same_import(imports: ImportsSystem) -> None:
    body = {"items": items("ID", 3)}
    first = imports.post(body, headers={"Idempotency-Key": "import-7"})
    again = imports.post(body, headers={"Idempotency-Key": "import-7"})
    other = imports.post({"items": items("ID", 4)}, headers={"Idempotency-Key": "import-7"})

    assert (first.status, again.status) == (202, 202)
    assert again.body["id"] == first.body["id"]
    assert again.headers["Location"] == first.headers["Location"]
    assert other.status == 422
    assert other.body["code"] == "idempotency_key_reused"
    assert [i["id"] for i in imports.get("/imports").body["items"]] == [first.body["id"]]


# ----------------------------------------------------------------------------------------------------------- reading


def test_imports_are_listed_newest_first_a_page_at_a_time(imports: ImportsSystem) -> None:
    ids = []
    for index in range(3):
        ids.append(imports.post({"items": items(f"L{index}", 1)}).body["id"])
        imports.clock.advance(1)

    first = imports.get("/imports", limit=2)
    second = imports.get("/imports", limit=2, cursor=first.body["next_cursor"])
    forged = imports.get("/imports", cursor=first.body["next_cursor"][:-2] + "xx")

    assert [i["id"] for i in first.body["items"] + second.body["items"]] == ids[::-1]
    assert "next_cursor" not in second.body or second.body["next_cursor"] is None
    assert (forged.status, forged.body["code"]) == (400, "invalid_cursor")


def test_an_unknown_or_expired_import_is_404(imports: ImportsSystem) -> None:
    accepted = imports.post({"items": items("XP", 1)}).body

    unknown = imports.get("/imports/imp-000000000000000000000000")
    unknown_results = imports.get("/imports/imp-000000000000000000000000/results")
    imports.clock.advance(8 * 24 * 3600)  # past ImportRetentionDays (7)
    expired = imports.get(f"/imports/{accepted['id']}")

    assert (unknown.status, unknown.body["code"]) == (404, "import_not_found")
    assert unknown_results.status == 404
    assert expired.status == 404


def test_results_are_pending_until_their_chunk_is_done_and_page_in_input_order(imports: ImportsSystem) -> None:
    body = [*items("PG", 45), {"tracking_number": "no"}, *items("PH", 10)]
    accepted = imports.post({"items": body}).body

    before = imports.get(f"/imports/{accepted['id']}/results", limit=500).body
    imports.dispatch()
    imports.work()
    pages = [imports.get(f"/imports/{accepted['id']}/results", limit=20)]
    while pages[-1].body.get("next_cursor"):
        pages.append(imports.get(f"/imports/{accepted['id']}/results", limit=20, cursor=pages[-1].body["next_cursor"]))
    failed = imports.get(f"/imports/{accepted['id']}/results", outcome="failed").body
    foreign = imports.get(f"/imports/{accepted['id']}/results", outcome="failed", cursor=pages[0].body["next_cursor"])

    assert [r["outcome"] for r in before["items"]] == ["pending"] * 45 + ["failed"] + ["pending"] * 10
    assert [len(page.body["items"]) for page in pages] == [20, 20, 16]
    assert [r["index"] for page in pages for r in page.body["items"]] == list(range(56))
    assert [r["index"] for r in failed["items"]] == [45]
    assert (foreign.status, foreign.body["code"]) == (400, "invalid_cursor")


# ------------------------------------------------------------------------------------------------------- processing


def test_import_completed_is_published_once_when_the_last_chunk_is_done(imports: ImportsSystem) -> None:
    accepted = imports.post({"items": items("EV", 90)}).body
    imports.dispatch()
    imports.work()

    imports.publish()
    imports.publish()  # nothing new: no second event

    events = imports.events()
    assert len(events) == 1
    detail = events[0]["detail"]
    assert detail["import"]["id"] == accepted["id"]
    assert detail["import"]["status"] == "completed"
    assert detail["import"]["summary"]["created"] == 90
    assert events[0]["source"] == "shiptrack"


def test_an_import_with_nothing_to_create_is_failed_at_once_and_published(imports: ImportsSystem) -> None:
    accepted = imports.post({"items": [{"tracking_number": "x"}, {"carrier_code": "ups"}]}).body
    imports.dispatch()

    assert accepted["status"] == "failed"
    assert accepted["summary"] == {"total": 2, "created": 0, "existing": 0, "failed": 2, "pending": 0}
    assert imports.queue.sent == 0
    imports.publish()
    assert [e["detail"]["import"]["status"] for e in imports.events()] == ["failed"]


def test_missing_carriers_are_detected_once_per_number_across_chunks(imports: ImportsSystem) -> None:
    distinct = numbers("DT", 50)
    body = [{"tracking_number": n} for n in distinct] + [{"tracking_number": n, "title": "again"} for n in distinct]

    final = imports.run({"items": body})

    assert final["summary"] == {"total": 100, "created": 50, "existing": 50, "failed": 0, "pending": 0}
    assert imports.calls(DETECT) == 50
    assert imports.calls(BATCH) == 2


def test_a_duplicate_chunk_message_creates_nothing_twice(imports: ImportsSystem) -> None:
    accepted = imports.post({"items": items("DU", 80)}).body
    imports.dispatch()
    imports.queue.send(accepted["id"], [0, 1, 0])  # SQS delivered every message again, one of them twice

    imports.work()

    assert imports.import_(accepted["id"])["summary"]["created"] == 80
    assert imports.calls(BATCH) == 2
    assert imports.queue.dead == []


def test_a_chunk_failing_upstream_is_retried_then_failed_retryably_and_importing_those_rows_again_completes(
    imports: ImportsSystem,
) -> None:
    # Given TrackingMore failing every batch create
    imports.sandbox.set_faults(error_rate=1.0, kinds=["http_500"], endpoints=[BATCH])
    accepted = imports.post({"items": items("RF", 45)}).body
    imports.dispatch()

    # When the workers have tried every chunk as often as they try
    imports.work()

    # Then every item failed with a retryable problem, nothing was stored, and the import ended
    final = imports.import_(accepted["id"])
    assert final["status"] == "failed"
    assert final["summary"]["failed"] == 45
    failed = imports.results(accepted["id"], outcome="failed")
    assert {r["problem"]["retryable"] for r in failed} == {True}
    assert imports.upstream_numbers() == []
    assert imports.queue.dead == []

    # When TrackingMore is back and the failed rows are imported again, they are created
    imports.sandbox.clear_faults()
    rows = [{"tracking_number": r["tracking_number"], "carrier_code": "china-post"} for r in failed]
    again = imports.run({"items": rows})
    assert again["summary"] == {"total": 45, "created": 45, "existing": 0, "failed": 0, "pending": 0}


def test_the_same_base64_csv_body_is_read_as_utf8(imports: ImportsSystem) -> None:
    raw = "tracking_number,title\r\nUT000000001CN,Caf\u00e9\r\n".encode()
    answer = imports.post(csv=raw)
    evt_b64 = imports.post(csv=base64.b64encode(raw).decode(), content_type="text/csv")  # not base64-flagged

    assert answer.status == 202
    assert evt_b64.status == 422  # a base64 string is not a CSV with a tracking_number column
