"""Concurrency: identical creates at once, and webhook / refresh / realtime racing on one parcel.

* 50 simultaneous identical ``POST /trackings`` — with and without an ``Idempotency-Key`` — make ONE upstream
  create and store ONE item, and every caller gets the same answer. In-process, the 50 callers are threads
  running the route's own function (what the resolver calls after validation: a resolver object serves one
  event at a time, as one Lambda environment does); over HTTP they are 50 requests through the local stack.
  moto applies conditional writes atomically, as DynamoDB does (local/moto_patches.py), in both.
* Webhook, refresh and realtime deliver copies of one parcel's history in any order (property-based, Hypothesis):
  the stored copy is always the newest delivered one, and a delivered parcel never goes back — checked after
  every delivery, and over the table's whole stream when the deliveries run at the same time.
"""

from __future__ import annotations

import itertools
import json
import threading
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.stack import StackProcess
from shiptrack.data.fetch_leases import FetchLeases
from shiptrack.data.jobs import JobStateStore
from shiptrack.data.push_replays import PushReplays
from shiptrack.data.trackings import TrackingsRepository
from shiptrack.deadline import Deadline
from shiptrack.errors import problem_for
from shiptrack.models import RealtimeRequest, Tracking, TrackingRef, utc_now
from shiptrack.services.realtime import realtime_lookup
from shiptrack.services.refresh import RefreshConfig, run_refresh
from shiptrack.services.webhooks import PushReceiver, receive_push
from tests.reliability.harness import CREATE, EMAIL, TOKEN, System, _image
from trackingmore.models import Tracking as UpstreamTracking
from trackingmore.models import TrackingPage
from trackingmore.webhooks import sign

pytestmark = pytest.mark.reliability

CALLERS = 50


# ------------------------------------------------------------------------------------------------- identical creates


def create_at_once(system: System, body: dict[str, Any], key: str | None) -> list[tuple[int, str]]:
    """``CALLERS`` threads released together into the create route; (status, body) per caller."""
    from shiptrack.models import CreateTrackingRequest
    from shiptrack.routes import trackings as routes

    # One resolved request gives the route its Lambda context (the resolver sets it per invocation).
    assert system.api("GET", "/trackings").status == 200
    request = CreateTrackingRequest.model_validate(body)
    start = threading.Barrier(CALLERS)

    def call(_: int) -> tuple[int, str]:
        start.wait()
        try:
            response = routes.create_tracking(request=request, idempotency_key=key)
        except Exception as exc:  # what the resolver's error map would answer (shiptrack.http)
            problem, _headers = problem_for(exc)
            return problem.status, problem.model_dump_json()
        return response.status_code, str(response.body)

    with ThreadPoolExecutor(max_workers=CALLERS) as pool:
        return list(pool.map(call, range(CALLERS)))


@pytest.mark.parametrize("key", [None, "order-1001-shipment-1"], ids=["no-key", "idempotency-key"])
def test_fifty_identical_creates_make_one_upstream_create_one_item_and_one_answer(
    system: System, key: str | None
) -> None:
    body = {"tracking_number": "RR123456785CN", "carrier_code": "china-post", "title": "Blue mug"}

    answers = create_at_once(system, body, key)

    statuses = sorted(status for status, _ in answers)
    bodies = {text for _, text in answers}
    assert system.calls(CREATE) == 1
    assert list(system.items()) == ["china-post#RR123456785CN"]
    assert system.upstream_refs() == [TrackingRef("china-post", "RR123456785CN")]
    assert len(bodies) == 1, "callers were told different things"
    if key is None:
        # 201 for the one that created it, 200 "already tracked" (same body) for everyone else
        assert statuses == [200] * (CALLERS - 1) + [201]
    else:
        # the same key replays the first answer, status included
        assert statuses == [201] * CALLERS
    assert system.ledger is not None
    system.ledger.check(system.items())
    assert system.ledger.created_events() == {"china-post#RR123456785CN": 1}


def sandbox_calls(stack: StackProcess, route: str) -> int:
    with urllib.request.urlopen(f"{stack.sandbox_control_url}/_sandbox/stats", timeout=10) as response:
        return int(json.loads(response.read())["calls"].get(route, 0))


@pytest.mark.parametrize("with_key", [False, True], ids=["no-key", "idempotency-key"])
def test_fifty_identical_creates_over_http_make_one_upstream_create(local_stack: StackProcess, with_key: bool) -> None:
    import secrets

    number = f"CC{secrets.randbelow(10**9):09d}CN"
    body = {"tracking_number": number, "carrier_code": "china-post"}
    headers = {"x-api-key": local_stack.api_key}
    if with_key:
        headers["Idempotency-Key"] = f"reliability-{secrets.token_hex(8)}"
    creates = sandbox_calls(local_stack, CREATE)
    start = threading.Barrier(CALLERS)

    def call(_: int) -> tuple[int, str]:
        start.wait()
        response = requests.post(f"{local_stack.api_url}/v1/trackings", json=body, headers=headers, timeout=60)
        return response.status_code, response.text

    with ThreadPoolExecutor(max_workers=CALLERS) as pool:
        answers = list(pool.map(call, range(CALLERS)))

    statuses = sorted(status for status, _ in answers)
    assert sandbox_calls(local_stack, CREATE) == creates + 1
    assert statuses == ([201] * CALLERS if with_key else [200] * (CALLERS - 1) + [201]), statuses
    assert len({json.loads(text)["tracking_number"] for _, text in answers}) == 1
    assert len({text for _, text in answers}) == 1
    dynamodb = local_stack.client("dynamodb")
    table = "shiptrack-local-TrackingsTable"
    found = dynamodb.query(
        TableName=table,
        IndexName="ByCarrier",
        KeyConditionExpression="carrier_pk = :c",
        FilterExpression="tracking_number = :n",
        ExpressionAttributeValues={":c": {"S": "china-post"}, ":n": {"S": number}},
    )["Items"]
    assert len(found) == 1


# --------------------------------------------------------------------------------------------------------------- races

BASE = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
PROGRESS = ("notfound", "transit", "transit", "pickup", "delivered")
AFTER_DELIVERY = ("transit", "exception")  # a parcel returned after delivery: TrackingMore moves on, we must not
_numbers = itertools.count()


@dataclass(frozen=True)
class Copy:
    """One observation of the parcel upstream: its position in the history and the v2 tracking object."""

    step: int
    status: str
    data: dict[str, Any]

    @property
    def events(self) -> int:
        return self.step + 1


def history(number: str, length: int, returned: str | None) -> list[Copy]:
    """The parcel's history as TrackingMore would serve it: each copy newer (``updated_at``) with one more event."""
    statuses = list(PROGRESS[:length])
    if returned is not None and statuses[-1] == "delivered":
        statuses.append(returned)
    copies = []
    for step, status in enumerate(statuses):
        events = [
            {
                "Date": f"{(BASE + timedelta(hours=6 * i)):%Y-%m-%d %H:%M:%S}",
                "StatusDescription": f"event {i}",
                "checkpoint_status": statuses[i],
                "substatus": f"{statuses[i]}001",
            }
            for i in range(step, -1, -1)
        ]
        data = {
            "id": f"up-{number}",
            "tracking_number": number,
            "carrier_code": "china-post",
            "status": status,
            "substatus": f"{status}001",
            "updated_at": (BASE + timedelta(hours=6 * step, minutes=5)).isoformat(),
            "origin_info": {"trackinfo": events},
            "destination_info": None,
            "lastEvent": f"event {step}",
        }
        copies.append(Copy(step, status, data))
    return copies


class OneParcelUpstream:
    """A TrackingMore stand-in that answers every read with one given copy (webhook, refresh and realtime use it)."""

    def __init__(self, copy: Copy) -> None:
        self.data = copy.data
        self.tracking = UpstreamTracking.model_validate(copy.data)

    def list_trackings(self, **_filters: Any) -> TrackingPage:
        return TrackingPage.model_validate({"page": 1, "limit": 2000, "total": 1, "items": [self.data]})

    def realtime_tracking(self, _request: Any) -> UpstreamTracking:
        return self.tracking

    def get_tracking(self, _carrier_code: str, _tracking_number: str) -> UpstreamTracking:
        return self.tracking

    def stop_updating(self, refs: Any) -> Any:  # retirement never applies to these fresh parcels
        raise AssertionError(f"unexpected notupdate for {refs}")


class Paths:
    """The three ways a copy reaches the store, each through its own service entry point."""

    def __init__(self, system: System) -> None:
        self.store = TrackingsRepository(system.aws.table())
        self.jobs = JobStateStore(system.aws.table("CacheTable"))
        self.cache = system.aws.table("CacheTable")
        self.realtime_calls = itertools.count(1)
        self.first_push = int(utc_now().timestamp())
        self.push_seconds = itertools.count()

    # Each path returns whether the copy reached the store's monotonic rule (a refresh that lost the job-state race
    # to another run, or a realtime lookup served from the stored copy, hands nothing to the store).

    def webhook(self, copy: Copy) -> bool:
        # Each push has its own timeStr (one push of a second per parcel: the replay cache would drop a repeat).
        time_str = str(self.first_push - next(self.push_seconds))
        verify = {"timeStr": time_str, "signature": sign(time_str, EMAIL)}
        body = json.dumps(
            {
                "meta": {"code": 200},
                "data": {"tracking_number": copy.data["tracking_number"], "carrier_code": "china-post"},
                "verifyInfo": verify,
            }
        )
        receiver = PushReceiver(
            store=self.store,
            replays=PushReplays(self.cache),
            leases=FetchLeases(self.cache),
            client=lambda: OneParcelUpstream(copy),  # type: ignore[arg-type,return-value]
            tokens=(TOKEN,),
            account_email=EMAIL,
            tolerance_seconds=300,
        )
        # The push only names the parcel: the copy TrackingMore serves when asked is what reaches the store.
        outcome = receive_push(body.encode(), TOKEN, receiver=receiver, now=utc_now())
        return outcome.confirmed

    def refresh(self, copy: Copy) -> bool:
        report = run_refresh(
            store=self.store,
            jobs=self.jobs,
            client=OneParcelUpstream(copy),  # type: ignore[arg-type]
            deadline=Deadline(lambda: 900_000, reserve_ms=5_000),
            clock=utc_now,
            config=RefreshConfig(),
        )
        return report.pulled > 0

    def realtime(self, copy: Copy) -> bool:
        # Each live lookup is made after TrackingMore's 2-hour interval (otherwise the stored copy is served).
        now = utc_now() + timedelta(hours=3 * next(self.realtime_calls))
        number = copy.data["tracking_number"]
        request = RealtimeRequest(carrier_code="china-post", tracking_number=number, max_age_seconds=0)
        upstream = OneParcelUpstream(copy)
        answer = realtime_lookup(
            request,
            store=self.store,
            client=lambda: upstream,  # type: ignore[arg-type,return-value]
            default_max_age_seconds=0,
            now=now,
        )
        return answer.source == "carrier"

    def deliver(self, path: str, copy: Copy) -> bool:
        offered: bool = getattr(self, path)(copy)
        return offered


def new_parcel(system: System) -> tuple[TrackingRef, TrackingsRepository]:
    """A parcel we track, as created (pending, no events), under a number no other example uses."""
    number = f"RC{next(_numbers):09d}CN"
    now = utc_now()
    store = TrackingsRepository(system.aws.table())
    tracking = Tracking(
        carrier_code="china-post", tracking_number=number, created_at=now, updated_at=now, last_changed_at=now
    )
    assert store.put_new(tracking).created
    return tracking.ref, store


def expected_after(applied: list[Copy]) -> tuple[int, str]:
    """What the store must hold after these copies arrived in this order: (events, status)."""
    newest: Copy | None = None
    delivered = False
    for copy in applied:
        if newest is None or copy.step >= newest.step:
            newest = copy
            delivered = delivered or copy.status == "delivered"
    assert newest is not None
    return newest.events, "delivered" if delivered else newest.status


PATHS = ("webhook", "refresh", "realtime")
#: (path, index into the history) in arrival order
deliveries = st.lists(st.tuples(st.sampled_from(PATHS), st.integers(0, 5)), min_size=1, max_size=10)
race_settings = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@race_settings
@given(
    length=st.integers(2, 5),
    returned=st.sampled_from([None, *AFTER_DELIVERY]),
    schedule=deliveries,
)
def test_copies_arriving_in_any_order_leave_the_newest_and_delivered_never_goes_back(
    system: System, length: int, returned: str | None, schedule: list[tuple[str, int]]
) -> None:
    ref, store = new_parcel(system)
    paths = Paths(system)
    copies = history(ref.tracking_number, length, returned)
    arrived: list[Copy] = []
    was_delivered = False
    for path, index in schedule:
        copy = copies[index % len(copies)]
        assert paths.deliver(path, copy), f"{path} did not hand the copy to the store"
        arrived.append(copy)
        stored = store.get(ref)
        assert stored is not None
        events, status = expected_after(arrived)
        assert (len(stored.checkpoints), stored.status) == (events, status), (path, copy.step, copy.status)
        assert not was_delivered or stored.status == "delivered", "a delivered parcel went back"
        was_delivered = stored.status == "delivered"


@race_settings
@given(
    length=st.integers(3, 5),
    returned=st.sampled_from([None, *AFTER_DELIVERY]),
    schedule=st.lists(st.tuples(st.sampled_from(PATHS), st.integers(0, 5)), min_size=2, max_size=8),
)
def test_copies_racing_at_the_same_time_leave_the_newest_and_the_stream_never_shows_a_delivered_parcel_go_back(
    system: System, length: int, returned: str | None, schedule: list[tuple[str, int]]
) -> None:
    ref, store = new_parcel(system)
    paths = Paths(system)
    copies = history(ref.tracking_number, length, returned)
    sent = [copies[index % len(copies)] for _, index in schedule]
    start = threading.Barrier(len(schedule))
    errors: list[BaseException] = []
    offered: list[Copy] = []

    def run(path: str, copy: Copy) -> Callable[[], None]:
        def go() -> None:
            start.wait()
            try:
                if paths.deliver(path, copy):
                    offered.append(copy)
            except BaseException as exc:
                errors.append(exc)

        return go

    threads = [threading.Thread(target=run(path, copy)) for (path, _), copy in zip(schedule, sent, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors

    # The newest copy handed to the store wins, whatever the interleaving; delivered sticks once stored
    assert offered, "no copy reached the store"
    newest = max(offered, key=lambda c: c.step)
    stored = store.get(ref)
    assert stored is not None
    assert len(stored.checkpoints) == newest.events
    if any(c.status == "delivered" for c in offered):
        assert stored.status in {newest.status, "delivered"}
    else:
        assert stored.status == newest.status
    if newest.status == "delivered":
        assert stored.status == "delivered"
    # Over the whole history of the item, as the stream tells it: events never shrink, delivered never leaves
    assert system.ledger is not None
    images = [
        _image(record["dynamodb"].get("NewImage"))
        for record in system.ledger.reader.read()
        if record["dynamodb"]["Keys"]["pk"]["S"] == ref.key
    ]
    seen_delivered = False
    events_so_far = 0
    for image in images:
        if image is None:
            continue
        assert len(image.get("checkpoints") or []) >= events_so_far
        events_so_far = len(image.get("checkpoints") or [])
        assert not seen_delivered or image["status"] == "delivered", "the stream shows a delivered parcel go back"
        seen_delivered = seen_delivered or image["status"] == "delivered"
