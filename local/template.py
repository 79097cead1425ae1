"""template.yaml as CloudFormation will deploy it, with local names: the local stack's one source of resources.

`load_template()` parses the SAM template, runs the real SAM transform on it (`local.transform`: Globals, function
events, policy templates, the implicit and explicit REST APIs become plain CloudFormation), then evaluates that
CloudFormation's parameters, conditions and intrinsics to local values (`local.intrinsics`). The accessors below read
plain resource types only, generically: a new table, queue, rule, function, event source mapping or route needs no
change here. Types with no local meaning are listed in `NO_LOCAL_BEHAVIOUR`; any other unknown type is reported by
`Template.unsupported()`.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from local.intrinsics import (
    DEFAULT_REGION,
    LOCAL_ACCOUNT_ID,
    QUEUE_TYPE,
    REST_API_TYPE,
    TABLE_TYPE,
    Resolver,
    TemplateError,
    bus_name_from,
    parameter_values,
    read_yaml,
    truthy,
)
from local.specs import (
    ApiSpec,
    BusSpec,
    EventSourceMappingSpec,
    FunctionSpec,
    GatewayResponseSpec,
    QueueSpec,
    RouteSpec,
    RuleSpec,
    SecretSpec,
    TableSpec,
)
from local.transform import local_code_path, transform

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"
LOCAL_STACK_NAME = "shiptrack-local"

BUS_TYPE = "AWS::Events::EventBus"
RULE_TYPE = "AWS::Events::Rule"
SECRET_TYPE = "AWS::SecretsManager::Secret"  # noqa: S105 - a resource type
FUNCTION_TYPE = "AWS::Lambda::Function"
LAYER_TYPE = "AWS::Lambda::LayerVersion"
MAPPING_TYPE = "AWS::Lambda::EventSourceMapping"
SCHEDULE_TYPE = "AWS::Scheduler::Schedule"
INTERPRETED = {
    TABLE_TYPE, QUEUE_TYPE, BUS_TYPE, RULE_TYPE, SECRET_TYPE, FUNCTION_TYPE, LAYER_TYPE, MAPPING_TYPE, SCHEDULE_TYPE,
    REST_API_TYPE, "AWS::ApiGateway::Stage", "AWS::ApiGateway::GatewayResponse", "AWS::Lambda::Permission",
    "AWS::Lambda::EventInvokeConfig",
}  # fmt: skip
# Resource types the stack knows and deliberately gives no local behaviour (IAM is not enforced, nothing is metered).
NO_LOCAL_BEHAVIOUR = {
    "AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::SQS::QueuePolicy", "AWS::SNS::Topic",
    "AWS::SNS::Subscription", "AWS::CloudWatch::Alarm", "AWS::CloudWatch::Dashboard", "AWS::Logs::LogGroup",
    "AWS::Logs::MetricFilter", "AWS::Logs::SubscriptionFilter", "AWS::ApiGateway::Deployment",
    "AWS::ApiGateway::ApiKey", "AWS::ApiGateway::UsagePlan", "AWS::ApiGateway::UsagePlanKey",
    "AWS::ApiGateway::Account", "AWS::Lambda::Version", "AWS::Lambda::Alias", "AWS::Scheduler::ScheduleGroup",
    "AWS::KMS::Key", "AWS::KMS::Alias", "AWS::S3::Bucket", "AWS::S3::BucketPolicy", "AWS::Events::Archive",
}  # fmt: skip
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
_ANY_METHOD = "x-amazon-apigateway-any-method"


@dataclass
class Template:
    """template.yaml after the SAM transform, resolved locally. Build with `load_template()`."""

    path: Path
    sam: dict[str, Any]  # as written
    raw: dict[str, Any]  # plain CloudFormation, as the SAM transform produced it
    parameters: dict[str, Any]
    stack_name: str
    region: str
    account_id: str
    aws_endpoint: str | None
    resolver: Resolver

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def conditions(self) -> dict[str, bool]:
        return self.resolver.conditions

    def resources(self, *types: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """(logical id, raw resource) of the resources whose Condition holds, optionally of some types."""
        for logical_id, resource in (self.raw.get("Resources") or {}).items():
            if (not types or resource.get("Type") in types) and self.resolver.enabled(logical_id):
                yield logical_id, resource

    def resource_type(self, logical_id: str) -> str | None:
        resource = (self.raw.get("Resources") or {}).get(logical_id)
        return None if resource is None else str(resource.get("Type"))

    def unsupported(self) -> dict[str, str]:
        """Resources of types the stack neither interprets nor lists as having no local behaviour."""
        known = INTERPRETED | NO_LOCAL_BEHAVIOUR
        return {lid: str(r.get("Type")) for lid, r in self.resources() if r.get("Type") not in known}

    def resolve(self, value: Any) -> Any:
        """Resolve intrinsics in any template fragment to local values."""
        return self.resolver.resolve(value)

    def physical_name(self, logical_id: str) -> str:
        return self.resolver.physical_name(logical_id)

    def arn_of(self, logical_id: str) -> str:
        return self.resolver.arn(logical_id)

    def logical_id_for_arn(self, arn: str) -> str | None:
        """The resource an ARN (or stream ARN, queue URL or name) produced by this resolver belongs to."""
        for logical_id, resource in self.resources(TABLE_TYPE, QUEUE_TYPE, BUS_TYPE, RULE_TYPE, SECRET_TYPE):
            candidates = [self.arn_of(logical_id), self.physical_name(logical_id)]
            if resource["Type"] == TABLE_TYPE:
                candidates.append(self.resolver.stream_arn(logical_id))
            elif resource["Type"] == QUEUE_TYPE:
                candidates.append(self.resolver.queue_url(logical_id))
            if arn in candidates:
                return logical_id
        return self.function_for_arn(arn)

    def function_for_arn(self, arn: str) -> str | None:
        """The function an ARN (with or without a qualifier) or a function name designates."""
        name = arn.split(":")[6] if arn.startswith("arn:") and len(arn.split(":")) > 6 else arn
        return next((lid for lid, _ in self.resources(FUNCTION_TYPE) if self.physical_name(lid) == name), None)

    def _props(self, logical_id: str, resource: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return cast(dict[str, Any], self.resolve(dict(resource.get("Properties") or {})))
        except TemplateError as exc:
            raise TemplateError(f"{logical_id}: {exc}") from exc

    # -- data and messaging -------------------------------------------------------------------------

    @property
    def tables(self) -> dict[str, TableSpec]:
        out = {}
        for logical_id, resource in self.resources(TABLE_TYPE):
            props = self._props(logical_id, resource)
            stream = props.get("StreamSpecification") or {}
            ttl = props.get("TimeToLiveSpecification") or {}
            out[logical_id] = TableSpec(
                logical_id=logical_id,
                name=self.physical_name(logical_id),
                key_schema=list(props.get("KeySchema") or []),
                attribute_definitions=list(props.get("AttributeDefinitions") or []),
                global_secondary_indexes=list(props.get("GlobalSecondaryIndexes") or []),
                local_secondary_indexes=list(props.get("LocalSecondaryIndexes") or []),
                billing_mode=str(props.get("BillingMode") or "PROVISIONED"),
                provisioned_throughput=_ints(props.get("ProvisionedThroughput")),
                stream_view_type=stream.get("StreamViewType"),
                ttl_attribute=ttl.get("AttributeName") if truthy(ttl.get("Enabled", False)) else None,
                arn=self.arn_of(logical_id),
                stream_arn=self.resolver.stream_arn(logical_id) if stream.get("StreamViewType") else None,
            )
        return out

    @property
    def queues(self) -> dict[str, QueueSpec]:
        out = {}
        for logical_id, resource in self.resources(QUEUE_TYPE):
            props = self._props(logical_id, resource)
            attributes = {k: _attr_str(v) for k, v in props.items() if k in _QUEUE_ATTRIBUTES}
            fifo = truthy(props.get("FifoQueue", False))
            if fifo:
                attributes["FifoQueue"] = "true"
            redrive = props.get("RedrivePolicy")
            if isinstance(redrive, str):
                redrive = json.loads(redrive)
            if redrive is not None:
                redrive = {**redrive, "maxReceiveCount": int(redrive["maxReceiveCount"])}
                attributes["RedrivePolicy"] = json.dumps(redrive)
            out[logical_id] = QueueSpec(
                logical_id=logical_id,
                name=self.physical_name(logical_id),
                url=self.resolver.queue_url(logical_id),
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
        """EventBridge rules, and EventBridge Scheduler schedules (`scheduler=True`, one target each)."""
        out = {}
        for logical_id, resource in self.resources(RULE_TYPE, SCHEDULE_TYPE):
            props = self._props(logical_id, resource)
            pattern = props.get("EventPattern")
            scheduler = resource["Type"] == SCHEDULE_TYPE
            out[logical_id] = RuleSpec(
                logical_id=logical_id,
                name=self.physical_name(logical_id),
                event_bus_name=bus_name_from(str(props.get("EventBusName") or "default")),
                event_pattern=json.loads(pattern) if isinstance(pattern, str) else pattern,
                schedule_expression=props.get("ScheduleExpression"),
                state=str(props.get("State") or "ENABLED"),
                description=props.get("Description"),
                targets=[props["Target"]] if scheduler else list(props.get("Targets") or []),
                arn=self.arn_of(logical_id),
                scheduler=scheduler,
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

    # -- functions ------------------------------------------------------------------------------------

    @property
    def layers(self) -> dict[str, Path]:
        """Layers defined in this template (their resolved ARN) → the local directory of their content."""
        out = {}
        for logical_id, resource in self.resources(LAYER_TYPE):
            path = local_code_path((resource.get("Properties") or {}).get("Content"), self.base_dir)
            if path is not None:
                out[self.arn_of(logical_id)] = path
        return out

    @property
    def functions(self) -> dict[str, FunctionSpec]:
        out = {}
        layer_dirs = self.layers
        retries = self._async_retries()
        for logical_id, resource in self.resources(FUNCTION_TYPE):
            props = self._props(logical_id, resource)
            variables = (props.get("Environment") or {}).get("Variables") or {}
            code_uri = local_code_path((resource.get("Properties") or {}).get("Code"), self.base_dir)
            layers = list(props.get("Layers") or [])
            reserved = props.get("ReservedConcurrentExecutions")
            out[logical_id] = FunctionSpec(
                logical_id=logical_id,
                name=self.physical_name(logical_id),
                arn=self.arn_of(logical_id),
                code_uri=code_uri or self.base_dir,
                handler=str(props.get("Handler") or "") if code_uri else "",  # inline or S3 code: not runnable here
                runtime=str(props.get("Runtime") or ""),
                timeout=int(props.get("Timeout", 3)),
                memory_size=int(props.get("MemorySize", 128)),
                environment={k: _env_str(v) for k, v in variables.items()},
                reserved_concurrency=None if reserved is None else int(reserved),
                layers=layers,
                layer_paths=[layer_dirs[arn] for arn in layers if arn in layer_dirs],
                architectures=list(props.get("Architectures") or ["x86_64"]),
                package_type=str(props.get("PackageType") or "Zip"),
                tracing_mode=str((props.get("TracingConfig") or {}).get("Mode") or "PassThrough"),
                async_retries=retries.get(logical_id, 2),
                properties=props,
            )
        return out

    def _async_retries(self) -> dict[str, int]:
        out = {}
        for logical_id, resource in self.resources("AWS::Lambda::EventInvokeConfig"):
            props = self._props(logical_id, resource)
            function_id = self.function_for_arn(str(props.get("FunctionName")))
            if function_id and "MaximumRetryAttempts" in props:
                out[function_id] = int(props["MaximumRetryAttempts"])
        return out

    @property
    def functions_environment(self) -> dict[str, str]:
        """The variables of every function at once (in-process test fixtures and benchmarks set them all)."""
        env: dict[str, str] = {}
        for fn in self.functions.values():
            env.update(fn.environment)
        return env

    @property
    def event_source_mappings(self) -> list[EventSourceMappingSpec]:
        out = []
        for logical_id, resource in self.resources(MAPPING_TYPE):
            props = self._props(logical_id, resource)
            function_id = self.function_for_arn(str(props.get("FunctionName")))
            if function_id is None:
                raise TemplateError(f"{logical_id}: function {props.get('FunctionName')} is not in the template")
            out.append(
                EventSourceMappingSpec(
                    logical_id=logical_id,
                    function_id=function_id,
                    source_arn=str(props.get("EventSourceArn") or ""),
                    enabled=truthy(props.get("Enabled", True)),
                    properties=props,
                )
            )
        return out

    def invoke_permitted(self, function_id: str, principal: str, source_arn: str) -> bool:
        """Whether an AWS::Lambda::Permission lets `principal` invoke the function from `source_arn`."""
        for logical_id, resource in self.resources("AWS::Lambda::Permission"):
            props = self._props(logical_id, resource)
            if self.function_for_arn(str(props.get("FunctionName"))) != function_id:
                continue
            if props.get("Principal") != principal or props.get("Action") not in ("lambda:InvokeFunction", "lambda:*"):
                continue
            if "SourceArn" not in props or fnmatch.fnmatchcase(source_arn, str(props["SourceArn"])):
                return True
        return False

    # -- the REST APIs ------------------------------------------------------------------------------------

    @property
    def apis(self) -> dict[str, ApiSpec]:
        stages: dict[str, str] = {}
        for logical_id, resource in self.resources("AWS::ApiGateway::Stage"):
            props = self._props(logical_id, resource)
            stages.setdefault(str(props.get("RestApiId")), str(props.get("StageName")))
        responses = self._gateway_response_resources()
        out = {}
        for logical_id, resource in self.resources(REST_API_TYPE):
            props = self._props(logical_id, resource)
            body = props.get("Body") or {}
            swagger_responses = {
                kind: GatewayResponseSpec(
                    status=int(config["statusCode"]) if config.get("statusCode") else None,
                    headers=_response_headers(config.get("responseParameters") or {}),
                    templates=dict(config.get("responseTemplates") or {}),
                )
                for kind, config in (body.get("x-amazon-apigateway-gateway-responses") or {}).items()
            }
            media = props.get("BinaryMediaTypes") or body.get("x-amazon-apigateway-binary-media-types") or []
            out[logical_id] = ApiSpec(
                logical_id=logical_id,
                stage_name=stages.get(logical_id, "Prod"),
                gateway_responses={**swagger_responses, **responses.get(logical_id, {})},
                binary_media_types=[str(t).replace("~1", "/") for t in media],
                properties=props,
            )
        return out

    def _gateway_response_resources(self) -> dict[str, dict[str, GatewayResponseSpec]]:
        out: dict[str, dict[str, GatewayResponseSpec]] = {}
        for logical_id, resource in self.resources("AWS::ApiGateway::GatewayResponse"):
            props = self._props(logical_id, resource)
            out.setdefault(str(props.get("RestApiId")), {})[str(props["ResponseType"])] = GatewayResponseSpec(
                status=int(props["StatusCode"]) if props.get("StatusCode") else None,
                headers=_response_headers(props.get("ResponseParameters") or {}),
                templates=dict(props.get("ResponseTemplates") or {}),
            )
        return out

    @property
    def routes(self) -> list[RouteSpec]:
        """Every method of every REST API's definition (SAM's generated swagger, or one of your own)."""
        out = []
        for api_id, resource in self.resources(REST_API_TYPE):
            body = self._props(api_id, resource).get("Body") or {}
            schemes = body.get("securityDefinitions") or (body.get("components") or {}).get("securitySchemes") or {}
            key_schemes = {name for name, scheme in schemes.items() if _is_api_key(scheme)}
            for path, item in (body.get("paths") or {}).items():
                for method, operation in item.items():
                    if method.lower() not in (*_METHODS, _ANY_METHOD):
                        continue
                    security = operation.get("security", body.get("security")) or []
                    integration = dict(operation.get("x-amazon-apigateway-integration") or {})
                    out.append(
                        RouteSpec(
                            api_id=api_id,
                            path=str(path),
                            method="ANY" if method.lower() == _ANY_METHOD else method.upper(),
                            api_key_required=any(name in key_schemes for option in security for name in option),
                            function_id=self._integration_function(integration),
                            integration=integration,
                        )
                    )
        return out

    def _integration_function(self, integration: Mapping[str, Any]) -> str | None:
        if str(integration.get("type", "")).lower() not in ("aws_proxy", "aws"):
            return None
        match = re.search(r":lambda:path/[^/]+/functions/(.+?)/invocations", str(integration.get("uri", "")))
        return self.function_for_arn(match.group(1)) if match else None

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


_QUEUE_ATTRIBUTES = (
    "DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled",
    "DeduplicationScope", "FifoThroughputLimit", "ContentBasedDeduplication",
)  # fmt: skip


def _is_api_key(scheme: Mapping[str, Any]) -> bool:
    return scheme.get("type") == "apiKey" and scheme.get("in") == "header" and scheme.get("name") == "x-api-key"


def _response_headers(parameters: Mapping[str, Any]) -> dict[str, str]:
    """`gatewayresponse.header.X: "'value'"` → `{"X": "value"}`."""
    prefix = "gatewayresponse.header."
    return {k.removeprefix(prefix): str(v).strip("'") for k, v in parameters.items() if k.startswith(prefix)}


def _env_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def _attr_str(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _ints(value: Any) -> dict[str, int] | None:
    return {k: int(v) for k, v in value.items()} if isinstance(value, dict) else None


def load_template(
    path: str | Path = DEFAULT_TEMPLATE,
    parameter_overrides: Mapping[str, Any] | None = None,
    *,
    stack_name: str = LOCAL_STACK_NAME,
    region: str = DEFAULT_REGION,
    account_id: str = LOCAL_ACCOUNT_ID,
    aws_endpoint: str | None = None,
) -> Template:
    """Transform and resolve a SAM template for local use.

    `aws_endpoint` (e.g. `http://127.0.0.1:5000`) makes queue URLs point at that moto server, as moto's own
    URLs do in server mode; leave it out for in-process `mock_aws`.
    """
    path = Path(path).resolve()
    sam = read_yaml(path)
    parameters = parameter_values(sam, dict(parameter_overrides or {}))
    pseudo = {"AWS::Region": region, "AWS::AccountId": account_id, "AWS::StackName": stack_name}
    raw = transform(sam, {**parameters, **pseudo, "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}, region)
    resolver = Resolver(
        raw.get("Resources") or {},
        parameters,
        raw.get("Conditions") or {},
        raw.get("Mappings") or {},
        stack_name=stack_name,
        region=region,
        account_id=account_id,
        aws_endpoint=aws_endpoint,
    )
    return Template(path, sam, raw, parameters, stack_name, region, account_id, aws_endpoint, resolver)
