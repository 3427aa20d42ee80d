"""infra/stacks/loyalty.yaml: a consumer deployed from its own stack beside the orders stack.
Held to the rules of the orders stack's consumers (DLQ, encryption, mapping, least privilege)
and to what the tools rely on: names `<orders stack>-loyalty`, the four outputs, the parameters
that infra/scripts/local-deploy fills from the orders stack."""
import re
import sys

import pytest

from conftest import EVENTS_LIB, REPO, as_list, load_yaml, ref_target, resources, transform

sys.path.insert(0, str(REPO / "infra" / "scripts"))
import infra_units as iu  # noqa: E402

STACK = REPO / "infra" / "stacks" / "loyalty.yaml"
ORDERS_OUTPUTS = {"OrderEventsTopicArn", "IdempotencyTableName", "AlarmTopicArn", "DeliveryDlqArn"}


@pytest.fixture(scope="module")
def sam():
    return load_yaml(STACK.read_text())


@pytest.fixture(scope="module")
def cfn(sam):
    return transform(sam)


def sub_text(value):
    return value["Fn::Sub"] if isinstance(value, dict) and "Fn::Sub" in value else value


def test_queues_are_named_after_the_orders_stack(sam):
    props = {k: r["Properties"] for k, r in resources(sam, "AWS::SQS::Queue").items()}
    assert sub_text(props["LoyaltyQueue"]["QueueName"]) == "${OrdersStackName}-loyalty"
    assert sub_text(props["LoyaltyDlq"]["QueueName"]) == "${OrdersStackName}-loyalty-dlq"
    fn = sam["Resources"]["LoyaltyFunction"]["Properties"]
    assert sub_text(fn["FunctionName"]) == "${OrdersStackName}-loyalty"
    group = sam["Resources"]["LoyaltyLogGroup"]["Properties"]
    assert sub_text(group["LogGroupName"]) == "/aws/lambda/${OrdersStackName}-loyalty"
    assert sam["Parameters"]["OrdersStackName"]["Default"] == "orderflow"


def test_dlq_and_visibility(sam):
    queue = sam["Resources"]["LoyaltyQueue"]["Properties"]
    dlq = sam["Resources"]["LoyaltyDlq"]["Properties"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 5
    assert ref_target(queue["RedrivePolicy"]["deadLetterTargetArn"]) == "LoyaltyDlq"
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert dlq["RedriveAllowPolicy"]["redrivePermission"] == "byQueue"
    [source] = dlq["RedriveAllowPolicy"]["sourceQueueArns"]
    assert sub_text(source).endswith(":${OrdersStackName}-loyalty")
    timeout = sam["Resources"]["LoyaltyFunction"]["Properties"]["Timeout"]
    assert queue["VisibilityTimeout"] >= 6 * timeout


def test_subscription_is_raw_and_filtered_on_order_confirmed_v1(sam):
    consts = iu.rust_consts(EVENTS_LIB)
    sub = sam["Resources"]["LoyaltySubscription"]
    props = sub["Properties"]
    assert props["RawMessageDelivery"] is True
    assert props["FilterPolicyScope"] == "MessageAttributes"
    assert props["FilterPolicy"] == {
        consts["EVENT_TYPE_ATTRIBUTE"]: [consts["ORDER_CONFIRMED_EVENT_TYPE"]],
        consts["EVENT_VERSION_ATTRIBUTE"]: [consts["ORDER_CONFIRMED_V1_VERSION"]],
    }
    assert ref_target(props["TopicArn"]) == "OrderEventsTopicArn"
    # An event SNS cannot deliver here waits in the orders stack's delivery DLQ, as for its own queues.
    assert ref_target(props["RedrivePolicy"]["deadLetterTargetArn"]) == "DeliveryDlqArn"
    assert sub["DependsOn"] == "LoyaltyQueuePolicy"
    [statement] = sam["Resources"]["LoyaltyQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert ref_target(statement["Condition"]["ArnEquals"]["aws:SourceArn"]) == "OrderEventsTopicArn"


def test_everything_is_encrypted_with_the_orders_key(sam):
    r = sam["Resources"]
    for queue in ("LoyaltyQueue", "LoyaltyDlq"):
        assert ref_target(r[queue]["Properties"]["KmsMasterKeyId"]) == "AppKeyArn", queue
    sse = r["LoyaltyTable"]["Properties"]["SSESpecification"]
    assert sse["SSEEnabled"] is True and ref_target(sse["KMSMasterKeyId"]) == "AppKeyArn"
    assert ref_target(r["LoyaltyLogGroup"]["Properties"]["KmsKeyId"]) == "AppKeyArn"
    assert ref_target(r["LoyaltyFunction"]["Properties"]["KmsKeyArn"]) == "AppKeyArn"


def test_the_table_is_keyed_by_customer(sam):
    props = sam["Resources"]["LoyaltyTable"]["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "customerId", "KeyType": "HASH"}]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_the_table_outlives_the_stack_and_is_protected_on_aws(sam):
    """As the orders stack's tables: a teardown or a replacement keeps the points; only a local
    stack (Environment=localstack, what local-deploy passes) leaves the table unprotected."""
    table = sam["Resources"]["LoyaltyTable"]
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert table["Properties"]["DeletionProtectionEnabled"] == {"Fn::If": ["IsLocal", False, True]}
    assert sam["Conditions"]["IsLocal"] == {"Fn::Equals": [{"Ref": "Environment"}, "localstack"]}
    environment = sam["Parameters"]["Environment"]
    assert (environment["Default"], environment["AllowedValues"]) == ("aws", ["aws", "localstack"])


def test_the_function_is_the_loyalty_binary_fed_by_its_queue(sam, cfn):
    fn = sam["Resources"]["LoyaltyFunction"]
    assert fn["Metadata"] == {"BuildMethod": "rust-cargolambda", "BuildProperties": {"Binary": "loyalty"}}
    assert (REPO / "lambdas" / "loyalty" / "src" / "main.rs").is_file()
    lib = (REPO / "lambdas" / "loyalty" / "src" / "lib.rs").read_text()
    consumer = re.search(r'pub const CONSUMER: &str = "([^"]+)";', lib).group(1)
    env = fn["Properties"]["Environment"]["Variables"]
    assert env["SERVICE_NAME"] == consumer == "loyalty"
    assert ref_target(env["IDEMPOTENCY_TABLE_NAME"]) == "IdempotencyTableName"
    assert ref_target(env["LOYALTY_TABLE_NAME"]) == "LoyaltyTable"
    assert ref_target(env["DEAD_LETTER_QUEUE_URL"]) == "LoyaltyDlq"  # where the batch core parks
    props = fn["Properties"]
    assert props["Runtime"] == "provided.al2023" and props["Handler"] == "bootstrap"
    assert props["CodeUri"] == "../.."  # the workspace root, as infra/template.yaml's `..`
    [mapping] = resources(cfn, "AWS::Lambda::EventSourceMapping").values()
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert ref_target(mapping["Properties"]["EventSourceArn"]) == "LoyaltyQueue"


def test_the_role_is_least_privilege(sam):
    [policy] = sam["Resources"]["LoyaltyRole"]["Properties"]["Policies"]
    statements = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    for sid, statement in statements.items():
        actions = as_list(statement["Action"])
        assert all("*" not in a for a in actions), sid
        if statement["Resource"] == "*":
            assert sid == "XRayHasNoResourceLevelPermissions", sid
    assert set(as_list(statements["Points"]["Action"])) == {"dynamodb:GetItem", "dynamodb:UpdateItem"}
    assert ref_target(statements["Points"]["Resource"]) == "LoyaltyTable"
    idempotency = statements["Idempotency"]
    assert sub_text(idempotency["Resource"]).endswith(":table/${IdempotencyTableName}")
    assert idempotency["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["loyalty#*"]}}
    assert ref_target(statements["ConsumeQueue"]["Resource"]) == "LoyaltyQueue"
    assert "sqs:SendMessage" not in as_list(statements["ConsumeQueue"]["Action"])
    # Sends only into its own DLQ (parking), with a data key of the key encrypting it.
    sends = [s for s in statements.values() if any(a.startswith("sqs:Send") for a in as_list(s["Action"]))]
    assert sends == [statements["ParkInDeadLetterQueue"]]
    assert as_list(sends[0]["Action"]) == ["sqs:SendMessage"]
    assert ref_target(sends[0]["Resource"]) == "LoyaltyDlq"
    assert set(as_list(statements["EncryptedDeadLetterQueue"]["Action"])) == {"kms:GenerateDataKey", "kms:Decrypt"}
    assert ref_target(statements["EncryptedDeadLetterQueue"]["Resource"]) == "AppKeyArn"


def test_the_side_stack_publishes_nothing(sam):
    """The orders stack's topic policy admits only its own producers: a side stack has no role
    that publishes, nor a policy of its own on that topic."""
    assert not resources(sam, "AWS::SNS::TopicPolicy")
    for role in resources(sam, "AWS::IAM::Role").values():
        for pol in role["Properties"]["Policies"]:
            for st in pol["PolicyDocument"]["Statement"]:
                assert not [a for a in as_list(st["Action"]) if a.startswith("sns:")], st["Sid"]


def test_the_dlq_alarm_notifies_the_orders_alarm_topic(sam):
    alarm = sam["Resources"]["LoyaltyDlqNotEmptyAlarm"]["Properties"]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible" and alarm["Threshold"] == 0
    assert [ref_target(a) for a in alarm["AlarmActions"]] == ["AlarmTopicArn"]


def test_outputs_and_parameters_the_tools_rely_on(sam):
    assert set(sam["Outputs"]) == {"LoyaltyQueueUrl", "LoyaltyDlqUrl", "LoyaltyTableName", "LoyaltyFunctionName"}
    orders = load_yaml(iu.TEMPLATE.read_text())
    # Every parameter without a default is something the orders stack publishes (or its key).
    required = {k for k, v in sam["Parameters"].items() if "Default" not in v}
    assert required == ORDERS_OUTPUTS | {"AppKeyArn"}
    assert ORDERS_OUTPUTS <= set(orders["Outputs"])
    assert orders["Resources"]["AppKeyAlias"]["Properties"]["AliasName"] == {"Fn::Sub": "alias/${AWS::StackName}"}


class FakeCloudFormation:
    def __init__(self, outputs):
        self.outputs = outputs

    def describe_stacks(self, StackName):
        return {"Stacks": [{"Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in self.outputs.items()]}]}


class FakeKms:
    def describe_key(self, KeyId):
        assert KeyId == "alias/orderflow-local"
        return {"KeyMetadata": {"Arn": "arn:aws:kms:us-east-1:000000000000:key/k-1"}}


def test_local_deploy_fills_the_side_stack_from_the_orders_stack(sam, monkeypatch):
    import local_deploy

    monkeypatch.delenv("STACK_NAME", raising=False)
    cfg = local_deploy.settings(STACK, "orderflow-local-loyalty")
    outputs = {"OrderEventsTopicArn": "arn:aws:sns:us-east-1:000000000000:t", "IdempotencyTableName": "idem",
               "AlarmTopicArn": "arn:aws:sns:us-east-1:000000000000:a", "OrdersTableName": "orders",
               "DeliveryDlqArn": "arn:aws:sqs:us-east-1:000000000000:d"}
    params = local_deploy.side_stack_parameters(cfg, sam["Parameters"], FakeCloudFormation(outputs), FakeKms())
    assert params == {
        "OrdersStackName": "orderflow-local",
        "OrderEventsTopicArn": outputs["OrderEventsTopicArn"],
        "IdempotencyTableName": "idem",
        "AppKeyArn": "arn:aws:kms:us-east-1:000000000000:key/k-1",
        "AlarmTopicArn": outputs["AlarmTopicArn"],
        "DeliveryDlqArn": outputs["DeliveryDlqArn"],
        "Architecture": "x86_64",
        "LogLevel": "info",
        "Environment": "localstack",
    }
    with pytest.raises(SystemExit):
        local_deploy.side_stack_parameters(cfg, sam["Parameters"], FakeCloudFormation({}), FakeKms())


@pytest.mark.parametrize("name", ["local-deploy-loyalty", "deploy-loyalty"])
def test_the_deploy_scripts_are_executable_and_documented(name):
    import os

    path = REPO / "infra" / "scripts" / name
    assert os.access(path, os.X_OK), name
    head = path.read_text().splitlines()[:3]
    assert head[0].startswith("#!") and any("Usage:" in line for line in head), name
