"""TrackingsRepository on the TrackingsTable of template.yaml (in-process moto): writes, indexes, listing, cursors."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from shiptrack.data.codec import is_visible_change, item_from_tracking, tracking_from_item, tracking_item_from_item
from shiptrack.data.cursors import CursorSigner
from shiptrack.data.trackings import TrackingsRepository
from shiptrack.errors import InvalidCursorError, TrackingExistsError, TrackingNotFoundError
from shiptrack.models import Checkpoint, Customer, ListQuery, Tracking, TrackingRef
from trackingmore.models import Tracking as UpstreamTracking

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def tracking(number: str = "RR123456785CN", carrier: str = "china-post", at: datetime = T0, **fields: Any) -> Tracking:
    return Tracking(
        carrier_code=carrier,
        tracking_number=number,
        created_at=at,
        updated_at=at,
        last_checked_at=at,
        **fields,
    )


def upstream(status: str, updated: datetime, events: int = 1, number: str = "RR123456785CN") -> UpstreamTracking:
    trackinfo = [
        {"Date": f"2026-11-{day + 1:02d} 10:00", "StatusDescription": f"event {day}", "checkpoint_status": status}
        for day in reversed(range(events))
    ]
    return UpstreamTracking.model_validate(
        {
            "id": "abc",
            "tracking_number": number,
            "carrier_code": "china-post",
            "status": status,
            "updated_at": updated.isoformat(),
            "origin_info": {"trackinfo": trackinfo},
        }
    )


@pytest.fixture
def store(aws: Any) -> TrackingsRepository:
    return TrackingsRepository(aws.table(), sleep=lambda _s: None)


REF = TrackingRef("china-post", "RR123456785CN")


# ---------------------------------------------------------------------------------------------------------- mapping


def test_item_round_trip_including_stream_image_numbers() -> None:
    original = tracking(
        status="transit",
        transit_days=4,
        customer=Customer(name="Ada", email="ada@example.com"),
        checkpoints=[Checkpoint(time="2026-11-01T10:00:00", description="Accepted", source="origin")],
        order_id="#1",
        order_created_at=T0 - timedelta(days=1),
    )
    item = item_from_tracking(original)
    # A deserialised stream image carries numbers as Decimal
    image = {**item, "transit_days": Decimal(4), "revision": Decimal(3)}

    assert tracking_from_item(image) == original
    assert tracking_item_from_item(image).revision == 3
    assert item["pk"] == "china-post#RR123456785CN"
    assert item["created_sk"] == "2026-11-01T12:00:00.000Z#china-post#RR123456785CN"
    assert item["order_pk"] == "#1"
    assert (item["list_pk"], item["status_pk"], item["active_pk"]) == ("LIST", "transit", "ACTIVE")
    assert "terminal_pk" not in item
    assert all(value is not None and value != "" for key, value in item.items() if key.endswith(("_pk", "_sk")))


def test_archived_items_leave_the_list_status_and_active_partitions() -> None:
    item = item_from_tracking(tracking(lifecycle="archived", status="delivered"))

    assert item["list_pk"] == "ARCHIVED"
    assert "status_pk" not in item
    assert "active_pk" not in item
    assert "terminal_pk" not in item
    assert item["carrier_pk"] == "china-post"


# ------------------------------------------------------------------------------------------------------------ writes


def test_put_new_is_conditional_on_absence(store: TrackingsRepository) -> None:
    first = store.put_new(tracking(title="first"))
    second = store.put_new(tracking(title="second"))

    assert first.created is True
    assert second.created is False
    assert second.tracking.title == "first"


def test_apply_unknown_is_an_outcome_unless_asked_to_create(store: TrackingsRepository) -> None:
    unknown = store.apply_upstream_update(upstream("transit", T0), observed_at=T0, source="webhook")
    created = store.apply_upstream_update(
        upstream("transit", T0), observed_at=T0, source="realtime", create_missing=True
    )

    assert (unknown.reason, unknown.changed, unknown.tracking) == ("unknown", False, None)
    assert (created.reason, created.changed) == ("created", True)
    assert store.get(REF) is not None


def test_apply_newer_then_a_late_older_one_is_stale(store: TrackingsRepository, aws: Any) -> None:
    store.put_new(tracking())
    newer = store.apply_upstream_update(
        upstream("transit", T0 + timedelta(hours=2), 2), observed_at=T0 + timedelta(hours=3), source="refresh"
    )
    reader = aws.stream_reader()
    reader.read()

    late = store.apply_upstream_update(
        upstream("notfound", T0 + timedelta(hours=1), 1), observed_at=T0 + timedelta(hours=4), source="webhook"
    )

    assert (newer.reason, newer.changed) == ("applied", True)
    assert newer.tracking is not None
    assert newer.tracking.last_changed_at == T0 + timedelta(hours=3)
    assert (late.reason, late.changed) == ("stale", False)
    assert store.get(REF).status == "transit"  # type: ignore[union-attr]
    assert reader.read() == []  # nothing written


def test_an_unchanged_copy_moves_only_last_checked_at(store: TrackingsRepository, aws: Any) -> None:
    store.put_new(tracking())
    store.apply_upstream_update(upstream("transit", T0, 1), observed_at=T0 + timedelta(hours=1), source="refresh")
    before = store.load(REF)
    reader = aws.stream_reader()
    reader.read()

    again = store.apply_upstream_update(
        upstream("transit", T0, 1), observed_at=T0 + timedelta(hours=5), source="refresh"
    )

    after = store.load(REF)
    assert (again.reason, again.changed) == ("unchanged", False)
    assert before is not None
    assert after is not None
    assert after.tracking.last_checked_at == T0 + timedelta(hours=5)
    assert after.tracking.updated_at == before.tracking.updated_at
    assert after.tracking.model_copy(update={"last_checked_at": None}) == before.tracking.model_copy(
        update={"last_checked_at": None}
    )
    records = reader.read()
    assert [r["eventName"] for r in records] == ["MODIFY"]
    assert not is_visible_change(_image(records[0], "OldImage"), _image(records[0], "NewImage"))


def _image(record: dict[str, Any], which: str) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {key: deserializer.deserialize(value) for key, value in record["dynamodb"][which].items()}


def test_a_real_change_is_a_visible_change(store: TrackingsRepository, aws: Any) -> None:
    store.put_new(tracking())
    reader = aws.stream_reader()
    reader.read()

    store.apply_upstream_update(upstream("pickup", T0, 3), observed_at=T0 + timedelta(hours=1), source="webhook")

    (record,) = reader.read()
    assert is_visible_change(_image(record, "OldImage"), _image(record, "NewImage"))


def test_delivered_never_goes_back_through_upstream_updates(store: TrackingsRepository) -> None:
    store.put_new(tracking())
    store.apply_upstream_update(upstream("delivered", T0 + timedelta(hours=1), 3), observed_at=T0, source="webhook")

    later = store.apply_upstream_update(
        upstream("transit", T0 + timedelta(hours=2), 4), observed_at=T0 + timedelta(hours=2), source="refresh"
    )

    assert later.tracking is not None
    assert later.tracking.status == "delivered"
    assert len(later.tracking.checkpoints) == 4  # the carrier's newer events are still taken
    # … but an explicit override (PATCH revert) may
    reverted = store.update_fields(REF, {"status": "transit"})
    assert reverted is not None
    assert reverted.status == "transit"


def test_a_concurrent_writer_is_retried_not_lost(store: TrackingsRepository, monkeypatch: pytest.MonkeyPatch) -> None:
    store.put_new(tracking())
    real_write = store._write
    raced = {"done": False}

    def write_after_a_competitor(current: Any, new: Any, **kwargs: Any) -> bool:
        if not raced["done"]:
            raced["done"] = True
            store.update_fields(REF, {"title": "written meanwhile"})
        return real_write(current, new, **kwargs)

    monkeypatch.setattr(store, "_write", write_after_a_competitor)

    outcome = store.apply_upstream_update(upstream("transit", T0, 2), observed_at=T0, source="webhook")

    stored = store.get(REF)
    assert outcome.reason == "applied"
    assert stored is not None
    assert (stored.status, stored.title) == ("transit", "written meanwhile")


def test_mark_checked_moves_forward_only_and_skips_unknown(store: TrackingsRepository) -> None:
    store.put_new(tracking())
    other = TrackingRef("ups", "1Z999AA10123456784")

    moved = store.mark_checked([REF, other], T0 + timedelta(hours=1))
    back = store.mark_checked([REF], T0)

    assert (moved, back) == (1, 0)
    assert store.get(REF).last_checked_at == T0 + timedelta(hours=1)  # type: ignore[union-attr]


def test_active_trackings_least_recently_checked_first(store: TrackingsRepository) -> None:
    for i, hours in enumerate([5, 1, 3]):
        store.put_new(tracking(number=f"AC{i:09d}CN", at=T0 + timedelta(hours=hours)))
    store.put_new(tracking(number="ST000000000CN", lifecycle="stopped"))
    never = Tracking(carrier_code="ups", tracking_number="1Z999AA10123456784", created_at=T0, updated_at=T0)
    store.put_new(never)

    order = [ref.tracking_number for ref in store.iter_active_least_recently_checked(page_size=2)]
    early = list(store.iter_active_least_recently_checked(checked_before=T0 + timedelta(hours=2)))

    assert order == ["1Z999AA10123456784", "AC000000001CN", "AC000000002CN", "AC000000000CN"]
    assert [ref.tracking_number for ref in early] == ["1Z999AA10123456784", "AC000000001CN"]


def test_terminal_trackings_before_a_cutoff(store: TrackingsRepository) -> None:
    for number in ("TD000000001CN", "TD000000002CN", "TD000000003CN"):
        store.put_new(tracking(number=number))
    store.update_fields(TrackingRef("china-post", "TD000000001CN"), {"status": "delivered"}, now=T0)
    store.update_fields(TrackingRef("china-post", "TD000000002CN"), {"status": "expired"}, now=T0 + timedelta(days=2))
    store.update_fields(TrackingRef("china-post", "TD000000003CN"), {"status": "delivered"}, now=T0)
    store.set_lifecycle(TrackingRef("china-post", "TD000000003CN"), "archived")

    due = [ref.tracking_number for ref in store.iter_terminal_before(T0 + timedelta(days=1))]
    all_terminal = [ref.tracking_number for ref in store.iter_terminal_before(T0 + timedelta(days=3))]

    assert due == ["TD000000001CN"]
    assert all_terminal == ["TD000000001CN", "TD000000002CN"]
    # Leaving a terminal status leaves the index
    store.update_fields(TrackingRef("china-post", "TD000000001CN"), {"status": "transit"})
    assert [ref.tracking_number for ref in store.iter_terminal_before(T0 + timedelta(days=3))] == ["TD000000002CN"]


def test_archiving_sets_the_retention_ttl_and_unarchiving_clears_it(store: TrackingsRepository, aws: Any) -> None:
    store.put_new(tracking())

    archived = store.set_lifecycle(REF, "archived", expires_at=T0 + timedelta(days=90))
    item = aws.table().get_item(Key={"pk": REF.key})["Item"]
    active = store.set_lifecycle(REF, "active")
    item_after = aws.table().get_item(Key={"pk": REF.key})["Item"]

    assert archived is not None
    assert archived.lifecycle == "archived"
    assert item["expires_at"] == int((T0 + timedelta(days=90)).timestamp())
    assert item["list_pk"] == "ARCHIVED"
    assert active is not None
    assert active.lifecycle == "active"
    assert "expires_at" not in item_after
    assert store.set_lifecycle(TrackingRef("ups", "1Z999AA10123456784"), "archived") is None


def test_move_identity(store: TrackingsRepository) -> None:
    store.put_new(tracking(title="Blue mug", status="transit"))
    store.put_new(tracking(carrier="ups", number="1Z999AA10123456784"))

    moved = store.move_identity(REF, "China-EMS")

    assert moved.ref == TrackingRef("china-ems", "RR123456785CN")
    assert (moved.title, moved.status, moved.checkpoints) == ("Blue mug", "pending", [])
    assert store.get(REF) is None
    assert store.get(moved.ref) == moved
    with pytest.raises(TrackingNotFoundError):
        store.move_identity(REF, "ups")
    store.put_new(tracking(carrier="ups"))
    with pytest.raises(TrackingExistsError):
        store.move_identity(TrackingRef("ups", "RR123456785CN"), "china-ems")


def test_delete_returns_what_was_stored(store: TrackingsRepository) -> None:
    store.put_new(tracking())

    assert store.delete(REF) is not None
    assert store.delete(REF) is None


def test_batch_get_reads_more_than_100_keys(store: TrackingsRepository) -> None:
    refs = [TrackingRef("china-post", f"BG{i:09d}CN") for i in range(130)]
    for ref in refs[:120]:
        store.put_new(tracking(number=ref.tracking_number))

    found = store.batch_get(refs)

    assert set(found) == set(refs[:120])


# ----------------------------------------------------------------------------------------------------------- listing


def seed(store: TrackingsRepository, count: int, **fields: Any) -> list[str]:
    numbers = []
    for i in range(count):
        number = f"LS{i:09d}CN"
        store.put_new(tracking(number=number, at=T0 + timedelta(minutes=i), **fields))
        numbers.append(number)
    return numbers


def page_through(store: TrackingsRepository, **query: Any) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        page = store.list(ListQuery(cursor=cursor, **query))
        seen += [item.tracking_number for item in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return seen


def test_list_pages_newest_first_without_an_empty_last_page(store: TrackingsRepository) -> None:
    numbers = seed(store, 6)

    first = store.list(ListQuery(limit=3))
    second = store.list(ListQuery(limit=3, cursor=first.next_cursor))

    assert [t.tracking_number for t in first.items] == numbers[::-1][:3]
    assert [t.tracking_number for t in second.items] == numbers[::-1][3:]
    assert second.next_cursor is None


def test_list_filters_through_sparse_pages(store: TrackingsRepository) -> None:
    numbers = seed(store, 30)
    for number in numbers[::7]:
        store.update_fields(TrackingRef("china-post", number), {"comment": "x", "lifecycle": "stopped"})

    stopped = page_through(store, lifecycle="stopped", limit=2)
    by_status = page_through(store, status="pending", carrier_code="china-post", limit=7)

    assert stopped == numbers[::7][::-1]
    assert sorted(by_status) == sorted(numbers)


def test_list_created_window(store: TrackingsRepository) -> None:
    numbers = seed(store, 5)

    window = store.list(
        ListQuery(created_after=T0 + timedelta(minutes=1), created_before=T0 + timedelta(minutes=3))
    ).items

    assert [t.tracking_number for t in window] == [numbers[2], numbers[1]]


def test_cursor_is_bound_to_its_filters_and_tamper_evident(store: TrackingsRepository) -> None:
    seed(store, 3)
    cursor = store.list(ListQuery(limit=1)).next_cursor
    assert cursor is not None
    body, signature = cursor.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["k"]["pk"] = "ups#1Z999AA10123456784"
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=") + "." + signature

    for bad, query in [
        (cursor, ListQuery(limit=1, status="transit")),
        (forged, ListQuery(limit=1)),
        ("not-a-cursor", ListQuery(limit=1)),
        ("e30.AAAA", ListQuery(limit=1)),
    ]:
        with pytest.raises(InvalidCursorError):
            store.list(query.model_copy(update={"cursor": bad}))


def test_a_cursor_from_another_deployment_is_refused(aws: Any) -> None:
    mine = TrackingsRepository(aws.table())
    theirs = TrackingsRepository(aws.table(), cursors=CursorSigner([b"another deployment"]))
    mine.put_new(tracking(number="CU000000001CN"))
    mine.put_new(tracking(number="CU000000002CN", at=T0 + timedelta(minutes=1)))
    cursor = theirs.list(ListQuery(limit=1)).next_cursor

    with pytest.raises(InvalidCursorError):
        mine.list(ListQuery(limit=1, cursor=cursor))


# ------------------------------------------------------------------------------------------------ thread safety


def test_queries_never_hand_boto3_condition_objects_to_the_shared_client(aws: Any) -> None:
    # boto3 turns Key()/Attr() objects into strings with one builder per client, reset on every request: threads
    # sharing the resource (the local stack's concurrent invocations, the concurrency suite) swap placeholders.
    table = aws.table()
    store = TrackingsRepository(table)
    seen: list[tuple[str, type, type]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        seen.append((model.name, type(params.get("KeyConditionExpression")), type(params.get("FilterExpression"))))

    table.meta.client.meta.events.register_first("before-parameter-build.dynamodb.Query", record)
    store.put_new(tracking(status="delivered", last_changed_at=T0))
    store.list(ListQuery(status="delivered", created_after=T0 - timedelta(days=1), created_before=T0 + timedelta(1)))
    store.list(ListQuery(carrier_code="china-post", order_id="#1"))
    list(store.iter_active_least_recently_checked(checked_before=T0 + timedelta(hours=1)))
    list(store.iter_terminal_before(T0 + timedelta(days=1)))
    list(store.terminal_pages(before=T0 + timedelta(days=1)))
    list(store.terminal_pages(after="2026-10-01T00:00:00.000Z", before=T0 + timedelta(days=1)))

    assert len(seen) == 6
    assert all(key is str and filter_ in (str, type(None)) for _, key, filter_ in seen), seen


def test_the_stored_fingerprint_matches_the_stored_content(store: TrackingsRepository, aws: Any) -> None:
    from shiptrack.models import content_fingerprint

    store.put_new(tracking())
    store.apply_upstream_update(upstream("transit", T0 + timedelta(hours=1), 2), observed_at=T0, source="webhook")
    store.apply_upstream_update(upstream("delivered", T0 + timedelta(hours=2), 3), observed_at=T0, source="webhook")
    store.update_fields(REF, {"title": "Blue mug"})

    item = aws.table().get_item(Key={"pk": REF.key})["Item"]
    assert item["status"] == "delivered"
    assert item["fingerprint"] == content_fingerprint(tracking_from_item(item))
