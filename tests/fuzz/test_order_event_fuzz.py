"""Hostile "Order Shipped" messages (Hypothesis) through OrderEventsFunction on moto: each one fails as a poison
message would — reported in ``batchItemFailures`` as refused for good (``InvalidOrderEventError``), so after the
queue's ``maxReceiveCount`` it is in the DLQ — never an unexpected exception, never a state change, never an
upstream call.

Every generated detail breaks the contract of docs/design.md §6 in at least one way (a valid detail would rightly create
trackings), starting from the committed sample; junk bodies and broken envelopes are generated too. A last test
takes one such message through the real queue to its DLQ.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shiptrack.errors import InvalidOrderEventError
from tests.integration.events_support import load_event
from tests.lambda_context import LambdaContext
from tests.reliability.harness import System

pytestmark = pytest.mark.fuzz

fuzz_settings = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


def sample_event() -> dict[str, Any]:
    event: dict[str, Any] = json.loads(load_event("order_events/order_shipped.json")["Records"][0]["body"])
    return event


json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=10,
)
not_a_string = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.lists(st.integers(), max_size=2)
)
bad_number = st.one_of(
    not_a_string,
    st.sampled_from(["", "abc", "1234", "RR12#456785CN", "RR123456785CN/..", "r" * 51, "  ", "😀😀😀😀😀"]),
    st.text(max_size=4),
    st.integers(51, 300).map(lambda n: "9" * n),
)
bad_carrier = st.one_of(
    st.just(None).map(lambda _: 12),
    st.sampled_from(["", "china post", "c#p", "x" * 51, "  ", "ü"]),
    st.lists(st.text()),
)
bad_time = st.one_of(
    # instants with an offset that have no UTC equivalent (before / after datetime's range once converted)
    st.sampled_from(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00", "0001-01-01T00:30:00+14:00"]),
    st.sampled_from(
        [
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-11-22T25:00:00Z",
            "2026-11-22T10:00:00",  # no offset: the time would be a guess
        ]
    ),
    st.datetimes(timezones=st.none()).map(lambda d: d.isoformat()),
    # (no numbers: pydantic reads them as unix times, which is a valid instant)
    st.booleans()
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
bad_customer = st.one_of(
    not_a_string.filter(lambda v: v is not None),
    st.fixed_dictionaries({"email": st.sampled_from(["", "no-at-sign", "a@b", "a @b.c", "x" * 250 + "@b.co"])}),
    st.fixed_dictionaries({"phone": st.sampled_from(["", "12", "call me", "+" + "1" * 40])}),
    st.fixed_dictionaries({"name": st.sampled_from(["", "n" * 101]) | st.integers()}),
)


def breakages() -> st.SearchStrategy[tuple[str, Any]]:
    """One way to break a valid detail, as (what, value)."""
    return st.one_of(
        st.tuples(st.just("order_id"), not_a_string | st.sampled_from(["", "a,b", "o" * 101])),
        st.tuples(st.just("drop"), st.sampled_from(["order_id", "shipments"])),
        st.tuples(st.just("shipments"), st.just([]) | not_a_string | st.lists(json_scalars, min_size=1, max_size=3)),
        st.tuples(st.just("too_many_shipments"), st.integers(1001, 1100)),
        st.tuples(st.just("tracking_number"), bad_number),
        st.tuples(st.just("carrier_code"), bad_carrier),
        st.tuples(st.just("drop_number"), st.just(None)),
        st.tuples(st.just("order_created_at"), bad_time),
        st.tuples(st.just("customer"), bad_customer),
        st.tuples(st.just("destination_code"), not_a_string | st.sampled_from(["", "USA", "1A", "u"])),
        st.tuples(st.just("detail"), not_a_string | st.text(max_size=20)),
        st.tuples(st.just("detail-type"), st.sampled_from(["Order Created", "", "order shipped"]) | not_a_string),
        st.tuples(st.just("envelope"), st.sampled_from(["version", "id", "source", "time", "region", "detail"])),
    )


def break_event(event: dict[str, Any], what: str, value: Any) -> bool:
    """Apply one breakage in place; False when an earlier one left nothing for it to break."""
    if what in ("detail", "detail-type"):
        event[what] = value
        return True
    if what == "envelope":
        return event.pop(value, None) is not None
    detail = event.get("detail")
    if not isinstance(detail, dict):
        return False
    if what == "drop":
        return detail.pop(value, None) is not None
    if what == "too_many_shipments":
        detail["shipments"] = [{"tracking_number": f"TM{i:09d}CN", "carrier_code": "china-post"} for i in range(value)]
        return True
    if what in ("tracking_number", "carrier_code", "drop_number"):
        shipments = detail.get("shipments")
        if not (isinstance(shipments, list) and shipments and isinstance(shipments[0], dict)):
            return False
        if what == "drop_number":
            shipments[0].pop("tracking_number", None)
        else:
            shipments[0][what] = value
        return True
    detail[what] = value
    return True


@st.composite
def hostile_bodies(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["detail", "detail", "detail", "junk", "json"]))
    if kind == "junk":
        return draw(st.text(max_size=200))
    if kind == "json":
        return json.dumps(draw(json_values))
    event = sample_event()
    first, *more = draw(st.lists(breakages(), min_size=1, max_size=3))
    assert break_event(event, *first)  # the pristine sample always has what the first breakage breaks
    for what, value in more:
        break_event(event, what, value)
    return json.dumps(event)


def assert_every_breakage_breaks(body: str) -> None:
    """Guard against a generator bug handing the function a VALID event (that would rightly create trackings)."""
    event = sample_event()
    assert json.dumps(event) != body


@fuzz_settings
@given(bodies=st.lists(hostile_bodies(), min_size=1, max_size=4))
def test_hostile_order_events_fail_as_poison_and_change_nothing(system: System, bodies: list[str]) -> None:
    for body in bodies:
        assert_every_breakage_breaks(body)
    before = system.snapshot()
    calls = system.sandbox.stats()["calls"]

    response, ids = system.orders(bodies)

    # every message is reported failed (so SQS redelivers it, then dead-letters it), and each failure is the
    # refusal the function expects, not a crash
    assert sorted(f["itemIdentifier"] for f in response["batchItemFailures"]) == sorted(ids)
    processor = system.functions["order_events"].processor
    unexpected = [e for e in processor.exceptions if not isinstance(e[1], InvalidOrderEventError)]
    assert not unexpected, [f"{e[0].__name__}: {e[1]}" for e in unexpected]
    assert system.snapshot() == before
    assert system.sandbox.stats()["calls"] == calls


def test_a_hostile_order_event_ends_in_the_dlq_after_max_receives(system: System) -> None:
    event = sample_event()
    event["detail"]["shipments"] = [{"tracking_number": "RR12#456785CN"}]
    aws = system.aws
    url = aws.queue_url("OrderEventsQueue")
    arn = aws.names.queues["OrderEventsQueue"].arn
    aws.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(event))
    function = system.functions["order_events"]

    # Lambda's SQS poller, one receive at a time; a failed message becomes visible again at once (moto)
    deliveries = 0
    for _ in range(10):
        messages = aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, AttributeNames=["All"]).get(
            "Messages", []
        )
        if not messages:
            break
        deliveries += 1
        message = messages[0]
        record = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message["Attributes"],
            "messageAttributes": {},
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": arn,
            "awsRegion": "us-east-1",
        }
        response = function.lambda_handler({"Records": [record]}, LambdaContext(function_name="OrderEventsFunction"))
        assert response["batchItemFailures"] == [{"itemIdentifier": message["MessageId"]}]
        aws.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)

    redrive = json.loads(
        aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"]["RedrivePolicy"]
    )
    assert deliveries == int(redrive["maxReceiveCount"])
    [dead] = aws.receive("OrderEventsDLQ")
    assert json.loads(dead["Body"]) == event
    assert system.items() == {}
