"""The local stack over HTTP, driven by a fixture template (tests/fixtures/stack/) of small test functions.

The real functions are written elsewhere; these doubles exercise every path of the stack itself:
API Gateway behaviour, the invoke API, workers and timeouts, SQS/stream/rule/schedule glue, the event tap.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from local.runtime import RUNTIME_DIR
from local.stack import StackProcess
from local.template import DEFAULT_TEMPLATE, load_template
from tests.plugins.stack import StackFactory, eventually

pytestmark = pytest.mark.e2e

FIXTURE_TEMPLATE = Path(__file__).resolve().parent.parent / "fixtures" / "stack" / "template.yaml"
API_KEY = "e2e-key"


@pytest.fixture(scope="module")
def stack(local_stack_factory: StackFactory) -> Iterator[StackProcess]:
    with local_stack_factory.running(
        FIXTURE_TEMPLATE,
        sandbox=False,
        name="fixture-stack",
        env={
            "LOCAL_API_KEY": API_KEY,
            "LOCAL_API_TIMEOUT_SECONDS": "6",
            "LOCAL_SCHEDULE_SECONDS": "0",
        },
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def api(stack: StackProcess) -> str:
    return f"{stack.api_url}/v1"


def seen(stack: StackProcess, prefix: str) -> list[dict[str, Any]]:
    items = stack.client("dynamodb").scan(TableName="shiptrack-local-SeenTable")["Items"]
    return [{"pk": i["pk"]["S"], "data": json.loads(i["data"]["S"])} for i in items if i["pk"]["S"].startswith(prefix)]


def queue_url(stack: StackProcess, name: str) -> str:
    return str(stack.client("sqs").get_queue_url(QueueName=name)["QueueUrl"])


def receive_all(stack: StackProcess, name: str) -> list[dict[str, Any]]:
    sqs = stack.client("sqs")
    url = queue_url(stack, name)
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    for message in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return list(messages)


# -- start, health, stop ---------------------------------------------------------------------------


def test_health_reports_every_part(stack: StackProcess) -> None:
    response = requests.get(f"{stack.api_url}/_local/health", timeout=10)

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {body[p] for p in ("aws", "api", "invoke", "functions", "event_sources")} == {"ok"}
    assert body["sandbox"] == "disabled"
    assert "EchoFunction" in body["functions_running"]
    assert body["functions_skipped"] == {"NodeFunction": "runtime 'nodejs20.x'"}


def test_health_is_503_until_ready_and_sigterm_stops_everything_quickly(tmp_path: Path) -> None:
    proc = StackProcess(
        FIXTURE_TEMPLATE, sandbox=False, log_path=tmp_path / "stack.log", env={"LOCAL_SCHEDULE_SECONDS": "0"}
    )
    proc.start()
    try:
        statuses: set[int] = set()

        def ready() -> bool:
            try:
                status = requests.get(f"{proc.api_url}/_local/health", timeout=2).status_code
            except requests.ConnectionError:
                return False
            statuses.add(status)
            return status == 200

        eventually(ready, timeout=120, interval=0.02)
        assert statuses <= {200, 503}
        # Warm a worker so stopping has a process to kill, plus one stuck in a long invocation.
        assert (
            requests.get(f"{proc.api_url}/echo", headers={"x-api-key": "local-dev-key"}, timeout=30).status_code == 200
        )
        requests.post(
            f"{proc.invoke_url}/2015-03-31/functions/LongFunction/invocations",
            data=json.dumps({"sleep": 15}),
            headers={"X-Amz-Invocation-Type": "Event"},
            timeout=10,
        )
    finally:
        elapsed = proc.stop()
    assert proc.process is not None
    assert proc.process.returncode == 0, proc.logs()
    # The stack bounds its own shutdown (LocalStack.stop joins every part against one 4 s deadline and
    # kills what is still busy). Asserting "< 5 s" of wall clock here would only measure how loaded this
    # shared machine is; what the test can prove is that stopping did not wait for the 15 s invocation.
    assert elapsed < 15.0, f"took {elapsed:.1f} s to stop: it waited for the busy worker"
    assert re.search(r"\[stack\] stopped in \d+\.\d s", proc.logs())
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{proc.api_url}/_local/health", timeout=2)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{proc.aws_endpoint}/moto-api/data.json", timeout=2)
    assert "[stack] stopped" in proc.logs()


# -- API Gateway behaviour --------------------------------------------------------------------------


def test_missing_api_key_is_403_forbidden(api: str) -> None:
    response = requests.get(f"{api}/echo/1", timeout=30)

    assert response.status_code == 403
    assert response.json() == {"message": "Forbidden"}
    assert response.headers["Content-Type"] == "application/problem+json"  # the Api's GatewayResponses


def test_wrong_api_key_is_403_forbidden(api: str) -> None:
    response = requests.get(f"{api}/echo/1", headers={"x-api-key": "nope"}, timeout=30)

    assert response.status_code == 403
    assert response.json() == {"message": "Forbidden"}


@pytest.mark.parametrize(("method", "path"), [("GET", "/nowhere"), ("DELETE", "/echo/1"), ("GET", "/echo/1/2")])
def test_unknown_route_or_method_is_403_missing_authentication_token(api: str, method: str, path: str) -> None:
    response = requests.request(method, f"{api}{path}", headers={"x-api-key": API_KEY}, timeout=30)

    assert response.status_code == 403
    assert response.json() == {"message": "Missing Authentication Token"}


def test_path_parameters_query_and_headers_reach_the_function(api: str) -> None:
    response = requests.get(
        f"{api}/echo/abc-123?x=1&x=2&y=3", headers={"x-api-key": API_KEY, "X-Custom": "v"}, timeout=30
    )

    assert response.status_code == 200
    event = response.json()["event"]
    assert event["resource"] == "/echo/{id}"
    assert event["path"] == "/echo/abc-123"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"id": "abc-123"}
    assert event["queryStringParameters"] == {"x": "2", "y": "3"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "y": ["3"]}
    assert event["headers"]["X-Custom"] == "v"
    assert event["multiValueHeaders"]["X-Custom"] == ["v"]
    assert event["body"] is None
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["stage"] == "v1"
    assert context["resourcePath"] == "/echo/{id}"
    assert context["path"] == "/v1/echo/abc-123"
    assert context["identity"]["apiKey"] == API_KEY
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert isinstance(context["requestTimeEpoch"], int)
    assert context["requestId"]


def test_the_stage_prefix_is_optional(stack: StackProcess) -> None:
    with_stage = requests.get(f"{stack.api_url}/v1/echo/7", headers={"x-api-key": API_KEY}, timeout=30)
    without = requests.get(f"{stack.api_url}/echo/7", headers={"x-api-key": API_KEY}, timeout=30)

    assert with_stage.status_code == without.status_code == 200
    assert with_stage.json()["event"]["pathParameters"] == without.json()["event"]["pathParameters"] == {"id": "7"}


def test_static_segments_win_over_parameters_and_proxy_paths_are_greedy(api: str) -> None:
    special = requests.get(f"{api}/echo/special", headers={"x-api-key": API_KEY}, timeout=30).json()
    proxy = requests.put(f"{api}/files/a/b/c.txt", data="x", headers={"x-api-key": API_KEY}, timeout=30).json()

    assert special["event"]["resource"] == "/echo/special"
    assert special["event"]["pathParameters"] is None
    assert proxy["event"]["resource"] == "/files/{proxy+}"
    assert proxy["event"]["pathParameters"] == {"proxy": "a/b/c.txt"}
    assert proxy["event"]["httpMethod"] == "PUT"


def test_route_with_api_key_override_needs_no_key(api: str) -> None:
    response = requests.post(f"{api}/hooks/tok", data='{"a": 1}', timeout=30)

    assert response.status_code == 200
    event = response.json()["event"]
    assert event["pathParameters"] == {"token": "tok"}
    assert event["body"] == '{"a": 1}'


def test_proxy_response_is_mapped_back(api: str) -> None:
    response = requests.get(f"{api}/echo?status=418", headers={"x-api-key": API_KEY}, timeout=30)

    assert response.status_code == 418
    assert response.headers["X-Echo"] == "1"
    assert response.headers["Content-Type"] == "application/json"
    assert response.raw.headers.getlist("Set-Cookie") == ["a=1", "b=2"]
    assert response.headers["x-amzn-RequestId"]


def test_cors_preflights_answer_from_their_mock_integration(api: str) -> None:
    # SAM's Cors: an OPTIONS method per path with a mock integration; as deployed, it needs the API key too.
    preflight = requests.options(f"{api}/echo/1", headers={"x-api-key": API_KEY}, timeout=30)
    without_key = requests.options(f"{api}/echo/1", timeout=30)

    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert preflight.headers["Access-Control-Allow-Headers"] == "content-type,x-api-key"
    assert set(preflight.headers["Access-Control-Allow-Methods"].split(",")) == {"GET", "OPTIONS"}
    assert without_key.status_code == 403


def test_a_handler_exception_is_502(api: str) -> None:
    response = requests.get(f"{api}/fail", headers={"x-api-key": API_KEY}, timeout=30)

    assert response.status_code == 502
    assert response.json() == {"message": "Internal server error"}


def test_function_timeout_is_502_and_integration_timeout_is_504(api: str) -> None:
    timed_out = requests.get(f"{api}/slow?sleep=5", headers={"x-api-key": API_KEY}, timeout=60)
    too_slow = requests.get(f"{api}/long?sleep=12", headers={"x-api-key": API_KEY}, timeout=60)

    assert timed_out.status_code == 502
    assert too_slow.status_code == 504
    assert too_slow.json() == {"message": "Endpoint request timed out"}


# -- AWS's payload limits, as AWS answers them ------------------------------------------------------------------

LAMBDA_REQUEST_LIMIT = 6_291_456  # Invoke request body ("6 MB")
LAMBDA_RESPONSE_LIMIT = 6_291_556  # a function's serialised result ("6 MB", 100 bytes more)
API_GATEWAY_BODY_LIMIT = 10 * 1024 * 1024


def test_a_body_over_api_gateways_10_mb_is_refused_before_any_route(api: str) -> None:
    response = requests.post(
        f"{api}/echo", data=b"x" * (API_GATEWAY_BODY_LIMIT + 1), headers={"x-api-key": API_KEY}, timeout=60
    )

    assert response.status_code == 413
    assert response.text == "HTTP content length exceeded 10485760 bytes."  # not a gateway response: no template


def test_a_body_that_makes_the_event_exceed_lambdas_6_mb_is_413_request_too_long(api: str) -> None:
    # 7 MB: under API Gateway's 10 MB, but the proxy event carrying it is over Lambda's request limit.
    response = requests.post(
        f"{api}/echo?respond_bytes=100", data=b"x" * 7_000_000, headers={"x-api-key": API_KEY}, timeout=60
    )
    fits = requests.post(
        f"{api}/echo?respond_bytes=100", data=b"x" * 6_000_000, headers={"x-api-key": API_KEY}, timeout=60
    )

    assert response.status_code == 413
    assert response.json() == {"message": "Request Too Long"}
    assert response.headers["Content-Type"] == "application/problem+json"  # the API's gateway responses apply
    assert response.headers["x-amzn-ErrorType"] == "BadRequestException"
    assert fits.status_code == 200


def test_a_response_over_lambdas_6_mb_is_a_502_from_the_gateway(api: str) -> None:
    largest = requests.get(
        f"{api}/echo?respond_bytes={LAMBDA_RESPONSE_LIMIT}", headers={"x-api-key": API_KEY}, timeout=60
    )
    too_large = requests.get(
        f"{api}/echo?respond_bytes={LAMBDA_RESPONSE_LIMIT + 1}", headers={"x-api-key": API_KEY}, timeout=60
    )

    assert largest.status_code == 200
    assert too_large.status_code == 502
    assert too_large.json() == {"message": "Internal server error"}


def test_invoke_refuses_a_request_over_lambdas_limit_with_413(stack: StackProcess) -> None:
    url = f"{stack.invoke_url}/2015-03-31/functions/EchoFunction/invocations"
    largest = json.dumps({"respond_bytes": 10, "pad": ""}).encode()
    largest = largest.replace(b'"pad": ""', b'"pad": "' + b"x" * (LAMBDA_REQUEST_LIMIT - len(largest)) + b'"')

    accepted = requests.post(url, data=largest, timeout=60)
    refused = requests.post(url, data=largest + b" ", timeout=60)

    assert len(largest) == LAMBDA_REQUEST_LIMIT
    assert accepted.status_code == 200
    assert refused.status_code == 413
    assert refused.headers["x-amzn-ErrorType"] == "RequestEntityTooLargeException"
    assert refused.json()["message"] == "Request must be smaller than 6291456 bytes for the InvokeFunction operation"


def test_invoke_fails_a_response_over_lambdas_limit(stack: StackProcess) -> None:
    url = f"{stack.invoke_url}/2015-03-31/functions/EchoFunction/invocations"

    largest = requests.post(url, data=json.dumps({"respond_bytes": LAMBDA_RESPONSE_LIMIT}), timeout=60)
    too_large = requests.post(url, data=json.dumps({"respond_bytes": LAMBDA_RESPONSE_LIMIT + 1}), timeout=60)

    assert largest.status_code == 200
    assert "X-Amz-Function-Error" not in largest.headers
    assert len(largest.content) == LAMBDA_RESPONSE_LIMIT
    assert too_large.status_code == 200  # Lambda answers the failed invocation, not a refused request
    assert too_large.headers["X-Amz-Function-Error"] == "Unhandled"
    assert too_large.json() == {
        "errorType": "Function.ResponseSizeTooLarge",
        "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
    }


# -- functions run like Lambda ----------------------------------------------------------------------


def test_functions_get_their_own_environment_context_and_path(api: str, stack: StackProcess) -> None:
    body = requests.get(f"{api}/echo/1", headers={"x-api-key": API_KEY}, timeout=30).json()

    assert body["env"]["SEEN_TABLE"] == "shiptrack-local-SeenTable"  # Globals
    assert body["env"]["GREETING"] == "hello"
    assert body["env"]["ECHO_ONLY"] == "yes"  # its own variable
    assert body["env"]["FAIL_ONLY"] is None  # not another function's
    assert body["env"]["AWS_ENDPOINT_URL"] == stack.aws_endpoint
    assert body["env"]["AWS_LAMBDA_FUNCTION_NAME"] == "shiptrack-local-EchoFunction"
    assert body["can_import_local_stack"] is False
    assert body["python_prefix"] == str(RUNTIME_DIR)  # not the dev venv: a package the layer lacks is missing here too
    assert body["importable"] == {"boto3": True, "pydantic": True, "pytest": False}
    assert body["layer_on_path"] is True
    assert body["sys_path_head"][0].endswith("functions/echo")
    context = body["context"]
    assert context["function_name"] == "shiptrack-local-EchoFunction"
    assert context["memory_limit_in_mb"] == 256
    assert (
        context["invoked_function_arn"] == "arn:aws:lambda:us-east-1:123456789012:function:shiptrack-local-EchoFunction"
    )
    assert context["log_group_name"] == "/aws/lambda/shiptrack-local-EchoFunction"
    assert 0 < context["remaining_ms"] <= 10_000
    uuid.UUID(context["aws_request_id"])


def test_timeout_is_enforced_and_the_worker_replaced(stack: StackProcess) -> None:
    url = f"{stack.invoke_url}/2015-03-31/functions/SlowFunction/invocations"

    response = requests.post(url, data=json.dumps({"sleep": 5}), timeout=60)
    after = requests.post(url, data=json.dumps({"sleep": 0}), timeout=60)

    assert response.status_code == 200
    assert response.headers["X-Amz-Function-Error"] == "Unhandled"
    assert response.json()["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 2.00 seconds" in response.json()["errorMessage"]
    assert after.status_code == 200
    assert "X-Amz-Function-Error" not in after.headers
    assert json.loads(after.json()["body"]) == {"slept": 0.0}


# -- Lambda Invoke API -------------------------------------------------------------------------------


def test_invoke_request_response(stack: StackProcess) -> None:
    response = requests.post(
        f"{stack.invoke_url}/2015-03-31/functions/EchoFunction/invocations",
        data=json.dumps({"hello": "world"}),
        timeout=30,
    )

    assert response.status_code == 200
    assert response.json()["event"] == {"hello": "world"}
    assert response.json()["direct"] is True


def test_invoke_function_error_has_the_error_header_and_lambda_error_shape(stack: StackProcess) -> None:
    response = requests.post(f"{stack.invoke_url}/2015-03-31/functions/FailFunction/invocations", data="{}", timeout=30)

    assert response.status_code == 200
    assert response.headers["X-Amz-Function-Error"] == "Unhandled"
    error = response.json()
    assert error["errorType"] == "FixtureFailureError"
    assert error["errorMessage"] == "boom from the fixture"
    assert any("functions/fail/app.py" in line for line in error["stackTrace"])


def test_invoke_event_and_dry_run(stack: StackProcess) -> None:
    marker = uuid.uuid4().hex
    event = {"id": marker, "detail-type": "Scheduled Event"}
    url = f"{stack.invoke_url}/2015-03-31/functions/ScheduledFunction/invocations"

    dry = requests.post(url, data="{}", headers={"X-Amz-Invocation-Type": "DryRun"}, timeout=30)
    queued = requests.post(url, data=json.dumps(event), headers={"X-Amz-Invocation-Type": "Event"}, timeout=30)

    assert dry.status_code == 204
    assert queued.status_code == 202
    eventually(lambda: seen(stack, f"schedule#{marker}"))


def test_invoke_with_boto3_and_unknown_function(stack: StackProcess) -> None:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "lambda",
        endpoint_url=stack.invoke_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, read_timeout=60),
    )

    result = client.invoke(FunctionName="EchoFunction", Payload=b'{"a": 1}')
    assert json.loads(result["Payload"].read())["event"] == {"a": 1}
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.invoke(FunctionName="NoSuchFunction", Payload=b"{}")


# -- event sources ------------------------------------------------------------------------------------


def test_a_message_on_an_event_source_queue_reaches_its_function(stack: StackProcess) -> None:
    marker = uuid.uuid4().hex
    stack.client("sqs").send_message(QueueUrl=queue_url(stack, "shiptrack-local-OrdersQueue"), MessageBody=marker)

    items = eventually(lambda: [i for i in seen(stack, "sqs#") if i["data"]["body"] == marker])

    assert items[0]["data"]["eventSourceARN"] == "arn:aws:sqs:us-east-1:123456789012:shiptrack-local-OrdersQueue"


def test_a_failing_message_reaches_the_dlq_and_does_not_block_the_others(stack: StackProcess) -> None:
    poison = f"poison-{uuid.uuid4().hex}"
    good = uuid.uuid4().hex
    sqs = stack.client("sqs")
    url = queue_url(stack, "shiptrack-local-OrdersQueue")
    sqs.send_message(QueueUrl=url, MessageBody=poison)
    sqs.send_message(QueueUrl=url, MessageBody=good)

    dead = eventually(
        lambda: [m for m in receive_all(stack, "shiptrack-local-OrdersDeadLetterQueue") if m["Body"] == poison],
        timeout=90,
    )

    assert dead
    assert [i for i in seen(stack, "sqs#") if i["data"]["body"] == good]


def test_a_visibility_the_function_set_itself_stands(stack: StackProcess) -> None:
    later = f"later-{uuid.uuid4().hex}"
    poison = f"poison-{uuid.uuid4().hex}"
    sqs = stack.client("sqs")
    url = queue_url(stack, "shiptrack-local-OrdersQueue")
    sqs.send_message(QueueUrl=url, MessageBody=later)
    sqs.send_message(QueueUrl=url, MessageBody=poison)

    # The poison message (failed, visibility untouched) comes back and reaches the DLQ after 2 receives; the one
    # the function made invisible for an hour is received once meanwhile, and is not in the DLQ.
    dead = eventually(
        lambda: [
            m for m in receive_all(stack, "shiptrack-local-OrdersDeadLetterQueue") if m["Body"] in (later, poison)
        ],
        timeout=90,
    )

    assert [m["Body"] for m in dead] == [poison]
    assert len([i for i in seen(stack, "sqs-later#") if i["data"]["body"] == later]) == 1


def test_an_sqs_source_runs_at_most_its_maximum_concurrency_of_batches(stack: StackProcess) -> None:
    # BoundedConsumerFunction: BatchSize 1, ScalingConfig.MaximumConcurrency 2, each message takes 2 s.
    bodies = [f"slow:{uuid.uuid4().hex}" for _ in range(6)]
    sqs = stack.client("sqs")
    url = queue_url(stack, "shiptrack-local-BurstQueue")
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)

    def processed() -> list[dict[str, Any]] | None:
        found = [i for i in seen(stack, "sqs#") if i["data"]["body"] in bodies]
        return found if len(found) == len(bodies) else None

    items = eventually(processed, timeout=90)

    # Two execution environments served the six messages: two batches ran side by side, never a third.
    assert len({item["data"]["pid"] for item in items}) == 2


def test_bus_event_reaches_the_sqs_rule_target_with_its_input_path(stack: StackProcess) -> None:
    order = uuid.uuid4().hex
    stack.client("events").put_events(
        Entries=[
            {
                "EventBusName": "shiptrack-local-bus",
                "Source": "shop",
                "DetailType": "Order Shipped",
                "Detail": json.dumps({"order_id": order}),
            }
        ]
    )

    items = eventually(lambda: [i for i in seen(stack, "sqs#") if order in i["data"]["body"]])

    assert json.loads(items[0]["data"]["body"]) == {"order_id": order}  # InputPath $.detail


def test_a_stream_record_reaches_the_stream_function(stack: StackProcess) -> None:
    key = uuid.uuid4().hex
    ddb = stack.client("dynamodb")
    ddb.put_item(TableName="shiptrack-local-ItemsTable", Item={"pk": {"S": key}, "v": {"N": "1"}})
    ddb.update_item(
        TableName="shiptrack-local-ItemsTable",
        Key={"pk": {"S": key}},
        UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": {"N": "2"}},
    )

    modify = eventually(lambda: seen(stack, f"stream#{key}#MODIFY"))

    record = modify[0]["data"]
    assert record["eventSource"] == "aws:dynamodb"
    assert record["eventSourceARN"].startswith(
        "arn:aws:dynamodb:us-east-1:123456789012:table/shiptrack-local-ItemsTable/stream/"
    )
    assert record["dynamodb"]["Keys"] == {"pk": {"S": key}}
    assert record["dynamodb"]["OldImage"]["v"] == {"N": "1"}
    assert record["dynamodb"]["NewImage"]["v"] == {"N": "2"}
    assert record["dynamodb"]["SequenceNumber"]
    assert record["eventID"]
    assert seen(stack, f"stream#{key}#INSERT")


def test_a_poison_stream_record_is_bisected_out_to_the_on_failure_queue(stack: StackProcess) -> None:
    keys = [uuid.uuid4().hex for _ in range(3)]
    ddb = stack.client("dynamodb")
    ddb.put_item(TableName="shiptrack-local-ItemsTable", Item={"pk": {"S": keys[0]}})
    ddb.put_item(TableName="shiptrack-local-ItemsTable", Item={"pk": {"S": keys[1]}, "poison": {"BOOL": True}})
    ddb.put_item(TableName="shiptrack-local-ItemsTable", Item={"pk": {"S": keys[2]}})

    failures = eventually(lambda: receive_all(stack, "shiptrack-local-StreamFailureQueue"), timeout=90)

    info = json.loads(failures[0]["Body"])
    assert info["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert info["requestContext"]["functionArn"].endswith(":function:shiptrack-local-StreamConsumerFunction")
    assert info["DDBStreamBatchInfo"]["batchSize"] == 1
    assert info["responseContext"]["functionError"] == "Unhandled"
    eventually(lambda: seen(stack, f"stream#{keys[0]}#INSERT") and seen(stack, f"stream#{keys[2]}#INSERT"))
    assert not seen(stack, f"stream#{keys[1]}")


def test_events_for_a_function_rule_reach_the_function(stack: StackProcess) -> None:
    ping = uuid.uuid4().hex
    stack.client("events").put_events(
        Entries=[
            {
                "EventBusName": "shiptrack-local-bus",
                "Source": "tests",
                "DetailType": "Ping",
                "Detail": json.dumps({"id": ping}),
            }
        ]
    )

    items = eventually(lambda: seen(stack, f"rule#{ping}"))

    assert items[0]["data"]["detail-type"] == "Ping"


def test_outbound_events_reach_the_local_event_tap(stack: StackProcess) -> None:
    marker = uuid.uuid4().hex
    stack.client("events").put_events(
        Entries=[
            {
                "EventBusName": "shiptrack-local-bus",
                "Source": "shiptrack",
                "DetailType": "Tracking Created",
                "Detail": json.dumps({"m": marker}),
            },
            {
                "EventBusName": "shiptrack-local-bus",
                "Source": "elsewhere",
                "DetailType": "Other",
                "Detail": json.dumps({"m": marker}),
            },
        ]
    )

    tapped = eventually(lambda: [json.loads(m["Body"]) for m in receive_all(stack, "local-event-tap")])

    assert [(e["source"], e["detail"]["m"]) for e in tapped] == [("shiptrack", marker)]
    assert tapped[0]["account"] == "123456789012"  # moto leaves it out; local.moto_patches puts it back


def test_a_schedule_can_be_fired_on_demand(stack: StackProcess) -> None:
    response = requests.post(f"{stack.api_url}/_local/schedules/ScheduledFunction", timeout=60)

    assert response.status_code == 200
    assert response.json() == {"ok": True, "payload": {"ok": "Scheduled Event"}}


def test_schedules_fire_on_the_local_timer(tmp_path: Path) -> None:
    with StackProcess(
        FIXTURE_TEMPLATE, sandbox=False, log_path=tmp_path / "s.log", env={"LOCAL_SCHEDULE_SECONDS": "1"}
    ) as proc:
        items = eventually(lambda: seen(proc, "schedule#"), timeout=60)

    event = items[0]["data"]
    assert event["source"] == "aws.events"
    assert event["detail-type"] == "Scheduled Event"


# -- the real template ------------------------------------------------------------------------------


def test_every_function_of_the_real_template_is_picked_up(local_stack: StackProcess) -> None:
    template = load_template(DEFAULT_TEMPLATE)
    real = local_stack

    listed = requests.get(f"{real.invoke_url}/2015-03-31/functions/", timeout=30).json()["Functions"]
    health = requests.get(f"{real.api_url}/_local/health", timeout=30).json()

    assert {f["FunctionName"] for f in listed} | set(health["functions_skipped"]) == set(template.functions)
    assert health["sandbox"] == "ok"
    assert real.sandbox_url == f"{real.sandbox_control_url}/v2"
    for route in template.routes:
        if not route.api_key_required:
            continue
        path = route.path.replace("{proxy+}", "a/b")
        for name in ("{carrier_code}", "{tracking_number}", "{token}"):
            path = path.replace(name, "x")
        path = "/".join("x" if part.startswith("{") else part for part in path.split("/"))
        method = "GET" if route.method == "ANY" else route.method
        response = requests.request(method, f"{real.api_url}{path}", timeout=30)
        # The real template turns API Gateway's own answers into problem+json (its GatewayResponses).
        assert response.status_code == 403, route
        assert response.headers["content-type"] == "application/problem+json", route
        assert response.json()["code"] == "forbidden", route
        assert response.json()["detail"] == "Forbidden", route


def test_the_tap_command_prints_outbound_events(stack: StackProcess) -> None:
    import io

    from local.tap import tail

    marker = uuid.uuid4().hex
    stack.client("events").put_events(
        Entries=[
            {
                "EventBusName": "shiptrack-local-bus",
                "Source": "shiptrack",
                "DetailType": "Tracking Status Changed",
                "Detail": json.dumps({"m": marker}),
            }
        ]
    )

    def printed() -> str | None:
        out = io.StringIO()
        tail(stack.aws_endpoint, once=True, out=out)
        return out.getvalue() if marker in out.getvalue() else None

    text = eventually(printed)
    assert "shiptrack | Tracking Status Changed" in text


def test_the_stack_runs_in_process_too() -> None:
    from local.stack import LocalStack

    stack = LocalStack(
        FIXTURE_TEMPLATE,
        aws_port=0,
        api_port=0,
        lambda_port=0,
        sandbox=False,
        schedule_seconds=0,
        api_key=API_KEY,
        prewarm=True,
    )
    with stack:
        stack.wait_ready(timeout=30)
        echo = stack.pools["EchoFunction"]
        eventually(lambda: echo.cold_starts == 1 and echo.size == 1 and echo.busy == 0)
        response = requests.get(f"{stack.api_url}/echo/9", headers={"x-api-key": API_KEY}, timeout=30)
        invoked = requests.post(
            f"{stack.invoke_url}/2015-03-31/functions/EchoFunction/invocations", data="{}", timeout=30
        )
        tables = stack.client("dynamodb").list_tables()["TableNames"]

    assert response.json()["event"]["pathParameters"] == {"id": "9"}
    assert invoked.json()["direct"] is True
    assert "shiptrack-local-SeenTable" in tables
    assert stack.sandbox is None
    assert echo.cold_starts == 1  # the prewarmed environment served the requests
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{stack.api_url}/_local/health", timeout=2)
