"""The control API outside /v2 (no API key): stats, reset, advance, trackings, config; and the standalone CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from local.sandbox import SandboxServer
from tests.contract.sandbox.helpers import V2, code_of, free_port, wait_until_up

pytestmark = pytest.mark.contract

ROOT = Path(__file__).resolve().parents[3]


def test_urls(sandbox: SandboxServer) -> None:
    assert sandbox.base_url == sandbox.root_url + "/v2"
    assert sandbox.root_url.startswith("http://127.0.0.1:")


def test_stats_count_calls_per_endpoint_template(v2: V2, sandbox: SandboxServer) -> None:
    v2.create("1234567890", "dhl")
    v2.get("/trackings/dhl/1234567890")
    v2.get("/trackings/dhl/1234567890/en")
    v2.get("/carriers/")
    v2.get("/trackings/get")

    stats = requests.get(sandbox.root_url + "/_sandbox/stats", timeout=5).json()

    assert stats["calls"] == {
        "GET /carriers": 1,
        "GET /trackings/get": 1,
        "GET /trackings/{carrier_code}/{tracking_number}": 2,
        "POST /trackings/post": 1,
    }
    assert stats["total_calls"] == 5
    assert stats["quota"]["used"] == 1
    assert stats["rate_limited"] == 0
    assert stats["faults_injected"] == 0
    assert {"attempted", "succeeded", "failed"} <= set(stats["webhooks"])


def test_reset_clears_state_keeps_configuration_and_can_change_the_seed(v2: V2, sandbox: SandboxServer) -> None:
    v2.create("1234567890", "dhl")
    sandbox.configure(quota=5)
    sandbox.set_faults(error_rate=1.0, kinds=["http_500"], endpoints=["/trackings/batch"])
    sandbox.advance(30)

    response = requests.post(sandbox.root_url + "/_sandbox/reset", json={"seed": 42}, timeout=5)

    assert response.status_code == 200
    stats = sandbox.stats()
    assert stats["seed"] == 42
    assert stats["calls"] == {}
    assert stats["quota"] == {"limit": 5, "used": 0, "remaining": 5}
    assert stats["fault_config"]["error_rate"] == 0
    assert stats["sim_time"] == stats["sim_start"]
    assert code_of(v2.get("/trackings/dhl/1234567890")) == 4031


def test_reset_with_restore_config_goes_back_to_the_start_up_configuration(v2: V2, sandbox: SandboxServer) -> None:
    start_up_quota = sandbox.stats()["quota"]["limit"]
    sandbox.configure(quota=5, api_key="temporary")

    requests.post(sandbox.root_url + "/_sandbox/reset", json={"restore_config": True}, timeout=5)

    assert sandbox.stats()["quota"]["limit"] == start_up_quota
    assert code_of(v2.get("/trackings/getuserinfo")) == 200


def test_advance_over_http_moves_the_simulated_clock(v2: V2, sandbox: SandboxServer) -> None:
    v2.create("1234567890", "dhl")
    start = sandbox.stats()["sim_time"]

    body = requests.post(sandbox.root_url + "/_sandbox/advance", json={"hours": 12}, timeout=5).json()

    assert body["sim_time"] > start
    assert body["changed"][0]["tracking_number"] == "1234567890"
    bad = requests.post(sandbox.root_url + "/_sandbox/advance", json={"hours": -1}, timeout=5)
    assert bad.status_code == 400


def test_trackings_dump(v2: V2, sandbox: SandboxServer) -> None:
    v2.create("1234567890", "dhl")
    v2.create("RN123456785CN", "china-post")

    body = requests.get(sandbox.root_url + "/_sandbox/trackings", timeout=5).json()

    assert [t["tracking_number"] for t in body["trackings"]] == ["1234567890", "RN123456785CN"]
    assert [t["tracking_number"] for t in sandbox.trackings()] == ["1234567890", "RN123456785CN"]


def test_config_changes_the_api_key_email_and_quota(v2: V2, sandbox: SandboxServer) -> None:
    response = requests.post(
        sandbox.root_url + "/_sandbox/config",
        json={"api_key": "another-key", "email": "ops@example.com", "quota": 3},
        timeout=5,
    )

    assert response.status_code == 200
    assert code_of(v2.get("/trackings/getuserinfo")) == 4001
    info = requests.get(
        sandbox.base_url + "/trackings/getuserinfo", headers={"Trackingmore-Api-Key": "another-key"}, timeout=5
    ).json()["data"]
    assert info["email"] == "ops@example.com"
    assert info["track_number"] == 3
    assert requests.post(sandbox.root_url + "/_sandbox/config", json={"colour": "red"}, timeout=5).status_code == 400
    bad_url = requests.post(sandbox.root_url + "/_sandbox/config", json={"webhook_url": "file:///x"}, timeout=5)
    assert bad_url.status_code == 400


def test_control_endpoints_need_no_api_key(sandbox: SandboxServer) -> None:
    assert requests.get(sandbox.root_url + "/_sandbox/stats", timeout=5).status_code == 200
    assert requests.get(sandbox.root_url + "/_sandbox/nope", timeout=5).status_code == 404


def test_standalone_cli_serves_and_stops_on_sigterm() -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'layers/shared'}{os.pathsep}{ROOT}"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "local.sandbox",
            "--port",
            str(port),
            "--seed",
            "3",
            "--api-key",
            "cli-key",
            "--sim-start",
            "2024-03-01T08:00:00+00:00",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base)
        body = requests.get(base + "/v2/trackings/getuserinfo", headers={"Trackingmore-Api-Key": "cli-key"}, timeout=5)
        assert body.json()["meta"]["code"] == 200
        stats = requests.get(base + "/_sandbox/stats", timeout=5).json()
        assert stats["seed"] == 3
        assert stats["sim_start"] == "2024-03-01T08:00:00+00:00"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)
    assert process.returncode == 0


def test_server_restarts_and_stop_hangs_up_keep_alive_connections() -> None:
    server = SandboxServer(seed=1)
    session = requests.Session()
    with server:
        session.headers.update(server.headers)
        base_url = server.base_url
        assert code_of(session.get(base_url + "/carriers", timeout=5).json()) == 200  # keep-alive connection

    with pytest.raises(requests.ConnectionError):
        session.get(base_url + "/carriers", timeout=5)
    session.close()
