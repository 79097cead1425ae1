"""Read the SAM template the way CloudFormation would, but with local names.

`load_template()` parses template.yaml (short-form tags included), applies parameter defaults and
overrides, evaluates Conditions, merges `Globals`, and resolves intrinsics to *local* values:

* `Ref` of a table, bus, rule, secret or function → its local physical name (`shiptrack-local-TrackingsTable`,
  or the resource's own `Name`/`TableName`/... property when it sets one);
* `Ref` of a queue → its queue URL (moto's URL shape, or `{aws_endpoint}/{account}/{name}` in server mode);
* `Fn::GetAtt X.Arn` → a local ARN in moto's account and region.

Everything the local stack and the test fixtures create is read from here, so nothing is declared twice.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"
LOCAL_STACK_NAME = "shiptrack-local"
LOCAL_ACCOUNT_ID = "123456789012"  # moto's default account
DEFAULT_REGION = "us-east-1"

# Serverless resources whose Ref/GetAtt we know how to resolve locally.
TABLE_TYPES = ("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable")
QUEUE_TYPE = "AWS::SQS::Queue"
BUS_TYPE = "AWS::Events::EventBus"
RULE_TYPE = "AWS::Events::Rule"
SECRET_TYPE = "AWS::SecretsManager::Secret"  # noqa: S105 - a resource type
FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
API_TYPE = "AWS::Serverless::Api"
LAYER_TYPES = ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion")
IMPLICIT_API_ID = "ServerlessRestApi"


class TemplateError(ValueError):
    """The template cannot be read or resolved locally."""


class _NoValue:
    """`AWS::NoValue`: removes the property (or list item) it is assigned to."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


# --------------------------------------------------------------------------------------------- YAML


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that understands CloudFormation short-form intrinsics (`!Ref`, `!Sub`, `!GetAtt` ...)."""


def _construct_cfn_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(cast(yaml.MappingNode, node), deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {f"Fn::{tag_suffix}": value}


CfnLoader.add_multi_constructor("!", _construct_cfn_tag)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Parse a CloudFormation/SAM YAML (or JSON) file into plain Python, intrinsics in long form."""
    text = Path(path).read_text(encoding="utf-8")
    data = yaml.load(text, Loader=CfnLoader)  # noqa: S506 - CfnLoader is a SafeLoader
    if not isinstance(data, dict):
        raise TemplateError(f"{path}: not a CloudFormation template")
    return data


# ------------------------------------------------------------------------------------------- specs


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
    logical_id: str
    name: str
    event_bus_name: str
    event_pattern: dict[str, Any] | None
    schedule_expression: str | None
    state: str
    description: str | None
    targets: list[dict[str, Any]]
    arn: str


@dataclass(frozen=True)
class SecretSpec:
    logical_id: str
    name: str
    description: str | None
    secret_string: str | None
    generate: dict[str, Any] | None  # GenerateSecretString, resolved


@dataclass(frozen=True)
class EventSpec:
    name: str
    type: str
    properties: dict[str, Any]


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
    events: dict[str, EventSpec]
    reserved_concurrency: int | None
    policies: Any  # kept raw (unresolved), as written in the template
    layers: list[Any]
    layer_paths: list[Path]  # ContentUri of the layers defined in this template, in order
    architectures: list[str]
    package_type: str
    properties: dict[str, Any]  # every property, Globals merged and resolved

    @property
    def tracing_mode(self) -> str:
        """`Active` or `PassThrough` (SAM's `Tracing`, or CloudFormation's `TracingConfig.Mode`)."""
        mode = self.properties.get("Tracing") or (self.properties.get("TracingConfig") or {}).get("Mode")
        return str(mode or "PassThrough")

    def events_of_type(self, *types: str) -> list[EventSpec]:
        return [e for e in self.events.values() if e.type in types]


@dataclass(frozen=True)
class ApiSpec:
    logical_id: str
    stage_name: str
    api_key_required: bool
    gateway_responses: dict[str, Any]
    binary_media_types: list[str]
    cors: Any
    properties: dict[str, Any]


@dataclass(frozen=True)
class RouteSpec:
    function_id: str
    event_name: str
    api_id: str
    path: str
    method: str  # upper case, or "ANY"
    api_key_required: bool


@dataclass
class Template:
    """A resolved SAM template. Build with `load_template()`."""

    path: Path
    raw: dict[str, Any]
    parameters: dict[str, Any]
    conditions: dict[str, bool]
    stack_name: str
    region: str
    account_id: str
    aws_endpoint: str | None
    _resolver: _Resolver = field(repr=False)

    # -- raw access -------------------------------------------------------------------------------

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def resources(self, *types: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """(logical id, raw resource) of the resources whose Condition holds, optionally of some types."""
        for logical_id, resource in (self.raw.get("Resources") or {}).items():
            if types and resource.get("Type") not in types:
                continue
            if not self._resolver.resource_enabled(logical_id):
                continue
            yield logical_id, resource

    def resource_type(self, logical_id: str) -> str | None:
        resource = (self.raw.get("Resources") or {}).get(logical_id)
        return None if resource is None else str(resource.get("Type"))

    def resolve(self, value: Any) -> Any:
        """Resolve intrinsics in any template fragment to local values."""
        return self._resolver.resolve(value)

    def physical_name(self, logical_id: str) -> str:
        return self._resolver.physical_name(logical_id)

    def arn_of(self, logical_id: str) -> str:
        return str(self._resolver.get_att(logical_id, "Arn"))

    def logical_id_for_arn(self, arn: str) -> str | None:
        """The resource an ARN (or stream ARN, or queue URL) produced by this resolver belongs to."""
        for logical_id, resource in self.resources():
            rtype = resource.get("Type")
            candidates: list[str] = []
            try:
                if rtype in TABLE_TYPES:
                    candidates = [self.arn_of(logical_id), self._resolver.stream_arn(logical_id)]
                elif rtype == QUEUE_TYPE:
                    candidates = [self.arn_of(logical_id), self._resolver.queue_url(logical_id)]
                elif rtype in (BUS_TYPE, RULE_TYPE, SECRET_TYPE, *FUNCTION_TYPES):
                    candidates = [self.arn_of(logical_id), self.physical_name(logical_id)]
            except TemplateError:
                continue
            if arn in candidates:
                return logical_id
        return None

    # -- typed accessors --------------------------------------------------------------------------

    @property
    def tables(self) -> dict[str, TableSpec]:
        out = {}
        for logical_id, resource in self.resources(*TABLE_TYPES):
            props = self._props(logical_id, resource)
            if resource["Type"] == "AWS::Serverless::SimpleTable":
                pk = props.get("PrimaryKey") or {"Name": "id", "Type": "String"}
                attr_type = {"String": "S", "Number": "N", "Binary": "B"}[pk.get("Type", "String")]
                props = {
                    "AttributeDefinitions": [{"AttributeName": pk["Name"], "AttributeType": attr_type}],
                    "KeySchema": [{"AttributeName": pk["Name"], "KeyType": "HASH"}],
                    "BillingMode": "PROVISIONED" if props.get("ProvisionedThroughput") else "PAY_PER_REQUEST",
                    **{k: v for k, v in props.items() if k in ("ProvisionedThroughput", "TableName")},
                }
            stream = props.get("StreamSpecification") or {}
            ttl = props.get("TimeToLiveSpecification") or {}
            billing = str(props.get("BillingMode") or "PROVISIONED")
            out[logical_id] = TableSpec(
                logical_id=logical_id,
                name=self.physical_name(logical_id),
                key_schema=list(props.get("KeySchema") or []),
                attribute_definitions=list(props.get("AttributeDefinitions") or []),
                global_secondary_indexes=list(props.get("GlobalSecondaryIndexes") or []),
                local_secondary_indexes=list(props.get("LocalSecondaryIndexes") or []),
                billing_mode=billing,
                provisioned_throughput=_int_values(props.get("ProvisionedThroughput")),
                stream_view_type=stream.get("StreamViewType"),
                ttl_attribute=ttl.get("AttributeName") if _truthy(ttl.get("Enabled", False)) else None,
                arn=self.arn_of(logical_id),
                stream_arn=self._resolver.stream_arn(logical_id) if stream.get("StreamViewType") else None,
            )
        return out

    @property
    def queues(self) -> dict[str, QueueSpec]:
        out = {}
        for logical_id, resource in self.resources(QUEUE_TYPE):
            props = self._props(logical_id, resource)
            attributes: dict[str, str] = {}
            for key in (
                "DelaySeconds",
                "MaximumMessageSize",
                "MessageRetentionPeriod",
                "ReceiveMessageWaitTimeSeconds",
                "VisibilityTimeout",
                "KmsMasterKeyId",
                "KmsDataKeyReusePeriodSeconds",
                "SqsManagedSseEnabled",
                "DeduplicationScope",
                "FifoThroughputLimit",
            ):
                if key in props:
                    attributes[key] = _attr_str(props[key])
            fifo = _truthy(props.get("FifoQueue", False))
            if fifo:
                attributes["FifoQueue"] = "true"
                if "ContentBasedDeduplication" in props:
                    attributes["ContentBasedDeduplication"] = _attr_str(props["ContentBasedDeduplication"])
            redrive = props.get("RedrivePolicy")
            if isinstance(redrive, str):
                redrive = json.loads(redrive)
            if redrive is not None:
                redrive = {"deadLetterTargetArn": redrive["deadLetterTargetArn"], **redrive}
                redrive["maxReceiveCount"] = int(redrive["maxReceiveCount"])
                attributes["RedrivePolicy"] = json.dumps(redrive)
            out[logical_id] = QueueSpec(
                logical_id=logical_id,
                name=self.physical_name(logical_id),
                url=self._resolver.queue_url(logical_id),
                arn=self.arn_of(logical_id),
                fifo=fifo,
                visibility_timeout=int(props.get("VisibilityTimeout", 30)),
                redrive_policy=redrive,
                attributes=attributes,
            )
        return out

    def queue_for_arn(self, arn: str) -> QueueSpec | None:
        return next((q for q in self.queues.values() if arn in (q.arn, q.url, q.name)), None)

    @property
    def buses(self) -> dict[str, BusSpec]:
        return {
            logical_id: BusSpec(logical_id, self.physical_name(logical_id), self.arn_of(logical_id))
            for logical_id, _ in self.resources(BUS_TYPE)
        }

    @property
    def rules(self) -> dict[str, RuleSpec]:
        out = {}
        for logical_id, resource in self.resources(RULE_TYPE):
            props = self._props(logical_id, resource)
            pattern = props.get("EventPattern")
            if isinstance(pattern, str):
                pattern = json.loads(pattern)
            out[logical_id] = RuleSpec(
                logical_id=logical_id,
                name=self.physical_name(logical_id),
                event_bus_name=bus_name_from(props.get("EventBusName") or "default"),
                event_pattern=pattern,
                schedule_expression=props.get("ScheduleExpression"),
                state=str(props.get("State") or "ENABLED"),
                description=props.get("Description"),
                targets=list(props.get("Targets") or []),
                arn=self.arn_of(logical_id),
            )
        return out

    @property
    def secrets(self) -> dict[str, SecretSpec]:
        out = {}
        for logical_id, resource in self.resources(SECRET_TYPE):
            props = self._props(logical_id, resource)
            out[logical_id] = SecretSpec(
                logical_id=logical_id,
                name=self.physical_name(logical_id),
                description=props.get("Description"),
                secret_string=props.get("SecretString"),
                generate=props.get("GenerateSecretString"),
            )
        return out

    @property
    def layers(self) -> dict[str, Path]:
        """Layers defined in this template → the directory their content comes from."""
        out = {}
        for logical_id, resource in self.resources(*LAYER_TYPES):
            props = self._props(logical_id, resource)
            uri = props.get("ContentUri") or props.get("Content")
            if isinstance(uri, str):
                out[logical_id] = (self.base_dir / uri).resolve()
        return out

    @property
    def globals_function(self) -> dict[str, Any]:
        return cast(dict[str, Any], self.resolve((self.raw.get("Globals") or {}).get("Function") or {}))

    @property
    def global_environment(self) -> dict[str, str]:
        """Globals.Function.Environment.Variables, resolved (what every function gets)."""
        variables = (self.globals_function.get("Environment") or {}).get("Variables") or {}
        return {k: _env_str(v) for k, v in variables.items() if v is not NO_VALUE}

    @property
    def functions_environment(self) -> dict[str, str]:
        """The variables every function of the template sees: Globals merged with each function's own (the
        in-process test fixtures and benchmarks set them all at once)."""
        env = dict(self.global_environment)
        for fn in self.functions.values():
            env.update(fn.environment)
        return env

    @property
    def functions(self) -> dict[str, FunctionSpec]:
        out = {}
        raw_globals = (self.raw.get("Globals") or {}).get("Function") or {}
        layer_dirs = self.layers
        for logical_id, resource in self.resources(*FUNCTION_TYPES):
            raw_props = resource.get("Properties") or {}
            if resource["Type"] == "AWS::Serverless::Function":
                merged = merge_globals(raw_globals, raw_props)
            else:
                merged = dict(raw_props)
                if "Code" in merged:
                    merged.setdefault("CodeUri", merged["Code"])
            props = self._resolve_props(logical_id, {k: v for k, v in merged.items() if k != "Policies"})
            variables = (props.get("Environment") or {}).get("Variables") or {}
            code_uri = props.get("CodeUri") or "."
            if not isinstance(code_uri, str):  # {Bucket, Key}: not runnable locally
                code_uri = "."
            raw_layers = list(merged.get("Layers") or [])
            layer_paths = [
                layer_dirs[ref["Ref"]]
                for ref in raw_layers
                if isinstance(ref, dict) and isinstance(ref.get("Ref"), str) and ref["Ref"] in layer_dirs
            ]
            events = {
                name: EventSpec(name=name, type=str(ev.get("Type")), properties=dict(ev.get("Properties") or {}))
                for name, ev in (props.get("Events") or {}).items()
            }
            reserved = props.get("ReservedConcurrentExecutions")
            out[logical_id] = FunctionSpec(
                logical_id=logical_id,
                name=self.physical_name(logical_id),
                arn=self.arn_of(logical_id),
                code_uri=(self.base_dir / code_uri).resolve(),
                handler=str(props.get("Handler") or ""),
                runtime=str(props.get("Runtime") or ""),
                timeout=int(props.get("Timeout", 3)),
                memory_size=int(props.get("MemorySize", 128)),
                environment={k: _env_str(v) for k, v in variables.items()},
                events=events,
                reserved_concurrency=None if reserved is None else int(reserved),
                policies=merged.get("Policies"),
                layers=self.resolve(raw_layers),
                layer_paths=layer_paths,
                architectures=list(props.get("Architectures") or ["x86_64"]),
                package_type=str(props.get("PackageType") or "Zip"),
                properties=props,
            )
        return out

    @property
    def apis(self) -> dict[str, ApiSpec]:
        out = {}
        raw_globals = (self.raw.get("Globals") or {}).get("Api") or {}
        explicit = dict(self.resources(API_TYPE))
        needs_implicit = any(
            ev.type == "Api" and "RestApiId" not in ev.properties
            for fn in self.functions.values()
            for ev in fn.events.values()
        )
        if needs_implicit:
            explicit[IMPLICIT_API_ID] = {"Type": API_TYPE, "Properties": {"StageName": "Prod"}}
        for logical_id, resource in explicit.items():
            props = self._resolve_props(logical_id, merge_globals(raw_globals, resource.get("Properties") or {}))
            auth = props.get("Auth") or {}
            out[logical_id] = ApiSpec(
                logical_id=logical_id,
                stage_name=str(props.get("StageName") or "Prod"),
                api_key_required=_truthy(auth.get("ApiKeyRequired", False)),
                gateway_responses=dict(props.get("GatewayResponses") or {}),
                binary_media_types=[str(t).replace("~1", "/") for t in props.get("BinaryMediaTypes") or []],
                cors=props.get("Cors"),
                properties=props,
            )
        return out

    @property
    def routes(self) -> list[RouteSpec]:
        """Every `Api` event of every function, with its effective API-key requirement."""
        apis = self.apis
        out = []
        for fn in self.functions.values():
            for ev in fn.events_of_type("Api"):
                props = ev.properties
                api_id = _api_id(props.get("RestApiId")) or IMPLICIT_API_ID
                api = apis.get(api_id)
                required = api.api_key_required if api else False
                auth = props.get("Auth") or {}
                if "ApiKeyRequired" in auth:
                    required = _truthy(auth["ApiKeyRequired"])
                out.append(
                    RouteSpec(
                        function_id=fn.logical_id,
                        event_name=ev.name,
                        api_id=api_id,
                        path=str(props["Path"]),
                        method=str(props["Method"]).upper(),
                        api_key_required=required,
                    )
                )
        return out

    @property
    def outputs(self) -> dict[str, Any]:
        """Outputs resolved locally; those that refer to something with no local value are left out."""
        out = {}
        for name, output in (self.raw.get("Outputs") or {}).items():
            if "Condition" in output and not self.conditions.get(output["Condition"], False):
                continue
            try:
                out[name] = self.resolve(output.get("Value"))
            except TemplateError:
                continue
        return out

    # -- helpers ----------------------------------------------------------------------------------

    def _props(self, logical_id: str, resource: Mapping[str, Any]) -> dict[str, Any]:
        return self._resolve_props(logical_id, resource.get("Properties") or {})

    def _resolve_props(self, logical_id: str, props: Mapping[str, Any]) -> dict[str, Any]:
        try:
            resolved = self.resolve(dict(props))
        except TemplateError as exc:
            raise TemplateError(f"{logical_id}: {exc}") from exc
        return cast(dict[str, Any], resolved)


def _api_id(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    return str(value)


def bus_name_from(value: str) -> str:
    """EventBusName may be a name or an ARN (`arn:aws:events:r:a:event-bus/NAME`)."""
    return value.rsplit("event-bus/", 1)[1] if value.startswith("arn:") and "event-bus/" in value else value


def merge_globals(global_props: Mapping[str, Any], props: Mapping[str, Any]) -> dict[str, Any]:
    """SAM's Globals rules: maps merge (resource wins), lists concatenate (globals first), scalars override."""
    merged: dict[str, Any] = dict(global_props)
    for key, value in props.items():
        if key in merged:
            merged[key] = _merge_value(merged[key], value)
        else:
            merged[key] = value
    return merged


def _is_intrinsic(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in _INTRINSIC_KEYS


def _merge_value(global_value: Any, value: Any) -> Any:
    if isinstance(global_value, dict) and isinstance(value, dict):
        if _is_intrinsic(global_value) or _is_intrinsic(value):
            return value
        return merge_globals(global_value, value)
    if isinstance(global_value, list) and isinstance(value, list):
        return global_value + value
    return value


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _env_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _attr_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _int_values(value: Any) -> dict[str, int] | None:
    if not isinstance(value, dict):
        return None
    return {k: int(v) for k, v in value.items()}


# ----------------------------------------------------------------------------------------- resolver

_INTRINSIC_KEYS = {
    "Ref",
    "Condition",
    "Fn::GetAtt",
    "Fn::Sub",
    "Fn::Join",
    "Fn::Select",
    "Fn::Split",
    "Fn::If",
    "Fn::Equals",
    "Fn::Not",
    "Fn::And",
    "Fn::Or",
    "Fn::FindInMap",
    "Fn::Base64",
    "Fn::GetAZs",
    "Fn::ImportValue",
    "Fn::ToJsonString",
    "Fn::Length",
    "Fn::Cidr",
    "Fn::Transform",
}

_SUB_VAR = re.compile(r"\$\{([^}]*)\}")

# Properties that, when set, are a resource's physical name.
_NAME_PROPERTIES = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Serverless::SimpleTable": "TableName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::Events::EventBus": "Name",
    "AWS::Events::Rule": "Name",
    "AWS::SecretsManager::Secret": "Name",
    "AWS::Serverless::Function": "FunctionName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::Serverless::LayerVersion": "LayerName",
}


class _Resolver:
    def __init__(self, template: Template) -> None:
        self.t = template
        self._resolving: set[str] = set()

    # -- pseudo parameters, names, ARNs ----------------------------------------------------------

    def pseudo(self, name: str) -> Any:
        t = self.t
        values: dict[str, Any] = {
            "AWS::StackName": t.stack_name,
            "AWS::Region": t.region,
            "AWS::AccountId": t.account_id,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:aws:cloudformation:{t.region}:{t.account_id}:stack/{t.stack_name}/local",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }
        if name not in values:
            raise TemplateError(f"unknown pseudo parameter {name}")
        return values[name]

    def _resource(self, logical_id: str) -> dict[str, Any]:
        resources = self.t.raw.get("Resources") or {}
        if logical_id not in resources:
            raise TemplateError(f"unknown resource or parameter {logical_id!r}")
        return cast(dict[str, Any], resources[logical_id])

    def resource_enabled(self, logical_id: str) -> bool:
        condition = self._resource(logical_id).get("Condition")
        return condition is None or self.condition(str(condition))

    def physical_name(self, logical_id: str) -> str:
        resource = self._resource(logical_id)
        rtype = resource.get("Type", "")
        prop = _NAME_PROPERTIES.get(rtype)
        explicit = (resource.get("Properties") or {}).get(prop) if prop else None
        if explicit is not None:
            if logical_id in self._resolving:
                raise TemplateError(f"{logical_id}: its name refers to itself")
            self._resolving.add(logical_id)
            try:
                return str(self.resolve(explicit))
            finally:
                self._resolving.discard(logical_id)
        name = f"{self.t.stack_name}-{logical_id}"
        if rtype == QUEUE_TYPE and _truthy((resource.get("Properties") or {}).get("FifoQueue", False)):
            name += ".fifo"
        return name

    def queue_url(self, logical_id: str) -> str:
        name = self.physical_name(logical_id)
        base = self.t.aws_endpoint or f"https://sqs.{self.t.region}.amazonaws.com"
        return f"{base.rstrip('/')}/{self.t.account_id}/{name}"

    def stream_arn(self, logical_id: str) -> str:
        # moto stamps the real stream label with the creation time; provisioning reports the real one.
        return f"{self.get_att(logical_id, 'Arn')}/stream/local"

    def ref(self, name: str) -> Any:
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name in self.t.parameters:
            return self.t.parameters[name]
        resource = self._resource(name)
        rtype = resource.get("Type", "")
        if rtype == QUEUE_TYPE:
            return self.queue_url(name)
        if rtype in (API_TYPE, "AWS::ApiGateway::RestApi"):
            return name  # the local REST API id is its logical id
        return self.physical_name(name)

    def get_att(self, logical_id: str, attribute: str) -> Any:
        resource = self._resource(logical_id)
        rtype = resource.get("Type", "")
        t = self.t
        prefix = f"arn:aws:{{}}:{t.region}:{t.account_id}:"
        if rtype in TABLE_TYPES:
            if attribute == "Arn":
                return prefix.format("dynamodb") + f"table/{self.physical_name(logical_id)}"
            if attribute == "StreamArn":
                return self.stream_arn(logical_id)
        elif rtype == QUEUE_TYPE:
            name = self.physical_name(logical_id)
            if attribute == "Arn":
                return prefix.format("sqs") + name
            if attribute == "QueueName":
                return name
            if attribute == "QueueUrl":
                return self.queue_url(logical_id)
        elif rtype == BUS_TYPE:
            if attribute == "Arn":
                return prefix.format("events") + f"event-bus/{self.physical_name(logical_id)}"
            if attribute == "Name":
                return self.physical_name(logical_id)
        elif rtype == RULE_TYPE:
            if attribute == "Arn":
                props = resource.get("Properties") or {}
                bus = bus_name_from(str(self.resolve(props.get("EventBusName") or "default")))
                path = "rule/" if bus == "default" else f"rule/{bus}/"
                return prefix.format("events") + path + self.physical_name(logical_id)
        elif rtype == SECRET_TYPE:
            if attribute in ("Arn", "Id"):
                return prefix.format("secretsmanager") + f"secret:{self.physical_name(logical_id)}"
        elif rtype in FUNCTION_TYPES:
            if attribute == "Arn":
                return prefix.format("lambda") + f"function:{self.physical_name(logical_id)}"
        elif rtype == "AWS::SNS::Topic":
            if attribute == "TopicArn":
                return prefix.format("sns") + self.physical_name(logical_id)
        elif rtype in (API_TYPE, "AWS::ApiGateway::RestApi") and attribute == "RootResourceId":
            return "root"
        if attribute == "Arn":
            service = rtype.split("::")[1].lower() if "::" in rtype else "local"
            return prefix.format(service) + self.physical_name(logical_id)
        raise TemplateError(f"no local value for !GetAtt {logical_id}.{attribute} ({rtype})")

    # -- conditions -------------------------------------------------------------------------------

    def condition(self, name: str) -> bool:
        if name not in self.t.conditions:
            raise TemplateError(f"unknown condition {name!r}")
        return self.t.conditions[name]

    def eval_condition(self, expr: Any) -> bool:
        value = self.resolve(expr)
        if not isinstance(value, bool):
            raise TemplateError(f"condition does not evaluate to a boolean: {expr!r}")
        return value

    # -- resolution -------------------------------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            key, arg = next(iter(value.items()))
            if key in _INTRINSIC_KEYS:
                return self._intrinsic(key, arg)
        out = {}
        for k, v in value.items():
            resolved = self.resolve(v)
            if resolved is not NO_VALUE:
                out[k] = resolved
        return out

    def _intrinsic(self, key: str, arg: Any) -> Any:
        handler = getattr(self, "_fn_" + key.replace("Fn::", "").lower())
        return handler(arg)

    def _fn_ref(self, arg: Any) -> Any:
        return self.ref(str(self.resolve(arg)))

    def _fn_condition(self, arg: Any) -> bool:
        return self.condition(str(arg))

    def _fn_getatt(self, arg: Any) -> Any:
        if isinstance(arg, str):
            arg = arg.split(".", 1)
        logical_id, attribute = (self.resolve(a) for a in arg)
        return self.get_att(str(logical_id), str(attribute))

    def _fn_sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = arg[0], {k: self.resolve(v) for k, v in (arg[1] or {}).items()}
        else:
            text, variables = arg, {}

        def replace(match: re.Match[str]) -> str:
            expr = match.group(1)
            if expr.startswith("!"):
                return "${" + expr[1:] + "}"
            if expr in variables:
                return str(variables[expr])
            if "." in expr and not expr.startswith("AWS::"):
                logical_id, attribute = expr.split(".", 1)
                return str(self.get_att(logical_id, attribute))
            return str(self.ref(expr))

        return _SUB_VAR.sub(replace, str(text))

    def _fn_join(self, arg: Any) -> str:
        delimiter, items = arg
        values = self.resolve(items)
        if not isinstance(values, list):
            raise TemplateError(f"Fn::Join needs a list, got {values!r}")
        return str(delimiter).join(str(v) for v in values)

    def _fn_select(self, arg: Any) -> Any:
        index, items = arg
        values = self.resolve(items)
        return values[int(self.resolve(index))]

    def _fn_split(self, arg: Any) -> list[str]:
        delimiter, text = arg
        return str(self.resolve(text)).split(str(delimiter))

    def _fn_if(self, arg: Any) -> Any:
        name, when_true, when_false = arg
        return self.resolve(when_true if self.condition(str(name)) else when_false)

    def _fn_equals(self, arg: Any) -> bool:
        left, right = (self.resolve(a) for a in arg)
        return bool(_cfn_str(left) == _cfn_str(right))

    def _fn_not(self, arg: Any) -> bool:
        (expr,) = arg
        return not self.eval_condition(expr)

    def _fn_and(self, arg: Any) -> bool:
        return all(self.eval_condition(expr) for expr in arg)

    def _fn_or(self, arg: Any) -> bool:
        return any(self.eval_condition(expr) for expr in arg)

    def _fn_findinmap(self, arg: Any) -> Any:
        map_name, top, second = (self.resolve(a) for a in arg[:3])
        try:
            return self.t.raw["Mappings"][map_name][top][second]
        except KeyError as exc:
            if len(arg) > 3 and isinstance(arg[3], dict) and "DefaultValue" in arg[3]:
                return self.resolve(arg[3]["DefaultValue"])
            raise TemplateError(f"Fn::FindInMap: no {map_name}/{top}/{second}") from exc

    def _fn_base64(self, arg: Any) -> str:
        return base64.b64encode(str(self.resolve(arg)).encode()).decode()

    def _fn_getazs(self, arg: Any) -> list[str]:
        return [f"{self.t.region}{z}" for z in "abc"]

    def _fn_tojsonstring(self, arg: Any) -> str:
        return json.dumps(self.resolve(arg), separators=(",", ":"))

    def _fn_length(self, arg: Any) -> int:
        return len(self.resolve(arg))

    def _fn_importvalue(self, arg: Any) -> Any:
        raise TemplateError(f"Fn::ImportValue {self.resolve(arg)!r} has no local value")

    def _fn_cidr(self, arg: Any) -> Any:
        raise TemplateError("Fn::Cidr has no local value")

    def _fn_transform(self, arg: Any) -> Any:
        raise TemplateError("Fn::Transform has no local value")


def _cfn_str(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


# ------------------------------------------------------------------------------------------- loading


def _parameter_values(raw: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    declared = raw.get("Parameters") or {}
    unknown = set(overrides) - set(declared)
    if unknown:
        raise TemplateError(f"parameter overrides for undeclared parameters: {sorted(unknown)}")
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        if name in overrides:
            value: Any = overrides[name]
        elif "Default" in spec:
            value = spec["Default"]
        else:
            raise TemplateError(f"parameter {name} has no Default and no override")
        ptype = str(spec.get("Type", "String"))
        if ptype in ("CommaDelimitedList", "List<Number>") or ptype.startswith("List<"):
            value = value if isinstance(value, list) else [v.strip() for v in str(value).split(",")]
            value = [str(v) for v in value]
        else:
            value = _cfn_str(value)
            allowed = spec.get("AllowedValues")
            if allowed is not None and value not in [_cfn_str(a) for a in allowed]:
                raise TemplateError(f"parameter {name}={value!r} is not one of {allowed}")
        values[name] = value
    return values


def parse_parameter_overrides(text: str) -> dict[str, str]:
    """`Key=Value Key2="two words"` (sam's --parameter-overrides syntax) → dict."""
    import shlex

    out = {}
    for item in shlex.split(text):
        key, sep, value = item.partition("=")
        if not sep:
            raise TemplateError(f"parameter override {item!r} is not Key=Value")
        out[key.removeprefix("ParameterKey=")] = value
    return out


def load_template(
    path: str | Path = DEFAULT_TEMPLATE,
    parameter_overrides: Mapping[str, Any] | None = None,
    *,
    stack_name: str = LOCAL_STACK_NAME,
    region: str = DEFAULT_REGION,
    account_id: str = LOCAL_ACCOUNT_ID,
    aws_endpoint: str | None = None,
) -> Template:
    """Load and resolve a SAM template for local use.

    `aws_endpoint` (e.g. `http://127.0.0.1:5000`) makes queue URLs point at that moto server, as moto's own
    URLs do in server mode; leave it out for in-process `mock_aws`.
    """
    path = Path(path).resolve()
    raw = read_yaml(path)
    template = Template(
        path=path,
        raw=raw,
        parameters=_parameter_values(raw, dict(parameter_overrides or {})),
        conditions={},
        stack_name=stack_name,
        region=region,
        account_id=account_id,
        aws_endpoint=aws_endpoint,
        _resolver=None,  # type: ignore[arg-type]
    )
    resolver = _Resolver(template)
    template._resolver = resolver
    # Conditions may refer to each other: evaluate lazily with cycle detection.
    raw_conditions = raw.get("Conditions") or {}
    pending: set[str] = set()

    def evaluate(name: str) -> bool:
        if name in template.conditions:
            return template.conditions[name]
        if name not in raw_conditions:
            raise TemplateError(f"unknown condition {name!r}")
        if name in pending:
            raise TemplateError(f"condition {name!r} refers to itself")
        pending.add(name)
        template.conditions[name] = resolver.eval_condition(raw_conditions[name])
        pending.discard(name)
        return template.conditions[name]

    resolver.condition = evaluate  # type: ignore[method-assign]
    for name in raw_conditions:
        evaluate(name)
    return template
