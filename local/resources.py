"""Create every AWS resource the template declares, in moto (in-process `mock_aws` or a moto server).

`provision(template, session_or_clients)` reads tables, queues, buses, rules and secrets from the resolved
template (never from a hand-kept list) and returns their local physical names, URLs and ARNs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3

from local.sandbox.engine import DEFAULT_API_KEY, DEFAULT_EMAIL
from local.specs import QueueSpec, SecretSpec
from local.template import FUNCTION_TYPE, Template

# What the local TrackingMore sandbox accepts (its defaults); the secret's keys get these values locally.
LOCAL_SECRET_VALUES: dict[str, str] = {
    "api_key": DEFAULT_API_KEY,
    "account_email": DEFAULT_EMAIL,
    "webhook_token": "local-webhook-token",
}

_SERVICES = ("dynamodb", "sqs", "events", "secretsmanager")


@dataclass(frozen=True)
class QueueNames:
    name: str
    url: str
    arn: str


@dataclass(frozen=True)
class SecretNames:
    name: str
    arn: str
    value: str


@dataclass
class ResourceNames:
    """Logical id → what was created locally."""

    tables: dict[str, str] = field(default_factory=dict)
    table_stream_arns: dict[str, str] = field(default_factory=dict)
    queues: dict[str, QueueNames] = field(default_factory=dict)
    buses: dict[str, str] = field(default_factory=dict)
    rules: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, SecretNames] = field(default_factory=dict)
    # Rule targets moto cannot deliver to (Lambda functions): (rule logical id, target) for the local glue.
    function_targets: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def queue_url(self, logical_id: str) -> str:
        return self.queues[logical_id].url

    def logical_ids(self) -> set[str]:
        return {*self.tables, *self.queues, *self.buses, *self.rules, *self.secrets}


@dataclass
class Clients:
    dynamodb: Any
    sqs: Any
    events: Any
    secretsmanager: Any


def make_clients(session_or_clients: Any, endpoint_url: str | None = None) -> Clients:
    """Accept a boto3 Session, a `Clients`, or a mapping/object with the four service clients."""
    if isinstance(session_or_clients, Clients):
        return session_or_clients
    if isinstance(session_or_clients, boto3.session.Session):
        kwargs = {"endpoint_url": endpoint_url} if endpoint_url else {}
        return Clients(*(session_or_clients.client(s, **kwargs) for s in _SERVICES))  # type: ignore[call-overload]
    if isinstance(session_or_clients, Mapping):
        return Clients(*(session_or_clients[s] for s in _SERVICES))
    return Clients(*(getattr(session_or_clients, s) for s in _SERVICES))


def local_secret_value(spec: SecretSpec, overrides: Mapping[str, Any] | None = None) -> str:
    """The local value of a secret: SecretString as written, or the generate template filled with local values.

    With `GenerateSecretString`, the JSON template's keys and `GenerateStringKey` take the values of
    `LOCAL_SECRET_VALUES` (what the sandbox accepts) when they have one, else a fixed `local-<key>`; keys in
    `overrides` win. A plain string secret without a template becomes `overrides["value"]` or `local-secret`.
    """
    overrides = dict(overrides or {})
    if spec.secret_string is not None and not overrides:
        return spec.secret_string
    if spec.generate is None and spec.secret_string is None:
        if set(overrides) <= {"value"}:
            return str(overrides.get("value", "local-secret"))
        return json.dumps(overrides)
    base: dict[str, Any] = {}
    source = spec.secret_string if spec.secret_string is not None else (spec.generate or {}).get("SecretStringTemplate")
    if source:
        try:
            parsed = json.loads(source)
        except ValueError:
            return str(overrides.get("value", source))
        if isinstance(parsed, dict):
            base = parsed
    generated_key = (spec.generate or {}).get("GenerateStringKey")
    if generated_key:
        base[generated_key] = None
    if spec.secret_string is None:
        for key in list(base):
            base[key] = LOCAL_SECRET_VALUES.get(key, f"local-{key}")
    base.update(overrides)
    return json.dumps(base)


def _create_table(dynamodb: Any, template: Template, logical_id: str) -> tuple[str, str | None]:
    spec = template.tables[logical_id]
    kwargs: dict[str, Any] = {
        "TableName": spec.name,
        "KeySchema": spec.key_schema,
        "AttributeDefinitions": spec.attribute_definitions,
        "BillingMode": spec.billing_mode,
    }
    provisioned = spec.billing_mode == "PROVISIONED"
    throughput = spec.provisioned_throughput or {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    if provisioned:
        kwargs["ProvisionedThroughput"] = throughput
    if spec.global_secondary_indexes:
        indexes = []
        for index in spec.global_secondary_indexes:
            item = {k: v for k, v in index.items() if k in ("IndexName", "KeySchema", "Projection")}
            if provisioned:
                item["ProvisionedThroughput"] = _ints(index.get("ProvisionedThroughput")) or throughput
            indexes.append(item)
        kwargs["GlobalSecondaryIndexes"] = indexes
    if spec.local_secondary_indexes:
        kwargs["LocalSecondaryIndexes"] = [
            {k: v for k, v in i.items() if k in ("IndexName", "KeySchema", "Projection")}
            for i in spec.local_secondary_indexes
        ]
    if spec.stream_view_type:
        kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": spec.stream_view_type}
    description = dynamodb.create_table(**kwargs)["TableDescription"]
    if spec.ttl_attribute:
        dynamodb.update_time_to_live(
            TableName=spec.name, TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute}
        )
    return spec.name, description.get("LatestStreamArn")


def _ints(value: Any) -> dict[str, int] | None:
    return {k: int(v) for k, v in value.items()} if isinstance(value, dict) else None


def _queue_order(queues: Mapping[str, QueueSpec]) -> list[str]:
    """Dead-letter queues before the queues that redrive into them."""
    by_arn = {q.arn: logical_id for logical_id, q in queues.items()}
    ordered: list[str] = []

    def visit(logical_id: str, seen: frozenset[str]) -> None:
        if logical_id in ordered or logical_id in seen:
            return
        dlq = queues[logical_id].dead_letter_arn
        if dlq and dlq in by_arn:
            visit(by_arn[dlq], seen | {logical_id})
        ordered.append(logical_id)

    for logical_id in queues:
        visit(logical_id, frozenset())
    return ordered


def provision(
    template: Template,
    session_or_clients: Any,
    *,
    endpoint_url: str | None = None,
    secret_values: Mapping[str, Mapping[str, Any]] | None = None,
    queue_attribute_overrides: Mapping[str, Mapping[str, str]] | None = None,
) -> ResourceNames:
    """Create every table, queue, bus, rule (+targets) and secret of `template`.

    `secret_values`: secret logical id → keys to override in its local value.
    `queue_attribute_overrides`: queue logical id → CreateQueue attributes to use instead of the template's.
    Rule targets that are Lambda functions are not given to moto (it cannot invoke local workers): they are
    returned in `function_targets` for the local stack's glue.
    """
    clients = make_clients(session_or_clients, endpoint_url)
    names = ResourceNames()

    for logical_id in template.tables:
        name, stream_arn = _create_table(clients.dynamodb, template, logical_id)
        names.tables[logical_id] = name
        if stream_arn:
            names.table_stream_arns[logical_id] = stream_arn

    queues = template.queues
    for logical_id in _queue_order(queues):
        spec = queues[logical_id]
        attributes = dict(spec.attributes)
        attributes.update((queue_attribute_overrides or {}).get(logical_id, {}))
        url = clients.sqs.create_queue(QueueName=spec.name, Attributes=attributes)["QueueUrl"]
        arn = clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        names.queues[logical_id] = QueueNames(spec.name, url, arn)

    for logical_id, bus in template.buses.items():
        if bus.name != "default":
            clients.events.create_event_bus(Name=bus.name)
        names.buses[logical_id] = bus.name

    function_arns = {template.arn_of(lid) for lid, _ in template.resources(FUNCTION_TYPE)}
    for logical_id, rule in template.rules.items():
        if rule.scheduler:  # EventBridge Scheduler: moto has no use for it, the stack's scheduler fires it
            names.function_targets += [(logical_id, target) for target in rule.targets]
            continue
        kwargs: dict[str, Any] = {"Name": rule.name, "EventBusName": rule.event_bus_name, "State": rule.state}
        if rule.event_pattern is not None:
            kwargs["EventPattern"] = json.dumps(rule.event_pattern)
        if rule.schedule_expression:
            kwargs["ScheduleExpression"] = rule.schedule_expression
        if rule.description:
            kwargs["Description"] = rule.description
        clients.events.put_rule(**kwargs)
        targets = []
        for target in rule.targets:
            if target.get("Arn") in function_arns or ":lambda:" in str(target.get("Arn")):
                names.function_targets.append((logical_id, target))
                continue
            targets.append(_target(target))
        if targets:
            clients.events.put_targets(Rule=rule.name, EventBusName=rule.event_bus_name, Targets=targets)
        names.rules[logical_id] = rule.name

    for logical_id, secret in template.secrets.items():
        value = local_secret_value(secret, (secret_values or {}).get(logical_id))
        kwargs = {"Name": secret.name, "SecretString": value}
        if secret.description:
            kwargs["Description"] = secret.description
        arn = clients.secretsmanager.create_secret(**kwargs)["ARN"]
        names.secrets[logical_id] = SecretNames(secret.name, arn, value)

    return names


_TARGET_KEYS = (
    "Id",
    "Arn",
    "RoleArn",
    "Input",
    "InputPath",
    "InputTransformer",
    "SqsParameters",
    "DeadLetterConfig",
    "RetryPolicy",
    "HttpParameters",
)


def _target(target: Mapping[str, Any]) -> dict[str, Any]:
    """A PutTargets entry. moto 5.2.5 ignores `Input` and `InputPath` but applies `InputTransformer`, so those
    two are handed to it as the equivalent transformer (`ListTargetsByRule` shows the transformer)."""
    out = {k: target[k] for k in _TARGET_KEYS if k in target}
    if "Input" in out and not isinstance(out["Input"], str):
        out["Input"] = json.dumps(out["Input"])
    if "Input" in out:
        out["InputTransformer"] = {"InputPathsMap": {}, "InputTemplate": out.pop("Input")}
    elif "InputPath" in out:
        out["InputTransformer"] = {"InputPathsMap": {"value": out.pop("InputPath")}, "InputTemplate": "<value>"}
    return out
