"""pytest fixtures: aws (registered in pyproject addopts).

* `aws` — in-process `moto.mock_aws` with every resource of template.yaml provisioned, the functions'
  environment variables set (monkeypatch), boto3 clients/resources, and a reader for the TrackingsTable stream.
* `moto_server` — a session-scoped moto server on a free 127.0.0.1 port (`.endpoint`, `.reset()`).
* `aws_server` — that server, reset, with every template resource provisioned and `AWS_ENDPOINT_URL` set:
  the same object as `aws`, for code that runs in other processes or threads.

Resource names come from the template (`local.template`): `aws.names.tables["TrackingsTable"]` is
`shiptrack-local-TrackingsTable`. Do not use `aws` and `aws_server` in the same test (moto keeps one
set of backends per process; `mock_aws` resets them).
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import pytest

from local.moto_patches import apply as apply_moto_patches
from local.resources import ResourceNames, provision
from local.template import DEFAULT_TEMPLATE, Template, load_template

REGION = "us-east-1"
# Nothing listens there: a test that forgot the sandbox fails at once instead of trying the real TrackingMore.
UNSET_UPSTREAM = "http://127.0.0.1:9/v2"


#: One botocore loader for every test's session. A new session would parse the service models and the endpoint rules
#: again, about half of what provisioning the template costs.
_LOADER = botocore.loaders.create_loader()


def _session() -> boto3.session.Session:
    core = botocore.session.get_session()
    core.register_component("data_loader", _LOADER)
    return boto3.session.Session(botocore_session=core, region_name=REGION)


class StreamReader:
    """Reads a table's DynamoDB stream from the start, remembering where it stopped (all shards)."""

    def __init__(self, client: Any, stream_arn: str) -> None:
        self.client = client
        self.stream_arn = stream_arn
        self._iterators: dict[str, str | None] = {}

    def read(self) -> list[dict[str, Any]]:
        """Records written since the previous call (the first call returns everything), oldest first."""
        shards = self.client.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        records: list[dict[str, Any]] = []
        for shard in shards:
            shard_id = shard["ShardId"]
            if shard_id not in self._iterators:
                self._iterators[shard_id] = self.client.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            iterator = self._iterators[shard_id]
            while iterator:
                page = self.client.get_records(ShardIterator=iterator)
                iterator = page.get("NextShardIterator")
                records.extend(page["Records"])
                if not page["Records"]:
                    break
            self._iterators[shard_id] = iterator
        return records


@dataclass
class AwsResources:
    """What the `aws` / `aws_server` fixtures yield."""

    template: Template
    names: ResourceNames
    session: boto3.session.Session
    endpoint_url: str | None
    env: dict[str, str]
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            kwargs: dict[str, Any] = {"region_name": REGION}
            if self.endpoint_url:
                kwargs["endpoint_url"] = self.endpoint_url
            elif service == "dynamodbstreams":
                # moto 5.2.5 does not route the default dynamodbstreams endpoint in-process (docs/local-stack.md).
                kwargs["endpoint_url"] = f"https://streams.dynamodb.{REGION}.amazonaws.com"
            self._clients[service] = self.session.client(service, **kwargs)  # type: ignore[call-overload]
        return self._clients[service]

    @property
    def dynamodb(self) -> Any:
        return self.client("dynamodb")

    @property
    def dynamodb_resource(self) -> Any:
        if "dynamodb_resource" not in self._clients:
            kwargs: dict[str, Any] = {"region_name": REGION}
            if self.endpoint_url:
                kwargs["endpoint_url"] = self.endpoint_url
            self._clients["dynamodb_resource"] = self.session.resource("dynamodb", **kwargs)
        return self._clients["dynamodb_resource"]

    @property
    def sqs(self) -> Any:
        return self.client("sqs")

    @property
    def events(self) -> Any:
        return self.client("events")

    @property
    def secretsmanager(self) -> Any:
        return self.client("secretsmanager")

    @property
    def streams(self) -> Any:
        return self.client("dynamodbstreams")

    # -- names ------------------------------------------------------------------------------------

    @property
    def trackings_table_name(self) -> str:
        return self.names.tables["TrackingsTable"]

    @property
    def cache_table_name(self) -> str:
        return self.names.tables["CacheTable"]

    @property
    def idempotency_table_name(self) -> str:
        return self.names.tables["IdempotencyTable"]

    @property
    def event_bus_name(self) -> str:
        return self.names.buses["EventBus"]

    @property
    def secret_id(self) -> str:
        return self.names.secrets["TrackingMoreSecret"].name

    def table(self, logical_id: str = "TrackingsTable") -> Any:
        """A boto3 Table resource for a template table."""
        return self.dynamodb_resource.Table(self.names.tables[logical_id])

    def queue_url(self, logical_id: str) -> str:
        return self.names.queues[logical_id].url

    def receive(self, logical_id: str, max_messages: int = 10, wait_seconds: int = 0) -> list[dict[str, Any]]:
        """Receive (and delete) up to `max_messages` from a template queue."""
        url = self.queue_url(logical_id)
        messages: list[dict[str, Any]] = self.sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        for message in messages:
            self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return messages

    def stream_reader(self, logical_id: str = "TrackingsTable") -> StreamReader:
        """A reader of a table's stream: `.read()` returns the records added since its previous call."""
        return StreamReader(self.streams, self.names.table_stream_arns[logical_id])

    def stream_records(self, logical_id: str = "TrackingsTable") -> list[dict[str, Any]]:
        """Every record of a table's stream so far (INSERT/MODIFY/REMOVE, with old and new images)."""
        return self.stream_reader(logical_id).read()


def _set_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for key, value in env.items():
        if key == "TRACKINGMORE_BASE_URL" and os.environ.get(key):
            continue  # the sandbox fixture (or the developer) chose one
        monkeypatch.setenv(key, UNSET_UPSTREAM if key == "TRACKINGMORE_BASE_URL" else value)


@pytest.fixture(scope="session")
def aws_template() -> Template:
    """template.yaml, resolved for in-process moto."""
    return load_template(DEFAULT_TEMPLATE)


@pytest.fixture
def aws(aws_template: Template, monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsResources]:
    """In-process moto with every template resource created and the function environment set."""
    from moto import mock_aws

    apply_moto_patches()
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        session = _session()
        names = provision(aws_template, session)
        env = aws_template.functions_environment
        _set_env(monkeypatch, env)
        yield AwsResources(aws_template, names, session, None, env)


@dataclass
class MotoServer:
    host: str
    port: int
    _server: Any = field(repr=False)

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def reset(self) -> None:
        """Drop every resource (`POST /moto-api/reset`)."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """A moto server on a free loopback port for the whole session. Reset it between uses (`aws_server` does)."""
    from moto.server import ThreadedMotoServer

    apply_moto_patches()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield MotoServer(host, port, server)
    finally:
        server.stop()


@pytest.fixture
def aws_server(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsResources]:
    """The session's moto server, reset, with every template resource created and `AWS_ENDPOINT_URL` set."""
    moto_server.reset()
    template = load_template(DEFAULT_TEMPLATE, aws_endpoint=moto_server.endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.endpoint)
    session = _session()
    names = provision(template, session, endpoint_url=moto_server.endpoint)
    env = template.functions_environment
    _set_env(monkeypatch, env)
    try:
        yield AwsResources(template, names, session, moto_server.endpoint, env)
    finally:
        moto_server.reset()
