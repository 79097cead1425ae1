"""The webhook endpoints API on moto: every success and every 4xx (bad input changes nothing)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.webhooks_support import Receiver, Webhooks, receiver, webhooks

pytestmark = pytest.mark.integration

__all__ = ["receiver", "webhooks"]

ENDPOINTS = "/webhook-endpoints"


def count(webhooks: Webhooks) -> int:
    return len(webhooks.api("GET", ENDPOINTS, query={"limit": "100"}).body["items"])


def test_create_answers_201_with_the_secret_once(webhooks: Webhooks) -> None:
    answer = webhooks.api(
        "POST", ENDPOINTS, {"url": "http://127.0.0.1:9/h", "events": ["tracking.created"], "description": "shop"}
    )
    assert answer.status == 201
    body = answer.body
    assert body["id"].startswith("ep_")
    assert body["secret"].startswith("whsec_")
    assert (body["status"], body["events"], body["description"]) == ("enabled", ["tracking.created"], "shop")
    fetched = webhooks.api("GET", f"{ENDPOINTS}/{body['id']}")
    assert fetched.status == 200
    assert "secret" not in fetched.body
    assert "secret" not in str(webhooks.api("GET", ENDPOINTS).body)


def test_list_is_newest_first_with_a_cursor(webhooks: Webhooks) -> None:
    ids = [webhooks.endpoint(f"http://127.0.0.1:9/{n}")["id"] for n in range(3)]
    first = webhooks.api("GET", ENDPOINTS, query={"limit": "2"}).body
    assert [e["id"] for e in first["items"]] == ids[::-1][:2]
    second = webhooks.api("GET", ENDPOINTS, query={"limit": "2", "cursor": first["next_cursor"]}).body
    assert [e["id"] for e in second["items"]] == [ids[0]]
    assert "next_cursor" not in second or second["next_cursor"] is None


def test_patch_changes_what_it_names_and_delete_removes(webhooks: Webhooks) -> None:
    endpoint = webhooks.endpoint("http://127.0.0.1:9/h", events=["tracking.created"])
    path = f"{ENDPOINTS}/{endpoint['id']}"
    changed = webhooks.api("PATCH", path, {"events": None, "description": "all of them"}).body
    assert (changed["events"], changed["description"], changed["url"]) == (None, "all of them", "http://127.0.0.1:9/h")
    disabled = webhooks.api("PATCH", path, {"status": "disabled"}).body
    assert (disabled["status"], disabled["disabled_reason"]) == ("disabled", "user")
    enabled = webhooks.api("PATCH", path, {"status": "enabled"}).body
    assert (enabled["status"], enabled["disabled_reason"]) == ("enabled", None)
    assert webhooks.api("DELETE", path).status == 204
    assert webhooks.api("GET", path).status == 404
    assert webhooks.api("DELETE", path).status == 404


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "validation_failed"),
        ({"url": ""}, "validation_failed"),
        ({"url": "https://x.example/" + "a" * 2048}, "validation_failed"),
        ({"url": "http://127.0.0.1:9/h", "events": []}, "validation_failed"),
        ({"url": "http://127.0.0.1:9/h", "events": ["tracking.exploded"]}, "validation_failed"),
        ({"url": "http://127.0.0.1:9/h", "events": ["webhook.test"]}, "validation_failed"),
        ({"url": "http://127.0.0.1:9/h", "secret": "mine"}, "validation_failed"),
        ({"url": "http://127.0.0.1:9/h", "description": "d" * 501}, "validation_failed"),
        ({"url": "https://10.0.0.1/h"}, "webhook_url_not_allowed"),
        ({"url": "https://169.254.169.254/latest"}, "webhook_url_not_allowed"),
        ({"url": "ftp://127.0.0.1/h"}, "webhook_url_not_allowed"),
        ({"url": "http://user:pw@127.0.0.1/h"}, "webhook_url_not_allowed"),
    ],
)
def test_invalid_creates_are_422_and_store_nothing(webhooks: Webhooks, body: dict[str, Any], code: str) -> None:
    answer = webhooks.api("POST", ENDPOINTS, body)
    assert answer.status == 422
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.body["code"] == code
    assert answer.body["errors"]
    assert count(webhooks) == 0


@pytest.mark.parametrize(
    "body",
    [{}, {"url": None}, {"status": None}, {"status": "paused"}, {"url": "https://10.1.1.1/"}, {"events": ["x.y"]}],
)
def test_invalid_patches_are_422_and_change_nothing(webhooks: Webhooks, body: dict[str, Any]) -> None:
    endpoint = webhooks.endpoint("http://127.0.0.1:9/h")
    answer = webhooks.api("PATCH", f"{ENDPOINTS}/{endpoint['id']}", body)
    assert answer.status == 422
    after = webhooks.api("GET", f"{ENDPOINTS}/{endpoint['id']}").body
    assert after == {k: v for k, v in endpoint.items() if k not in ("secret", "previous_secret_expires_at")}


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("POST", "/rotate-secret"),
        ("POST", "/test"),
        ("GET", "/deliveries"),
        ("POST", "/deliveries/dlv_01JZZZZZZZZZZZZZZZZZZZZZZZ/retry"),
    ],
)
def test_unknown_endpoints_are_404(webhooks: Webhooks, method: str, suffix: str) -> None:
    body = {"description": "x"} if method == "PATCH" else None
    for unknown in ("ep_01JZZZZZZZZZZZZZZZZZZZZZZZ", "nothing"):
        answer = webhooks.api(method, f"{ENDPOINTS}/{unknown}{suffix}", body)
        assert answer.status == 404
        assert answer.body["code"] == "webhook_endpoint_not_found"


def test_unknown_deliveries_are_404_and_pending_ones_409(webhooks: Webhooks, receiver: Receiver) -> None:
    endpoint = webhooks.endpoint(receiver.url)
    base = f"{ENDPOINTS}/{endpoint['id']}/deliveries"
    assert webhooks.api("POST", f"{base}/dlv_01JZZZZZZZZZZZZZZZZZZZZZZZ/retry").body["code"] == (
        "webhook_delivery_not_found"
    )
    ping = webhooks.api("POST", f"{ENDPOINTS}/{endpoint['id']}/test").body
    webhooks.run("webhook_fanout", "WebhookEventsQueue")  # stored and queued, not yet attempted
    answer = webhooks.api("POST", f"{base}/{ping['delivery_id']}/retry")
    assert (answer.status, answer.body["code"]) == (409, "webhook_delivery_pending")


def test_a_disabled_endpoint_cannot_be_pinged(webhooks: Webhooks) -> None:
    endpoint = webhooks.endpoint("http://127.0.0.1:9/h")
    webhooks.api("PATCH", f"{ENDPOINTS}/{endpoint['id']}", {"status": "disabled"})
    answer = webhooks.api("POST", f"{ENDPOINTS}/{endpoint['id']}/test")
    assert (answer.status, answer.body["code"]) == (409, "webhook_endpoint_disabled")
    assert webhooks.receive("WebhookEventsQueue") == []


@pytest.mark.parametrize(
    "query",
    [{"limit": "0"}, {"limit": "101"}, {"cursor": "forged"}, {"status": "lost"}, {"cursor": ""}],
)
def test_bad_listing_queries_are_4xx(webhooks: Webhooks, query: dict[str, str]) -> None:
    endpoint = webhooks.endpoint("http://127.0.0.1:9/h")
    answer = webhooks.api("GET", f"{ENDPOINTS}/{endpoint['id']}/deliveries", query=query)
    assert answer.status in (400, 422)
    assert answer.body["code"] in ("invalid_cursor", "validation_failed")
    if "status" not in query:
        listing = webhooks.api("GET", ENDPOINTS, query=query)
        assert listing.status in (400, 422)


def test_a_cursor_of_one_listing_is_refused_by_another(webhooks: Webhooks) -> None:
    for n in range(2):
        webhooks.endpoint(f"http://127.0.0.1:9/{n}")
    cursor = webhooks.api("GET", ENDPOINTS, query={"limit": "1"}).body["next_cursor"]
    endpoint = webhooks.api("GET", ENDPOINTS).body["items"][0]
    answer = webhooks.api("GET", f"{ENDPOINTS}/{endpoint['id']}/deliveries", query={"cursor": cursor})
    assert (answer.status, answer.body["code"]) == (400, "invalid_cursor")


def test_the_number_of_endpoints_is_capped(webhooks: Webhooks, monkeypatch: pytest.MonkeyPatch) -> None:
    from shiptrack.services import webhook_endpoints

    monkeypatch.setattr(webhook_endpoints, "MAX_ENDPOINTS", 2)
    for n in range(2):
        webhooks.endpoint(f"http://127.0.0.1:9/{n}")
    answer = webhooks.api("POST", ENDPOINTS, {"url": "http://127.0.0.1:9/x"})
    assert (answer.status, answer.body["code"]) == (409, "webhook_endpoint_limit")
    assert count(webhooks) == 2


def test_without_the_loopback_parameter_loopback_urls_are_refused(
    webhooks: Webhooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.integration.test_trackings_support import reset_caches

    monkeypatch.setenv("WEBHOOK_ALLOW_LOOPBACK", "false")
    reset_caches()
    answer = webhooks.api("POST", ENDPOINTS, {"url": "http://127.0.0.1:9/h"})
    assert (answer.status, answer.body["code"]) == (422, "webhook_url_not_allowed")


def test_the_sample_create_event_registers_its_endpoint(webhooks: Webhooks) -> None:
    from tests.integration.events_support import load_event
    from tests.integration.test_trackings_support import api_context

    sample = load_event("webhook_endpoints/create_endpoint.json")
    response = webhooks.handlers["webhook_endpoints"](sample, api_context())

    assert response["statusCode"] == 201
    created = json.loads(response["body"])
    assert (created["url"], created["events"]) == (
        "https://93.184.216.34/hooks/shiptrack",  # a public address: allowed on AWS, no DNS needed
        ["tracking.status_changed", "tracking.archived"],
    )
    assert created["secret"].startswith("whsec_")
    assert [e["id"] for e in webhooks.api("GET", ENDPOINTS).body["items"]] == [created["id"]]
