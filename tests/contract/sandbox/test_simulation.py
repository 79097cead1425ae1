"""Parcels move with simulated time: statuses, checkpoints, milestones, expiry, determinism (reference §5, §6)."""

from __future__ import annotations

import itertools
import re
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from local.sandbox import SandboxServer
from tests.contract.sandbox.helpers import V2, s10

pytestmark = pytest.mark.contract

STATUSES = {"pending", "notfound", "transit", "pickup", "delivered", "undelivered", "exception", "expired"}
SUBSTATUSES = {
    "notfound": {"notfound001", "notfound002"},
    "transit": {"transit001", "transit002", "transit003", "transit004", "transit005", "transit007"},
    "pickup": {"pickup001"},
    "delivered": {"delivered001", "delivered002", "delivered003", "delivered004"},
    "exception": {f"exception{n:03d}" for n in range(4, 12)},
}
MILESTONES = {
    "ItemReceived",
    "ItemDispatched",
    "DepartfromAirport",
    "ArrivalfromAbroad",
    "CustomsClearance",
    "DestinationArrived",
}
TERMINAL = {"delivered", "exception", "expired"}
LOCAL_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
POSTAL = [s10("RR", 10_000_000 + 7919 * i, "CN") for i in range(20)]
EXPRESS = [f"{3_000_000_000 + 104_729 * i}" for i in range(20)]


def _population(v2: V2) -> None:
    items = [{"tracking_number": n, "carrier_code": "china-post", "destination_code": "us"} for n in POSTAL]
    items += [{"tracking_number": n, "carrier_code": "dhl"} for n in EXPRESS]
    assert v2.post("/trackings/batch", items)["data"]["added"] == 40


def _all(v2: V2) -> dict[str, dict[str, Any]]:
    items = v2.get("/trackings/get", limit=2000)["data"]["items"]
    return {i["tracking_number"]: i for i in items}


def _checkpoints(tracking: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for side in ("origin_info", "destination_info"):
        info = tracking[side]
        if info:
            found += info["trackinfo"]
    return found


def test_a_new_tracking_is_pending_until_the_first_refresh(v2: V2, sandbox: SandboxServer) -> None:
    v2.create(POSTAL[0], "china-post")

    pending = v2.tracking("china-post", POSTAL[0])
    sandbox.advance(0)
    refreshed = v2.tracking("china-post", POSTAL[0])

    assert pending["status"] == "pending"
    assert pending["substatus"] is None
    assert refreshed["status"] in STATUSES - {"pending"}


def test_statuses_move_forward_and_terminal_ones_stick(v2: V2, sandbox: SandboxServer) -> None:
    _population(v2)
    history: dict[str, list[str]] = {n: [] for n in POSTAL + EXPRESS}

    for _ in range(70):  # 70 × 24 h: past the 60-day postal expiry
        sandbox.advance(24)
        for number, tracking in _all(v2).items():
            history[number].append(tracking["status"])

    for statuses in history.values():
        assert set(statuses) <= STATUSES - {"pending"}
        reached_transit = False
        for before, after in itertools.pairwise(statuses):
            if before in TERMINAL:
                assert after == before
            reached_transit |= before in {"transit", "pickup", "undelivered"}
            if reached_transit:
                assert after != "notfound"
    finals = {s[-1] for s in history.values()}
    assert finals <= TERMINAL
    assert "delivered" in finals
    assert finals & {"exception", "expired"}


def test_every_status_and_substatus_shows_up_over_a_population(v2: V2, sandbox: SandboxServer) -> None:
    _population(v2)
    seen: set[tuple[str, str | None]] = set()

    for _ in range(30):
        sandbox.advance(12)
        for tracking in _all(v2).values():
            seen.add((tracking["status"], tracking["substatus"]))
            seen |= {(c["checkpoint_status"], c["substatus"]) for c in _checkpoints(tracking)}

    statuses = {s for s, _ in seen}
    assert {"notfound", "transit", "pickup", "delivered", "undelivered", "exception"} <= statuses
    for status, sub in seen:
        if sub is not None:
            assert sub in SUBSTATUSES[status]


def test_checkpoints_have_the_documented_fields(v2: V2, sandbox: SandboxServer) -> None:
    _population(v2)
    sandbox.advance(24 * 40)

    for tracking in _all(v2).values():
        checkpoints = _checkpoints(tracking)
        for checkpoint in checkpoints:
            assert {"Date", "StatusDescription", "Details", "checkpoint_status", "substatus"} <= set(checkpoint)
            assert LOCAL_TIME_RE.match(checkpoint["Date"])
            assert checkpoint["StatusDescription"]
            assert isinstance(checkpoint["Details"], str)
            assert checkpoint["checkpoint_status"] in STATUSES
            if "ItemNode" in checkpoint:
                assert checkpoint["ItemNode"] in MILESTONES
        for side in ("origin_info", "destination_info"):
            info = tracking[side]
            if not info:
                continue
            assert {"weblink", "phone", "carrier_code", "trackinfo", "ReferenceNumber"} <= set(info)
            assert set(info) >= MILESTONES
            for checkpoint in info["trackinfo"]:
                if "ItemNode" in checkpoint:
                    assert info[checkpoint["ItemNode"]] == checkpoint["Date"]


def test_last_event_and_last_update_time_describe_the_newest_checkpoint(v2: V2, sandbox: SandboxServer) -> None:
    v2.create(EXPRESS[0], "dhl")
    sandbox.advance(24 * 3)

    tracking = v2.tracking("dhl", EXPRESS[0])

    newest = tracking["origin_info"]["trackinfo"][0]
    assert tracking["lastUpdateTime"] == newest["Date"]
    assert tracking["lastEvent"] == f"{newest['StatusDescription']},{newest['Details']},{newest['Date']}"
    assert tracking["status"] == newest["checkpoint_status"]
    assert tracking["substatus"] == newest["substatus"]


def test_express_checkpoints_are_newest_first_in_time(v2: V2, sandbox: SandboxServer) -> None:
    for number in EXPRESS[:5]:
        v2.create(number, "dhl", destination_code="CN")  # CN → CN has one clock: dates compare as strings
    sandbox.advance(24 * 10)

    for number in EXPRESS[:5]:
        tracking = v2.tracking("dhl", number)
        dates = [c["Date"] for c in tracking["origin_info"]["trackinfo"]]
        if tracking["original_country"] == "China":
            assert dates == sorted(dates, reverse=True)


def test_international_postal_item_has_origin_and_destination_legs(v2: V2, sandbox: SandboxServer) -> None:
    _population(v2)
    sandbox.advance(24 * 45)

    delivered = [t for t in _all(v2).values() if t["carrier_code"] == "china-post" and t["status"] == "delivered"]

    assert delivered
    for tracking in delivered:
        assert tracking["original_country"] == "China"
        assert tracking["destination_country"] == "United States"
        assert tracking["origin_info"]["carrier_code"] == "china-post"
        assert tracking["destination_info"]["carrier_code"] == "usps"
        assert tracking["destination_info"]["trackinfo"][0]["checkpoint_status"] == "delivered"
        assert tracking["origin_info"]["ItemReceived"] is not None
        assert tracking["destination_info"]["DestinationArrived"] is not None
        assert isinstance(tracking["itemTimeLength"], int)
        assert isinstance(tracking["stayTimeLength"], int)
        assert tracking["substatus"] in SUBSTATUSES["delivered"]


def test_parcels_without_delivery_expire_after_30_days_express_and_60_postal(v2: V2, sandbox: SandboxServer) -> None:
    _population(v2)

    sandbox.advance(24 * 31 + 6 * 24)  # well past 30 days after any express item's first event
    express = [t for t in _all(v2).values() if t["carrier_code"] == "dhl"]
    sandbox.advance(24 * 40)
    postal = [t for t in _all(v2).values() if t["carrier_code"] == "china-post"]

    for tracking in express + postal:
        assert tracking["status"] in TERMINAL, tracking["status"]


def test_advance_reports_what_changed(v2: V2, sandbox: SandboxServer) -> None:
    v2.create(EXPRESS[0], "dhl")

    changed = sandbox.advance(24)["changed"]
    nothing = sandbox.advance(0)["changed"]

    assert [c["tracking_number"] for c in changed] == [EXPRESS[0]]
    assert changed[0]["from"] == "pending"
    assert changed[0]["to"] in STATUSES
    assert nothing == []


def test_system_timestamps_use_the_real_clock_while_events_use_the_simulated_one(
    v2: V2, sandbox: SandboxServer
) -> None:
    before = int(time.time())
    _population(v2)
    sandbox.advance(24 * 20)
    after = int(time.time()) + 1

    trackings = _all(v2).values()

    newest_events = []
    for tracking in trackings:
        created = datetime.fromisoformat(tracking["created_at"]).timestamp()
        updated = datetime.fromisoformat(tracking["updated_at"]).timestamp()
        assert before <= created <= updated <= after
        if tracking["lastUpdateTime"]:
            local = datetime.strptime(tracking["lastUpdateTime"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
            newest_events.append(local.timestamp())
    # Carrier event times follow the simulated clock, which is now 20 days ahead of the real one.
    assert max(newest_events) > after + 5 * 86400


def _snapshot(server: SandboxServer, numbers: list[tuple[str, str]]) -> list[dict[str, Any]]:
    session = requests.Session()
    session.headers.update(server.headers)
    for number, carrier in numbers:
        session.post(server.base_url + "/trackings/post", json={"tracking_number": number, "carrier_code": carrier})
    views = []
    for hours in (0, 30, 200, 900):
        server.advance(hours)
        for number, carrier in numbers:
            data = session.get(f"{server.base_url}/trackings/{carrier}/{number}").json()["data"]
            views.append({k: v for k, v in data.items() if k not in {"created_at", "updated_at"}})
    session.close()
    return views


def test_same_seed_advances_identically_on_two_servers() -> None:
    start = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
    numbers = [(n, "china-post") for n in POSTAL[:6]] + [(n, "dhl") for n in EXPRESS[:6]]
    with (
        SandboxServer(seed=11, sim_start=start, enforce_rate_limits=False) as one,
        SandboxServer(seed=11, sim_start=start, enforce_rate_limits=False) as two,
        SandboxServer(seed=12, sim_start=start, enforce_rate_limits=False) as other,
    ):
        first, second, different = _snapshot(one, numbers), _snapshot(two, numbers), _snapshot(other, numbers)

    assert first == second
    assert first != different


def test_reset_with_the_same_seed_replays_the_same_history(v2: V2, sandbox: SandboxServer) -> None:
    def run() -> list[Any]:
        v2.create(POSTAL[1], "china-post")
        sandbox.advance(24 * 9)
        tracking = v2.tracking("china-post", POSTAL[1])
        return [tracking["status"], [c["StatusDescription"] for c in _checkpoints(tracking)]]

    sandbox.reset(seed=99)
    first = run()
    sandbox.reset(seed=99)
    second = run()

    assert first == second
