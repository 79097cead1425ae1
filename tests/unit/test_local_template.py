"""local.template reads SAM templates through the SAM transform, as CloudFormation does (with local names);
local.resources creates what they declare."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.intrinsics import TemplateError
from local.resources import LOCAL_SECRET_VALUES, provision
from local.template import DEFAULT_TEMPLATE, NO_LOCAL_BEHAVIOUR, load_template

pytestmark = pytest.mark.unit

TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: v1}
  Env: {Type: String, Default: dev, AllowedValues: [dev, prod]}
  Size: {Type: Number, Default: 256}
  Zones: {Type: CommaDelimitedList, Default: "a,b,c"}
Mappings:
  Sizes:
    dev: {Memory: 128}
    prod: {Memory: 1024}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  IsDev: !Not [!Condition IsProd]
  DevAndBig: !And [!Condition IsDev, !Equals [!Ref Size, 256]]
  Either: !Or [!Condition IsProd, !Condition DevAndBig]
Globals:
  Function:
    Runtime: python3.11
    Timeout: 10
    MemorySize: !FindInMap [Sizes, !Ref Env, Memory]
    Layers: [!Ref Layer]
    Environment:
      Variables:
        TABLE: !Ref Table
        MODE: !If [IsProd, production, development]
        SHARED: from-globals
  Api:
    Auth: {ApiKeyRequired: false}
Resources:
  Layer:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: layer/}
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}, {AttributeName: gsi, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      GlobalSecondaryIndexes:
        - IndexName: ByGsi
          KeySchema: [{AttributeName: gsi, KeyType: HASH}]
          Projection: {ProjectionType: KEYS_ONLY}
      StreamSpecification: {StreamViewType: NEW_AND_OLD_IMAGES}
      TimeToLiveSpecification: {AttributeName: ttl, Enabled: true}
  ProdOnlyTable:
    Type: AWS::DynamoDB::Table
    Condition: IsProd
    Properties:
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
  DeadLetters:
    Type: AWS::SQS::Queue
  Work:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 60
      RedrivePolicy: {deadLetterTargetArn: !GetAtt DeadLetters.Arn, maxReceiveCount: 5}
  Bus:
    Type: AWS::Events::EventBus
    Properties: {Name: !Sub "${AWS::StackName}-bus"}
  ToWork:
    Type: AWS::Events::Rule
    Properties:
      EventBusName: !Ref Bus
      EventPattern: {detail-type: [Order Shipped]}
      Targets:
        - {Id: work, Arn: !GetAtt Work.Arn, InputPath: $.detail}
        - {Id: fn, Arn: !GetAtt Fn.Arn}
  Secret:
    Type: AWS::SecretsManager::Secret
    Properties:
      Name: !Sub ${AWS::StackName}/secret
      GenerateSecretString:
        SecretStringTemplate: '{"api_key": "set-me", "account_email": "x@example.com"}'
        GenerateStringKey: webhook_token
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: !Ref Stage
      Auth: {ApiKeyRequired: true}
      Cors: {AllowOrigin: "'https://shop.example'", AllowHeaders: "'content-type,x-api-key'"}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/fn/
      Handler: app.lambda_handler
      Timeout: 5
      ReservedConcurrentExecutions: 1
      Layers: [!Ref OtherLayer]
      Policies:
        - DynamoDBCrudPolicy: {TableName: !Ref Table}
      Environment:
        Variables:
          SHARED: from-function
          QUEUE_URL: !Ref Work
          JOINED: !Join ["-", [!Select [1, !Ref Zones], !Ref "AWS::Region"]]
          SUBBED: !Sub ["${Name}/${Table.Arn}/${!Literal}", {Name: !GetAtt Work.QueueName}]
          SPLIT: !Select [0, !Split [",", "x,y"]]
          BIG: !If [DevAndBig, "yes", !Ref "AWS::NoValue"]
      Events:
        Get:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: "/items/{id}", Method: get}
        Hook:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /hook, Method: post, Auth: {ApiKeyRequired: false}}
        Implicit:
          Type: Api
          Properties: {Path: /implicit, Method: any}
        Queue:
          Type: SQS
          Properties: {Queue: !GetAtt Work.Arn, BatchSize: 5, ScalingConfig: {MaximumConcurrency: 2}}
        Nightly:
          Type: Schedule
          Properties: {Schedule: rate(1 day), Input: '{"job": "nightly"}'}
      EventInvokeConfig:
        MaximumRetryAttempts: 0
  Logs:
    Type: AWS::Logs::LogGroup
    Properties: {LogGroupName: !Sub "/aws/lambda/${Fn}", RetentionInDays: 7}
  OtherLayer:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: other/}
Outputs:
  TableName: {Value: !Ref Table}
  KeyId: {Value: !Ref ApiApiKey}
"""


@pytest.fixture
def template_path(tmp_path: Path) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE)
    return path


def test_short_form_tags_and_intrinsics_resolve_to_local_values(template_path: Path) -> None:
    # Given a template with every common intrinsic
    t = load_template(template_path)

    # When reading a function's environment
    env = t.functions["Fn"].environment

    # Then Refs are local physical names, GetAtts local ARNs, and Sub/Join/Select/Split/If evaluate
    assert env["TABLE"] == "shiptrack-local-Table"
    assert env["QUEUE_URL"] == "https://sqs.us-east-1.amazonaws.com/123456789012/shiptrack-local-Work"
    assert env["JOINED"] == "b-us-east-1"
    assert env["SUBBED"] == (
        "shiptrack-local-Work/arn:aws:dynamodb:us-east-1:123456789012:table/shiptrack-local-Table/${Literal}"
    )
    assert env["SPLIT"] == "x"
    assert env["MODE"] == "development"
    assert env["BIG"] == "yes"
    assert t.buses["Bus"].name == "shiptrack-local-bus"
    assert t.secrets["Secret"].name == "shiptrack-local/secret"
    assert t.queues["Work"].redrive_policy == {
        "deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:shiptrack-local-DeadLetters",
        "maxReceiveCount": 5,
    }


def test_queue_urls_follow_the_moto_server_endpoint(template_path: Path) -> None:
    t = load_template(template_path, aws_endpoint="http://127.0.0.1:5000")
    assert t.functions["Fn"].environment["QUEUE_URL"] == "http://127.0.0.1:5000/123456789012/shiptrack-local-Work"


def test_conditions_follow_parameter_overrides(template_path: Path) -> None:
    dev = load_template(template_path)
    prod = load_template(template_path, {"Env": "prod"})

    assert dev.conditions == {"IsProd": False, "IsDev": True, "DevAndBig": True, "Either": True}
    assert prod.conditions["IsProd"] is True
    assert "ProdOnlyTable" not in dev.tables
    assert "ProdOnlyTable" in prod.tables
    assert prod.functions["Fn"].environment["MODE"] == "production"
    assert "BIG" not in prod.functions["Fn"].environment  # AWS::NoValue removes the key
    assert prod.functions["Fn"].memory_size == 1024


def test_parameter_overrides_are_validated(template_path: Path) -> None:
    with pytest.raises(TemplateError, match="not one of"):
        load_template(template_path, {"Env": "staging"})
    with pytest.raises(TemplateError, match="undeclared"):
        load_template(template_path, {"Nope": "x"})


def test_the_sam_transform_merges_globals_and_expands_events_and_policies(template_path: Path) -> None:
    t = load_template(template_path)
    fn = t.functions["Fn"]

    assert fn.timeout == 5  # scalar: the function wins
    assert fn.memory_size == 128  # from Globals (FindInMap)
    assert fn.runtime == "python3.11"
    assert fn.environment["SHARED"] == "from-function"  # maps merge, function wins
    assert fn.environment["TABLE"] == "shiptrack-local-Table"  # and keep the global keys
    assert [p.name for p in fn.layer_paths] == ["layer", "other"]  # lists concatenate, globals first
    assert fn.reserved_concurrency == 1
    assert fn.async_retries == 0  # EventInvokeConfig
    assert fn.code_uri == template_path.parent / "functions" / "fn"
    # Only plain CloudFormation is left: SAM resources became Lambda, API Gateway, IAM and event resources.
    assert not [r["Type"] for r in t.raw["Resources"].values() if r["Type"].startswith("AWS::Serverless::")]
    statements = t.resolve(t.raw["Resources"]["FnRole"]["Properties"]["Policies"])[0]["PolicyDocument"]["Statement"]
    assert "dynamodb:PutItem" in statements[0]["Action"]  # the DynamoDBCrudPolicy template, expanded
    [mapping] = t.event_source_mappings
    assert (mapping.function_id, mapping.source_arn) == ("Fn", t.queues["Work"].arn)
    assert mapping.properties["BatchSize"] == 5
    assert mapping.properties["ScalingConfig"] == {"MaximumConcurrency": 2}


def test_schedules_become_rules_targeting_the_function_with_a_permission(template_path: Path) -> None:
    t = load_template(template_path)

    [rule] = [r for r in t.rules.values() if r.schedule_expression]

    assert rule.logical_id == "FnNightly"  # {FunctionId}{EventName}: what /_local/schedules/Fn/Nightly finds
    assert rule.schedule_expression == "rate(1 day)"
    assert [(t.function_for_arn(x["Arn"]), x["Input"]) for x in rule.targets] == [("Fn", '{"job": "nightly"}')]
    assert t.invoke_permitted("Fn", "events.amazonaws.com", rule.arn)
    assert not t.invoke_permitted("Fn", "events.amazonaws.com", t.rules["ToWork"].arn)  # no permission of its own


def test_routes_carry_api_key_requirement_and_overrides(template_path: Path) -> None:
    t = load_template(template_path)
    routes = {(r.method, r.path): r for r in t.routes}

    assert routes[("GET", "/items/{id}")].api_key_required is True  # the Api's Auth
    assert routes[("POST", "/hook")].api_key_required is False  # per-event override
    assert routes[("ANY", "/implicit")].api_id == "ServerlessRestApi"
    assert routes[("ANY", "/implicit")].api_key_required is False  # Globals.Api
    assert routes[("GET", "/items/{id}")].function_id == "Fn"  # from the integration's URI
    assert t.apis["Api"].stage_name == "v1"
    assert t.apis["ServerlessRestApi"].stage_name == "Prod"
    source = "arn:aws:execute-api:us-east-1:123456789012:Api/v1/GET/items/7"
    assert t.invoke_permitted("Fn", "apigateway.amazonaws.com", source)  # SAM's permission for the event
    assert not t.invoke_permitted("Fn", "apigateway.amazonaws.com", source.replace("GET", "DELETE"))


def test_cors_preflights_are_mock_integrations(template_path: Path) -> None:
    routes = {(r.method, r.path): r for r in load_template(template_path).routes}

    preflight = routes[("OPTIONS", "/items/{id}")]

    assert preflight.function_id is None
    assert preflight.api_key_required is True  # as deployed: SAM's AddApiKeyRequiredToCorsPreflight defaults to true
    assert preflight.integration["type"] == "mock"
    headers = preflight.integration["responses"]["default"]["responseParameters"]
    assert headers["method.response.header.Access-Control-Allow-Origin"] == "'https://shop.example'"


def test_resource_types_with_no_local_behaviour_are_known_and_others_reported(template_path: Path) -> None:
    t = load_template(template_path)
    real = load_template(DEFAULT_TEMPLATE)

    assert t.resource_type("Logs") in NO_LOCAL_BEHAVIOUR
    assert t.unsupported() == {}
    assert real.unsupported() == {}  # every resource of the real template is interpreted or known
    t.raw["Resources"]["Odd"] = {"Type": "AWS::Odd::Thing", "Properties": {}}
    assert t.unsupported() == {"Odd": "AWS::Odd::Thing"}


def test_table_spec_and_outputs(template_path: Path) -> None:
    t = load_template(template_path)
    table = t.tables["Table"]

    assert table.hash_key == "pk"
    assert table.index_names == ["ByGsi"]
    assert table.stream_view_type == "NEW_AND_OLD_IMAGES"
    assert table.ttl_attribute == "ttl"
    assert t.logical_id_for_arn(str(table.stream_arn)) == "Table"
    assert t.outputs == {"TableName": "shiptrack-local-Table"}  # ApiApiKey has no local value: left out


def _describe_everything(session: boto3.session.Session) -> dict[str, Any]:
    ddb = session.client("dynamodb")
    sqs = session.client("sqs")
    events = session.client("events")
    secrets = session.client("secretsmanager")
    buses = [b["Name"] for b in events.list_event_buses()["EventBuses"] if b["Name"] != "default"]
    return {
        "tables": sorted(ddb.list_tables()["TableNames"]),
        "queues": sorted(u.rsplit("/", 1)[1] for u in sqs.list_queues().get("QueueUrls", [])),
        "buses": sorted(buses),
        "rules": sorted(r["Name"] for bus in [*buses, "default"] for r in events.list_rules(EventBusName=bus)["Rules"]),
        "secrets": sorted(s["Name"] for s in secrets.list_secrets()["SecretList"]),
    }


def test_provision_creates_exactly_the_templates_resources(template_path: Path) -> None:
    t = load_template(template_path)
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")

        names = provision(t, session)

        assert _describe_everything(session) == {
            "tables": ["shiptrack-local-Table"],
            "queues": ["shiptrack-local-DeadLetters", "shiptrack-local-Work"],
            "buses": ["shiptrack-local-bus"],
            "rules": ["shiptrack-local-FnNightly", "shiptrack-local-ToWork"],  # the schedule is a rule too
            "secrets": ["shiptrack-local/secret"],
        }
        ddb = session.client("dynamodb")
        table = ddb.describe_table(TableName="shiptrack-local-Table")["Table"]
        assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["ByGsi"]
        assert table["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
        assert names.table_stream_arns["Table"] == table["LatestStreamArn"]
        ttl = ddb.describe_time_to_live(TableName="shiptrack-local-Table")["TimeToLiveDescription"]
        assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}
        sqs = session.client("sqs")
        attrs = sqs.get_queue_attributes(QueueUrl=names.queue_url("Work"), AttributeNames=["All"])["Attributes"]
        assert json.loads(attrs["RedrivePolicy"])["maxReceiveCount"] == 5
        assert attrs["VisibilityTimeout"] == "60"
        targets = session.client("events").list_targets_by_rule(
            Rule="shiptrack-local-ToWork", EventBusName="shiptrack-local-bus"
        )
        assert [x["Id"] for x in targets["Targets"]] == ["work"]  # the function target is left to the glue
        assert sorted(rule for rule, _ in names.function_targets) == ["FnNightly", "ToWork"]
        secret = json.loads(
            session.client("secretsmanager").get_secret_value(SecretId="shiptrack-local/secret")["SecretString"]
        )
        assert secret == {
            "api_key": LOCAL_SECRET_VALUES["api_key"],
            "account_email": LOCAL_SECRET_VALUES["account_email"],
            "webhook_token": LOCAL_SECRET_VALUES["webhook_token"],
        }


def test_provisioned_rule_delivers_to_its_queue(template_path: Path) -> None:
    t = load_template(template_path)
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        names = provision(t, session)

        session.client("events").put_events(
            Entries=[
                {
                    "EventBusName": "shiptrack-local-bus",
                    "Source": "shop",
                    "DetailType": "Order Shipped",
                    "Detail": '{"order_id": "o1"}',
                }
            ]
        )

        messages = session.client("sqs").receive_message(QueueUrl=names.queue_url("Work"))["Messages"]
        assert json.loads(messages[0]["Body"]) == {"order_id": "o1"}  # InputPath $.detail


def test_events_delivered_to_queues_carry_the_full_envelope(aws: Any) -> None:
    # moto's own envelope has no "account"; local.moto_patches adds it, as EventBridge sends it.
    url = aws.sqs.create_queue(QueueName="envelope")["QueueUrl"]
    arn = aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws.events.put_rule(Name="envelope", EventBusName=aws.event_bus_name, EventPattern='{"source": ["shop"]}')
    aws.events.put_targets(Rule="envelope", EventBusName=aws.event_bus_name, Targets=[{"Id": "q", "Arn": arn}])

    aws.events.put_events(
        Entries=[{"EventBusName": aws.event_bus_name, "Source": "shop", "DetailType": "Order Shipped", "Detail": "{}"}]
    )

    event = json.loads(aws.sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"])
    assert set(event) == {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
    assert event["account"] == "123456789012"
    assert event["time"].endswith("Z")


def test_secret_values_are_overridable(template_path: Path) -> None:
    t = load_template(template_path)
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        names = provision(t, session, secret_values={"Secret": {"api_key": "other"}})
        assert json.loads(names.secrets["Secret"].value)["api_key"] == "other"


def test_the_real_template_provisions_every_resource_it_declares() -> None:
    t = load_template(DEFAULT_TEMPLATE)
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")

        names = provision(t, session)

        assert names.logical_ids() == {*t.tables, *t.queues, *t.buses, *t.rules, *t.secrets}
        found = _describe_everything(session)
        assert found["tables"] == sorted(spec.name for spec in t.tables.values())
        assert found["queues"] == sorted(spec.name for spec in t.queues.values())
        assert found["secrets"] == sorted(spec.name for spec in t.secrets.values())
        assert found["rules"] == sorted(spec.name for spec in t.rules.values())


def test_aws_fixture_sets_function_environment(aws: Any) -> None:
    import os

    assert os.environ["TRACKINGS_TABLE"] == aws.names.tables["TrackingsTable"] == "shiptrack-local-TrackingsTable"
    assert os.environ["EVENT_BUS_NAME"] == aws.event_bus_name
    assert os.environ["TRACKINGMORE_SECRET_ID"] == aws.secret_id
    secret = json.loads(
        aws.secretsmanager.get_secret_value(SecretId=os.environ["TRACKINGMORE_SECRET_ID"])["SecretString"]
    )
    assert secret == LOCAL_SECRET_VALUES


def test_aws_fixture_reads_the_trackings_stream(aws: Any) -> None:
    reader = aws.stream_reader()
    aws.table().put_item(Item={"pk": "T#1", "status": "pending"})
    aws.table().update_item(
        Key={"pk": "T#1"},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": "transit"},
    )

    records = reader.read()

    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY"]
    assert records[1]["dynamodb"]["OldImage"]["status"] == {"S": "pending"}
    assert records[1]["dynamodb"]["NewImage"]["status"] == {"S": "transit"}
    assert reader.read() == []


def test_aws_server_fixture_provisions_into_the_moto_server(aws_server: Any) -> None:
    import os

    assert os.environ["AWS_ENDPOINT_URL"] == aws_server.endpoint_url
    client = boto3.client("dynamodb", region_name="us-east-1")  # follows AWS_ENDPOINT_URL
    assert "shiptrack-local-TrackingsTable" in client.list_tables()["TableNames"]
    aws_server.table().put_item(Item={"pk": "T#1"})
    assert [r["eventName"] for r in aws_server.stream_records()] == ["INSERT"]


def test_stack_config_reads_ports_and_variables_from_the_environment() -> None:
    from local.stack import StackConfig

    config = StackConfig.from_env(
        {
            "LOCAL_AWS_PORT": "5500",
            "LOCAL_SANDBOX_PORT": "4500",
            "LOCAL_API_PORT": "3500",
            "LOCAL_LAMBDA_PORT": "3501",
            "LOCAL_API_KEY": "k",
            "LOCAL_SCHEDULE_SECONDS": "0",
            "LOCAL_SANDBOX": "0",
            "LOCAL_PARAMETER_OVERRIDES": "LogLevel=DEBUG Stage=v2",
        },
        api_port=3600,
    )

    assert (config.aws_port, config.sandbox_port, config.api_port, config.lambda_port) == (5500, 4500, 3600, 3501)
    assert config.api_key == "k"
    assert config.schedule_seconds == 0
    assert config.sandbox is False
    assert config.parameter_overrides == {"LogLevel": "DEBUG", "Stage": "v2"}
    defaults = StackConfig.from_env({})
    assert (defaults.aws_port, defaults.sandbox_port, defaults.api_port, defaults.lambda_port) == (
        5000,
        4010,
        3000,
        3001,
    )
    assert defaults.api_key == "local-dev-key"
    assert defaults.schedule_seconds == 60


def test_the_stack_picks_up_every_function_of_the_real_template() -> None:
    from local.stack import LocalStack

    stack = LocalStack(DEFAULT_TEMPLATE, sandbox=False)
    stack._create_pools()

    assert set(stack.pools) | set(stack.skipped_functions) == set(stack.template.functions)
    for logical_id, pool in stack.pools.items():
        spec = stack.template.functions[logical_id]
        assert pool.env["AWS_LAMBDA_FUNCTION_NAME"] == spec.name
        assert pool.env["AWS_ENDPOINT_URL"] == stack.aws_endpoint
        assert {k: pool.env[k] for k in spec.environment if k != "TRACKINGMORE_BASE_URL"} == {
            k: v for k, v in spec.environment.items() if k != "TRACKINGMORE_BASE_URL"
        }
        assert pool.max_concurrency == (1 if spec.reserved_concurrency == 1 else 4)


def test_every_alarm_notifies_the_alarm_topic() -> None:
    # docs/operations.md: alarms notify AlarmTopicArn when one is given
    resources = load_template(DEFAULT_TEMPLATE).raw["Resources"]
    alarms = {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}

    assert alarms
    assert [name for name, props in alarms.items() if "AlarmActions" not in props] == []
