"""CloudFormation's side of a template, locally: YAML with short-form tags, parameters, conditions, intrinsics.

`Resolver` evaluates `Ref`, `Fn::GetAtt`, `Sub`, `Join`, `Select`, `Split`, `If`, `Equals`, `Not`, `And`, `Or`,
`FindInMap`, `Base64`, `GetAZs`, `ToJsonString`, `Length`, `Condition` and `AWS::NoValue` on plain CloudFormation
(what the SAM transform produced) to *local* values:

* `Ref` of a resource → its local physical name (`shiptrack-local-<LogicalId>`, or the resource's own name property
  when it sets one); of a queue → its URL (moto's shape); of a REST API → its logical id (the local API id); of an
  SNS topic → its ARN, as CloudFormation answers;
* `Fn::GetAtt X.Arn` → an ARN in moto's account and region; `StreamArn` → a placeholder ending in `/stream/local`
  (provisioning reports the real one).
"""

from __future__ import annotations

import base64
import json
import re
import shlex
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

import yaml

LOCAL_ACCOUNT_ID = "123456789012"  # moto's default account
DEFAULT_REGION = "us-east-1"
QUEUE_TYPE = "AWS::SQS::Queue"
TABLE_TYPE = "AWS::DynamoDB::Table"
REST_API_TYPE = "AWS::ApiGateway::RestApi"


class TemplateError(ValueError):
    """The template cannot be read or resolved locally."""


class _NoValue:
    """`AWS::NoValue`: removes the property (or list item) it is assigned to."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


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
    if tag_suffix in ("Ref", "Condition"):
        return {tag_suffix: value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        return {"Fn::GetAtt": value.split(".", 1)}
    return {f"Fn::{tag_suffix}": value}


CfnLoader.add_multi_constructor("!", _construct_cfn_tag)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Parse a CloudFormation/SAM YAML (or JSON) file into plain Python, intrinsics in long form."""
    data = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=CfnLoader)  # noqa: S506 - a SafeLoader
    if not isinstance(data, dict):
        raise TemplateError(f"{path}: not a CloudFormation template")
    return data


def cfn_str(value: Any) -> Any:
    """Scalars as CloudFormation compares and passes them: booleans `true`/`false`, numbers as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


def truthy(value: Any) -> bool:
    return value.strip().lower() == "true" if isinstance(value, str) else bool(value)


def parameter_values(raw: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Every declared parameter's value: the override, else the Default (checked against `AllowedValues`)."""
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
        if str(spec.get("Type", "String")).startswith(("List<", "CommaDelimitedList")):
            value = [str(v) for v in (value if isinstance(value, list) else [v.strip() for v in str(value).split(",")])]
        else:
            value = cfn_str(value)
            allowed = spec.get("AllowedValues")
            if allowed is not None and value not in [cfn_str(a) for a in allowed]:
                raise TemplateError(f"parameter {name}={value!r} is not one of {allowed}")
        values[name] = value
    return values


def parse_parameter_overrides(text: str) -> dict[str, str]:
    """`Key=Value Key2="two words"` (sam's --parameter-overrides syntax) → dict."""
    out = {}
    for item in shlex.split(text):
        key, sep, value = item.partition("=")
        if not sep:
            raise TemplateError(f"parameter override {item!r} is not Key=Value")
        out[key.removeprefix("ParameterKey=")] = value
    return out


def bus_name_from(value: str) -> str:
    """EventBusName may be a name or an ARN (`arn:aws:events:r:a:event-bus/NAME`)."""
    return value.rsplit("event-bus/", 1)[1] if value.startswith("arn:") and "event-bus/" in value else value


# Properties that, when set, are a resource's physical name.
_NAME_PROPERTIES = {
    TABLE_TYPE: "TableName",
    QUEUE_TYPE: "QueueName",
    "AWS::Events::EventBus": "Name",
    "AWS::Events::Rule": "Name",
    "AWS::SecretsManager::Secret": "Name",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Lambda::LayerVersion": "LayerName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::IAM::Role": "RoleName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::Scheduler::Schedule": "Name",
    "AWS::ApiGateway::Stage": "StageName",
}
# `GetAtt X.Arn` in the shape AWS gives it: (service, resource part); `{}` is the physical name.
_ARN_SHAPES = {
    TABLE_TYPE: ("dynamodb", "table/{}"),
    QUEUE_TYPE: ("sqs", "{}"),
    "AWS::Events::EventBus": ("events", "event-bus/{}"),
    "AWS::SecretsManager::Secret": ("secretsmanager", "secret:{}"),
    "AWS::Lambda::Function": ("lambda", "function:{}"),
    "AWS::Lambda::LayerVersion": ("lambda", "layer:{}:1"),
    "AWS::SNS::Topic": ("sns", "{}"),
    "AWS::IAM::Role": ("iam", "role/{}"),
    "AWS::Logs::LogGroup": ("logs", "log-group:{}:*"),
    "AWS::Scheduler::Schedule": ("scheduler", "schedule/default/{}"),
}
_GLOBAL_SERVICES = {"iam"}  # ARNs without a region


class Resolver:
    """Evaluates intrinsics in fragments of one (plain CloudFormation) template, with local names."""

    def __init__(
        self,
        resources: Mapping[str, Any],
        parameters: Mapping[str, Any],
        raw_conditions: Mapping[str, Any],
        mappings: Mapping[str, Any],
        *,
        stack_name: str,
        region: str,
        account_id: str,
        aws_endpoint: str | None,
    ) -> None:
        self.resources = resources
        self.parameters = parameters
        self.mappings = mappings
        self.stack_name, self.region, self.account_id, self.aws_endpoint = stack_name, region, account_id, aws_endpoint
        self.conditions: dict[str, bool] = {}
        self._raw_conditions = raw_conditions
        self._pending: set[str] = set()
        self._naming: set[str] = set()
        for name in raw_conditions:
            self.condition(name)

    # -- names ------------------------------------------------------------------------------------

    def pseudo(self, name: str) -> Any:
        values: dict[str, Any] = {
            "AWS::StackName": self.stack_name,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/{self.stack_name}/local",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }
        if name not in values:
            raise TemplateError(f"unknown pseudo parameter {name}")
        return values[name]

    def resource(self, logical_id: str) -> dict[str, Any]:
        if logical_id not in self.resources:
            raise TemplateError(f"unknown resource or parameter {logical_id!r}")
        return cast(dict[str, Any], self.resources[logical_id])

    def enabled(self, logical_id: str) -> bool:
        condition = self.resource(logical_id).get("Condition")
        return condition is None or self.condition(str(condition))

    def physical_name(self, logical_id: str) -> str:
        resource = self.resource(logical_id)
        rtype = str(resource.get("Type", ""))
        prop = _NAME_PROPERTIES.get(rtype)
        explicit = (resource.get("Properties") or {}).get(prop) if prop else None
        if explicit is not None:
            if logical_id in self._naming:
                raise TemplateError(f"{logical_id}: its name refers to itself")
            self._naming.add(logical_id)
            try:
                return str(self.resolve(explicit))
            finally:
                self._naming.discard(logical_id)
        name = f"{self.stack_name}-{logical_id}"
        if rtype == QUEUE_TYPE and truthy((resource.get("Properties") or {}).get("FifoQueue", False)):
            name += ".fifo"
        return name

    def queue_url(self, logical_id: str) -> str:
        base = self.aws_endpoint or f"https://sqs.{self.region}.amazonaws.com"
        return f"{base.rstrip('/')}/{self.account_id}/{self.physical_name(logical_id)}"

    def stream_arn(self, logical_id: str) -> str:
        # moto stamps the real stream label with the creation time; provisioning reports the real one.
        return f"{self.get_att(logical_id, 'Arn')}/stream/local"

    def arn(self, logical_id: str) -> str:
        resource = self.resource(logical_id)
        rtype = str(resource.get("Type", ""))
        name = self.physical_name(logical_id)
        if rtype == "AWS::Events::Rule":
            bus = bus_name_from(str(self.resolve((resource.get("Properties") or {}).get("EventBusName") or "default")))
            service, shape = "events", ("rule/{}" if bus == "default" else f"rule/{bus}/{{}}")
        else:
            service, shape = _ARN_SHAPES.get(rtype, (rtype.split("::")[1].lower() if "::" in rtype else "local", "{}"))
        region = "" if service in _GLOBAL_SERVICES else self.region
        return f"arn:aws:{service}:{region}:{self.account_id}:{shape.format(name)}"

    def ref(self, name: str) -> Any:
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name in self.parameters:
            return self.parameters[name]
        rtype = self.resource(name).get("Type", "")
        if rtype == QUEUE_TYPE:
            return self.queue_url(name)
        if rtype in ("AWS::SNS::Topic", "AWS::Lambda::LayerVersion", "AWS::SecretsManager::Secret"):
            # ARNs on AWS; a secret's is moto's with a random suffix, so locally its name (moto accepts either).
            return self.physical_name(name) if rtype == "AWS::SecretsManager::Secret" else self.arn(name)
        if rtype == REST_API_TYPE:
            return name  # the local REST API id is its logical id
        return self.physical_name(name)

    def get_att(self, logical_id: str, attribute: str) -> Any:
        rtype = self.resource(logical_id).get("Type", "")
        simple: dict[str, Callable[[], Any]] = {
            "Arn": lambda: self.arn(logical_id),
            "StreamArn": lambda: self.stream_arn(logical_id),
            "QueueName": lambda: self.physical_name(logical_id),
            "QueueUrl": lambda: self.queue_url(logical_id),
            "Name": lambda: self.physical_name(logical_id),
            "TopicArn": lambda: self.arn(logical_id),
            "Id": lambda: self.arn(logical_id),
            "RootResourceId": lambda: "root",
            "RoleId": lambda: f"AROA{logical_id.upper()[:16]}",
        }
        if attribute == "StreamArn" and rtype != TABLE_TYPE:
            raise TemplateError(f"no local value for !GetAtt {logical_id}.{attribute} ({rtype})")
        if attribute in simple:
            return simple[attribute]()
        raise TemplateError(f"no local value for !GetAtt {logical_id}.{attribute} ({rtype})")

    # -- conditions -------------------------------------------------------------------------------

    def condition(self, name: str) -> bool:
        if name in self.conditions:
            return self.conditions[name]
        if name not in self._raw_conditions:
            raise TemplateError(f"unknown condition {name!r}")
        if name in self._pending:
            raise TemplateError(f"condition {name!r} refers to itself")
        self._pending.add(name)
        self.conditions[name] = self._boolean(self._raw_conditions[name])
        self._pending.discard(name)
        return self.conditions[name]

    def _boolean(self, expr: Any) -> bool:
        value = self.resolve(expr)
        if not isinstance(value, bool):
            raise TemplateError(f"condition does not evaluate to a boolean: {expr!r}")
        return value

    # -- resolution -------------------------------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [v for v in (self.resolve(v) for v in value) if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            key, arg = next(iter(value.items()))
            if key in {"Ref", "Condition"} or key.startswith("Fn::"):
                handler = getattr(self, "_fn_" + key.removeprefix("Fn::").lower(), None)
                if handler is None:
                    raise TemplateError(f"{key} has no local value")
                return handler(arg)
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def _fn_ref(self, arg: Any) -> Any:
        return self.ref(str(self.resolve(arg)))

    def _fn_condition(self, arg: Any) -> bool:
        return self.condition(str(arg))

    def _fn_getatt(self, arg: Any) -> Any:
        logical_id, attribute = (self.resolve(a) for a in (arg.split(".", 1) if isinstance(arg, str) else arg))
        return self.get_att(str(logical_id), str(attribute))

    def _fn_sub(self, arg: Any) -> str:
        text, variables = (arg[0], self.resolve(arg[1] or {})) if isinstance(arg, list) else (arg, {})

        def replace(match: re.Match[str]) -> str:
            expr = match.group(1)
            if expr.startswith("!"):
                return "${" + expr[1:] + "}"
            if expr in variables:
                return str(variables[expr])
            if "." in expr and not expr.startswith("AWS::"):
                return str(self.get_att(*expr.split(".", 1)))
            return str(self.ref(expr))

        return re.sub(r"\$\{([^}]*)\}", replace, str(text))

    def _fn_join(self, arg: Any) -> str:
        delimiter, items = arg
        values = self.resolve(items)
        if not isinstance(values, list):
            raise TemplateError(f"Fn::Join needs a list, got {values!r}")
        return str(delimiter).join(str(v) for v in values)

    def _fn_select(self, arg: Any) -> Any:
        index, items = arg
        return self.resolve(items)[int(self.resolve(index))]

    def _fn_split(self, arg: Any) -> list[str]:
        delimiter, text = arg
        return str(self.resolve(text)).split(str(delimiter))

    def _fn_if(self, arg: Any) -> Any:
        name, when_true, when_false = arg
        return self.resolve(when_true if self.condition(str(name)) else when_false)

    def _fn_equals(self, arg: Any) -> bool:
        left, right = (self.resolve(a) for a in arg)
        return bool(cfn_str(left) == cfn_str(right))

    def _fn_not(self, arg: Any) -> bool:
        return not self._boolean(arg[0])

    def _fn_and(self, arg: Any) -> bool:
        return all(self._boolean(expr) for expr in arg)

    def _fn_or(self, arg: Any) -> bool:
        return any(self._boolean(expr) for expr in arg)

    def _fn_findinmap(self, arg: Any) -> Any:
        map_name, top, second = (self.resolve(a) for a in arg[:3])
        try:
            return self.mappings[map_name][top][second]
        except KeyError as exc:
            if len(arg) > 3 and isinstance(arg[3], dict) and "DefaultValue" in arg[3]:
                return self.resolve(arg[3]["DefaultValue"])
            raise TemplateError(f"Fn::FindInMap: no {map_name}/{top}/{second}") from exc

    def _fn_base64(self, arg: Any) -> str:
        return base64.b64encode(str(self.resolve(arg)).encode()).decode()

    def _fn_getazs(self, arg: Any) -> list[str]:
        return [f"{self.region}{zone}" for zone in "abc"]

    def _fn_tojsonstring(self, arg: Any) -> str:
        return json.dumps(self.resolve(arg), separators=(",", ":"))

    def _fn_length(self, arg: Any) -> int:
        return len(self.resolve(arg))
