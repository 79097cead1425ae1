"""TrackingsFunction through ``lambda_handler`` on moto against the TrackingMore sandbox.

Each test asserts what a user sees (status, body), what we stored, and which upstream calls were made.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from shiptrack import compose, runtime
from shiptrack.models import MAX_BATCH_ITEMS, CreateTrackingRequest, TrackingRef
from shiptrack.services import create as service
from tests.integration.test_trackings_support import (  # noqa: F401 - fixtures
    BATCH,
    CHANGE_CARRIER,
    CREATE,
    DELETE_ONE,
    DETECT,
    GET_ONE,
    PUT_ONE,
    Api,
    api_fixture,
    no_backoff_fixture,
    reset_caches,
)

pytestmark = pytest.mark.integration

NUMBER = "RR123456785CN"
ONE = f"/trackings/china-post/{NUMBER}"


def create(api: Api, number: str = NUMBER, carrier: str | None = "china-post", **extra: Any) -> Any:
    body = {"tracking_number": number, **({"carrier_code": carrier} if carrier else {}), **extra}
    return api.post("/trackings", body)


def direct_upstream_create(api: Api, carrier: str, number: str) -> None:
    """Someone else creates the tracking in the TrackingMore account (not through us)."""
    response = requests.post(
        f"{api.sandbox.base_url}/trackings/post",
        json={"tracking_number": number, "carrier_code": carrier},
        headers=api.sandbox.headers,
        timeout=10,
    )
    assert response.json()["meta"]["code"] in (200, 201)


# ------------------------------------------------------------------------------------------------------------ create


def test_create_is_201_then_200_without_a_second_upstream_call(api: Api) -> None:
    # When a tracking is created twice (with spaces and lower case the second time)
    first = create(api, order_id="#1001", title="Blue mug", customer={"name": "Ada", "email": "ada@example.com"})
    second = create(api, number="rr 1234 5678 5cn", carrier="China-Post")

    # Then the first is 201, the second 200 with the same body shape, and upstream saw one create
    assert first.status == 201, first.body
    assert second.status == 200
    assert first.body["carrier_code"] == "china-post"
    assert first.body["tracking_number"] == NUMBER
    assert first.body["customer"] == {"name": "Ada", "email": "ada@example.com", "phone": None}
    assert first.body["created_at"].endswith("Z")
    assert second.body == first.body
    assert api.calls(CREATE) == 1
    assert api.stored("china-post", NUMBER).order_id == "#1001"


def test_a_new_create_costs_one_read_and_two_writes(api: Api) -> None:
    from collections import Counter

    operations: Counter[str] = Counter()
    create(api, number="RR000000000CN")  # warm: the resolver, clients and secrets are built on first use
    runtime.dynamodb().meta.client.meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: operations.update([model.name])
    )

    answer = create(api)

    # The stored-copy read, the claim, the tracking: no re-read after the claim, no delete of it on success
    assert answer.status == 201, answer.body
    assert dict(operations) == {"GetItem": 1, "PutItem": 2}
    assert api.calls(CREATE) == 2


def test_a_deleted_tracking_can_be_created_again_at_once(api: Api) -> None:
    # The first create's claim outlives it (it expires after CLAIM_TTL_SECONDS); DELETE frees the identity
    assert create(api).status == 201
    assert api.delete(ONE).status == 204

    again = create(api, title="Blue mug")

    assert again.status == 201, again.body
    assert again.body["title"] == "Blue mug"
    assert api.calls(CREATE) == 2
    assert ("china-post", NUMBER) in api.upstream_numbers()


def test_a_claim_that_cannot_be_cleared_does_not_fail_the_delete(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import ClientError

    assert create(api).status == 201

    def throttled(*_args: Any, **_kwargs: Any) -> None:
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "DeleteItem")

    cache_table = runtime.cache_table()
    monkeypatch.setattr(cache_table, "delete_item", throttled)

    # TrackingMore has already deleted it: ours goes too, the claim is left to expire
    answer = api.delete(ONE)

    assert answer.status == 204
    assert api.stored("china-post", NUMBER) is None
    assert ("china-post", NUMBER) not in api.upstream_numbers()


def test_an_identity_moved_to_another_carrier_can_be_created_again_at_once(api: Api) -> None:
    assert create(api).status == 201
    assert api.patch(ONE, {"carrier_code": "china-ems"}).status == 200

    again = create(api)

    assert again.status == 201, again.body
    assert api.stored("china-post", NUMBER) is not None
    assert api.stored("china-ems", NUMBER) is not None


def test_create_adopts_a_tracking_upstream_already_holds(api: Api) -> None:
    # Given TrackingMore already holds the number (created outside shiptrack)
    direct_upstream_create(api, "china-post", NUMBER)

    # When we are asked to track it
    answer = create(api, title="Blue mug")

    # Then upstream answered 4016, we fetched it with GET, stored it, and answer 201
    assert answer.status == 201, answer.body
    assert answer.body["title"] == "Blue mug"
    assert answer.body["upstream_id"]
    assert api.calls(CREATE) == 2  # the outside one and ours (4016)
    assert api.calls(GET_ONE) == 1
    assert api.stored("china-post", NUMBER) is not None


def test_create_without_carrier_detects_it(api: Api) -> None:
    answer = create(api, number="1Z999AA10123456784", carrier=None)

    assert answer.status == 201, answer.body
    assert answer.body["carrier_code"] == "ups"
    assert api.calls(DETECT) == 1
    assert ("ups", "1Z999AA10123456784") in api.upstream_numbers()


def test_create_with_an_undetectable_number_is_422_carrier_not_detected(api: Api) -> None:
    answer = create(api, number="ZZZZZ99", carrier=None)

    assert answer.status == 422
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.body["code"] == "carrier_not_detected"
    assert api.calls(CREATE) == 0


def test_idempotency_key_replays_the_first_answer_and_refuses_another_body(api: Api) -> None:
    headers = {"Idempotency-Key": "order-1001-shipment-1"}
    body = {"tracking_number": NUMBER, "carrier_code": "china-post", "title": "Blue mug"}

    first = api.post("/trackings", body, headers=headers)
    replay = api.post("/trackings", body, headers=headers)
    other = api.post("/trackings", {**body, "title": "Red mug"}, headers=headers)

    # The replay is the first answer, status included (201, not the 200 a plain repeat gets)
    assert first.status == 201
    assert replay.status == 201
    assert replay.body == first.body
    assert other.status == 422
    assert other.body["code"] == "idempotency_key_reused"
    assert api.calls(CREATE) == 1
    assert api.stored("china-post", NUMBER).title == "Blue mug"


def test_twenty_concurrent_identical_creates_make_one_upstream_create(api: Api) -> None:
    # moto is made to apply conditional writes atomically, as DynamoDB does (local/moto_patches.py).
    request = CreateTrackingRequest(tracking_number=NUMBER, carrier_code="china-post")
    results: list[Any] = []
    failures: list[BaseException] = []
    start = threading.Barrier(20)

    def create_one() -> None:
        start.wait()
        try:
            deps = compose.trackings()
            results.append(service.create_tracking(request, store=deps.store, client=deps.client, claims=deps.claims))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=create_one) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert api.calls(CREATE) == 1
    assert sum(1 for result in results if result.created) == 1
    assert {result.tracking.tracking_number for result in results} == {NUMBER}


# ------------------------------------------------------------------------------------------------------------- batch


def test_batch_of_85_with_duplicates_invalid_and_existing(api: Api) -> None:
    # Given 10 trackings we already hold
    existing = [f"EX{i:09d}CN" for i in range(10)]
    for number in existing:
        assert create(api, number=number).status == 201
    creates_before = api.calls(CREATE)

    # When a batch of 85 arrives: 60 new, 10 duplicates of new ones, 5 invalid, 10 already stored
    new = [f"NW{i:09d}CN" for i in range(60)]
    items: list[Any] = [{"tracking_number": n, "carrier_code": "china-post"} for n in new]
    items += [{"tracking_number": n.lower(), "carrier_code": "CHINA-POST"} for n in new[:10]]
    items += [{"tracking_number": "x"}, {"carrier_code": "ups"}, "not an object", {"tracking_number": NUMBER, "bad": 1}]
    items += [{"tracking_number": NUMBER, "carrier_code": "china-post", "title": "t" * 201}]
    items += [{"tracking_number": n, "carrier_code": "china-post"} for n in existing]
    answer = api.post("/trackings/batch", {"items": items})

    # Then: one result per item in order, ⌈60/40⌉ = 2 upstream batch calls, nothing else created upstream; a repeat
    # of an earlier item is `existing` (its tracking was created for the first), so the summary counts trackings
    assert answer.status == 200, answer.body
    results = answer.body["results"]
    assert [r["index"] for r in results] == list(range(85))
    assert [r["outcome"] for r in results] == ["created"] * 60 + ["existing"] * 10 + ["failed"] * 5 + ["existing"] * 10
    assert answer.body["summary"] == {"created": 60, "existing": 20, "failed": 5}
    assert api.calls(BATCH) == 2
    assert api.calls(CREATE) == creates_before
    for duplicate, original in zip(results[60:70], results[:10], strict=True):
        assert duplicate["tracking"] == original["tracking"]
    for failed in results[70:75]:
        assert failed["problem"]["status"] == 422
        assert failed["problem"]["code"] == "validation_failed"
        assert failed["problem"]["errors"]
    assert all(api.stored("china-post", n) is not None for n in new)


def test_batch_failed_chunk_fails_its_items_retryable_and_stores_nothing_of_them(
    api: Api, no_backoff: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a transport that loses every attempt of the chunk holding the second 40 numbers
    from trackingmore import TrackingMoreClient

    numbers = [f"CH{i:09d}CN" for i in range(50)]
    poisoned = set(numbers[40:])

    class LosingSession(requests.Session):
        def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
            body = kwargs.get("data") or ""
            text = body.decode() if isinstance(body, bytes) else str(body)
            if str(url).endswith("/trackings/batch") and any(number in text for number in poisoned):
                raise requests.ConnectionError("connection reset by peer")
            return super().request(method, url, *args, **kwargs)

    client = TrackingMoreClient(
        api.sandbox.api_key, base_url=api.sandbox.base_url, session=LosingSession(), sleep=lambda _s: None
    )
    monkeypatch.setattr("shiptrack.runtime.trackingmore_client", lambda **_: client)

    # When 50 are sent
    answer = api.post(
        "/trackings/batch", {"items": [{"tracking_number": n, "carrier_code": "china-post"} for n in numbers]}
    )

    # Then the first chunk is created and stored, the second failed+retryable and stored nowhere
    assert answer.status == 200
    outcomes = [r["outcome"] for r in answer.body["results"]]
    assert outcomes == ["created"] * 40 + ["failed"] * 10
    for failed in answer.body["results"][40:]:
        assert failed["problem"]["retryable"] is True
        assert failed["problem"]["status"] >= 500
    upstream = api.upstream_numbers()
    for number in numbers[:40]:
        assert api.stored("china-post", number) is not None
    for number in numbers[40:]:
        assert api.stored("china-post", number) is None
        assert ("china-post", number) not in upstream


def test_batch_all_chunks_failing_upstream_marks_every_item_retryable(api: Api, no_backoff: None) -> None:
    api.sandbox.set_faults(error_rate=1.0, kinds=["http_500"], endpoints=[BATCH])

    answer = api.post(
        "/trackings/batch",
        {"items": [{"tracking_number": f"FL{i:09d}CN", "carrier_code": "china-post"} for i in range(45)]},
    )

    assert answer.status == 200
    assert answer.body["summary"] == {"created": 0, "existing": 0, "failed": 45}
    assert all(r["problem"]["retryable"] for r in answer.body["results"])
    assert api.store.list(api_query()).items == []


def api_query(**kwargs: Any) -> Any:
    from shiptrack.models import ListQuery

    return ListQuery(**kwargs)


def test_batch_refuses_more_than_its_limit_with_a_413_pointing_to_imports(api: Api) -> None:
    too_many = api.post("/trackings/batch", {"items": [{"tracking_number": "RR123456785CN"}] * (MAX_BATCH_ITEMS + 1)})

    assert too_many.status == 413
    assert too_many.headers["Content-Type"] == "application/problem+json"
    assert too_many.body["code"] == "too_many_items"
    assert too_many.body["max_items"] == MAX_BATCH_ITEMS
    assert "POST /imports" in too_many.body["detail"]
    assert api.calls(BATCH) == api.calls(DETECT) == 0


def test_batch_rejects_a_non_list_or_an_empty_list_as_a_whole(api: Api) -> None:
    not_a_list = api.post("/trackings/batch", {"items": {"tracking_number": NUMBER}})
    empty = api.post("/trackings/batch", {"items": []})

    assert (not_a_list.status, empty.status) == (422, 422)
    assert api.calls(BATCH) == 0


def test_a_batch_repeating_one_identity_counts_one_tracking_created(api: Api) -> None:
    items = [{"tracking_number": NUMBER, "carrier_code": "china-post"}] * MAX_BATCH_ITEMS

    answer = api.post("/trackings/batch", {"items": items})

    assert answer.status == 200
    assert answer.body["summary"] == {"created": 1, "existing": MAX_BATCH_ITEMS - 1, "failed": 0}
    first, *later = answer.body["results"]
    assert first["outcome"] == "created"
    assert {r["outcome"] for r in later} == {"existing"}
    assert all(r["tracking"] == first["tracking"] for r in later)
    assert api.calls(BATCH) == 1
    assert len(api.upstream_numbers()) == 1


# -------------------------------------------------------------------------------------------------------------- read


def test_get_returns_the_stored_tracking_and_404_when_unknown(api: Api) -> None:
    create(api)

    found = api.get(f"/trackings/CHINA-POST/{NUMBER.lower()}")
    missing = api.get("/trackings/usps/9400111899223197428490")

    assert found.status == 200
    assert found.body["tracking_number"] == NUMBER
    assert missing.status == 404
    assert missing.body["code"] == "tracking_not_found"


def test_list_is_newest_first_and_the_cursor_survives_concurrent_inserts(api: Api) -> None:
    numbers = [f"LS{i:09d}CN" for i in range(7)]
    for number in numbers:
        create(api, number=number)

    first = api.get("/trackings", query={"limit": "3"})
    # New trackings arrive between pages
    for i in range(3):
        create(api, number=f"LATE{i:07d}CN")
    rest: list[str] = []
    cursor = first.body["next_cursor"]
    while cursor:
        page = api.get("/trackings", query={"limit": "3", "cursor": cursor})
        assert page.status == 200, page.body
        rest += [item["tracking_number"] for item in page.body["items"]]
        cursor = page.body.get("next_cursor")

    seen = [item["tracking_number"] for item in first.body["items"]] + rest
    assert seen == list(reversed(numbers))  # every original once, newest first, none of the late ones
    created = [item["created_at"] for item in first.body["items"]]
    assert created == sorted(created, reverse=True)


def test_list_filters(api: Api) -> None:
    create(api, number="RR000000001CN", order_id="#A")
    create(api, number="RR000000002CN", order_id="#B")
    create(api, number="1Z999AA10123456784", carrier="ups", order_id="#A")
    api.patch("/trackings/china-post/RR000000002CN", {"archived": True})

    def numbers(**query: str) -> list[str]:
        answer = api.get("/trackings", query=query)
        assert answer.status == 200, answer.body
        return sorted(item["tracking_number"] for item in answer.body["items"])

    assert numbers() == ["1Z999AA10123456784", "RR000000001CN"]
    assert numbers(order_id="#A") == ["1Z999AA10123456784", "RR000000001CN"]
    assert numbers(carrier_code="ups") == ["1Z999AA10123456784"]
    assert numbers(lifecycle="archived") == ["RR000000002CN"]
    assert numbers(order_id="#B") == []
    assert numbers(order_id="#B", lifecycle="archived") == ["RR000000002CN"]
    assert numbers(status="pending", carrier_code="china-post") == ["RR000000001CN"]
    assert numbers(created_after="2000-01-01T00:00:00Z", created_before="2000-01-02T00:00:00Z") == []
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert numbers(created_before=future) == ["1Z999AA10123456784", "RR000000001CN"]


def test_list_with_a_forged_or_foreign_cursor_is_400(api: Api) -> None:
    for i in range(3):
        create(api, number=f"CU{i:09d}CN")
    page = api.get("/trackings", query={"limit": "1"})
    cursor = page.body["next_cursor"]

    other_filters = api.get("/trackings", query={"limit": "1", "cursor": cursor, "carrier_code": "ups"})
    tampered = api.get(
        "/trackings", query={"limit": "1", "cursor": cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")}
    )
    garbage = api.get("/trackings", query={"cursor": "%%%not-base64%%%"})

    for answer in (other_filters, tampered, garbage):
        assert answer.status == 400
        assert answer.body["code"] == "invalid_cursor"


def test_the_changes_feed_serves_changes_oldest_first_once_they_settle(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    create(api, number="CF000000001CN")
    create(api, number="CF000000002CN")
    api.patch("/trackings/china-post/CF000000001CN", {"title": "changed after the second was created"})
    query = {"updated_after": since.isoformat()}

    held_back = api.get("/trackings", query=query)  # ChangesFeedDelaySeconds (90 s by default) has not passed
    monkeypatch.setenv("CHANGES_FEED_DELAY_SECONDS", "0")
    reset_caches()
    settled = api.get("/trackings", query=query)
    caught_up = api.get("/trackings", query={**query, "cursor": settled.body["next_cursor"]})
    future = api.get("/trackings", query={"updated_after": (datetime.now(UTC) + timedelta(days=1)).isoformat()})

    assert (held_back.status, held_back.body["items"]) == (200, [])
    assert [item["tracking_number"] for item in settled.body["items"]] == ["CF000000002CN", "CF000000001CN"]
    assert caught_up.body == {"items": [], "next_cursor": settled.body["next_cursor"]}
    assert future.body == {"items": [], "next_cursor": None}


def test_the_changes_feed_names_the_filters_it_cannot_take(api: Api) -> None:
    answer = api.get(
        "/trackings", query={"updated_after": "2026-01-01T00:00:00Z", "status": "transit", "carrier_code": "ups"}
    )

    assert answer.status == 400
    assert answer.body["code"] == "unsupported_filters"
    assert sorted(error["loc"] for error in answer.body["errors"]) == [["query", "carrier_code"], ["query", "status"]]


# ------------------------------------------------------------------------------------------------------------ update


def test_patch_metadata_goes_upstream_then_ours(api: Api) -> None:
    create(api, customer={"name": "Ada", "email": "ada@example.com"})

    answer = api.patch(ONE, {"title": "Blue mug x2", "comment": "gift", "customer": {"phone": "+1 555 010 9999"}})

    assert answer.status == 200, answer.body
    assert answer.body["title"] == "Blue mug x2"
    assert answer.body["comment"] == "gift"
    assert answer.body["customer"] == {"name": "Ada", "email": "ada@example.com", "phone": "+1 555 010 9999"}
    assert api.calls(PUT_ONE) == 1
    assert api.stored("china-post", NUMBER).title == "Blue mug x2"


def test_a_patch_reads_the_stored_copy_once(api: Api) -> None:
    from collections import Counter

    create(api)
    operations: Counter[str] = Counter()
    runtime.dynamodb().meta.client.meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: operations.update([model.name])
    )

    answer = api.patch(ONE, {"title": "Blue mug x2"})

    # The read that found the tracking is the one the write is conditioned on
    assert answer.status == 200, answer.body
    assert dict(operations) == {"GetItem": 1, "PutItem": 1}


def test_patch_comment_only_is_ours_alone(api: Api) -> None:
    create(api)

    answer = api.patch(ONE, {"comment": "leave with the neighbour"})

    assert answer.status == 200
    assert answer.body["comment"] == "leave with the neighbour"
    assert api.calls(PUT_ONE) == 0  # v2's PUT has no comment field


@pytest.mark.parametrize(("override", "expected"), [("delivered", "delivered"), ("exception", "exception")])
def test_patch_status_override(api: Api, override: str, expected: str) -> None:
    create(api)

    answer = api.patch(ONE, {"status_override": override})

    assert answer.status == 200
    assert answer.body["status"] == expected
    assert api.stored("china-post", NUMBER).status == expected
    assert api.calls(PUT_ONE) == 1


def test_patch_revert_takes_the_status_trackingmore_computes(api: Api) -> None:
    create(api)
    api.patch(ONE, {"status_override": "delivered"})

    answer = api.patch(ONE, {"status_override": "revert"})

    assert answer.status == 200
    upstream_status = next(t for t in api.sandbox.trackings() if t["tracking_number"] == NUMBER)["status"]
    assert answer.body["status"] == upstream_status
    assert answer.body["status"] != "delivered"


def test_patch_archive_hides_it_from_the_default_listing(api: Api) -> None:
    create(api)

    answer = api.patch(ONE, {"archived": True})

    assert answer.status == 200
    assert answer.body["lifecycle"] == "archived"
    assert api.get("/trackings").body["items"] == []
    assert [i["tracking_number"] for i in api.get("/trackings", query={"lifecycle": "archived"}).body["items"]] == [
        NUMBER
    ]
    assert api.patch(ONE, {"archived": False}).body["lifecycle"] == "active"


def test_patch_carrier_change_moves_the_identity(api: Api) -> None:
    create(api, title="Blue mug")

    answer = api.patch(ONE, {"carrier_code": "China-EMS"})

    assert answer.status == 200, answer.body
    assert answer.body["carrier_code"] == "china-ems"
    assert answer.body["title"] == "Blue mug"
    assert api.calls(CHANGE_CARRIER) == 1
    assert api.get(ONE).status == 404
    assert api.get(f"/trackings/china-ems/{NUMBER}").status == 200
    assert ("china-ems", NUMBER) in api.upstream_numbers()


def test_patch_carrier_change_onto_a_held_identity_is_409_without_upstream_calls(api: Api) -> None:
    create(api)
    create(api, carrier="china-ems")

    answer = api.patch(ONE, {"carrier_code": "china-ems"})

    assert answer.status == 409
    assert answer.body["code"] == "tracking_exists"
    assert api.calls(CHANGE_CARRIER) == 0


def test_patch_upstream_failure_leaves_ours_unchanged(api: Api, no_backoff: None) -> None:
    create(api, title="Blue mug")
    before = api.stored("china-post", NUMBER)
    api.sandbox.set_faults(error_rate=1.0, kinds=["http_500"], endpoints=[PUT_ONE])

    answer = api.patch(ONE, {"title": "Red mug", "status_override": "delivered"})

    assert answer.status == 503
    assert answer.body["code"] == "upstream_unavailable"
    assert answer.body["retryable"] is True
    assert api.stored("china-post", NUMBER) == before


def test_patch_carrier_change_failing_upstream_leaves_ours_unchanged(api: Api, no_backoff: None) -> None:
    create(api)
    api.sandbox.set_faults(error_rate=1.0, kinds=["http_503"], endpoints=[CHANGE_CARRIER])

    answer = api.patch(ONE, {"carrier_code": "china-ems"})

    assert answer.status >= 500
    assert api.stored("china-post", NUMBER) is not None
    assert api.stored("china-ems", NUMBER) is None


# ------------------------------------------------------------------------------------------------------------ delete


def test_delete_is_204_upstream_and_ours_then_404(api: Api) -> None:
    create(api)

    deleted = api.delete(ONE)
    again = api.delete(ONE)

    assert deleted.status == 204
    assert deleted.body is None
    assert again.status == 404
    assert api.stored("china-post", NUMBER) is None
    assert ("china-post", NUMBER) not in api.upstream_numbers()
    assert api.calls(DELETE_ONE) == 1  # the unknown one never went upstream


def test_delete_of_one_upstream_no_longer_holds_still_deletes_ours(api: Api) -> None:
    create(api)
    requests.delete(f"{api.sandbox.base_url}/trackings/china-post/{NUMBER}", headers=api.sandbox.headers, timeout=10)

    answer = api.delete(ONE)

    assert answer.status == 204
    assert api.stored("china-post", NUMBER) is None


def test_stored_identity_is_normalised(api: Api) -> None:
    create(api, number="rr 123 456 785 cn", carrier=" China-Post ")

    assert api.store.get(TrackingRef("china-post", NUMBER)) is not None
