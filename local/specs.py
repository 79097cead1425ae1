"""What the local stack reads from a template: one frozen record per resource it gives local behaviour.

Built by `local.template.Template` from the plain CloudFormation of the SAM transform, resolved to local values.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    name: str
    key_schema: list[dict[str, str]]
    attribute_definitions: list[dict[str, str]]
    global_secondary_indexes: list[dict[str, Any]]
    local_secondary_indexes: list[dict[str, Any]]
    billing_mode: str
    provisioned_throughput: dict[str, int] | None
    stream_view_type: str | None
    ttl_attribute: str | None
    arn: str
    stream_arn: str | None

    @property
    def hash_key(self) -> str:
        return next(k["AttributeName"] for k in self.key_schema if k["KeyType"] == "HASH")

    @property
    def range_key(self) -> str | None:
        return next((k["AttributeName"] for k in self.key_schema if k["KeyType"] == "RANGE"), None)

    @property
    def index_names(self) -> list[str]:
        return [i["IndexName"] for i in self.global_secondary_indexes + self.local_secondary_indexes]


@dataclass(frozen=True)
class QueueSpec:
    logical_id: str
    name: str
    url: str
    arn: str
    fifo: bool
    visibility_timeout: int
    redrive_policy: dict[str, Any] | None  # {"deadLetterTargetArn": ..., "maxReceiveCount": int}
    attributes: dict[str, str]  # CreateQueue attributes, RedrivePolicy included (JSON string)

    @property
    def dead_letter_arn(self) -> str | None:
        return None if self.redrive_policy is None else str(self.redrive_policy["deadLetterTargetArn"])

    @property
    def max_receive_count(self) -> int | None:
        return None if self.redrive_policy is None else int(self.redrive_policy["maxReceiveCount"])


@dataclass(frozen=True)
class BusSpec:
    logical_id: str
    name: str
    arn: str


@dataclass(frozen=True)
class RuleSpec:
    """An EventBridge rule (SAM's Schedule and EventBridgeRule events become these) or a Scheduler schedule."""

    logical_id: str
    name: str
    event_bus_name: str
    event_pattern: dict[str, Any] | None
    schedule_expression: str | None
    state: str
    description: str | None
    targets: list[dict[str, Any]]
    arn: str
    scheduler: bool = False  # an AWS::Scheduler::Schedule (EventBridge Scheduler), not a rule


@dataclass(frozen=True)
class SecretSpec:
    logical_id: str
    name: str
    description: str | None
    secret_string: str | None
    generate: dict[str, Any] | None  # GenerateSecretString, resolved


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    arn: str
    code_uri: Path
    handler: str
    runtime: str
    timeout: int
    memory_size: int
    environment: dict[str, str]
    reserved_concurrency: int | None
    layers: list[Any]  # resolved (layer version ARNs)
    layer_paths: list[Path]  # the local content of the layers defined in this template, in order
    architectures: list[str]
    package_type: str
    tracing_mode: str  # TracingConfig.Mode: Active | PassThrough
    async_retries: int  # EventInvokeConfig.MaximumRetryAttempts (Lambda's default: 2)
    properties: dict[str, Any]  # every property, resolved


@dataclass(frozen=True)
class EventSourceMappingSpec:
    """An AWS::Lambda::EventSourceMapping (SAM's SQS and DynamoDB events become these)."""

    logical_id: str
    function_id: str
    source_arn: str
    enabled: bool
    properties: dict[str, Any]  # BatchSize, FunctionResponseTypes, ScalingConfig, DestinationConfig ..., resolved

    @property
    def name(self) -> str:
        return self.logical_id


@dataclass(frozen=True)
class GatewayResponseSpec:
    status: int | None
    headers: dict[str, str]  # header → value, unquoted
    templates: dict[str, str]  # content type → template


@dataclass(frozen=True)
class ApiSpec:
    logical_id: str
    stage_name: str
    gateway_responses: dict[str, GatewayResponseSpec]
    binary_media_types: list[str]
    properties: dict[str, Any]


@dataclass(frozen=True)
class RouteSpec:
    api_id: str
    path: str
    method: str  # upper case, or "ANY"
    api_key_required: bool
    function_id: str | None  # the Lambda proxy integration's function; None for other integrations
    integration: dict[str, Any]  # x-amazon-apigateway-integration, resolved (mock integrations answer from it)
