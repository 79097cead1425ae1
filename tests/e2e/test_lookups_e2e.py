"""The lookup routes and the API docs through the local stack over HTTP (template.yaml, moto, the sandbox)."""

from __future__ import annotations

import random
from typing import Any

import pytest
import requests

from local.stack import StackProcess

pytestmark = pytest.mark.e2e

TIMEOUT = 30


@pytest.fixture(scope="module")
def api(local_stack: StackProcess) -> str:
    return f"{local_stack.api_url}/v1"


@pytest.fixture(scope="module")
def key(local_stack: StackProcess) -> dict[str, str]:
    return {"x-api-key": local_stack.api_key}


def sandbox_calls(stack: StackProcess, endpoint: str) -> int:
    stats = requests.get(f"{stack.sandbox_control_url}/_sandbox/stats", timeout=TIMEOUT).json()
    return int(stats["calls"].get(endpoint, 0))


def fresh_awb(rng: random.Random) -> str:
    """A valid Cargolux waybill nobody asked for yet in this stack (the stack's cache lives for the session)."""
    serial = rng.randrange(1_000_000, 9_999_999)
    return f"172-{serial}{serial % 7}"


def post(url: str, body: dict[str, Any], headers: dict[str, str]) -> requests.Response:
    return requests.post(url, json=body, headers=headers, timeout=TIMEOUT)


def test_air_waybills_are_cached_across_requests(api: str, key: dict[str, str], local_stack: StackProcess) -> None:
    awbs = [fresh_awb(random.Random()) for _ in range(2)]
    before = sandbox_calls(local_stack, "POST /trackings/aircargo")

    first = post(f"{api}/aircargo", {"awb_numbers": awbs}, key)
    second = post(f"{api}/aircargo", {"awb_numbers": [awbs[1].replace("-", ""), awbs[0]]}, key)

    assert first.status_code == 200, first.text
    assert [r["source"] for r in first.json()["results"]] == ["upstream", "upstream"]
    assert second.status_code == 200
    assert [(r["awb_number"], r["source"]) for r in second.json()["results"]] == [
        (awbs[1], "cache"),
        (awbs[0], "cache"),
    ]
    assert sandbox_calls(local_stack, "POST /trackings/aircargo") == before + 1


def test_too_many_waybills_are_a_422_problem(api: str, key: dict[str, str]) -> None:
    response = post(f"{api}/aircargo", {"awb_numbers": ["172-28891936"] * 51}, key)

    assert response.status_code == 422
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == "validation_failed"


def test_lookups_need_the_api_key(api: str) -> None:
    for path in ("/aircargo", "/remote-checks", "/transit-times"):
        assert post(f"{api}{path}", {}, {}).status_code == 403, path


def test_remote_checks_over_http(api: str, key: dict[str, str], local_stack: StackProcess) -> None:
    postcode = str(random.Random().randrange(10000, 99999))  # a New York-ish ZIP nobody asked for yet
    body = {"checks": [{"country": "Japan", "postcode": "7621094"}, {"country": "US", "postcode": postcode}]}
    before = sandbox_calls(local_stack, "POST /trackings/remote")

    response = post(f"{api}/remote-checks", body, key)
    again = post(f"{api}/remote-checks", body, key)

    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert (results[0]["country_code"], results[0]["remote"], results[0]["carriers"]) == ("JP", True, ["ups", "tnt"])
    assert results[1]["country_code"] == "US"
    assert {r["source"] for r in again.json()["results"]} == {"cache"}
    assert sandbox_calls(local_stack, "POST /trackings/remote") == before + 1  # the second made none


def test_transit_times_over_http(api: str, key: dict[str, str]) -> None:
    response = post(
        f"{api}/transit-times", {"routes": [{"carrier_code": "dhl", "origin": "CN", "destination": "DE"}]}, key
    )

    assert response.status_code == 200, response.text
    (result,) = response.json()["results"]
    assert (result["carrier_code"], result["origin"], result["destination"], result["outcome"]) == (
        "dhl",
        "CN",
        "DE",
        "found",
    )
    assert result["stats"]["bands"]


def test_the_openapi_document_and_swagger_ui_are_public(api: str, local_stack: StackProcess) -> None:
    document = requests.get(f"{api}/openapi.json", timeout=TIMEOUT)
    page = requests.get(f"{api}/docs", timeout=TIMEOUT)

    assert document.status_code == 200
    paths = document.json()["paths"]
    assert {"/aircargo", "/remote-checks", "/transit-times", "/openapi.json", "/docs"} <= set(paths)
    assert document.json()["servers"][0]["url"] == "/v1"
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "SwaggerUIBundle" in page.text
