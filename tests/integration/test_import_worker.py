"""The import worker's chunk state machine on its edges: a chunk another worker holds, too little time left, a claim
that expired under a slow worker, and what a chunk costs in DynamoDB writes (handlers on moto, simulated clock)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shiptrack import runtime
from shiptrack.data.imports import ImportsRepository
from shiptrack.data.rate_limits import RATE_PREFIX
from shiptrack.services.import_worker import LEASE_MARGIN_SECONDS, MIN_SECONDS_FOR_A_CHUNK
from tests.integration.imports_support import BATCH, ImportsSystem, imports_fixture

__all__ = ["imports_fixture"]

pytestmark = pytest.mark.integration


def items(prefix: str, count: int) -> list[dict[str, Any]]:
    return [{"tracking_number": f"{prefix}{i:09d}CN", "carrier_code": "china-post"} for i in range(count)]


def repository(imports: ImportsSystem) -> ImportsRepository:
    return ImportsRepository(runtime.imports_table(), clock=imports.clock)


def test_a_chunk_held_by_a_live_worker_is_looked_at_again_when_its_claim_ends(imports: ImportsSystem) -> None:
    # Given chunk 0 claimed by another worker for the next 10 minutes
    accepted = imports.post({"items": items("BU", 30)}).body
    imports.dispatch()
    repo = repository(imports)
    chunk = repo.load_chunk(accepted["id"], 0)
    assert chunk is not None
    assert repo.claim(chunk, "someone-else", imports.clock.epoch() + 600) is not None
    started = imports.clock.epoch()

    # When the workers run
    imports.work()

    # Then the message waited for the claim to expire (no receive used up), then created the chunk once
    final = imports.import_(accepted["id"])
    assert final["summary"]["created"] == 30
    assert imports.calls(BATCH) == 1
    assert imports.clock.epoch() - started >= 600
    assert imports.queue.dead == []


def test_a_worker_with_too_little_time_left_hands_the_chunk_back_untouched(imports: ImportsSystem) -> None:
    accepted = imports.post({"items": items("TL", 5)}).body
    imports.dispatch()
    imports.worker_context_ms = int(MIN_SECONDS_FOR_A_CHUNK * 1000) - 1

    imports.work(until_idle=False)

    chunk = repository(imports).load_chunk(accepted["id"], 0)
    assert chunk is not None
    assert (chunk.state, chunk.attempts) == ("queued", 0)
    assert [json.loads(m.body)["chunk"] for m in imports.queue.messages] == [0]
    assert imports.calls(BATCH) == 0

    imports.worker_context_ms = 120_000
    imports.work()
    assert imports.import_(accepted["id"])["summary"]["created"] == 5


def test_a_worker_whose_claim_expired_does_not_complete_over_the_new_owner(
    imports: ImportsSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a worker that is so slow that its claim expires and another takes the chunk while it sends
    accepted = imports.post({"items": items("SL", 10)}).body
    imports.dispatch()
    repo = repository(imports)
    original_complete = ImportsRepository.complete
    taken: list[bool] = []

    def complete_late(self: ImportsRepository, chunk: Any, results: Any, counts: Any) -> bool:
        if not taken:
            imports.clock.advance(120 + LEASE_MARGIN_SECONDS + 1)
            fresh = repo.load_chunk(chunk.import_id, chunk.number)
            assert fresh is not None
            taken.append(repo.claim(fresh, "the-other-worker", imports.clock.epoch() + 300) is not None)
        return original_complete(self, chunk, results, counts)

    monkeypatch.setattr(ImportsRepository, "complete", complete_late)

    # When the slow worker tries to complete the chunk
    imports.work(until_idle=False)

    # Then its completion is refused: the chunk belongs to the other worker, and no counter moved
    assert taken == [True]
    chunk = repo.load_chunk(accepted["id"], 0)
    assert chunk is not None
    assert (chunk.state, chunk.owner) == ("sending", "the-other-worker")
    assert imports.import_(accepted["id"])["summary"]["pending"] == 10


def test_dynamodb_writes_per_imported_item(imports: ImportsSystem, monkeypatch: pytest.MonkeyPatch) -> None:
    """What one import costs in write requests, by kind: the benchmark's figure, held here so it cannot drift."""
    counts: dict[str, int] = {}
    client = runtime.imports_table().meta.client
    for name in ("put_item", "update_item", "batch_write_item", "transact_write_items"):
        original = getattr(client, name)

        def counting(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
            requests = kwargs.get("RequestItems") or {}
            items = kwargs.get("TransactItems") or [entry for table in requests.values() for entry in table]
            key = str((kwargs.get("Item") or kwargs.get("Key") or {}).get("pk", ""))
            kind = "rate_gate" if key.startswith(RATE_PREFIX) else _name
            counts[kind] = counts.get(kind, 0) + (len(items) or 1)
            return _original(*args, **kwargs)

        monkeypatch.setattr(client, name, counting)

    final = imports.run({"items": items("WR", 400)})

    assert final["summary"]["created"] == 400
    chunks = 400 // 40
    # the chunks and the header; the dispatcher's start stamp; per chunk a claim and a 2-item transaction;
    # per item one tracking
    # The shared rate gate's RATE# writes: one per batch create uncontended, more when chunks race for a slot.
    assert counts.pop("rate_gate", 0) >= 1
    assert counts == {
        "batch_write_item": chunks,
        "put_item": 1 + 400,
        "update_item": 1 + chunks,
        "transact_write_items": 2 * chunks,
    }
