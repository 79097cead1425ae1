"""Hostile input on every route, property-based (Hypothesis): a 4xx problem+json, and nothing changes anywhere.

Each example takes a valid request of a route and breaks one thing in it — nesting thousands deep, a huge string,
a NUL / control / bidi-override character, an unpaired surrogate, a member name repeated, a value of the wrong JSON
type — or, on routes without a body, sends hostile query parameters and path segments. The answer must be a 4xx
``application/problem+json`` (the batch route may instead answer 200 with every item failed, each with a 4xx
problem: invalid items fail alone by design), and every table of the stack and the sandbox's account and call
counters must be exactly as before.

The functions run in-process on moto against the sandbox; one tracking (held here and at the sandbox) and one
storefront webhook endpoint exist, so routes addressed by path find something to (not) change. One test per route:
pytest-xdist spreads them.
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.resources import LOCAL_SECRET_VALUES
from shiptrack import runtime
from shiptrack.settings import clear_caches
from tests.integration.test_trackings_support import api_context, event
from trackingmore.webhooks import sign

pytestmark = pytest.mark.fuzz

HELD = "RR123456785CN"
TOKEN = LOCAL_SECRET_VALUES["webhook_token"]
TABLES = (
    "TrackingsTable",
    "CacheTable",
    "IdempotencyTable",
    "WebhookEndpointsTable",
    "WebhookDeliveriesTable",
    "ImportsTable",
)
hostile_settings = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ------------------------------------------------------------------------------------------------------- the stack


class Stack:
    """The API functions on moto + the sandbox, and a snapshot of everything a request could change."""

    def __init__(self, aws: Any, sandbox: Any) -> None:
        self.aws = aws
        self.sandbox = sandbox
        self.handlers: dict[str, Callable[..., dict[str, Any]]] = {}
        self.endpoint_id = ""

    def call(self, method: str, path: str, *, raw_body: str | None = None, query: dict[str, str] | None = None) -> Any:
        function = self._function(path)
        if function not in self.handlers:
            self.handlers[function] = importlib.import_module(f"functions.{function}.app").lambda_handler
        return self.handlers[function](event(method, path, raw_body=raw_body, query=query), api_context())

    @staticmethod
    def _function(path: str) -> str:
        if path.startswith("/webhooks/"):
            return "webhook"
        if path.startswith("/webhook-endpoints"):
            return "webhook_endpoints"
        if path.startswith("/imports"):
            return "imports"
        if path in ("/openapi.json", "/docs"):
            return "docs"
        return {
            "/trackings/realtime": "realtime",
            "/aircargo": "aircargo",
            "/remote-checks": "remote_checks",
            "/transit-times": "remote_checks",
        }.get(path, "trackings")

    def snapshot(self) -> dict[str, Any]:
        stats = self.sandbox.stats()
        tables = {name: self._items(name) for name in TABLES}
        return {
            **tables,
            "calls": stats["calls"],
            "quota": stats["quota"]["used"],
            "upstream": self.sandbox.trackings(),
        }

    def _items(self, logical_id: str) -> list[Any]:
        table = self.aws.table(logical_id)
        items, kwargs = [], {"ConsistentRead": True}
        while True:
            page = table.scan(**kwargs)
            items += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return sorted(items, key=lambda item: json.dumps(item, sort_keys=True, default=str))
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@pytest.fixture
def stack(aws: Any, sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    monkeypatch.setenv("TRACKINGMORE_BASE_URL", sandbox.base_url)
    monkeypatch.setenv("WEBHOOK_ALLOW_LOOPBACK", "true")
    clear_caches()
    runtime.clear()
    running = Stack(aws, sandbox)
    created = running.call(
        "POST", "/trackings", raw_body=json.dumps({"tracking_number": HELD, "carrier_code": "china-post"})
    )
    assert created["statusCode"] == 201, created["body"]
    endpoint = running.call("POST", "/webhook-endpoints", raw_body=json.dumps({"url": "http://127.0.0.1:9/hook"}))
    assert endpoint["statusCode"] == 201, endpoint["body"]
    running.endpoint_id = json.loads(endpoint["body"])["id"]
    yield running
    clear_caches()
    runtime.clear()


def assert_refused_and_nothing_changed(stack: Stack, before: dict[str, Any], response: dict[str, Any]) -> None:
    status, body = response["statusCode"], json.loads(response["body"])
    headers = {k: v[-1] for k, v in (response.get("multiValueHeaders") or {}).items()}
    if status == 200 and isinstance(body, dict) and "results" in body and "summary" in body:  # the batch route
        assert body["summary"]["created"] == body["summary"]["existing"] == 0, body["summary"]
        assert all(400 <= r["problem"]["status"] < 500 for r in body["results"]), body
    else:
        assert 400 <= status < 500, (status, body)
        assert headers.get("Content-Type") == "application/problem+json", headers
        assert body["status"] == status
    assert stack.snapshot() == before


# ---------------------------------------------------------------------------------------------------- hostile parts

PLACEHOLDER = "\u2063HOSTILE\u2063"
#: Characters no text field takes (docs/security.md): NUL, BEL, ESC, DEL, a C1 control, bidi override and isolate.
FORBIDDEN = ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\u202e", "\u2066"]

deep_values = st.integers(min_value=33, max_value=3000).flatmap(
    lambda depth: st.sampled_from(["[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth])
)
#: Values of the wrong JSON type for a text field (null is left out: an optional field may be null).
not_text = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
#: Values of the wrong type (or out of range) for the fields that are not text, by field name.
NOT_THIS = {
    "archived": st.sampled_from(["yes", "true", "false", 1, 0, [True], {"value": True}]),
    "max_age_seconds": st.sampled_from(["60", 60.5, True, [60], 10**12, -1]),
    "status": st.sampled_from([1, True, "paused", ["enabled"]]),
    "verifyInfo": st.sampled_from([1, "x", [], True, {"timeStr": None}]),
}
not_a_list = st.sampled_from([5, "x", {"a": 1}, True])


def with_value(base: dict[str, Any], path: tuple[str | int, ...], raw_json: str) -> str:
    """``base`` as JSON text, with the value at ``path`` replaced by ``raw_json`` (any text, valid JSON or not)."""
    copy = json.loads(json.dumps(base))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = PLACEHOLDER
    return json.dumps(copy).replace(json.dumps(PLACEHOLDER), raw_json)


def hostile_bodies(base: dict[str, Any], text: list[tuple[str | int, ...]], typed: list[tuple[str | int, ...]]) -> Any:
    """``base`` with one thing broken, at a text field, another field, or the whole document."""
    text_paths, any_paths = st.sampled_from(text), st.sampled_from(text + typed)
    top = sorted(base)[0]

    def wrong_type(path: tuple[str | int, ...]) -> st.SearchStrategy[Any]:
        return NOT_THIS.get(str(path[-1]), not_a_list) if path in typed else not_text

    return st.one_of(
        st.tuples(any_paths, deep_values).map(lambda pair: with_value(base, *pair)),
        st.tuples(text_paths, st.integers(20_000, 400_000)).map(
            lambda p: with_value(base, p[0], json.dumps("x" * p[1]))
        ),
        st.tuples(text_paths, st.sampled_from(FORBIDDEN)).map(
            lambda pair: with_value(base, pair[0], json.dumps("RR12" + pair[1] + "5CN"))
        ),
        st.tuples(text_paths, st.sampled_from(["\\ud800", "\\udfff", "a\\udc00b"])).map(
            lambda pair: with_value(base, pair[0], f'"{pair[1]}"')
        ),
        st.sampled_from([json.dumps(base[top]), '"another"', "1"]).map(
            lambda again: json.dumps(base)[:-1] + f", {json.dumps(top)}: {again}}}"
        ),
        any_paths.flatmap(lambda path: wrong_type(path).map(lambda value: with_value(base, path, json.dumps(value)))),
    )


# --------------------------------------------------------------------------------------------- routes with a body

CREATE = {"tracking_number": "RR999999990CN", "carrier_code": "china-post", "title": "Blue mug", "order_id": "SO-1",
          "comment": "gift", "customer": {"name": "Ann Lee", "email": "ann@example.com"}}  # fmt: skip
BODY_ROUTES: dict[str, tuple[str, str, dict[str, Any], list[tuple[str | int, ...]], list[tuple[str | int, ...]]]] = {
    # name: (method, path, valid body, text fields, other fields)
    "create": ("POST", "/trackings", CREATE, [("tracking_number",), ("carrier_code",), ("title",), ("order_id",),
               ("comment",), ("customer", "name"), ("customer", "email")], []),
    "batch": ("POST", "/trackings/batch", {"items": [CREATE]}, [("items", 0, "tracking_number"), ("items", 0, "title"),
              ("items", 0, "comment")], [("items",)]),
    "update": ("PATCH", f"/trackings/china-post/{HELD}", {"title": "Red mug", "comment": "fragile", "archived": False},
               [("title",), ("comment",)], [("archived",)]),
    "realtime": ("POST", "/trackings/realtime", {"carrier_code": "china-post", "tracking_number": HELD,
                 "max_age_seconds": 60}, [("carrier_code",), ("tracking_number",)], [("max_age_seconds",)]),
    "aircargo": ("POST", "/aircargo", {"awb_numbers": ["172-28891936"]}, [("awb_numbers", 0)], [("awb_numbers",)]),
    "remote checks": ("POST", "/remote-checks", {"checks": [{"country": "JP", "postcode": "7621094"}]},
                      [("checks", 0, "country"), ("checks", 0, "postcode")], [("checks",)]),
    "transit times": ("POST", "/transit-times", {"routes": [{"carrier_code": "dhl", "origin": "CN",
                      "destination": "US"}]}, [("routes", 0, "carrier_code"), ("routes", 0, "origin")], [("routes",)]),
    "endpoint create": ("POST", "/webhook-endpoints", {"url": "http://127.0.0.1:9/other", "description": "shop"},
                        [("url",), ("description",)], []),
    "endpoint update": ("PATCH", "/webhook-endpoints/{endpoint}", {"description": "shop 2", "status": "enabled"},
                        [("description",)], [("status",)]),
}  # fmt: skip


@pytest.mark.parametrize("route", sorted(BODY_ROUTES))
def test_a_hostile_body_is_a_4xx_problem_and_changes_nothing(stack: Stack, route: str) -> None:
    method, path, base, text, typed = BODY_ROUTES[route]
    path = path.replace("{endpoint}", stack.endpoint_id)

    @hostile_settings
    @given(body=hostile_bodies(base, text, typed))
    def run(body: str) -> None:
        before = stack.snapshot()
        response = stack.call(method, path, raw_body=body)
        assert_refused_and_nothing_changed(stack, before, response)

    run()


def signed_push(data: Any = None, verify: dict[str, Any] | None = None) -> dict[str, Any]:
    time_str = str(int(time.time()))
    return {
        "meta": {"code": 200},
        "data": data if data is not None else {"carrier_code": "china-post", "tracking_number": HELD},
        "verifyInfo": verify
        or {"timeStr": time_str, "signature": sign(time_str, LOCAL_SECRET_VALUES["account_email"])},
    }


def hostile_pushes() -> Any:
    """A fresh, correctly signed push for the tracking we hold, with one thing broken."""
    return st.builds(signed_push).flatmap(
        lambda push: hostile_bodies(push, [("verifyInfo", "signature"), ("verifyInfo", "timeStr")], [("verifyInfo",)])
    )


def test_a_hostile_push_is_a_4xx_problem_and_changes_nothing(stack: Stack) -> None:
    @hostile_settings
    @given(body=hostile_pushes())
    def run(body: str) -> None:
        before = stack.snapshot()
        response = stack.call("POST", f"/webhooks/trackingmore/{TOKEN}", raw_body=body)
        assert_refused_and_nothing_changed(stack, before, response)

    run()


# ------------------------------------------------------------------------------------------ routes without a body

#: Query values and path segments no route takes: forbidden characters, or far beyond any length bound.
hostile_text = st.one_of(
    st.tuples(st.text(alphabet="abc", max_size=4), st.sampled_from(FORBIDDEN)).map(lambda p: f"{p[0]}{p[1]}z"),
    st.integers(3000, 9000).map(lambda n: "x" * n),
)
NO_BODY_ROUTES = [
    ("GET", "/trackings"),
    ("GET", f"/trackings/china-post/{HELD}"),
    ("DELETE", "/trackings/china-post/{hostile}"),
    ("POST", "/trackings/{hostile}/RR123456785CN/resync"),
    ("GET", "/webhook-endpoints"),
    ("GET", "/webhook-endpoints/{endpoint}/deliveries"),
    ("DELETE", "/webhook-endpoints/{hostile}"),
    ("POST", "/webhook-endpoints/{hostile}/rotate-secret"),
    ("GET", "/imports"),
    ("GET", "/imports/{hostile}"),
    ("GET", "/imports/{hostile}/results"),
    ("GET", "/openapi.json"),
]
KNOWN_QUERY = ["limit", "cursor", "status", "order_id", "lifecycle", "created_after", "carrier_code", "outcome"]


@hostile_settings
@given(
    route=st.sampled_from(NO_BODY_ROUTES),
    name=st.sampled_from(KNOWN_QUERY) | hostile_text,
    value=hostile_text,
)
def test_hostile_query_parameters_and_path_segments_are_4xx_and_change_nothing(
    stack: Stack, route: tuple[str, str], name: str, value: str
) -> None:
    method, path = route
    segment = value.replace("/", "_")
    path = path.replace("{endpoint}", stack.endpoint_id).replace("{hostile}", segment)
    before = stack.snapshot()

    response = stack.call(method, path, query={name: value})

    assert_refused_and_nothing_changed(stack, before, response)
