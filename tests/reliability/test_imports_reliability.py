"""A bulk import while TrackingMore fails 30 % of its calls, in every way the sandbox can fail, and while workers are
killed mid-chunk (docs/reliability.md, "Imports").

The real handlers run on moto against the sandbox (``tests/integration/imports_support.py``: the stream, the queue
and the clock are simulated, so retry delays and leases take no time). Workers die at chosen points — right after a
trackings write, right after an upstream batch create came back, right after a chunk's claim or its completion —
and the whole execution environment goes with them (every thread of the invocation stops at its next such point);
SQS then delivers their messages again after the visibility timeout. The import must end with every item created
exactly once, upstream and here, or failed with a retryable problem and stored nowhere; its counters must match its
results; importing the failed rows again must complete them; each tracking gets one Tracking Created event and the
import one Import Completed.

The suite imports :data:`ITEMS` items (``SHIPTRACK_IMPORT_RELIABILITY_ITEMS``, 1,000 by default so ``make test``
stays reasonable; ``bench/imports.py`` runs 5,000 through the same scenario).
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from typing import Any

import pytest

from shiptrack.data.imports import ImportsRepository
from shiptrack.data.trackings import TrackingsRepository
from shiptrack.models import TrackingRef
from tests.integration.imports_support import ImportsSystem, imports_fixture
from tests.reliability.harness import FAULT_KINDS, SimulatedCrash, System
from trackingmore import TrackingMoreClient

__all__ = ["imports_fixture"]

pytestmark = pytest.mark.reliability

ITEMS = int(os.environ.get("SHIPTRACK_IMPORT_RELIABILITY_ITEMS", "1000"))
ERROR_RATE = 0.3


class KillSwitch:
    """Kills the worker's execution environment after chosen calls: once it fires, every instrumented call of that
    invocation (in any of its threads) dies too, until the invocation is over."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.calls: Counter[str] = Counter()
        self.plan: dict[str, set[int]] = {}
        self.dying = threading.Event()
        self.kills = 0
        self.lock = threading.Lock()

    def after(self, owner: Any, name: str, calls: set[int]) -> None:
        """Die right after the given calls (1-based, counted over the whole test) of ``owner.name``."""
        key = f"{owner.__name__}.{name}"
        self.plan[key] = calls
        original = getattr(owner, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if self.dying.is_set():
                raise SimulatedCrash(f"environment gone before {key}")
            result = original(*args, **kwargs)
            with self.lock:
                self.calls[key] += 1
                fire = self.calls[key] in self.plan[key]
                if fire:
                    self.kills += 1
                    self.dying.set()
            if fire:
                raise SimulatedCrash(f"killed after {key} #{self.calls[key]}")
            return result

        self.monkeypatch.setattr(owner, name, wrapper)

    def revive(self) -> None:
        self.dying.clear()


@pytest.fixture
def kill_switch(imports: ImportsSystem, monkeypatch: pytest.MonkeyPatch) -> KillSwitch:
    switch = KillSwitch(monkeypatch)
    worker = imports.handlers["import_worker"]

    def invoke(event: Any, context: Any) -> Any:
        try:
            return worker(event, context)
        finally:
            switch.revive()  # the next invocation runs in a fresh environment

    imports.handlers["import_worker"] = invoke
    return switch


def import_items(count: int) -> list[dict[str, Any]]:
    """``count`` items: most with their carrier, some UPS numbers without one (detected under faults), a few repeats
    of earlier items and a few invalid ones."""
    items: list[dict[str, Any]] = []
    for index in range(count):
        if index % 97 == 50:
            items.append({"tracking_number": "bad"})
        elif index % 89 == 70 and index > 100:
            items.append(dict(items[index - 100]))
        elif index % 10 == 3:
            items.append({"tracking_number": f"1Z999AA1{index:010d}"})
        else:
            items.append(
                {"tracking_number": f"IR{index:09d}CN", "carrier_code": "china-post", "order_id": f"SO-{index}"}
            )
    return items


def ref(result: dict[str, Any]) -> TrackingRef:
    return TrackingRef.of(result["carrier_code"], result["tracking_number"])


@pytest.mark.parametrize(
    ("count", "persistent"),
    [
        pytest.param(ITEMS, True, id="retries-absorb-most-faults"),
        # No client retries and one attempt per chunk: many items end failed, so the rerun has work to do.
        pytest.param(400, False, id="attempts-exhausted"),
    ],
)
def test_an_import_under_faults_and_killed_workers_creates_each_item_once_or_fails_it_retryably(
    imports: ImportsSystem,
    system: System,
    kill_switch: KillSwitch,
    monkeypatch: pytest.MonkeyPatch,
    count: int,
    persistent: bool,
) -> None:
    # Given TrackingMore failing 30 % of its calls in every way, and workers that die at planned points
    if not persistent:
        monkeypatch.setattr("shiptrack.services.import_worker.MAX_CHUNK_ATTEMPTS", 1)
        monkeypatch.setattr("trackingmore.client.DEFAULT_MAX_RETRIES", 0)
    system.faults(ERROR_RATE, FAULT_KINDS)
    chunks = count // 40
    if persistent:
        kill_switch.after(TrackingsRepository, "put_new", {7, 333, 1201, 2999})
        kill_switch.after(TrackingMoreClient, "batch_create_trackings", {2, chunks // 2})
        kill_switch.after(ImportsRepository, "claim", {5, chunks // 3})
        kill_switch.after(ImportsRepository, "complete", {3, chunks // 4, chunks - 2})
    else:  # fewer chunks, fewer kills: none of them may die 5 times (then SQS would rightly dead-letter it)
        kill_switch.after(TrackingsRepository, "put_new", {count // 3})
        kill_switch.after(TrackingMoreClient, "batch_create_trackings", {chunks // 2})
        kill_switch.after(ImportsRepository, "complete", {chunks - 3})
    items = import_items(count)

    # When the import is accepted and the workers run until nothing is left
    final = imports.run({"items": items})

    # Then every item has its outcome; nothing is pending, nothing reached the DLQ
    assert kill_switch.kills >= (6 if persistent else 3), kill_switch.calls
    assert system.sandbox.stats()["faults_injected"] > 0
    assert imports.queue.dead == []
    summary = final["summary"]
    assert summary["pending"] == 0
    assert summary["total"] == count
    results = imports.results(final["id"], limit=500)
    assert [r["index"] for r in results] == list(range(count))
    by_outcome = Counter(r["outcome"] for r in results)
    assert by_outcome == Counter({k: v for k, v in summary.items() if k in ("created", "existing", "failed") and v})

    # and each one is stored once here and upstream, or failed retryably (or invalid) and stored nowhere
    stored = system.items(keys_only=True)
    upstream = Counter(system.upstream_refs())
    assert [r for r, count in upstream.items() if count > 1] == []
    kept = {ref(r) for r in results if r["outcome"] in ("created", "existing")}
    assert {TrackingRef.from_key(pk) for pk in stored} == kept
    assert kept <= set(upstream)
    assert by_outcome["created"] == len(kept)  # existing ones here are repeats of created ones: counted once
    failed = [r for r in results if r["outcome"] == "failed"]
    invalid = [r for r in failed if r["problem"]["code"] == "validation_failed"]
    assert len(invalid) == sum(1 for item in items if item["tracking_number"] == "bad")
    for result in failed:
        assert result["problem"]["retryable"] or result in invalid, result
        if result.get("carrier_code") and result not in invalid:
            assert ref(result).key not in stored

    # Each tracking was announced once; the import once
    assert system.ledger is not None
    system.ledger.check(system.items())
    assert set(system.ledger.created_events().values()) <= {1}

    # When the failed rows are imported again without faults, they are all tracked
    system.sandbox.clear_faults()
    retry = [items[r["index"]] for r in failed if r not in invalid]
    assert persistent or retry, "the scenario left nothing to rerun"
    if retry:
        monkeypatch.setattr("shiptrack.services.import_worker.MAX_CHUNK_ATTEMPTS", 4)
        again = imports.run({"items": retry})
        assert again["summary"]["failed"] == 0, imports.results(again["id"], outcome="failed")[:3]
        assert again["summary"]["pending"] == 0
        assert [r for r, count in Counter(system.upstream_refs()).items() if count > 1] == []
        assert len(system.items(keys_only=True)) == len(kept) + again["summary"]["created"]
