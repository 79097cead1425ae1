"""The budget arithmetic of shiptrack.deadline: API requests against API Gateway's 29 s, jobs against their timeout.

Clocks are injected: ``epoch_ms`` (what the gateway's stamp is compared with) and ``monotonic`` (the countdown).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from shiptrack.deadline import (
    ANSWER_RESERVE_MS,
    GATEWAY_TIMEOUT_MS,
    UNKNOWN_START_MS,
    Deadline,
    bound,
    current,
    gateway_elapsed_ms,
)
from tests.lambda_context import LambdaContext

pytestmark = pytest.mark.unit

NOW_MS = 1_800_000_000_000.0


class Monotonic:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def event(stamp: Any = None) -> dict[str, Any]:
    context: dict[str, Any] = {"requestId": "r-1"}
    if stamp is not None:
        context["requestTimeEpoch"] = stamp
    return {"requestContext": context}


def api(stamp: Any, *, lambda_ms: float | None = 29_000, monotonic: Monotonic | None = None) -> Deadline:
    context = None if lambda_ms is None else LambdaContext(remaining=lambda: int(lambda_ms))
    return Deadline.for_api(event(stamp), context, epoch_ms=lambda: NOW_MS, monotonic=monotonic or Monotonic())


def test_an_api_request_stops_working_before_the_gateway_gives_up_with_room_to_answer() -> None:
    deadline = api(NOW_MS - 2_000)  # the gateway received it 2 s ago (a cold start)

    assert deadline.remaining_ms() == GATEWAY_TIMEOUT_MS - 2_000
    assert deadline.left_ms() == GATEWAY_TIMEOUT_MS - 2_000 - ANSWER_RESERVE_MS
    assert deadline.seconds_left() == pytest.approx((GATEWAY_TIMEOUT_MS - 2_000 - ANSWER_RESERVE_MS) / 1000)


def test_the_countdown_runs_on_the_monotonic_clock() -> None:
    clock = Monotonic()
    deadline = api(NOW_MS, monotonic=clock, lambda_ms=None)

    clock.now += 10.0

    assert deadline.left_ms() == GATEWAY_TIMEOUT_MS - 10_000 - ANSWER_RESERVE_MS
    clock.now += 30.0
    assert deadline.left_ms() < 0
    assert not deadline.allows(0)


def test_a_shorter_lambda_timeout_wins() -> None:
    deadline = api(NOW_MS, lambda_ms=10_000)

    assert deadline.remaining_ms() == 10_000
    assert deadline.left_ms() == 10_000 - ANSWER_RESERVE_MS


@pytest.mark.parametrize(
    ("stamp", "elapsed"),
    [
        (NOW_MS - 1_234, 1_234),
        (NOW_MS + 400, 0),  # the gateway's clock a little ahead of ours: skew, not time travel
        (NOW_MS - GATEWAY_TIMEOUT_MS, GATEWAY_TIMEOUT_MS),
        (None, UNKNOWN_START_MS),  # no stamp
        ("1800000000000", UNKNOWN_START_MS),  # not a number
        (True, UNKNOWN_START_MS),
        (NOW_MS + 5_000, UNKNOWN_START_MS),  # far in the future
        (1_700_000_000_000, UNKNOWN_START_MS),  # a sample event replayed long after
    ],
)
def test_how_long_ago_the_gateway_received_the_request(stamp: Any, elapsed: float) -> None:
    assert gateway_elapsed_ms(event(stamp), now_ms=NOW_MS) == elapsed


def test_an_event_without_a_request_context_assumes_a_cold_start() -> None:
    assert gateway_elapsed_ms({}, now_ms=NOW_MS) == UNKNOWN_START_MS
    assert gateway_elapsed_ms(None, now_ms=NOW_MS) == UNKNOWN_START_MS


def test_a_job_keeps_its_reserve_of_the_lambdas_remaining_time() -> None:
    remaining = iter([60_000, 6_000, 4_000])
    deadline = Deadline.for_invocation(LambdaContext(remaining=lambda: next(remaining)), reserve_ms=5_000)

    assert deadline.allows(50_000)
    assert deadline.allows(1_000)
    assert not deadline.allows(0)


def test_the_deadline_is_bound_for_a_block_and_only_in_its_thread() -> None:
    outer, inner = Deadline(lambda: 1_000), Deadline(lambda: 2_000)
    seen_by_another_thread: list[Deadline | None] = []

    assert current() is None
    with bound(outer):
        with bound(inner):
            assert current() is inner
            worker = threading.Thread(target=lambda: seen_by_another_thread.append(current()))
            worker.start()
            worker.join()
        assert current() is outer
        with pytest.raises(RuntimeError), bound(inner):
            raise RuntimeError
        assert current() is outer
    assert current() is None
    assert seen_by_another_thread == [None]
