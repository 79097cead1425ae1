"""Each function's code reads only the secrets its policy grants: every sample event of every function, run through
its real handler on moto + the sandbox, with the secrets it reads recorded (the grants:
tests/unit/test_template_security.py).
"""

from __future__ import annotations

import contextlib
import importlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.resources import LOCAL_SECRET_VALUES
from shiptrack import runtime
from shiptrack.data.trackings import TrackingsRepository
from shiptrack.models import Tracking, utc_now
from shiptrack.settings import clear_caches
from tests.lambda_context import LambdaContext
from tests.unit.test_template_security import SECRETS_BY_FUNCTION
from trackingmore.webhooks import sign

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parents[2] / "events"
#: events/<folder> → the function its events go to (folder names are the functions' code folders).
FUNCTIONS = {
    "trackings": "TrackingsFunction",
    "realtime": "RealtimeFunction",
    "aircargo": "AircargoFunction",
    "remote_checks": "RemoteChecksFunction",
    "webhook": "WebhookFunction",
    "order_events": "OrderEventsFunction",
    "imports": "ImportsFunction",
    "import_dispatch": "ImportDispatchFunction",
    "import_worker": "ImportWorkerFunction",
    "refresh": "RefreshFunction",
    "archive": "ArchiveFunction",
    "docs": "DocsFunction",
    "publisher": "PublisherFunction",
    "webhook_endpoints": "WebhookEndpointsFunction",
    "webhook_fanout": "WebhookFanoutFunction",
    "webhook_delivery": "WebhookDeliveryFunction",
    "webhook_endpoint_events": "WebhookEndpointEventsFunction",
}


def test_every_function_with_sample_events_is_covered() -> None:
    assert {path.name for path in EVENTS.iterdir() if path.is_dir()} == set(FUNCTIONS)


@pytest.fixture
def secret_reads(aws: Any, sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The logical ids of the secrets read, in order (Powertools Parameters, the one way code reads a secret)."""
    from aws_lambda_powertools.utilities import parameters

    by_name = {names.name: logical_id for logical_id, names in aws.names.secrets.items()}
    reads: list[str] = []
    real = parameters.get_secret

    def recording(name: str, *args: Any, **kwargs: Any) -> Any:
        reads.append(by_name.get(name, name))
        return real(name, *args, **kwargs)

    monkeypatch.setattr(parameters, "get_secret", recording)
    monkeypatch.setenv("TRACKINGMORE_BASE_URL", sandbox.base_url)
    # One tracking held (a push names it; reads, updates and the list find it), so the paths that read secrets run.
    now = utc_now()
    TrackingsRepository(aws.table()).put_new(
        Tracking(carrier_code="china-post", tracking_number="RR123456785CN", created_at=now, updated_at=now)
    )
    clear_caches()
    runtime.clear()
    yield reads
    clear_caches()
    runtime.clear()


@pytest.mark.parametrize("folder", sorted(FUNCTIONS))
def test_a_functions_code_reads_no_secret_its_policy_does_not_grant(folder: str, secret_reads: list[str]) -> None:
    function = FUNCTIONS[folder]
    handler = importlib.import_module(f"functions.{folder}.app").lambda_handler

    for path in sorted((EVENTS / folder).glob("*.json")):
        clear_caches()  # every event starts cold: a secret cached by the previous one would hide a read
        event = json.loads(path.read_text())
        # Some samples fail on purpose; a crash is not what this test is about.
        with contextlib.suppress(Exception):
            handler(event, LambdaContext(function_name=function, remaining=lambda: 60_000))

    assert set(secret_reads) <= SECRETS_BY_FUNCTION[function], secret_reads


def test_the_paths_that_need_a_secret_do_read_it(secret_reads: list[str]) -> None:
    # Not vacuous: a listing with a next page signs a cursor, an accepted push reads the webhook secret and then
    # TrackingMore (the API key), and the docs read nothing at all.
    trackings = importlib.import_module("functions.trackings.app").lambda_handler
    list_event = json.loads((EVENTS / "trackings" / "list.json").read_text())
    list_event["queryStringParameters"] = {"limit": "1"}
    list_event["multiValueQueryStringParameters"] = {"limit": ["1"]}
    now = utc_now()
    TrackingsRepository(runtime.trackings_table()).put_new(
        Tracking(carrier_code="ups", tracking_number="1Z999AA10123456784", created_at=now, updated_at=now)
    )
    answer = trackings(list_event, LambdaContext(function_name="TrackingsFunction"))
    assert json.loads(answer["body"])["next_cursor"]
    assert secret_reads == ["CursorKeysSecret"]

    secret_reads.clear()
    webhook = importlib.import_module("functions.webhook.app").lambda_handler
    push = json.loads((EVENTS / "webhook" / "push_valid.json").read_text())
    time_str = str(int(now.timestamp()))
    body = json.loads(push["body"])
    body["verifyInfo"] = {"timeStr": time_str, "signature": sign(time_str, LOCAL_SECRET_VALUES["account_email"])}
    push["body"] = json.dumps(body)
    answer = webhook(push, LambdaContext(function_name="WebhookFunction"))
    assert answer["statusCode"] == 200, answer["body"]
    assert secret_reads == ["WebhookSecret", "TrackingMoreSecret"]

    secret_reads.clear()
    docs = importlib.import_module("functions.docs.app").lambda_handler
    assert docs(json.loads((EVENTS / "docs" / "openapi_json.json").read_text()), LambdaContext())["statusCode"] == 200
    assert secret_reads == []
