"""Crash safety: a function killed between its DynamoDB write and its return (docs/design.md §5 "no dual writes").

The kill is simulated by raising :class:`~tests.reliability.harness.SimulatedCrash` (a ``BaseException``: no handler,
error map or batch processor of ours catches it) right after the write succeeded, once. Then what AWS does next
happens: API Gateway's caller retries the same request, TrackingMore redelivers the same push, SQS redelivers the
same message, the schedule fires again, Lambda retries the stream batch. After the retry:

* nothing exists twice — upstream (the sandbox's account, and its create calls) or in TrackingsTable;
* no event is lost and none is invented: the stream yields exactly one event per visible change (the publisher
  crash is the one case where the same events are delivered again, with the same ``event_id``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from shiptrack.data.claims import CreateClaims
from shiptrack.data.order_markers import OrderMarkers
from shiptrack.data.trackings import TrackingsRepository
from shiptrack.models import TrackingRef
from tests.reliability.harness import BATCH, CREATE, SimulatedCrash, System

pytestmark = pytest.mark.reliability

NUMBER = "RR123456785CN"
REF = TrackingRef("china-post", NUMBER)
REALTIME = "POST /trackings/realtime"


@dataclass
class Crash:
    """Kills the caller right after the ``after``-th successful call of ``owner.name``, once."""

    after: int
    calls: int = 0
    fired: bool = False

    @property
    def armed(self) -> bool:
        return not self.fired


@pytest.fixture
def crash(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Crash]:
    def install(owner: Any, name: str, *, after: int = 1) -> Crash:
        state = Crash(after)
        original = getattr(owner, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            if not state.fired:
                state.calls += 1
                if state.calls == state.after:
                    state.fired = True
                    raise SimulatedCrash(f"killed after {owner.__name__}.{name}")
            return result

        monkeypatch.setattr(owner, name, wrapper)
        return state

    return install


def claims_survive_the_crash(monkeypatch: pytest.MonkeyPatch, crash: Crash) -> None:
    """A killed process runs no ``finally``: its create claim stays in CacheTable until it expires."""
    original = CreateClaims.release

    def release(self: CreateClaims, ref: TrackingRef, owner: str) -> None:
        if not crash.fired:
            original(self, ref, owner)

    monkeypatch.setattr(CreateClaims, "release", release)


def create_body(**extra: Any) -> dict[str, Any]:
    return {"tracking_number": NUMBER, "carrier_code": "china-post", "title": "Blue mug", **extra}


def assert_once_everywhere(system: System, refs: set[TrackingRef]) -> dict[str, dict[str, Any]]:
    stored = system.items()
    assert {TrackingRef.from_key(pk) for pk in stored} == refs
    upstream = system.upstream_refs()
    assert sorted(upstream) == sorted(refs), "tracked twice, or missing, upstream"
    assert system.ledger is not None
    system.ledger.check(stored)
    assert system.ledger.created_events() == {ref.key: 1 for ref in refs}
    return stored


# ------------------------------------------------------------------------------------------------------------ API


@pytest.mark.parametrize("key", [None, "crash-key-1"], ids=["no-key", "idempotency-key"])
def test_create_killed_after_storing_is_answered_from_the_store_on_retry(
    system: System, crash: Callable[..., Crash], monkeypatch: pytest.MonkeyPatch, key: str | None
) -> None:
    killed = crash(TrackingsRepository, "put_new")
    claims_survive_the_crash(monkeypatch, killed)
    headers = {"Idempotency-Key": key} if key else None

    # The first attempt creates upstream, stores, and dies before answering (its Lambda had 4 s left: time enough to
    # call TrackingMore within its deadline, and the Idempotency-Key's in-progress record expires as the Lambda's would)
    with pytest.raises(SimulatedCrash):
        system.api("POST", "/trackings", create_body(), headers=headers, remaining_ms=4_000)

    # The caller retries the same request
    retry = system.api("POST", "/trackings", create_body(), headers=headers)
    again = system.api("POST", "/trackings", create_body(), headers=headers)

    assert retry.status == 200, retry.body  # already tracked: the stored tracking, no second create
    assert retry.body["tracking_number"] == NUMBER
    assert retry.body["title"] == "Blue mug"
    assert (again.status, again.body) == (200, retry.body)
    assert system.calls(CREATE) == 1
    assert_once_everywhere(system, {REF})


def test_batch_killed_halfway_through_storing_completes_on_retry_without_duplicates(
    system: System, crash: Callable[..., Crash]
) -> None:
    items = [{"tracking_number": f"CB{i:09d}CN", "carrier_code": "china-post"} for i in range(60)]
    crash(TrackingsRepository, "put_new", after=25)

    with pytest.raises(SimulatedCrash):
        system.api("POST", "/trackings/batch", {"items": items})
    # The crash stops the chunk it hits; the chunk sent beside it (chunks go concurrently) may finish storing
    stored = set(system.items(keys_only=True))
    assert 25 <= len(stored) < len(items)
    retry = system.api("POST", "/trackings/batch", {"items": items})

    # Upstream already holds all 60 (4016 for those not stored yet: adopted, as a single create does)
    assert retry.status == 200, retry.body
    expected = ["existing" if f"china-post#{item['tracking_number']}" in stored else "created" for item in items]
    assert [r["outcome"] for r in retry.body["results"]] == expected
    assert_once_everywhere(system, {TrackingRef.of("china-post", item["tracking_number"]) for item in items})


def test_patch_killed_after_writing_is_applied_once_on_retry(system: System, crash: Callable[..., Crash]) -> None:
    assert system.api("POST", "/trackings", create_body()).status == 201
    crash(TrackingsRepository, "_write")

    with pytest.raises(SimulatedCrash):
        system.api("PATCH", f"/trackings/china-post/{NUMBER}", {"title": "Red mug"})
    retry = system.api("PATCH", f"/trackings/china-post/{NUMBER}", {"title": "Red mug"})

    assert retry.status == 200, retry.body
    assert retry.body["title"] == "Red mug"
    stored = assert_once_everywhere(system, {REF})
    assert system.ledger is not None
    assert [e["detail-type"] for e in system.ledger.events] == ["Tracking Created", "Tracking Updated"]
    assert stored[REF.key]["title"] == "Red mug"


def test_realtime_killed_after_storing_serves_the_stored_copy_on_retry(
    system: System, crash: Callable[..., Crash]
) -> None:
    assert system.api("POST", "/trackings", create_body()).status == 201
    system.sandbox.advance(24)
    crash(TrackingsRepository, "_write")
    body = {"carrier_code": "china-post", "tracking_number": NUMBER, "max_age_seconds": 0}

    with pytest.raises(SimulatedCrash):
        system.api("POST", "/trackings/realtime", body)
    retry = system.api("POST", "/trackings/realtime", body)

    # The live answer was stored with its 2-hour stamp in the same write: the retry costs no second lookup
    assert retry.status == 200, retry.body
    assert retry.body["source"] == "cache"
    assert system.calls(REALTIME) == 1
    stored = assert_once_everywhere(system, {REF})
    assert retry.body["tracking"]["status"] == stored[REF.key]["status"]


# ------------------------------------------------------------------------------------------------------ event paths


def test_webhook_killed_after_applying_a_push_changes_nothing_more_when_it_is_redelivered(
    system: System, crash: Callable[..., Crash]
) -> None:
    assert system.api("POST", "/trackings", create_body()).status == 201
    system.sandbox.advance(48)
    [pushed] = [t for t in system.upstream() if t["tracking_number"] == NUMBER]
    assert pushed["status"] != "pending", "the sandbox did not move the parcel"
    crash(TrackingsRepository, "_write")
    sent_at = datetime.now(UTC)

    with pytest.raises(SimulatedCrash):
        system.push(pushed, sent_at=sent_at)
    retry = system.push(pushed, sent_at=sent_at)  # TrackingMore sends the same push again

    assert retry.status == 200
    assert retry.body["outcome"] == "unchanged"
    stored = assert_once_everywhere(system, {REF})
    assert stored[REF.key]["status"] == pushed["status"]
    assert system.ledger is not None
    assert [e["detail-type"] for e in system.ledger.events] == ["Tracking Created", "Tracking Status Changed"]


def order_shipped(order_id: str, shipments: list[dict[str, str]]) -> str:
    return json.dumps(
        {
            "version": "0",
            "id": f"crash-{order_id}",
            "detail-type": "Order Shipped",
            "source": "storefront.orders",
            "account": "123456789012",
            "time": "2026-11-22T14:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": {"order_id": order_id, "shipments": shipments},
        }
    )


@pytest.mark.parametrize(
    ("owner", "name", "after"),
    [(TrackingsRepository, "put_new", 2), (OrderMarkers, "mark", 1)],
    ids=["after-storing-a-tracking", "after-marking-a-shipment-done"],
)
def test_order_consumer_killed_mid_message_creates_each_shipment_once_on_redelivery(
    system: System, crash: Callable[..., Crash], owner: Any, name: str, after: int
) -> None:
    shipments = [{"tracking_number": f"OC{i:09d}CN", "carrier_code": "china-post"} for i in range(3)]
    body = order_shipped("SO-CRASH-1", shipments)
    crash(owner, name, after=after)

    with pytest.raises(SimulatedCrash):
        system.orders([body])
    response, _ = system.orders([body], receive_count=2)  # SQS makes the message visible again

    assert response["batchItemFailures"] == []
    assert system.calls(BATCH) <= 2
    assert system.calls(CREATE) == 0
    stored = assert_once_everywhere(system, {TrackingRef("china-post", s["tracking_number"]) for s in shipments})
    assert {item["order_id"] for item in stored.values()} == {"SO-CRASH-1"}
    # a third delivery (SQS is at least once) makes no upstream call at all: every shipment is marked done
    calls = system.sandbox.stats()["calls"]
    response, _ = system.orders([body], receive_count=3)
    assert response["batchItemFailures"] == []
    assert system.sandbox.stats()["calls"] == calls


def test_refresh_killed_mid_pull_resumes_and_tells_each_change_once(
    system: System, crash: Callable[..., Crash]
) -> None:
    items = [{"tracking_number": f"RF{i:09d}CN", "carrier_code": "china-post"} for i in range(30)]
    assert system.api("POST", "/trackings/batch", {"items": items}).status == 200
    assert system.refresh()["completed"] is True
    changed = system.sandbox.advance(72)["changed"]
    assert len(changed) > 5
    crash(TrackingsRepository, "_write", after=5)

    with pytest.raises(SimulatedCrash):
        system.refresh()
    rerun = system.refresh()

    assert rerun["completed"] is True, rerun
    refs = {TrackingRef.of("china-post", item["tracking_number"]) for item in items}
    stored = assert_once_everywhere(system, refs)
    upstream = {t["tracking_number"]: t for t in system.upstream()}
    for item in stored.values():
        assert item["status"] == upstream[item["tracking_number"]]["status"]


def test_publisher_killed_after_sending_redelivers_the_same_events(system: System) -> None:
    items = [{"tracking_number": f"PB{i:09d}CN", "carrier_code": "china-post"} for i in range(25)]
    assert system.api("POST", "/trackings/batch", {"items": items}).status == 200
    assert system.ledger is not None
    bus = system.ledger.bus

    def die_once() -> None:  # after the second PutEvents of the batch was accepted
        if bus.put_calls == 2:
            raise SimulatedCrash("publisher killed after PutEvents")

    bus.after_put = die_once
    system.ledger.publish()

    # Lambda retried the whole batch: 20 events went out twice, with the same ids; none is missing
    stored = system.items()
    system.ledger.check(stored, redelivered=True)
    assert len(system.ledger.events) == 25 + 20
    assert set(system.ledger.created_events().values()) == {1, 2}


def test_create_killed_between_the_upstream_create_and_the_write_is_adopted_once_its_claim_expires(
    system: System, crash: Callable[..., Crash], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one gap a crash can open on the create path: TrackingMore holds the parcel, we do not, and the dead
    request's claim still stands. Retries are told to come back (409, retryable) until the claim expires; then the
    retry adopts TrackingMore's copy (4016 → GET) instead of creating it again."""
    import time

    from shiptrack import compose
    from shiptrack.data.claims import CLAIM_TTL_SECONDS
    from shiptrack.errors import RequestInProgressError
    from shiptrack.models import CreateTrackingRequest
    from shiptrack.services.create import create_tracking
    from trackingmore import TrackingMoreClient

    killed = crash(TrackingMoreClient, "create_tracking")
    claims_survive_the_crash(monkeypatch, killed)
    request = CreateTrackingRequest(tracking_number=NUMBER, carrier_code="china-post")
    cache_table = system.aws.table("CacheTable")
    deps = compose.trackings()
    now = time.time()

    def create(claims: CreateClaims, **options: Any) -> Any:
        return create_tracking(request, store=deps.store, client=deps.client, claims=claims, **options)

    with pytest.raises(SimulatedCrash):
        create(CreateClaims(cache_table, clock=lambda: now))
    assert system.upstream_refs() == [REF]
    assert system.items() == {}

    with pytest.raises(RequestInProgressError) as waiting:  # the claim is still held: 409, retryable
        create(CreateClaims(cache_table, clock=lambda: now + 1), wait_seconds=0)
    assert waiting.value.to_problem().retryable is True
    later = CreateClaims(cache_table, clock=lambda: now + CLAIM_TTL_SECONDS + 1)
    adopted = create(later)

    assert adopted.created is True
    assert system.calls(CREATE) == 2  # ours, then the retry's 4016 "already exists"
    assert system.calls("GET /trackings/{carrier_code}/{tracking_number}") == 1
    assert_once_everywhere(system, {REF})
