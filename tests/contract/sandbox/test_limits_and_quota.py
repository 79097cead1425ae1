"""Rate limits (list 1/s, realtime 3/s, same number once per 2 h) and the quota counter (reference §3.9, §8)."""

from __future__ import annotations

import pytest
import requests

from local.sandbox import SandboxServer
from tests.contract.sandbox.helpers import V2, code_of

pytestmark = pytest.mark.contract


def _realtime(v2: V2, number: str, carrier: str = "dhl") -> dict[str, object]:
    return v2.post("/trackings/realtime", {"tracking_number": number, "carrier_code": carrier})


def _quota(v2: V2) -> float:
    value = v2.get("/trackings/getuserinfo")["data"]["track_number"]
    assert isinstance(value, (int, float))
    return float(value)


# -- rate limits --------------------------------------------------------------------------------------------------
def test_list_twice_in_one_second_is_429(v2: V2, sandbox: SandboxServer) -> None:
    sandbox.configure(enforce_rate_limits=True)

    first = v2.get("/trackings/get")
    second = v2.get("/trackings/get")

    assert code_of(first) == 200
    assert second["meta"] == {"code": 429, "type": "Too Many Requests", "message": second["meta"]["message"]}
    assert sandbox.stats()["rate_limited"] == 1


def test_realtime_fourth_call_in_one_second_is_429(v2: V2, sandbox: SandboxServer) -> None:
    sandbox.configure(enforce_rate_limits=True)

    codes = [code_of(_realtime(v2, f"123456789{i}")) for i in range(4)]

    assert codes == [200, 200, 200, 429]


def test_realtime_same_number_within_two_simulated_hours_is_429(v2: V2, sandbox: SandboxServer) -> None:
    sandbox.configure(enforce_realtime_interval=True)

    first = _realtime(v2, "1234567890")
    again = _realtime(v2, "1234567890")
    sandbox.advance(1.5)
    still = _realtime(v2, "1234567890")
    sandbox.advance(0.5)
    later = _realtime(v2, "1234567890")

    assert [code_of(b) for b in (first, again, still, later)] == [200, 429, 429, 200]


def test_rate_limits_off_by_configuration(v2: V2, sandbox: SandboxServer) -> None:
    sandbox.configure(enforce_rate_limits=False, enforce_realtime_interval=False)

    assert {code_of(v2.get("/trackings/get")) for _ in range(3)} == {200}
    assert {code_of(_realtime(v2, "1234567890")) for _ in range(5)} == {200}


class ManualClock:
    """A monotonic clock for the sandbox's rate limits that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_exceeding_realtime_3_per_second_pauses_the_account_for_120_seconds() -> None:
    clock = ManualClock()
    with SandboxServer(seed=1, enforce_realtime_interval=False, monotonic=clock) as server:
        v2 = V2(server.base_url, server.api_key)
        burst = [code_of(_realtime(v2, f"123456789{i}")) for i in range(4)]
        clock.now += 2  # the 3/s window has long passed ...
        paused = code_of(_realtime(v2, "1234567895"))
        pauses = server.stats()["rate_limit_pauses"]
        clock.now += 117.9
        still_paused = code_of(_realtime(v2, "1234567896"))
        clock.now += 0.2  # 120 s after the 429
        resumed = code_of(_realtime(v2, "1234567897"))
        other_endpoints = code_of(v2.get("/trackings/getuserinfo"))
        rate_limited = server.stats()["rate_limited"]
        v2.session.close()

    assert burst == [200, 200, 200, 429]
    assert (paused, still_paused, resumed, other_endpoints) == (429, 429, 200, 200)
    assert pauses == {"POST /trackings/realtime": 118.0}  # the refusals during the pause did not extend it
    assert rate_limited == 3


def test_the_realtime_pause_is_configurable_and_off_with_the_rate_limits(v2: V2, sandbox: SandboxServer) -> None:
    sandbox.configure(enforce_rate_limits=True, realtime_penalty_s=0)
    burst = [code_of(_realtime(v2, f"123456789{i}")) for i in range(4)]
    sandbox.configure(enforce_rate_limits=False)
    after = code_of(_realtime(v2, "1234567895"))

    assert burst == [200, 200, 200, 429]
    assert after == 200
    assert sandbox.stats()["rate_limit_pauses"] == {}


def test_batch_create_limit_is_off_by_default(v2: V2, sandbox: SandboxServer) -> None:
    sandbox.configure(enforce_rate_limits=True)

    codes = [code_of(v2.post("/trackings/batch", [{"tracking_number": f"123456789{i}", "carrier_code": "dhl"}]))
             for i in range(5)]  # fmt: skip

    assert codes == [201] * 5


def test_a_configured_batch_create_limit_answers_429_beyond_it_and_creates_nothing() -> None:
    clock = ManualClock()
    with SandboxServer(seed=1, enforce_rate_limits=False, batch_create_limit=2, monotonic=clock) as server:
        v2 = V2(server.base_url, server.api_key)

        def batch(number: str) -> int:
            return code_of(v2.post("/trackings/batch", [{"tracking_number": number, "carrier_code": "dhl"}]))

        first = [batch("1234567890"), batch("1234567891"), batch("1234567892")]
        clock.now += 1.0
        later = batch("1234567893")
        created = sorted(t["tracking_number"] for t in server.trackings())
        rate_limited = server.stats()["rate_limited"]
        v2.session.close()

    assert (first, later) == ([201, 201, 429], 201)
    assert created == ["1234567890", "1234567891", "1234567893"]
    assert rate_limited == 1


def test_batch_create_limit_is_set_through_the_control_api(v2: V2, sandbox: SandboxServer) -> None:
    answer = requests.post(
        sandbox.root_url + "/_sandbox/config", json={"batch_create_limit": 1, "batch_create_window_s": 60}, timeout=5
    )
    codes = [code_of(v2.post("/trackings/batch", [{"tracking_number": f"123456789{i}", "carrier_code": "dhl"}]))
             for i in range(2)]  # fmt: skip

    assert answer.json()["batch_create_limit"] == 1
    assert codes == [201, 429]
    assert (
        requests.post(sandbox.root_url + "/_sandbox/config", json={"batch_create_limit": 0}, timeout=5).status_code
        == 400
    )


# -- realtime -----------------------------------------------------------------------------------------------------
def test_realtime_returns_an_items_list_and_adds_the_number(v2: V2) -> None:
    body = _realtime(v2, "LB181539674SG", "cainiao")

    assert code_of(body) == 200
    data = body["data"]
    assert isinstance(data, dict)
    assert list(data) == ["items"]
    assert len(data["items"]) == 1
    item = data["items"][0]
    assert item["tracking_number"] == "LB181539674SG"
    assert item["carrier_code"] == "cainiao"
    assert item["status"] != "pending"  # fetched live from the carrier
    assert {"track_update", "substatus", "origin_info", "destination_info", "lastEvent", "lastUpdateTime"} <= set(item)
    assert code_of(v2.get("/trackings/cainiao/LB181539674SG")) == 200


# -- quota --------------------------------------------------------------------------------------------------------
def test_quota_costs_per_endpoint(v2: V2, sandbox: SandboxServer) -> None:
    sandbox.configure(quota=100)

    v2.create("1234567890", "dhl")  # 1
    assert _quota(v2) == 99
    v2.post("/trackings/post", {"tracking_number": "1234567890", "carrier_code": "dhl"})  # 4016: free
    assert _quota(v2) == 99
    v2.post("/carriers/detect", {"tracking_number": "1Z999AA10123456784"})  # 0.2
    assert _quota(v2) == pytest.approx(98.8)
    v2.post("/trackings/remote", [{"country": "NO", "postcode": "9170"}])  # 0.2
    assert _quota(v2) == pytest.approx(98.6)
    v2.post("/trackings/batch", [{"tracking_number": "1234567891", "carrier_code": "dhl"}])  # 1
    assert _quota(v2) == pytest.approx(97.6)
    _realtime(v2, "1234567892")  # new number: 1
    _realtime(v2, "1234567890")  # existing: free
    assert _quota(v2) == pytest.approx(96.6)
    v2.post("/trackings/aircargo", {"track_number": ["172-28891936", "020-12345675"]})  # 20 per AWB
    assert _quota(v2) == pytest.approx(56.6)
    assert sandbox.stats()["quota"] == {"limit": 100, "used": pytest.approx(43.4), "remaining": pytest.approx(56.6)}


def test_recreating_a_deleted_number_is_not_charged_again(v2: V2, sandbox: SandboxServer) -> None:
    sandbox.configure(quota=10)
    v2.create("1234567890", "dhl")
    v2.delete("/trackings/dhl/1234567890")

    v2.create("1234567890", "dhl")

    assert _quota(v2) == 9


def test_create_when_the_quota_is_spent_is_4021(v2: V2, sandbox: SandboxServer) -> None:
    sandbox.configure(quota=1)
    v2.create("1234567890", "dhl")

    body = v2.post("/trackings/post", {"tracking_number": "1234567891", "carrier_code": "dhl"})

    assert code_of(body) == 4021
    assert _quota(v2) == 0


def test_batch_beyond_the_quota_fails_per_item(v2: V2, sandbox: SandboxServer) -> None:
    sandbox.configure(quota=2)

    body = v2.post("/trackings/batch", [{"tracking_number": f"123456789{i}", "carrier_code": "dhl"} for i in range(3)])

    assert body["data"]["added"] == 2
    assert [e["code"] for e in body["data"]["errors"]] == [4021]


def test_batch_with_no_quota_left_is_4021(v2: V2, sandbox: SandboxServer) -> None:
    sandbox.configure(quota=0)

    assert code_of(v2.post("/trackings/batch", [{"tracking_number": "1234567890", "carrier_code": "dhl"}])) == 4021


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/carriers/detect", {"tracking_number": "1Z999AA10123456784"}),
        ("/trackings/remote", [{"country": "NO", "postcode": "9170"}]),
        ("/trackings/realtime", {"tracking_number": "1234567890", "carrier_code": "dhl"}),
        ("/trackings/aircargo", {"track_number": ["172-28891936"]}),
    ],
)
def test_paid_endpoints_answer_4021_when_spent(v2: V2, sandbox: SandboxServer, path: str, body: object) -> None:
    sandbox.configure(quota=0.1)

    assert code_of(v2.post(path, body)) == 4021


def test_aircargo_needs_20_per_awb(v2: V2, sandbox: SandboxServer) -> None:
    sandbox.configure(quota=39)

    assert code_of(v2.post("/trackings/aircargo", {"track_number": ["172-28891936", "020-12345675"]})) == 4021
    assert code_of(v2.post("/trackings/aircargo", {"track_number": ["172-28891936"]})) == 200
    assert _quota(v2) == 19
