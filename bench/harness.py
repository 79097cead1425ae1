"""What the in-process benchmarks share: moto (in-process or a server) built from template.yaml, the TrackingMore
sandbox, the functions' environment, and counters of DynamoDB writes and upstream calls.

Nothing here measures time; the benchmark modules do.
"""

from __future__ import annotations

import os
import socket
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3

from bench import REPO_ROOT

REGION = "us-east-1"
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "POWERTOOLS_METRICS_NAMESPACE": "ShiptrackBench",
    "POWERTOOLS_SERVICE_NAME": "shiptrack",
    "POWERTOOLS_TRACE_DISABLED": "true",
}
# For runs that count rather than time: no log lines, no EMF metric lines on stdout.
QUIET = {"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"}

WRITE_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})


@contextmanager
def quiet_stdout() -> Iterator[None]:
    """Send file descriptor 1 to /dev/null: handlers print log lines and EMF metrics there, as on Lambda, and the
    cost of formatting them stays in what is measured; the benchmark prints its progress on stderr."""
    import sys

    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


@contextmanager
def patched_env(values: Mapping[str, str | None]) -> Iterator[None]:
    """Set (or, for ``None``, remove) environment variables, and restore them all afterwards."""
    saved = {key: os.environ.get(key) for key in values}
    try:
        for key, value in values.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class WriteCounter:
    """DynamoDB calls by (table, operation), from a botocore hook on every call's parameters; writes count items."""

    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    items: Counter[tuple[str, str]] = field(default_factory=Counter)

    def hook(self, params: Mapping[str, Any], model: Any, **_: Any) -> None:
        operation = str(model.name)
        if operation == "BatchWriteItem":
            for table, requests in (params.get("RequestItems") or {}).items():
                self.calls[(table, operation)] += 1
                self.items[(table, operation)] += len(requests)
            return
        if operation == "TransactWriteItems":
            for entry in params.get("TransactItems") or []:
                for body in entry.values():
                    table = str(body.get("TableName", "?"))
                    self.items[(table, operation)] += 1
            self.calls[("*", operation)] += 1
            return
        table = str(params.get("TableName", "?"))
        self.calls[(table, operation)] += 1
        self.items[(table, operation)] += 1

    def attach(self, session: boto3.session.Session) -> None:
        """Count every DynamoDB call of clients/resources created from ``session`` from now on."""
        # before-parameter-build sees the operation's own parameters (TableName, RequestItems ...), for the
        # client API and the resource API alike; before-call would only see the serialised request.
        session.events.register("before-parameter-build.dynamodb.*", self.hook)

    def snapshot(self) -> Counter[tuple[str, str]]:
        return Counter(self.items)

    def writes(self, table: str, since: Counter[tuple[str, str]] | None = None) -> dict[str, int]:
        """Items written to ``table`` by operation (optionally since a :meth:`snapshot`)."""
        base = since or Counter()
        return {
            op: self.items[(t, op)] - base[(t, op)]
            for (t, op) in list(self.items)
            if t == table and op in WRITE_OPERATIONS and self.items[(t, op)] - base[(t, op)]
        }


def upstream_calls(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    """Sandbox calls per endpoint between two ``stats()["calls"]`` readings."""
    return {
        k: int(after.get(k, 0)) - int(before.get(k, 0)) for k in after if int(after.get(k, 0)) - int(before.get(k, 0))
    }


@dataclass
class Aws:
    """moto with the template's resources, and a session whose DynamoDB calls are counted."""

    template: Any
    names: Any
    session: boto3.session.Session
    endpoint_url: str | None
    env: dict[str, str]
    counter: WriteCounter

    def resource(self) -> Any:
        kwargs: dict[str, Any] = {"region_name": REGION}
        if self.endpoint_url:
            kwargs["endpoint_url"] = self.endpoint_url
        return self.session.resource("dynamodb", **kwargs)

    def table(self, logical_id: str) -> Any:
        return self.resource().Table(self.names.tables[logical_id])

    def table_name(self, logical_id: str) -> str:
        return str(self.names.tables[logical_id])


def _load_template(aws_endpoint: str | None = None) -> Any:
    from local.template import DEFAULT_TEMPLATE, load_template

    return load_template(DEFAULT_TEMPLATE, aws_endpoint=aws_endpoint) if aws_endpoint else load_template()


def reset_shiptrack_caches() -> None:
    """Forget cached settings, secrets, boto3 resources and clients of the layer (between set-ups)."""
    from shiptrack import runtime
    from shiptrack.settings import clear_caches

    clear_caches()
    runtime.clear()


@contextmanager
def in_process_aws(upstream_base_url: str, overrides: Mapping[str, str] | None = None) -> Iterator[Aws]:
    """In-process ``mock_aws`` with every template resource and the functions' environment (restored after)."""
    from moto import mock_aws

    from local.resources import provision

    template = _load_template()
    env = {**template.functions_environment, "TRACKINGMORE_BASE_URL": upstream_base_url, **(overrides or {})}
    with patched_env({**FAKE_AWS, **env, "AWS_ENDPOINT_URL": None}), mock_aws():
        session = boto3.session.Session(region_name=REGION)
        counter = WriteCounter()
        counter.attach(session)
        names = provision(template, session)
        reset_shiptrack_caches()
        attach_default_session(counter)
        try:
            yield Aws(template, names, session, None, env, counter)
        finally:
            reset_shiptrack_caches()


@contextmanager
def server_aws(endpoint: str, upstream_base_url: str, overrides: Mapping[str, str] | None = None) -> Iterator[Aws]:
    """The template's resources in a moto server; ``AWS_ENDPOINT_URL`` points the layer's boto3 at it."""
    from local.resources import provision

    template = _load_template(aws_endpoint=endpoint)
    env = {**template.functions_environment, "TRACKINGMORE_BASE_URL": upstream_base_url, **(overrides or {})}
    with patched_env({**FAKE_AWS, **env, "AWS_ENDPOINT_URL": endpoint}):
        session = boto3.session.Session(region_name=REGION)
        counter = WriteCounter()
        counter.attach(session)
        names = provision(template, session, endpoint_url=endpoint)
        reset_shiptrack_caches()
        attach_default_session(counter)
        try:
            yield Aws(template, names, session, endpoint, env, counter)
        finally:
            reset_shiptrack_caches()


@contextmanager
def sandbox(seed: int = 7, **config: Any) -> Iterator[Any]:
    """An in-process TrackingMore sandbox on a free port, rate limits off (we count calls, we do not pace them)."""
    from local.sandbox import SandboxServer

    server = SandboxServer(
        port=0,
        seed=seed,
        enforce_rate_limits=False,
        enforce_realtime_interval=False,
        quota=10_000_000,
        **config,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def upstream_client(sandbox_server: Any) -> Any:
    """A TrackingMore client for the sandbox that does not sleep: the client's own pacing (list 1/s, backoff)
    changes how long a run takes, not how many calls it makes; wall time at the real limits is computed apart."""
    from trackingmore import TrackingMoreClient

    return TrackingMoreClient(sandbox_server.api_key, base_url=sandbox_server.base_url, sleep=lambda _s: None)


def ups_numbers(count: int, start: int = 0) -> list[str]:
    """Valid, distinct UPS numbers (``1Z`` + 16), which the sandbox accepts and detects."""
    return [f"1Z{index:016d}" for index in range(start, start + count)]


def lambda_context(function_name: str, remaining_ms: int = 29_000) -> Any:
    @dataclass
    class Context:
        function_name: str
        memory_limit_in_mb: int = 512
        invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:bench"
        aws_request_id: str = "bench-request"

        def get_remaining_time_in_millis(self) -> int:
            return remaining_ms

    return Context(function_name)


def load_handler(function_dir: str) -> Any:
    """``functions/<dir>/app.py``'s ``lambda_handler``, imported as the module ``functions.<dir>.app``."""
    import importlib
    import sys

    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    return importlib.import_module(f"functions.{function_dir}.app").lambda_handler


def api_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    raw_body: str | None = None,
    resource: str | None = None,
    path_parameters: dict[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway REST proxy event shaped like the committed sample ``events/trackings/create.json``."""
    import copy
    import json

    base = json.loads((REPO_ROOT / "events" / "trackings" / "create.json").read_text())
    event: dict[str, Any] = copy.deepcopy(base)
    resource = resource or path
    event.update(
        resource=resource,
        path=path,
        httpMethod=method,
        pathParameters=path_parameters,
        queryStringParameters=None,
        multiValueQueryStringParameters=None,
        body=raw_body if raw_body is not None else (json.dumps(body) if body is not None else None),
        isBase64Encoded=False,
    )
    event["requestContext"].update(resourcePath=resource, httpMethod=method, path=f"/v1{path}")
    all_headers = {**event["headers"], **(headers or {})}
    event["headers"] = all_headers
    event["multiValueHeaders"] = {k: [v] for k, v in all_headers.items()}
    return event


def attach_default_session(counter: WriteCounter) -> None:
    """Count the DynamoDB calls the layer makes through boto3's default session (``shiptrack.runtime``)."""
    boto3.setup_default_session(region_name=REGION)
    assert boto3.DEFAULT_SESSION is not None
    counter.attach(boto3.DEFAULT_SESSION)
