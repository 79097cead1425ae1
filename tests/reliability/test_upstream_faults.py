"""TrackingMore failing 30 % of the time, in every way the sandbox can fail (docs/design.md §4, docs/reliability.md).

Each scenario runs the real functions on moto against the sandbox with ``POST /_sandbox/faults`` set to a 30 %
error rate, then again after the faults stop, and checks what a user and a subscriber see:

* every parcel is stored exactly once, here and upstream (the sandbox's account), or its item says ``failed``
  with a retryable problem and nothing of it is stored;
* the rerun without faults completes everything, still with no duplicate upstream or here;
* the stream produced exactly one event per visible change (the ledger drives PublisherFunction), and the last
  event of every tracking carries what we store.

Which calls fail is a function of the sandbox seed, the fault settings and the call order (deterministic).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
import requests

from local.stack import StackProcess
from shiptrack.models import MAX_BATCH_ITEMS, TrackingRef
from tests.reliability.harness import BATCH, FAULT_KINDS, System

pytestmark = pytest.mark.reliability

ERROR_RATE = 0.3
REALTIME = "POST /trackings/realtime"
UPSTREAM_FAILURE_STATUSES = {429, 502, 503, 504}


def batch_items(count: int = MAX_BATCH_ITEMS, detected: int = 20) -> list[dict[str, Any]]:
    """``count`` parcels: most with their carrier, ``detected`` UPS numbers without one (detection under faults)."""
    items: list[dict[str, Any]] = [
        {"tracking_number": f"UF{index:09d}CN", "carrier_code": "china-post", "order_id": f"SO-{index // 3}"}
        for index in range(count - detected)
    ]
    items += [{"tracking_number": f"1Z999AA1{index:010d}"} for index in range(detected)]
    return items


def ref_of(result: dict[str, Any]) -> TrackingRef:
    return TrackingRef.of(result["carrier_code"], result["tracking_number"])


def assert_no_duplicate_upstream(system: System) -> Counter[TrackingRef]:
    upstream = Counter(system.upstream_refs())
    doubled = [ref for ref, count in upstream.items() if count > 1]
    assert not doubled, f"tracked twice upstream: {doubled[:5]}"
    return upstream


def assert_failed_retryably(result: dict[str, Any]) -> None:
    assert result["outcome"] == "failed", result
    problem = result["problem"]
    assert problem["retryable"] is True, problem
    assert problem["status"] in UPSTREAM_FAILURE_STATUSES, problem


def create_quietly(system: System, items: list[dict[str, Any]]) -> list[TrackingRef]:
    """Create parcels with no faults on (the starting state of the refresh and webhook scenarios)."""
    answer = system.api("POST", "/trackings/batch", {"items": items})
    assert answer.status == 200, answer.body
    assert answer.body["summary"]["created"] == len(items), answer.body["summary"]
    return [ref_of(result) for result in answer.body["results"]]


def realtime_body(ref: TrackingRef) -> dict[str, Any]:
    # max_age_seconds 0: never served from the stored copy for freshness, so the carrier is asked
    return {"carrier_code": ref.carrier_code, "tracking_number": ref.tracking_number, "max_age_seconds": 0}


def assert_matches_upstream(system: System, refs: list[TrackingRef]) -> None:
    """Every parcel here is in the state TrackingMore holds (status, substatus, number of events)."""
    upstream = {TrackingRef.of(t["carrier_code"], t["tracking_number"]): t for t in system.upstream()}
    ours = system.store.batch_get(refs)
    assert set(ours) == set(refs)
    for ref in refs:
        theirs = upstream[ref]
        events = sum(
            len((theirs.get(side) or {}).get("trackinfo") or []) for side in ("origin_info", "destination_info")
        )
        assert (ours[ref].status, ours[ref].substatus) == (theirs["status"], theirs.get("substatus")), ref
        assert len(ours[ref].checkpoints) == min(events, 100), ref


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_a_full_batch_stores_each_parcel_once_or_fails_it_retryably(system: System, kind: str) -> None:
    items = batch_items()
    system.faults(ERROR_RATE, [kind])

    # When the batch arrives while TrackingMore fails 30 % of the calls
    first = system.api("POST", "/trackings/batch", {"items": items})

    # Then every item is created (stored here and upstream, once) or failed with a retryable problem (stored nowhere)
    assert first.status == 200, first.body
    results = first.body["results"]
    assert [r["index"] for r in results] == list(range(len(items)))
    assert system.sandbox.stats()["faults"].get(kind, 0) > 0, "no fault was injected"
    stored = system.items(keys_only=True)
    upstream = assert_no_duplicate_upstream(system)
    created = [r for r in results if r["outcome"] == "created"]
    failed = [r for r in results if r["outcome"] != "created"]
    for result in created:
        ref = ref_of(result)
        assert ref.key in stored, ref
        assert upstream[ref] == 1, ref
        assert result["tracking"]["tracking_number"] == ref.tracking_number
    for result in failed:
        assert_failed_retryably(result)
        if result.get("carrier_code"):
            assert ref_of(result).key not in stored
    assert len(stored) == len(created)
    assert first.body["summary"] == {"created": len(created), "existing": 0, "failed": len(failed)}

    # When the same batch is sent again after the faults stop
    system.sandbox.clear_faults()
    second = system.api("POST", "/trackings/batch", {"items": items})

    # Then everything is tracked, what was created before is "existing", and nothing exists twice anywhere
    assert second.status == 200, second.body
    again = second.body["results"]
    assert {r["outcome"] for r in again} <= {"created", "existing"}, [r for r in again if r["outcome"] == "failed"][:3]
    before = {r["index"]: r["outcome"] for r in results}
    for result in again:
        assert result["outcome"] == ("existing" if before[result["index"]] == "created" else "created"), result
    stored = system.items()
    upstream = assert_no_duplicate_upstream(system)
    refs = {ref_of(r) for r in again}
    assert len(refs) == len(items)
    assert set(upstream) == refs
    assert {TrackingRef.from_key(pk) for pk in stored} == refs
    assert system.ledger is not None
    system.ledger.check(stored)
    assert set(system.ledger.created_events().values()) == {1}


def test_a_refresh_under_faults_keeps_what_it_applied_and_a_rerun_completes(system: System) -> None:
    # Given 100 tracked parcels that moved at the carrier since
    refs = create_quietly(system, batch_items(100, detected=0))
    assert system.ledger is not None
    system.ledger.publish()
    before = {ref: t.model_dump(mode="json") for ref, t in system.store.batch_get(refs).items()}
    assert system.sandbox.advance(72)["changed"], "the sandbox moved no parcel"

    # When the schedule fires while TrackingMore fails 30 % of the calls (every kind), then once while the list
    # endpoint is down altogether
    system.faults(ERROR_RATE)
    reports = [system.refresh() for _ in range(2)]
    system.faults(1.0, ["http_503"], endpoints=["GET /trackings/get"])
    reports.append(system.refresh())

    # Then each run completed or stopped cleanly on the upstream failure (the outage always stops it), and every
    # stored parcel is as it was or as TrackingMore holds it now: never half-applied, never anything else
    assert system.sandbox.stats()["faults_injected"] > 0
    assert all(r["completed"] or r["interrupted_by"] == "upstream" for r in reports), reports
    assert reports[-1]["interrupted_by"] == "upstream"
    upstream = {TrackingRef.of(t["carrier_code"], t["tracking_number"]): t for t in system.upstream()}
    for ref, tracking in system.store.batch_get(refs).items():
        current = (upstream[ref]["status"], upstream[ref].get("substatus"))
        previous = (before[ref]["status"], before[ref]["substatus"])
        assert (tracking.status, tracking.substatus) in (current, previous), ref

    # When the faults stop and the schedule fires again, everything is current, and was told once per change
    system.sandbox.clear_faults()
    final = system.refresh()
    assert final["completed"] is True, final
    assert_matches_upstream(system, refs)
    assert_no_duplicate_upstream(system)
    system.ledger.check(system.items())


def test_a_stream_of_pushes_under_faults_is_applied_or_redelivered_and_nothing_is_lost(system: System) -> None:
    # Given 60 parcels (each push reads the tracking from TrackingMore: the path faults reach)
    refs = create_quietly(system, batch_items(60, detected=0))
    assert system.ledger is not None
    system.ledger.publish()
    bridge = system.bridge()

    # When the parcels move and TrackingMore pushes while failing 30 % of its API calls
    system.faults(ERROR_RATE)
    changed = system.sandbox.advance(48)["changed"]
    assert changed
    assert system.sandbox.wait_for_webhooks(timeout=120)

    # Then every push was answered 200, or with a retryable upstream status so TrackingMore delivers it again;
    # never a 500, and every stored parcel is as it was or as TrackingMore holds it
    assert bridge.statuses, "no push arrived"
    assert set(bridge.statuses) <= {200} | UPSTREAM_FAILURE_STATUSES, Counter(bridge.statuses)
    assert system.sandbox.stats()["faults_injected"] > 0
    upstream = {TrackingRef.of(t["carrier_code"], t["tracking_number"]): t for t in system.upstream()}
    for ref, tracking in system.store.batch_get(refs).items():
        assert tracking.status in ("pending", upstream[ref]["status"]), ref

    # When the faults stop, the next refresh catches up whatever a push could not apply
    system.sandbox.clear_faults()
    assert system.refresh()["completed"] is True
    assert_matches_upstream(system, refs)
    assert_no_duplicate_upstream(system)
    system.ledger.check(system.items())


@pytest.mark.parametrize("kind", [kind for kind in FAULT_KINDS if kind != "meta_429"])
def test_realtime_lookups_under_faults_answer_a_retryable_problem_or_the_carriers_copy(
    system: System, kind: str
) -> None:
    refs = create_quietly(system, batch_items(12, detected=0))
    system.sandbox.advance(24)
    system.faults(ERROR_RATE * 2, [kind])  # the realtime client never retries: fewer calls, so a higher rate

    answers = [system.api("POST", "/trackings/realtime", realtime_body(r)) for r in refs]

    assert {a.status for a in answers} <= {200} | UPSTREAM_FAILURE_STATUSES
    assert any(a.status != 200 for a in answers), "no lookup met a fault"
    for answer in answers:
        if answer.status != 200:
            assert answer.headers["Content-Type"] == "application/problem+json"
            assert answer.body["retryable"] is True
    # a failed lookup recorded nothing, so it may be asked again at once (TrackingMore's 2-hour rule is per call made)
    system.sandbox.clear_faults()
    again = [
        system.api("POST", "/trackings/realtime", realtime_body(r))
        for r, a in zip(refs, answers, strict=True)
        if a.status != 200
    ]
    assert {a.status for a in again} == {200}
    assert {a.body["source"] for a in again} == {"carrier"}
    assert system.calls(BATCH) == 1
    assert system.ledger is not None
    system.ledger.check(system.items())


def test_a_realtime_429_serves_stored_copies_and_pauses_the_account_for_every_lookup(system: System) -> None:
    refs = create_quietly(system, batch_items(12, detected=0))
    system.sandbox.advance(24)
    system.faults(ERROR_RATE * 2, ["meta_429"])

    answers = [system.api("POST", "/trackings/realtime", realtime_body(r)) for r in refs]
    system.sandbox.clear_faults()
    after = [system.api("POST", "/trackings/realtime", realtime_body(r)) for r in refs[-3:]]

    # Until TrackingMore's first 429 the carrier answers; from it on the route is paused (120 s) for every
    # instance, and each lookup is the stored copy, said to be held back by the rate limit
    sources = [(a.status, a.body["source"], a.body.get("cache_reason")) for a in answers]
    first_held = sources.index((200, "cache", "rate_limited"))
    assert set(sources[:first_held]) <= {(200, "carrier", None)}
    assert set(sources[first_held:]) == {(200, "cache", "rate_limited")}
    assert system.calls(REALTIME) == first_held + 1  # the one that drew the 429, then none
    # The pause outlives the faults: nothing reaches TrackingMore until it ends
    assert {(a.status, a.body["cache_reason"]) for a in after} == {(200, "rate_limited")}
    assert system.calls(REALTIME) == first_held + 1
    assert system.ledger is not None
    system.ledger.check(system.items())


def test_order_events_under_faults_create_each_shipment_exactly_once_across_redeliveries(system: System) -> None:
    shipments = [{"tracking_number": f"OE{i:09d}CN", "carrier_code": "china-post"} for i in range(45)]
    shipments += [{"tracking_number": f"1Z999AA1{i:010d}"} for i in range(5)]
    body = json.dumps(
        {
            "version": "0",
            "id": "reliability-order-1",
            "detail-type": "Order Shipped",
            "source": "storefront.orders",
            "account": "123456789012",
            "time": "2026-11-22T14:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": {"order_id": "SO-RELIABLE-1", "shipments": shipments},
        }
    )
    system.faults(ERROR_RATE)

    # SQS redelivers a failed message (up to 5 receives before the DLQ); faults stop before the last one
    outcomes = []
    for receive in range(1, 6):
        if receive == 5:
            system.sandbox.clear_faults()
        response, _ = system.orders([body], receive_count=receive)
        outcomes.append(response["batchItemFailures"])
        if not response["batchItemFailures"]:
            break

    assert outcomes[-1] == [], outcomes
    stored = system.items()
    upstream = assert_no_duplicate_upstream(system)
    refs = {TrackingRef.of(s.get("carrier_code") or "ups", s["tracking_number"]) for s in shipments}
    assert {TrackingRef.from_key(pk) for pk in stored} == refs
    assert set(upstream) == refs
    assert {item["order_id"] for item in stored.values()} == {"SO-RELIABLE-1"}
    assert system.ledger is not None
    system.ledger.check(stored)
    assert set(system.ledger.created_events().values()) == {1}


def test_through_the_local_stack_a_faulted_batch_reaches_local_event_tap_once_per_parcel(
    local_stack: StackProcess,
) -> None:
    """The same guarantee end to end: API Gateway → TrackingsFunction → table stream → PublisherFunction → bus →
    ``local-event-tap``, with the stack's own sandbox failing 30 % of the calls on the first attempt."""
    import secrets

    prefix = f"LT{secrets.randbelow(10**6):06d}"
    numbers = [f"{prefix}{index:03d}CN" for index in range(80)]
    items = [{"tracking_number": number, "carrier_code": "china-post"} for number in numbers]
    api = f"{local_stack.api_url}/v1/trackings/batch"
    headers = {"x-api-key": local_stack.api_key}
    faults = f"{local_stack.sandbox_control_url}/_sandbox/faults"
    body = {"error_rate": ERROR_RATE, "kinds": list(FAULT_KINDS), "timeout_s": 0.5}
    try:
        assert requests.post(faults, json=body, timeout=10).status_code == 200
        injected = requests.get(f"{local_stack.sandbox_control_url}/_sandbox/stats", timeout=10).json()[
            "faults_injected"
        ]
        first = requests.post(api, json={"items": items}, headers=headers, timeout=120)
        stats = requests.get(f"{local_stack.sandbox_control_url}/_sandbox/stats", timeout=10).json()
        assert stats["faults_injected"] > injected, "no fault was injected"
    finally:
        requests.post(faults, json={"error_rate": 0}, timeout=10)
    second = requests.post(api, json={"items": items}, headers=headers, timeout=120)

    assert first.status_code == 200, first.text
    for result in first.json()["results"]:
        if result["outcome"] != "created":
            assert_failed_retryably(result)
    assert second.status_code == 200, second.text
    assert {r["outcome"] for r in second.json()["results"]} <= {"created", "existing"}

    # Every parcel's Tracking Created reaches the tap exactly once (the glue polls the stream and the queue)
    sqs = local_stack.client("sqs")
    tap = sqs.get_queue_url(QueueName="local-event-tap")["QueueUrl"]
    mine: list[dict[str, Any]] = []
    quiet_polls = 0
    for _ in range(120):  # bounded: at most ~2 minutes of 1-second long polls
        messages = sqs.receive_message(QueueUrl=tap, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        for message in messages:
            event = json.loads(message["Body"])
            if str(event.get("detail", {}).get("tracking", {}).get("tracking_number", "")).startswith(prefix):
                mine.append(event)
            sqs.delete_message(QueueUrl=tap, ReceiptHandle=message["ReceiptHandle"])
        quiet_polls = 0 if messages else quiet_polls + 1
        if len(mine) >= len(numbers) and quiet_polls >= 3:
            break
    created = Counter(
        e["detail"]["tracking"]["tracking_number"] for e in mine if e["detail-type"] == "Tracking Created"
    )
    assert created == dict.fromkeys(numbers, 1), {n: c for n, c in created.items() if c != 1} or len(created)
    assert len({e["detail"]["event_id"] for e in mine}) == len(mine)
