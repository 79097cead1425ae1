"""template.yaml's security controls (docs/security.md): least privilege, secrets per purpose, logs, alarms, limits.

What each function's *code* reads is checked against these grants by tests/integration/test_secret_access.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.template_yaml import template

pytestmark = pytest.mark.unit

SERVERLESS_FUNCTION = "AWS::Serverless::Function"

#: The secrets each function may read, and so the only ones its policy grants.
SECRETS_BY_FUNCTION: dict[str, set[str]] = {
    "TrackingsFunction": {"TrackingMoreSecret", "CursorKeysSecret"},
    "RealtimeFunction": {"TrackingMoreSecret"},
    "AircargoFunction": {"TrackingMoreSecret"},
    "RemoteChecksFunction": {"TrackingMoreSecret"},
    "WebhookFunction": {"TrackingMoreSecret", "WebhookSecret"},
    "OrderEventsFunction": {"TrackingMoreSecret"},
    "ImportsFunction": {"CursorKeysSecret"},
    "ImportDispatchFunction": set(),
    "ImportWorkerFunction": {"TrackingMoreSecret"},
    "RefreshFunction": {"TrackingMoreSecret"},
    "ArchiveFunction": {"TrackingMoreSecret"},
    "WebhookEndpointsFunction": {"CursorKeysSecret"},
    "DocsFunction": set(),
    "PublisherFunction": set(),
    "WebhookFanoutFunction": set(),
    "WebhookDeliveryFunction": set(),
    "WebhookEndpointEventsFunction": set(),
}


def resources() -> dict[str, Any]:
    found: dict[str, Any] = template()["Resources"]
    return found


def functions() -> dict[str, Any]:
    return {name: r for name, r in resources().items() if r["Type"] == SERVERLESS_FUNCTION}


def statements(function: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for policy in function["Properties"].get("Policies", []):
        yield from policy.get("Statement", [])


def refers_to(value: Any, logical_id: str) -> bool:
    """Whether a Resource value (``!GetAtt X.Arn``, ``!Sub ${X.Arn}/…``, ``!Ref X`` or a list of them) names ``X``."""
    if isinstance(value, list):
        return any(refers_to(v, logical_id) for v in value)
    if isinstance(value, dict):
        return any(refers_to(v, logical_id) for v in value.values())
    return isinstance(value, str) and (
        value == logical_id or value.startswith(f"{logical_id}.") or f"${{{logical_id}." in value
    )


def granted_secrets(function: dict[str, Any]) -> set[str]:
    granted: set[str] = set()
    for policy in function["Properties"].get("Policies", []):
        if "AWSSecretsManagerGetSecretValuePolicy" in policy:
            granted.add(policy["AWSSecretsManagerGetSecretValuePolicy"]["SecretArn"]["Ref"])
        for statement in policy.get("Statement", []):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert not any(a.startswith("secretsmanager:") for a in actions), "secrets only through the policy template"
    return granted


def test_the_table_names_every_function() -> None:
    assert set(SECRETS_BY_FUNCTION) == set(functions())


@pytest.mark.parametrize("name", sorted(SECRETS_BY_FUNCTION))
def test_each_function_may_read_only_the_secrets_it_uses(name: str) -> None:
    assert granted_secrets(functions()[name]) == SECRETS_BY_FUNCTION[name]


def test_the_webhook_secret_holds_a_generated_token_and_no_api_key() -> None:
    generate = resources()["WebhookSecret"]["Properties"]["GenerateSecretString"]

    assert generate["GenerateStringKey"] == "webhook_token"
    assert generate["PasswordLength"] >= 32
    assert "api_key" not in generate["SecretStringTemplate"]
    cursor = resources()["CursorKeysSecret"]["Properties"]["GenerateSecretString"]
    assert (cursor["GenerateStringKey"], cursor["PasswordLength"] >= 32) == ("current", True)


def test_every_cache_table_statement_is_held_to_its_key_prefixes() -> None:
    checked = 0
    for name, function in functions().items():
        for statement in statements(function):
            if not refers_to(statement["Resource"], "CacheTable"):
                continue
            checked += 1
            condition = statement.get("Condition", {})
            prefixes = next(
                (c["dynamodb:LeadingKeys"] for c in condition.values() if "dynamodb:LeadingKeys" in c), None
            )
            assert prefixes, f"{name} {statement.get('Sid')}: CacheTable without dynamodb:LeadingKeys"
            assert all(p and p != "*" for p in prefixes), f"{name}: a LeadingKeys of everything"
    assert checked >= 7


def test_the_webhook_function_reaches_only_its_own_cache_items() -> None:
    cache = [s for s in statements(functions()["WebhookFunction"]) if refers_to(s["Resource"], "CacheTable")]

    assert [s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] for s in cache] == [["PUSH#*", "FETCH#*"]]


def test_every_function_logs_to_a_group_kept_for_the_retention_parameter() -> None:
    parameter = template()["Parameters"]["LogRetentionDays"]
    assert parameter["Default"] == 30
    for name, function in functions().items():
        group_id = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        group = resources()[group_id]
        assert group["Type"] == "AWS::Logs::LogGroup", name
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
    access = resources()["ApiAccessLogGroup"]["Properties"]
    assert access["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_the_access_log_is_json_with_the_resource_path_never_the_raw_path() -> None:
    setting = resources()["Api"]["Properties"]["AccessLogSetting"]
    fields = json.loads(setting["Format"])

    assert setting["DestinationArn"] == {"GetAtt": "ApiAccessLogGroup.Arn"}
    assert fields["resourcePath"] == "$context.resourcePath"
    assert fields["status"] == "$context.status"
    assert fields["requestId"] == "$context.requestId"
    # the raw path holds the webhook token; the API key itself is never logged (its id is)
    assert "$context.path" not in setting["Format"]
    assert '$context.identity.apiKey"' not in setting["Format"]
    assert resources()["Api"]["DependsOn"] == "ApiGatewayAccount"


def test_rejected_pushes_raise_an_alarm() -> None:
    alarm = resources()["WebhookRejectedAlarm"]["Properties"]

    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("Shiptrack", "WebhookRejected", "Sum")
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "shiptrack"}]
    assert alarm["Threshold"] == {"Ref": "WebhookRejectedAlarmThreshold"}


def test_the_webhook_route_has_its_own_throttle_and_function_concurrency() -> None:
    settings = resources()["Api"]["Properties"]["MethodSettings"]
    webhook = next(s for s in settings if s["ResourcePath"] != "/*")

    assert (webhook["ResourcePath"], webhook["HttpMethod"]) == ("/~1webhooks~1trackingmore~1{token}", "POST")
    assert webhook["ThrottlingRateLimit"] == {"Ref": "WebhookThrottleRateLimit"}
    assert webhook["ThrottlingBurstLimit"] == {"Ref": "WebhookThrottleBurstLimit"}
    function = functions()["WebhookFunction"]["Properties"]
    assert function["ReservedConcurrentExecutions"] == {"Ref": "WebhookReservedConcurrency"}
    event = function["Events"]["TrackingMorePush"]["Properties"]
    assert event["Path"] == "/webhooks/trackingmore/{token}"


@pytest.mark.parametrize("table", ["TrackingsTable", "WebhookEndpointsTable"])
def test_the_tables_that_cannot_be_rebuilt_survive_a_stack_deletion_and_keep_their_history(table: str) -> None:
    resource = resources()[table]

    assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert resource["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_trusting_push_bodies_is_off_by_default() -> None:
    parameter = template()["Parameters"]["WebhookTrustPushBody"]

    assert parameter["Default"] == "false"
    assert "UNSAFE" in parameter["Description"]
