"""The committed sample events of the import functions (events/imports/, events/import_dispatch/,
events/import_worker/, events/publisher/import_completed.json), each through its real handler on moto."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.integration.events_support import BusTap, fresh_function, load_event, on_sandbox
from tests.lambda_context import LambdaContext

__all__ = ["on_sandbox"]

pytestmark = pytest.mark.integration


def invoke(function: str, event: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = fresh_function(function).lambda_handler(event, LambdaContext(function))
    return response


def body(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def test_the_import_samples_answer_as_their_names_say(on_sandbox: Any) -> None:
    csv = invoke("imports", load_event("imports/create_csv.json"))
    replayed = invoke("imports", load_event("imports/create_csv.json"))  # same Idempotency-Key, same body
    as_json = invoke("imports", load_event("imports/create_json.json"))
    refused = invoke("imports", load_event("imports/create_not_an_import.json"))
    unknown = invoke("imports", load_event("imports/get_unknown.json"))
    listed = invoke("imports", load_event("imports/list.json"))

    assert (csv["statusCode"], replayed["statusCode"], as_json["statusCode"]) == (202, 202, 202)
    assert body(replayed)["id"] == body(csv)["id"]
    assert body(csv)["summary"] == {"total": 3, "created": 0, "existing": 0, "failed": 1, "pending": 2}
    assert body(as_json)["summary"]["pending"] == 3
    assert (refused["statusCode"], body(refused)["code"]) == (422, "invalid_import")
    assert (unknown["statusCode"], body(unknown)["code"]) == (404, "import_not_found")
    assert [item["id"] for item in body(listed)["items"]] == [body(as_json)["id"], body(csv)["id"]]

    # The results sample, for the import just accepted: its invalid row
    results = load_event("imports/results_failed.json")
    import_id = body(csv)["id"]
    results = json.loads(json.dumps(results).replace("imp-0195b0c2a1f4d3e2c1b0a9f8", import_id))
    failed = invoke("imports", results)
    assert failed["statusCode"] == 200
    assert [(r["index"], r["tracking_number"], r["outcome"]) for r in body(failed)["items"]] == [(2, "x", "failed")]


def test_the_dispatch_sample_queues_one_message_per_chunk(on_sandbox: Any) -> None:
    response = invoke("import_dispatch", load_event("import_dispatch/new_import.json"))

    assert response == {"batchItemFailures": []}
    messages = on_sandbox.receive("ImportChunksQueue")
    chunks = sorted(json.loads(m["Body"])["chunk"] for m in messages)
    assert chunks == [0, 1, 2]


def test_the_worker_samples_a_message_of_a_gone_import_and_a_poison_message(on_sandbox: Any) -> None:
    gone = invoke("import_worker", load_event("import_worker/chunk_message.json"))
    poison_event = load_event("import_worker/not_a_chunk_message.json")
    poison = invoke("import_worker", poison_event)

    assert gone == {"batchItemFailures": []}  # nothing to do: acknowledged
    assert poison == {"batchItemFailures": [{"itemIdentifier": poison_event["Records"][0]["messageId"]}]}


def test_the_import_completed_sample_publishes_one_event(on_sandbox: Any) -> None:
    tap = BusTap(on_sandbox)
    event = load_event("publisher/import_completed.json")

    first = invoke("publisher", event)
    invoke("publisher", copy.deepcopy(event))  # redelivered

    assert first == {"batchItemFailures": []}
    events = tap.events()
    assert [e["detail-type"] for e in events] == ["Import Completed", "Import Completed"]
    assert events[0]["detail"]["event_id"] == events[1]["detail"]["event_id"]
    detail = events[0]["detail"]["import"]
    assert detail["status"] == "completed"
    assert detail["summary"] == {"total": 85, "created": 80, "existing": 3, "failed": 2, "pending": 0}
    assert detail["completed_at"] == "2026-11-22T14:00:09.000Z"
