"""The `trackingmore` client against the TrackingMore v2 sandbox: every endpoint over real HTTP.

The client's unit tests (tests/unit/trackingmore) pin exact requests against scripted responses; these run the
same public surface against a server that enforces the documented rules (reference §2–§4, §8), and count what
reached it with the sandbox's stats.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from local.sandbox import SandboxServer
from trackingmore import (
    AuthenticationError,
    CarrierNotDetectedError,
    CreateTrackingRequest,
    Deadline,
    DeadlineExceededError,
    InProcessRateGate,
    QuotaExceededError,
    RateLimit,
    RateLimitError,
    RealtimeRequest,
    RemoteCheck,
    ServerError,
    TrackingAlreadyExistsError,
    TrackingMoreClient,
    TrackingMoreError,
    TrackingNotFoundError,
    TrackingRef,
    TransitTimeQuery,
    TransportError,
    UpdateTrackingRequest,
    UpdateTrackingsItem,
)

pytestmark = pytest.mark.contract

# S10 numbers with valid check digits (UPU S10: weights 8 6 4 2 3 5 9 7, 11 − sum mod 11).
WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)


def s10(serial: int, country: str = "CN", prefix: str = "RR") -> str:
    digits = f"{serial:08d}"
    check = 11 - sum(int(d) * w for d, w in zip(digits, WEIGHTS, strict=True)) % 11
    check = {10: 0, 11: 5}.get(check, check)
    return f"{prefix}{digits}{check}{country}"


@pytest.fixture
def client(sandbox: Any) -> Iterator[TrackingMoreClient]:
    tm = TrackingMoreClient(sandbox.api_key, base_url=sandbox.base_url, max_retries=0)
    yield tm
    tm.close()


def calls(sandbox: Any, endpoint: str) -> int:
    return int(sandbox.stats()["calls"].get(endpoint, 0))


def create(client: TrackingMoreClient, number: str, carrier: str = "china-post", **fields: Any) -> Any:
    return client.create_tracking(CreateTrackingRequest(tracking_number=number, carrier_code=carrier, **fields))


def test_carriers_and_detection(client: TrackingMoreClient, sandbox: Any) -> None:
    carriers = {carrier.code: carrier for carrier in client.list_carriers()}

    assert len(carriers) >= 50
    assert carriers["ups"].type == "express"
    assert client.detect_carrier(s10(12345678))[0].code == "china-post"
    assert client.detect_carrier("1Z999AA10123456784")[0].code == "ups"
    with pytest.raises(CarrierNotDetectedError) as raised:
        client.detect_carrier("ZZZZZZ")
    assert raised.value.code == 4032


def test_one_tracking_through_its_whole_life(client: TrackingMoreClient, sandbox: Any) -> None:
    number = s10(10000001)

    created = create(client, number, title="Blue mug", order_id="ord-1", customer_email="ann@example.com")
    fetched = client.get_tracking("china-post", number)
    updated = client.update_tracking("china-post", number, UpdateTrackingRequest(title="Red mug", archived=True))
    client.change_carrier("china-post", number, "china-ems")
    moved = client.get_tracking("china-ems", number)
    client.delete_tracking("china-ems", number)

    assert (created.tracking_number, created.carrier_code, created.status) == (number, "china-post", "pending")
    assert fetched.order_id == "ord-1"
    assert fetched.customer_email == ["ann@example.com"]
    assert updated.title == "Red mug"
    assert updated.archived is True
    assert moved.carrier_code == "china-ems"
    with pytest.raises(TrackingNotFoundError):
        client.get_tracking("china-ems", number)
    assert sandbox.trackings() == []


def test_upstream_errors_arrive_as_typed_exceptions(client: TrackingMoreClient, sandbox: Any) -> None:
    number = s10(10000002)
    create(client, number)

    with pytest.raises(TrackingAlreadyExistsError) as duplicate:
        create(client, number)
    with pytest.raises(TrackingNotFoundError) as unknown:
        client.get_tracking("china-post", s10(10000003))
    with pytest.raises(TrackingNotFoundError) as unknown_delete:
        client.delete_tracking("china-post", s10(10000003))

    assert duplicate.value.code == 4016
    assert unknown.value.code == 4031
    assert unknown_delete.value.code == 4017
    assert duplicate.value.endpoint == "POST /trackings/post"


def test_a_wrong_key_is_an_authentication_error_that_never_shows_the_key(sandbox: Any) -> None:
    wrong = TrackingMoreClient("not-the-key-0123456789", base_url=sandbox.base_url, max_retries=0)

    with pytest.raises(AuthenticationError) as raised:
        wrong.get_user_info()

    assert raised.value.code == 4001
    assert "not-the-key-0123456789" not in str(raised.value)
    assert "not-the-key-0123456789" not in repr(wrong)


def test_spent_quota_is_a_quota_error(client: TrackingMoreClient, sandbox: Any) -> None:
    sandbox.configure(quota=1)
    create(client, s10(10000004))

    with pytest.raises(QuotaExceededError) as raised:
        create(client, s10(10000005))

    assert raised.value.code == 4021


def test_batch_create_of_any_length_goes_in_chunks_of_40_in_input_order(
    client: TrackingMoreClient, sandbox: Any
) -> None:
    existing = s10(20000000)
    create(client, existing)
    numbers = [s10(20000001 + i) for i in range(83)]
    requests = [CreateTrackingRequest(tracking_number=n, carrier_code="china-post") for n in numbers]
    requests.insert(10, CreateTrackingRequest(tracking_number=existing, carrier_code="china-post"))
    requests.insert(50, CreateTrackingRequest(tracking_number="BAD-NUMBER-X", carrier_code="no-such-carrier"))

    result = client.batch_create_trackings(requests)

    assert calls(sandbox, "POST /trackings/batch") == 3  # ⌈85 / 40⌉
    assert [item.tracking_number for item in result.items] == [r.tracking_number for r in requests]
    outcomes = [item.outcome for item in result.items]
    assert outcomes[10] == "exists"
    assert outcomes[50] == "failed"
    assert result.items[50].retryable is False
    assert outcomes.count("created") == 83
    assert len(sandbox.trackings()) == 84


def test_a_chunk_that_keeps_failing_is_reported_failed_and_retryable(client: TrackingMoreClient, sandbox: Any) -> None:
    sandbox.set_faults(error_rate=1.0, kinds=["http_503"], endpoints=["POST /trackings/batch"])
    requests = [CreateTrackingRequest(tracking_number=s10(30000000 + i), carrier_code="china-post") for i in range(3)]

    result = client.batch_create_trackings(requests)

    assert [(item.outcome, item.retryable) for item in result.items] == [("failed", True)] * 3
    assert sandbox.trackings() == []


def test_list_pages_lazily_and_filters_by_number(client: TrackingMoreClient, sandbox: Any) -> None:
    numbers = [s10(40000000 + i) for i in range(5)]
    for number in numbers:
        create(client, number)

    first = client.list_trackings(page=1, limit=2)
    everything = list(client.iter_trackings(limit=2))
    picked = client.list_trackings(numbers=numbers[:2])

    assert (first.total, first.count, first.has_more) == (5, 2, True)
    assert sorted(str(t.tracking_number) for t in everything) == sorted(numbers)
    assert calls(sandbox, "GET /trackings/get") == 1 + 3 + 1
    assert sorted(str(t.tracking_number) for t in picked.items) == sorted(numbers[:2])


def test_bulk_update_stop_and_delete(client: TrackingMoreClient, sandbox: Any) -> None:
    numbers = [s10(50000000 + i) for i in range(3)]
    for number in numbers:
        create(client, number)
    refs = [TrackingRef(carrier_code="china-post", tracking_number=n) for n in numbers]

    updated = client.update_trackings(
        [UpdateTrackingsItem(carrier_code="china-post", tracking_number=n, archived=True) for n in numbers]
    )
    stopped = client.stop_updating(refs[:2])
    deleted = client.delete_trackings(refs)

    assert (updated.submitted, stopped.submitted, deleted.submitted) == (3, 2, 3)
    assert deleted.succeeded == 3
    assert sandbox.trackings() == []


def test_realtime_answers_once_per_number_per_two_hours(client: TrackingMoreClient, sandbox: Any) -> None:
    sandbox.configure(enforce_realtime_interval=True)
    number = s10(60000000)

    live = client.realtime_tracking(RealtimeRequest(carrier_code="china-post", tracking_number=number))
    with pytest.raises(RateLimitError):
        client.realtime_tracking(RealtimeRequest(carrier_code="china-post", tracking_number=number))

    assert live.tracking_number == number
    assert calls(sandbox, "POST /trackings/realtime") == 2


def test_the_client_paces_list_calls_so_the_server_never_rate_limits_it(sandbox: Any) -> None:
    sandbox.configure(enforce_rate_limits=True)
    paced = TrackingMoreClient(sandbox.api_key, base_url=sandbox.base_url, max_retries=0)

    for _ in range(3):
        paced.list_trackings(limit=1)

    assert sandbox.stats()["rate_limited"] == 0
    assert calls(sandbox, "GET /trackings/get") == 3


def test_account_remote_areas_transit_times_and_air_waybills(client: TrackingMoreClient, sandbox: Any) -> None:
    before = client.get_user_info()
    create(client, s10(70000000))
    after = client.get_user_info()
    counts = client.get_status_counts()
    remote = client.check_remote_areas([RemoteCheck(country="Japan", postcode="7621094")])
    transit = client.get_transit_times([TransitTimeQuery(carrier_code="dhl", original="CN", destination="US")])
    (waybill,) = client.track_air_cargo(["172-28891936"])

    assert before.money is not None
    assert after.money is not None
    assert float(before.money) - float(after.money) == pytest.approx(1.0)  # one new number costs 1 (reference §8)
    assert counts.pending == 1
    assert remote.remote
    assert {area.two_code for area in remote.remote} == {"JP"}
    assert transit[0].carrier_code == "dhl"
    assert waybill.track_number == "172-28891936"


@pytest.mark.parametrize(
    ("kind", "error"),
    [("http_500", ServerError), ("meta_429", RateLimitError), ("malformed_json", TransportError)],
)
def test_faults_surface_as_their_error_class_once_retries_are_spent(
    client: TrackingMoreClient, sandbox: Any, kind: str, error: type[Exception]
) -> None:
    sandbox.set_faults(error_rate=1.0, kinds=[kind])

    with pytest.raises(error):
        client.get_user_info()


def test_retries_ride_out_intermittent_faults(sandbox: Any) -> None:
    sandbox.set_faults(error_rate=0.5, kinds=["http_503"])
    patient = TrackingMoreClient(sandbox.api_key, base_url=sandbox.base_url, max_retries=8, sleep=lambda _: None)

    carriers = [patient.list_carriers() for _ in range(5)]

    assert all(len(found) >= 50 for found in carriers)
    assert sandbox.stats()["faults_injected"] > 0


# -- production conditions: safe messages, deadlines, account-wide limits ---------------------------------------------

# What must never reach a user through an error message: where we connect and Python's names for what went wrong.
UNSAFE_WORDS = ("127.0.0.1", "http://", "/v2", "ConnectionPool", "Timeout(", "ReadTimeout", "ConnectTimeout",
                "ConnectionError", "MaxRetryError", "NewConnectionError", "RemoteDisconnected")  # fmt: skip


def assert_safe(error: TrackingMoreError, sandbox: Any) -> None:
    shown = f"{error.message} | {error}"
    assert not [word for word in (*UNSAFE_WORDS, str(sandbox.port), sandbox.api_key) if word in shown], shown
    assert sandbox.api_key not in (error.debug_detail or "")


@pytest.mark.parametrize("kind", ["http_500", "http_503", "meta_429", "malformed_json", "connection_reset", "timeout"])
def test_every_fault_ends_in_a_message_safe_to_show(sandbox: Any, kind: str) -> None:
    sandbox.set_faults(error_rate=1.0, kinds=[kind], timeout_s=30)
    client = TrackingMoreClient(sandbox.api_key, base_url=sandbox.base_url, max_retries=0, timeout=(2.0, 0.5))

    with pytest.raises(TrackingMoreError) as raised:
        client.get_user_info()

    assert_safe(raised.value, sandbox)
    if kind in ("malformed_json", "connection_reset", "timeout"):
        assert raised.value.debug_detail  # what a log needs to tell these apart
    client.close()


def test_a_refused_connection_and_a_deadline_end_in_messages_safe_to_show(sandbox: Any) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    nobody = TrackingMoreClient(sandbox.api_key, base_url=f"http://127.0.0.1:{closed_port}/v2", max_retries=0)
    late = TrackingMoreClient(sandbox.api_key, base_url=sandbox.base_url).with_deadline(lambda: 0.5)

    with pytest.raises(TransportError) as refused:
        nobody.get_user_info()
    with pytest.raises(DeadlineExceededError) as deadline:
        late.get_user_info()

    assert refused.value.message == "could not connect to TrackingMore"
    assert str(closed_port) not in refused.value.message
    assert_safe(deadline.value, sandbox)
    assert calls(sandbox, "GET /trackings/getuserinfo") == 0


def test_a_deadline_bounds_a_call_to_a_trackingmore_that_never_answers(sandbox: Any) -> None:
    sandbox.set_faults(error_rate=1.0, kinds=["timeout"], endpoints=["POST /trackings/post"], timeout_s=86_400)
    client = TrackingMoreClient(sandbox.api_key, base_url=sandbox.base_url)

    with pytest.raises(DeadlineExceededError) as raised:
        client.with_deadline(Deadline.within(2.0), margin=0.5, min_attempt=0.5).create_tracking(
            CreateTrackingRequest(tracking_number=s10(80000000), carrier_code="china-post")
        )

    assert raised.value.request_sent is True  # it may have arrived: the caller cannot know
    assert calls(sandbox, "POST /trackings/post") == 1  # no time was left to retry
    client.close()


def test_a_batch_under_latency_stops_at_its_deadline_and_reports_only_what_it_sent(sandbox: Any) -> None:
    sandbox.set_latency("none", overrides={"POST /trackings/batch": {"p50_ms": 1000}})
    requests = [CreateTrackingRequest(tracking_number=s10(81000000 + i), carrier_code="china-post") for i in range(200)]
    client = TrackingMoreClient(sandbox.api_key, base_url=sandbox.base_url)

    result = client.with_deadline(Deadline.within(3.5), margin=0.5, min_attempt=0.5).batch_create_trackings(requests)

    upstream = {tracking["tracking_number"] for tracking in sandbox.trackings()}
    created = {item.tracking_number for item in result.items if item.outcome == "created"}
    failed = [item for item in result.items if item.outcome == "failed"]
    unsent = {item.tracking_number for item in failed if isinstance(item.error, DeadlineExceededError)
              and not item.error.request_sent}  # fmt: skip
    assert [item.tracking_number for item in result.items] == [r.tracking_number for r in requests]
    assert created  # five chunks of one second each do not fit in three seconds ...
    assert unsent  # ... so the last ones were never sent
    assert all(item.retryable and isinstance(item.error, DeadlineExceededError) for item in failed)
    assert created <= upstream
    assert not unsent & upstream
    # A chunk the deadline cut short may have been created upstream: its items failed, retryable, never "created".
    assert upstream - created <= {item.tracking_number for item in failed} - unsent
    client.close()


def test_clients_sharing_a_gate_keep_realtime_under_the_account_limit() -> None:
    with SandboxServer(seed=1, enforce_rate_limits=True, enforce_realtime_interval=False) as server:

        def realtime_burst(gates: list[InProcessRateGate]) -> int:
            server.reset()
            clients = [
                TrackingMoreClient(
                    server.api_key, base_url=server.base_url, max_retries=0, rate_gate=g, rate_limit_wait=5
                )
                for g in gates
            ]
            for number in range(8):  # two "Lambda instances" of one account, taking turns
                with contextlib.suppress(RateLimitError):
                    clients[number % 2].realtime_tracking(
                        RealtimeRequest(carrier_code="china-post", tracking_number=s10(82000000 + number))
                    )
            for client in clients:
                client.close()
            return int(server.stats()["rate_limited"])

        shared = InProcessRateGate()
        assert realtime_burst([shared, shared]) == 0
        assert (
            realtime_burst([InProcessRateGate(), InProcessRateGate()]) > 0
        )  # each alone keeps 3/s: the account does not


def test_a_configured_batch_limit_is_never_exceeded() -> None:
    with SandboxServer(seed=1, enforce_rate_limits=False, batch_create_limit=1) as server:
        requests = [
            CreateTrackingRequest(tracking_number=s10(83000000 + i), carrier_code="china-post") for i in range(85)
        ]
        limited = TrackingMoreClient(server.api_key, base_url=server.base_url, max_retries=0,
                                     batch_create_rate_limit=RateLimit(requests=1, per_seconds=1.0))  # fmt: skip
        unlimited = TrackingMoreClient(server.api_key, base_url=server.base_url, max_retries=0)

        paced = limited.batch_create_trackings(requests)
        paced_429s = server.stats()["rate_limited"]
        server.reset()
        rushed = unlimited.batch_create_trackings(requests)
        limited.close()
        unlimited.close()

    assert [item.outcome for item in paced.items] == ["created"] * 85
    assert paced_429s == 0
    assert [item.outcome for item in rushed.items][40:] == ["failed"] * 45  # the sandbox refused the rushed chunks
