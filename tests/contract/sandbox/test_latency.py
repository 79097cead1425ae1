"""Latency profiles (``POST /_sandbox/latency``): deterministic samples, the realistic shape, scaling, overrides,
a server that stays concurrent while calls are slow, and every way of choosing a profile.

Shapes are checked on the *sampled values* (``LatencyModel.sample``), never on wall time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from local.sandbox import SandboxServer
from local.sandbox.engine import endpoint_keys
from local.sandbox.latency import PROFILES, REALISTIC, Delay, LatencyModel, LatencySettings
from tests.contract.sandbox.helpers import V2, code_of, free_port, wait_until_up

pytestmark = pytest.mark.contract

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = 20_000
BATCH = "POST /trackings/batch"
GET_ONE = "GET /trackings/{carrier_code}/{tracking_number}"
REALTIME = "POST /trackings/realtime"
DETECT = "POST /carriers/detect"


def samples_ms(
    settings: LatencySettings, endpoint: str, count: int = SAMPLES, *, items: int = 1, seed: int = 7
) -> list[float]:
    model = LatencyModel(settings, seed)
    return [model.sample(endpoint, items) * 1000 for _ in range(count)]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


REALISTIC_SETTINGS = LatencySettings("realistic")


# -- the model -------------------------------------------------------------------------------------------------------


def test_samples_are_a_function_of_the_seed() -> None:
    assert samples_ms(REALISTIC_SETTINGS, GET_ONE, 50) == samples_ms(REALISTIC_SETTINGS, GET_ONE, 50)
    assert samples_ms(REALISTIC_SETTINGS, GET_ONE, 50) != samples_ms(REALISTIC_SETTINGS, GET_ONE, 50, seed=8)


def test_each_endpoint_has_its_own_stream_so_other_calls_do_not_shift_it() -> None:
    alone = LatencyModel(REALISTIC_SETTINGS, 7)
    interleaved = LatencyModel(REALISTIC_SETTINGS, 7)

    first = [alone.sample(GET_ONE) for _ in range(20)]
    second = []
    for _ in range(20):
        interleaved.sample(REALTIME)
        second.append(interleaved.sample(GET_ONE))

    assert first == second


@pytest.mark.parametrize("endpoint", sorted(REALISTIC))
def test_realistic_samples_match_the_stated_percentiles(endpoint: str) -> None:
    delay = REALISTIC[endpoint]
    values = samples_ms(REALISTIC_SETTINGS, endpoint)
    single_item = delay.per_item_ms  # one item rides on every single call

    assert percentile(values, 0.50) == pytest.approx(delay.p50_ms + single_item, rel=0.05)
    assert percentile(values, 0.99) == pytest.approx(delay.p99_ms + single_item, rel=0.10)
    assert max(values) <= 2 * delay.p99_ms + single_item  # the far tail is capped


def test_realistic_shape_reads_writes_realtime_detection_and_batches() -> None:
    def median(endpoint: str, items: int = 1) -> float:
        return percentile(samples_ms(REALISTIC_SETTINGS, endpoint, 4000, items=items), 0.5)

    read = median(GET_ONE)

    assert median(DETECT) < read < median(REALTIME)  # detection is a pattern match; realtime asks the carrier live
    assert median(BATCH, items=1) < median(BATCH, items=10) < median(BATCH, items=40)  # slower with size
    assert median(BATCH, items=40) - median(BATCH, items=1) == pytest.approx(39 * 30, rel=0.01)


def test_a_scale_multiplies_every_sample() -> None:
    full = samples_ms(REALISTIC_SETTINGS, BATCH, 200, items=40)
    tenth = samples_ms(LatencySettings("realistic", 0.1), BATCH, 200, items=40)

    assert tenth == pytest.approx([value * 0.1 for value in full])


def test_none_and_zero_scale_never_delay() -> None:
    assert set(samples_ms(LatencySettings("none"), GET_ONE, 100)) == {0.0}
    assert set(samples_ms(LatencySettings("realistic", 0.0), GET_ONE, 100)) == {0.0}


def test_flat_is_one_second_everywhere_and_scales_to_any_fixed_latency() -> None:
    assert set(PROFILES["flat"]) == set(endpoint_keys())
    assert set(samples_ms(LatencySettings("flat"), REALTIME, 100)) == {1000.0}
    assert samples_ms(LatencySettings("flat", 0.3), GET_ONE, 100) == pytest.approx([300.0] * 100)


def test_an_override_replaces_one_endpoint_only() -> None:
    settings = LatencySettings("realistic", overrides={REALTIME: Delay(50, 50)})

    assert set(samples_ms(settings, REALTIME, 100)) == {50.0}
    assert samples_ms(settings, GET_ONE, 100) == samples_ms(REALISTIC_SETTINGS, GET_ONE, 100)


def test_every_realistic_endpoint_is_a_real_endpoint() -> None:
    assert set(REALISTIC) == set(endpoint_keys())


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("realistic", ("realistic", 1.0)),
        ("realistic:0.1", ("realistic", 0.1)),
        ("none", ("none", 1.0)),
        ("", ("none", 1.0)),
    ],
)
def test_profile_specs(spec: str, expected: tuple[str, float]) -> None:
    parsed = LatencySettings.parse(spec)

    assert (parsed.profile, parsed.scale) == expected


@pytest.mark.parametrize("spec", ["slow", "realistic:fast", "realistic:-1", "realistic:nan"])
def test_bad_profile_specs_are_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="NAME or NAME:SCALE"):
        LatencySettings.parse(spec)


# -- the server ------------------------------------------------------------------------------------------------------


def test_control_endpoint_sets_and_shows_the_latency(sandbox: SandboxServer) -> None:
    body = {"profile": "realistic", "scale": 0.25, "overrides": {REALTIME: {"p50_ms": 10, "p99_ms": 40}}}

    answer = requests.post(sandbox.root_url + "/_sandbox/latency", json=body, timeout=5)
    shown = requests.get(sandbox.root_url + "/_sandbox/latency", timeout=5).json()

    assert answer.status_code == 200
    assert answer.json() == shown
    assert (shown["profile"], shown["scale"]) == ("realistic", 0.25)
    assert shown["overrides"] == {REALTIME: {"p50_ms": 10, "p99_ms": 40, "per_item_ms": 0}}
    assert shown["endpoints"][REALTIME] == {"p50_ms": 10, "p99_ms": 40, "per_item_ms": 0}
    assert shown["endpoints"][BATCH] == {"p50_ms": 500, "p99_ms": 3000, "per_item_ms": 30}
    assert sandbox.stats()["latency"]["profile"] == "realistic"


@pytest.mark.parametrize(
    "body",
    [
        {"profile": "glacial"},
        {"profile": "realistic", "scale": -1},
        {"overrides": {"GET /nowhere": {"p50_ms": 1}}},
        {"overrides": {REALTIME: {"p50_ms": 100, "p99_ms": 10}}},
        {"overrides": {REALTIME: {"p50_ms": 100, "mean_ms": 10}}},
        {"profile": "realistic", "jitter": True},
    ],
)
def test_control_endpoint_refuses_bad_settings_and_keeps_the_old_ones(sandbox: SandboxServer, body: object) -> None:
    sandbox.set_latency("flat", 0.5)

    answer = requests.post(sandbox.root_url + "/_sandbox/latency", json=body, timeout=5)

    assert answer.status_code == 400
    assert (sandbox.latency_settings()["profile"], sandbox.latency_settings()["scale"]) == ("flat", 0.5)


def test_reset_keeps_the_latency_and_restore_config_brings_back_the_start_up_one(sandbox: SandboxServer) -> None:
    sandbox.set_latency("realistic", 0.01)

    sandbox.reset()
    kept = sandbox.latency_settings()["profile"]
    sandbox.reset(restore_config=True)

    assert kept == "realistic"
    assert sandbox.latency_settings()["profile"] == "none"  # the fixture's sandbox starts without latency


def test_calls_are_delayed_by_the_sampled_latency(sandbox: SandboxServer) -> None:
    sandbox.set_latency("none", overrides={"GET /trackings/getuserinfo": {"p50_ms": 30_000}})

    with pytest.raises(requests.Timeout):
        requests.get(sandbox.base_url + "/trackings/getuserinfo", headers=sandbox.headers, timeout=0.5)

    assert sandbox.stats()["latency"]["sampled_calls"] == 1
    assert sandbox.stats()["latency"]["sampled_seconds"] == 30.0


def test_a_slow_call_takes_effect_on_arrival_as_a_real_server_may(v2: V2, sandbox: SandboxServer) -> None:
    sandbox.set_latency("none", overrides={"POST /trackings/post": {"p50_ms": 30_000}})

    with pytest.raises(requests.Timeout):
        v2.raw("POST", "/trackings/post", json={"tracking_number": "1234567890", "carrier_code": "dhl"}, timeout=0.5)

    assert [t["tracking_number"] for t in sandbox.trackings()] == ["1234567890"]  # the client cannot know


def test_a_slow_call_never_blocks_other_connections() -> None:
    with SandboxServer(seed=1, latency=LatencySettings("none")) as server:
        server.set_latency("none", overrides={"GET /trackings/getuserinfo": {"p50_ms": 120_000}})
        outcome: list[object] = []

        def slow_call() -> None:
            try:
                outcome.append(
                    requests.get(server.base_url + "/trackings/getuserinfo", headers=server.headers, timeout=300)
                )
            except requests.RequestException as exc:
                outcome.append(exc)

        slow = threading.Thread(target=slow_call, daemon=True)
        slow.start()
        while server.stats()["latency"]["sampled_calls"] == 0:  # the slow call is now asleep inside the server
            slow.join(0.01)
        answers = []
        with requests.Session() as session:
            session.headers.update(server.headers)
            for _ in range(5):
                answers.append(code_of(session.get(server.base_url + "/carriers", timeout=30).json()))
                answers.append(
                    code_of(
                        session.post(
                            server.base_url + "/carriers/detect",
                            json={"tracking_number": "1Z999AA10123456784"},
                            timeout=30,
                        ).json()
                    )
                )
        still_waiting = slow.is_alive() and not outcome

    slow.join(10)
    assert answers == [200] * 10
    assert still_waiting  # every fast call was answered while the slow one was still asleep
    assert isinstance(outcome[0], requests.RequestException)  # stop() hung up on it rather than waiting 120 s


def test_the_constructor_takes_a_profile_spec() -> None:
    with SandboxServer(seed=1, latency="realistic:0.5") as server:
        assert (server.latency_settings()["profile"], server.latency_settings()["scale"]) == ("realistic", 0.5)


def test_standalone_cli_takes_a_latency_profile() -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'layers/shared'}{os.pathsep}{ROOT}"}
    command = [sys.executable, "-m", "local.sandbox", "--port", str(port), "--latency", "realistic:0.1"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base)
        shown = requests.get(base + "/_sandbox/latency", timeout=5).json()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)

    assert (shown["profile"], shown["scale"]) == ("realistic", 0.1)


# -- the local stack ---------------------------------------------------------------------------------------------------


def test_make_dev_runs_the_realistic_profile_unless_local_upstream_latency_says_otherwise() -> None:
    from local.stack import StackConfig

    assert StackConfig.from_env({}).upstream_latency == "realistic"
    assert StackConfig.from_env({"LOCAL_UPSTREAM_LATENCY": "none"}).upstream_latency == "none"
    assert StackConfig.from_env({"LOCAL_UPSTREAM_LATENCY": "realistic:0.1"}).upstream_latency == "realistic:0.1"


def test_the_local_stack_hands_its_profile_to_the_sandbox() -> None:
    from local.stack import LocalStack

    stack = LocalStack(sandbox_port=0, upstream_latency="realistic:0.2")
    stack._start_sandbox()
    try:
        shown = stack.sandbox.latency_settings()
    finally:
        stack.sandbox.stop()

    assert (shown["profile"], shown["scale"]) == ("realistic", 0.2)


def test_a_stack_started_from_code_has_no_latency_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    from local.stack import StackProcess

    monkeypatch.delenv("LOCAL_UPSTREAM_LATENCY", raising=False)
    plain = StackProcess()
    asked = StackProcess(env={"LOCAL_UPSTREAM_LATENCY": "realistic:0.1"})
    monkeypatch.setenv("LOCAL_UPSTREAM_LATENCY", "flat")
    inherited = StackProcess()

    assert plain.env["LOCAL_UPSTREAM_LATENCY"] == "none"
    assert asked.env["LOCAL_UPSTREAM_LATENCY"] == "realistic:0.1"
    assert inherited.env["LOCAL_UPSTREAM_LATENCY"] == "flat"
