"""The data package's own seams: rotating cursor keys, bounded batch reads, conditional writes as outcomes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shiptrack.data.cursors import CursorSigner
from shiptrack.data.dynamodb import MAX_BATCH_GET_ATTEMPTS, batch_get, conditional
from shiptrack.data.trackings import TrackingsRepository
from shiptrack.errors import InvalidCursorError, StorageBusyError, problem_for
from shiptrack.models import ListQuery, Tracking

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def seed(store: TrackingsRepository, count: int) -> None:
    for index in range(count):
        at = T0 + timedelta(minutes=index)
        number = f"CU{index:09d}CN"
        tracking = Tracking(carrier_code="china-post", tracking_number=number, created_at=at, updated_at=at)
        assert store.put_new(tracking).created


# ------------------------------------------------------------------------------------------------ cursor keys


def test_cursors_survive_a_key_rotation_until_the_old_key_is_dropped(aws: Any) -> None:
    before = TrackingsRepository(aws.table(), cursors=CursorSigner([b"key-1"]))
    seed(before, 3)
    issued_before = before.list(ListQuery(limit=1)).next_cursor
    assert issued_before is not None

    # Given the new key signs and the old one still verifies
    rotated = TrackingsRepository(aws.table(), cursors=CursorSigner([b"key-2", b"key-1"]))
    page = rotated.list(ListQuery(limit=1, cursor=issued_before))

    # Then the cursor a caller holds still works, and new cursors are signed with the new key only
    assert [t.tracking_number for t in page.items] == ["CU000000001CN"]
    assert page.next_cursor is not None
    only_new = TrackingsRepository(aws.table(), cursors=CursorSigner([b"key-2"]))
    assert [t.tracking_number for t in only_new.list(ListQuery(limit=1, cursor=page.next_cursor)).items] == [
        "CU000000000CN"
    ]
    # … and once the old key is dropped, its cursors are refused
    with pytest.raises(InvalidCursorError):
        only_new.list(ListQuery(limit=1, cursor=issued_before))


def test_a_signer_needs_a_key() -> None:
    with pytest.raises(ValueError, match="key"):
        CursorSigner([])
    with pytest.raises(ValueError, match="key"):
        CursorSigner([b""])


# ------------------------------------------------------------------------------------------------ batch reads


class ThrottledClient:
    """Answers the first key of every call and leaves the rest unprocessed, like a throttled table."""

    def __init__(self) -> None:
        self.calls = 0

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        ((table, request),) = RequestItems.items()
        first, *rest = request["Keys"]
        unprocessed = {table: {**request, "Keys": rest}} if rest else {}
        return {"Responses": {table: [{**first, "answered": True}]}, "UnprocessedKeys": unprocessed}


class ThrottledTable:
    name = "TrackingsTable"

    def __init__(self) -> None:
        self.meta = type("Meta", (), {"client": ThrottledClient()})()


def test_a_batch_read_gives_up_on_keys_left_unprocessed_after_a_bounded_number_of_calls() -> None:
    table = ThrottledTable()
    sleeps: list[float] = []
    keys = [{"pk": f"ups#N{index}"} for index in range(10)]
    read: list[dict[str, Any]] = []

    with pytest.raises(StorageBusyError) as busy:
        read.extend(batch_get(table, keys, sleep=sleeps.append))  # type: ignore[arg-type]

    assert table.meta.client.calls == MAX_BATCH_GET_ATTEMPTS
    assert len(read) == MAX_BATCH_GET_ATTEMPTS  # what was read before giving up is still handed over
    assert len(sleeps) == MAX_BATCH_GET_ATTEMPTS - 1
    assert sum(sleeps) <= 3.0
    problem, _headers = problem_for(busy.value)
    assert (problem.status, problem.code, problem.retryable) == (503, "storage_busy", True)


def test_a_batch_read_that_is_answered_in_the_end_returns_everything() -> None:
    table = ThrottledTable()
    keys = [{"pk": f"ups#N{index}"} for index in range(MAX_BATCH_GET_ATTEMPTS)]

    read = list(batch_get(table, keys, sleep=lambda _s: None))  # type: ignore[arg-type]

    assert sorted(item["pk"] for item in read) == sorted(key["pk"] for key in keys)


# ------------------------------------------------------------------------------------------------ conditional writes


def test_a_condition_that_does_not_hold_is_an_outcome_and_any_other_failure_is_raised(aws: Any) -> None:
    from botocore.exceptions import ClientError

    table = aws.table("CacheTable")

    def put_if_absent() -> None:
        table.put_item(Item={"pk": "JOB#test"}, ConditionExpression="attribute_not_exists(pk)")

    assert conditional(put_if_absent) is True
    assert conditional(put_if_absent) is False
    with pytest.raises(ClientError):  # an empty key is the caller's bug, not a lost race
        conditional(lambda: table.put_item(Item={"pk": ""}, ConditionExpression="attribute_not_exists(pk)"))
