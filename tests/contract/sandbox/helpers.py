"""Helpers for the sandbox conformance suite: a thin ``requests`` wrapper speaking TrackingMore v2."""

from __future__ import annotations

import socket
import time
from typing import Any

import requests

TIMEOUT = 10


class V2:
    """Plain HTTP calls against ``/v2`` with the API key header (reference §1)."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers.update({"Trackingmore-Api-Key": api_key, "Content-Type": "application/json"})

    def raw(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", TIMEOUT)
        return self.session.request(method, self.base_url + path, **kwargs)

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.raw(method, path, **kwargs)
        assert response.status_code == 200, response.text  # outcomes travel in meta.code (reference §1)
        body = response.json()
        assert isinstance(body, dict)
        return body

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        return self.call("GET", path, params=params)

    def post(self, path: str, body: Any) -> dict[str, Any]:
        return self.call("POST", path, json=body)

    def put(self, path: str, body: Any) -> dict[str, Any]:
        return self.call("PUT", path, json=body)

    def delete(self, path: str) -> dict[str, Any]:
        return self.call("DELETE", path)

    def create(self, number: str, carrier: str, **fields: Any) -> dict[str, Any]:
        body = self.post("/trackings/post", {"tracking_number": number, "carrier_code": carrier, **fields})
        assert body["meta"]["code"] in (200, 201), body
        data = body["data"]
        assert isinstance(data, dict)
        return data

    def tracking(self, carrier: str, number: str) -> dict[str, Any]:
        body = self.get(f"/trackings/{carrier}/{number}")
        assert body["meta"]["code"] == 200, body
        data = body["data"]
        assert isinstance(data, dict)
        return data


def code_of(body: dict[str, Any]) -> int:
    return int(body["meta"]["code"])


# Valid UPU S10 numbers (check digit computed with weights 8 6 4 2 3 5 9 7, mod 11).
def s10(prefix: str, serial: int, country: str) -> str:
    digits = f"{serial:08d}"
    total = sum(int(d) * w for d, w in zip(digits, (8, 6, 4, 2, 3, 5, 9, 7), strict=True))
    check = 11 - total % 11
    check = {10: 0, 11: 5}.get(check, check)
    return f"{prefix}{digits}{check}{country}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_up(root_url: str, attempts: int = 200) -> None:
    """Poll ``/_sandbox/health`` until a freshly started sandbox process answers."""
    for _ in range(attempts):
        try:
            requests.get(root_url + "/_sandbox/health", timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.05)
