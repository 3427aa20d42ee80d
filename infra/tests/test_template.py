"""Checks over the parsed template that cfn-lint and checkov do not make: the fan-out's retry and
limit settings, least privilege, and agreement with the event contract and CONVENTIONS.md."""
import json
import re
from pathlib import Path

import pytest

from conftest import CONSUMERS, FUNCTIONS, REPO, as_list, ref_target, resources

DLQ_RETENTION = 14 * 24 * 3600
# Actions AWS offers no resource-level permission for: the only ones allowed on Resource "*".
WILDCARD_RESOURCE_ALLOWED = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
# AWS managed policies allowed on a role, each for a reason given in the template.
MANAGED_POLICIES_ALLOWED = {"AmazonAPIGatewayPushToCloudWatchLogs"}
CONTRACT_OUTPUTS = [  # shared/contracts/http-api.md, "Stack outputs the tests and tools rely on"
    "ApiUrl", "OrderEventsTopicArn", "OrdersTableName", "InventoryTableName", "PaymentsTableName",
    "InventoryQueueUrl", "BillingQueueUrl", "NotificationQueueUrl",
    "InventoryDlqUrl", "BillingDlqUrl", "NotificationDlqUrl",
]
LOCAL_OUTPUTS = ["ApiId", "ApiStage", "OutboxRelayFunctionName", "SenderEmail"]


# --- queues -------------------------------------------------------------------------------------

def test_every_queue_is_encrypted(cfn):
    queues = resources(cfn, "AWS::SQS::Queue")
    assert len(queues) == 6
    for name, q in queues.items():
        p = q["Properties"]
        assert p.get("KmsMasterKeyId") or p.get("SqsManagedSseEnabled") is True, name


def test_every_work_queue_has_a_dlq(cfn):
    queues = resources(cfn, "AWS::SQS::Queue")
    dlqs = {ref_target(q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])
            for q in queues.values() if "RedrivePolicy" in q["Properties"]}
    for name, q in queues.items():
        p = q["Properties"]
        if name in dlqs:
            assert "RedrivePolicy" not in p, f"{name}: a DLQ must not redrive further"
            assert p["MessageRetentionPeriod"] == DLQ_RETENTION, name
            allow = p["RedriveAllowPolicy"]
            assert allow["redrivePermission"] == "byQueue", name
            assert len(allow["sourceQueueArns"]) == 1, name
        else:
            rp = p.get("RedrivePolicy")
            assert rp, f"{name} has no DLQ"
            assert rp["maxReceiveCount"] == 5, name
            assert ref_target(rp["deadLetterTargetArn"]) in queues, name
    assert len(dlqs) == 3


def test_dlq_redrive_allow_policy_names_its_source_queue(sam_template):
    queues = resources(sam_template, "AWS::SQS::Queue")
    for name, q in queues.items():
        rp = q["Properties"].get("RedrivePolicy")
        if not rp:
            continue
        dlq = queues[ref_target(rp["deadLetterTargetArn"])]
        source_arn = dlq["Properties"]["RedriveAllowPolicy"]["sourceQueueArns"][0]["Fn::Sub"]
        queue_name = q["Properties"]["QueueName"]["Fn::Sub"]
        assert source_arn.endswith(":" + queue_name), (name, source_arn, queue_name)


# --- event source mappings ----------------------------------------------------------------------

def _mappings(cfn):
    maps = resources(cfn, "AWS::Lambda::EventSourceMapping")
    assert len(maps) == len(CONSUMERS), maps.keys()
    return maps


def test_every_mapping_reports_batch_item_failures_and_is_bounded(cfn):
    for name, m in _mappings(cfn).items():
        p = m["Properties"]
        assert p.get("FunctionResponseTypes") == ["ReportBatchItemFailures"], name
        assert 2 <= p["ScalingConfig"]["MaximumConcurrency"] <= 1000, name
        assert 1 <= p["BatchSize"] <= 10, name  # > 10 would require a batching window
        assert 0 <= p["MaximumBatchingWindowInSeconds"] <= 20, name
        assert p.get("Enabled", True) is True, name


def test_visibility_timeout_is_at_least_six_function_timeouts(cfn):
    queues = resources(cfn, "AWS::SQS::Queue")
    functions = resources(cfn, "AWS::Lambda::Function")
    seen = set()
    for name, m in _mappings(cfn).items():
        p = m["Properties"]
        queue = queues[ref_target(p["EventSourceArn"])]["Properties"]
        fn_id = ref_target(p["FunctionName"])
        timeout = functions[fn_id]["Properties"]["Timeout"]
        assert timeout == FUNCTIONS[fn_id][1], fn_id
        assert queue["VisibilityTimeout"] >= 6 * timeout, (name, queue["VisibilityTimeout"], timeout)
        seen.add(fn_id)
    assert seen == set(CONSUMERS)


# --- SNS fan-out --------------------------------------------------------------------------------

def test_filter_policies_equal_the_event_contract_constants(cfn, rust_consts):
    attribute = rust_consts["EVENT_TYPE_ATTRIBUTE"]
    event_type = rust_consts["ORDER_PLACED_EVENT_TYPE"]
    subs = {k: v for k, v in resources(cfn, "AWS::SNS::Subscription").items() if v["Properties"]["Protocol"] == "sqs"}
    assert len(subs) == len(CONSUMERS)
    for name, s in subs.items():
        p = s["Properties"]
        assert ref_target(p["TopicArn"]) == "OrderEventsTopic", name
        assert p["RawMessageDelivery"] in (True, "true"), name
        assert p.get("FilterPolicyScope", "MessageAttributes") == "MessageAttributes", name
        assert p["FilterPolicy"] == {attribute: [event_type]}, name


def test_queue_policies_admit_only_the_topic(cfn):
    subs = resources(cfn, "AWS::SNS::Subscription")
    subscribed = {ref_target(s["Properties"]["Endpoint"]) for s in subs.values() if s["Properties"]["Protocol"] == "sqs"}
    covered = set()
    for name, qp in resources(cfn, "AWS::SQS::QueuePolicy").items():
        queues = {ref_target(q) for q in qp["Properties"]["Queues"]}
        for st in qp["Properties"]["PolicyDocument"]["Statement"]:
            if st["Effect"] != "Allow":
                continue
            assert st["Principal"] == {"Service": "sns.amazonaws.com"}, name
            assert as_list(st["Action"]) == ["sqs:SendMessage"], name
            assert ref_target(st["Condition"]["ArnEquals"]["aws:SourceArn"]) == "OrderEventsTopic", name
            assert {ref_target(st["Resource"])} == queues, name
        covered |= queues
    assert subscribed and subscribed <= covered


def test_topics_are_encrypted(cfn):
    for name, t in resources(cfn, "AWS::SNS::Topic").items():
        assert t["Properties"].get("KmsMasterKeyId"), name


# --- IAM ----------------------------------------------------------------------------------------

def _policy_documents(cfn):
    for name, r in cfn["Resources"].items():
        p = r.get("Properties", {})
        if r["Type"] == "AWS::IAM::Role":
            for pol in p.get("Policies", []):
                yield f"{name}/{pol['PolicyName']}", pol["PolicyDocument"]
        elif r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            yield name, p["PolicyDocument"]


def test_no_wildcard_actions_and_wildcard_resources_only_where_required(cfn):
    docs = list(_policy_documents(cfn))
    assert len(docs) >= len(FUNCTIONS)
    for name, doc in docs:
        for st in as_list(doc["Statement"]):
            assert "NotAction" not in st and "NotResource" not in st, name
            actions = as_list(st["Action"])
            for a in actions:
                assert "*" not in a, f"{name}: wildcard action {a}"
            if "*" in as_list(st["Resource"]):
                assert set(actions) <= WILDCARD_RESOURCE_ALLOWED, f"{name}: {actions} on Resource *"


def test_roles_use_no_broad_managed_policies(cfn):
    for name, role in resources(cfn, "AWS::IAM::Role").items():
        for arn in role["Properties"].get("ManagedPolicyArns", []):
            text = json.dumps(arn)
            assert any(allowed in text for allowed in MANAGED_POLICIES_ALLOWED), f"{name}: {text}"


def test_every_function_has_its_own_explicit_role(sam_template):
    roles = set()
    for fn_id in FUNCTIONS:
        role = ref_target(sam_template["Resources"][fn_id]["Properties"]["Role"])
        assert role and role not in roles, fn_id
        roles.add(role)


def test_consumers_may_only_touch_their_own_queue(cfn):
    queue_of = {fn: f"{prefix}Queue" for fn, prefix in CONSUMERS.items()}
    for fn_id, queue in queue_of.items():
        role = ref_target(cfn["Resources"][fn_id]["Properties"]["Role"])
        for pol in cfn["Resources"][role]["Properties"]["Policies"]:
            for st in pol["PolicyDocument"]["Statement"]:
                if any(a.startswith("sqs:") for a in as_list(st["Action"])):
                    assert [ref_target(r) for r in as_list(st["Resource"])] == [queue], fn_id


# --- functions ----------------------------------------------------------------------------------

EXPECTED_ENV = {
    "OrderApiFunction": {"ORDERS_TABLE_NAME", "OUTBOX_TABLE_NAME", "IDEMPOTENCY_TABLE_NAME", "ORDER_EVENTS_TOPIC_ARN"},
    "OutboxRelayFunction": {"OUTBOX_TABLE_NAME", "ORDER_EVENTS_TOPIC_ARN"},
    "InventoryFunction": {"IDEMPOTENCY_TABLE_NAME", "INVENTORY_TABLE_NAME", "RESERVATIONS_TABLE_NAME"},
    "BillingFunction": {"IDEMPOTENCY_TABLE_NAME", "PAYMENTS_TABLE_NAME"},
    "NotificationFunction": {"IDEMPOTENCY_TABLE_NAME", "NOTIFICATIONS_TABLE_NAME", "SENDER_EMAIL"},
}


@pytest.mark.parametrize("fn_id", sorted(FUNCTIONS))
def test_function_settings(cfn, sam_template, fn_id):
    binary, timeout = FUNCTIONS[fn_id]
    src = sam_template["Resources"][fn_id]
    assert src["Metadata"]["BuildMethod"] == "rust-cargolambda"
    assert src["Metadata"]["BuildProperties"]["Binary"] == binary
    fn = cfn["Resources"][fn_id]["Properties"]
    assert fn["Runtime"] == "provided.al2023"
    assert fn["Handler"] == "bootstrap"
    assert fn["Architectures"] == [{"Ref": "Architecture"}]
    assert fn["TracingConfig"] == {"Mode": "Active"}
    assert fn["Timeout"] == timeout
    env = fn["Environment"]["Variables"]
    assert env["SERVICE_NAME"] == binary
    assert env["LOG_LEVEL"] == {"Ref": "LogLevel"}
    assert EXPECTED_ENV[fn_id] <= set(env), EXPECTED_ENV[fn_id] - set(env)
    # Its log group exists, has a retention and is the one Lambda writes to (/aws/lambda/<name>).
    log_group = cfn["Resources"][src["DependsOn"]]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"]
    assert log_group["Properties"]["LogGroupName"]["Fn::Sub"] == "/aws/lambda/" + fn["FunctionName"]["Fn::Sub"]


def test_architecture_parameter_defaults_to_arm64(sam_template):
    p = sam_template["Parameters"]["Architecture"]
    assert p["Default"] == "arm64" and set(p["AllowedValues"]) == {"arm64", "x86_64"}
    for name in ("Stage", "Architecture", "LogLevel", "AlarmEmail", "SenderEmail"):
        assert name in sam_template["Parameters"], name


def test_relay_runs_every_minute(cfn):
    rules = resources(cfn, "AWS::Events::Rule")
    assert any(r["Properties"]["ScheduleExpression"] == "rate(1 minute)"
               and ref_target(r["Properties"]["Targets"][0]["Arn"]) == "OutboxRelayFunction" for r in rules.values())


# --- API ----------------------------------------------------------------------------------------

def test_api_proxies_every_route_to_the_order_function(sam_template):
    events = sam_template["Resources"]["OrderApiFunction"]["Properties"]["Events"]
    routes = {(e["Properties"]["Path"], e["Properties"]["Method"].upper()) for e in events.values() if e["Type"] == "Api"}
    assert routes == {("/", "ANY"), ("/{proxy+}", "ANY")}
    assert all(ref_target(e["Properties"]["RestApiId"]) == "OrderApi" for e in events.values())
    # No other function is wired to the API: API Gateway never answers 404/405 itself.
    for fn_id in FUNCTIONS:
        if fn_id != "OrderApiFunction":
            evs = sam_template["Resources"][fn_id]["Properties"].get("Events", {})
            assert not any(e["Type"] == "Api" for e in evs.values()), fn_id


def test_api_stage_has_throttling_access_logs_and_tracing(cfn):
    stages = resources(cfn, "AWS::ApiGateway::Stage")
    assert len(stages) == 1
    p = next(iter(stages.values()))["Properties"]
    assert p["TracingEnabled"] is True
    assert ref_target(p["AccessLogSetting"]["DestinationArn"]) == "ApiAccessLogGroup"
    ms = p["MethodSettings"][0]
    assert ms["ThrottlingRateLimit"] > 0 and ms["ThrottlingBurstLimit"] > 0


# --- tables -------------------------------------------------------------------------------------

TABLES = {  # CONVENTIONS.md: logical id -> (hash key, ttl?)
    "OrdersTable": ("orderId", False),
    "OutboxTable": ("eventId", True),
    "IdempotencyTable": ("pk", True),
    "InventoryTable": ("sku", False),
    "ReservationsTable": ("orderId", False),
    "PaymentsTable": ("orderId", False),
    "NotificationsTable": ("orderId", False),
}


def test_tables_follow_the_conventions(cfn):
    assert set(resources(cfn, "AWS::DynamoDB::Table")) == set(TABLES)
    for name, (key, ttl) in TABLES.items():
        p = cfn["Resources"][name]["Properties"]
        assert p["KeySchema"] == [{"AttributeName": key, "KeyType": "HASH"}], name
        assert p["BillingMode"] == "PAY_PER_REQUEST", name
        assert p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, name
        assert p["SSESpecification"]["SSEEnabled"] is True, name
        if ttl:
            assert p["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}, name
        else:
            assert "TimeToLiveSpecification" not in p, name
    gsi = cfn["Resources"]["OutboxTable"]["Properties"]["GlobalSecondaryIndexes"]
    assert [g["IndexName"] for g in gsi] == ["pending-by-created"]
    assert gsi[0]["KeySchema"] == [{"AttributeName": "pendingPartition", "KeyType": "HASH"},
                                   {"AttributeName": "createdAt", "KeyType": "RANGE"}]


# --- alarms -------------------------------------------------------------------------------------

def test_alarms_cover_dlqs_queue_age_function_errors_and_throttles(cfn):
    covered = set()
    for name, a in resources(cfn, "AWS::CloudWatch::Alarm").items():
        p = a["Properties"]
        assert [ref_target(x) for x in p["AlarmActions"]] == ["AlarmTopic"], name
        dim = ref_target(p["Dimensions"][0]["Value"])
        covered.add((p["MetricName"], dim))
    for prefix in CONSUMERS.values():
        assert ("ApproximateNumberOfMessagesVisible", f"{prefix}Dlq") in covered
        assert ("ApproximateAgeOfOldestMessage", f"{prefix}Queue") in covered
    for fn_id in FUNCTIONS:
        assert ("Errors", fn_id) in covered and ("Throttles", fn_id) in covered, fn_id
    email = cfn["Resources"]["AlarmEmailSubscription"]
    assert email["Condition"] == "HasAlarmEmail" and email["Properties"]["Protocol"] == "email"


# --- outputs ------------------------------------------------------------------------------------

def _contract_outputs():
    """The output names from shared/contracts/http-api.md when it is beside the repo (CI), else the copy above."""
    contract = REPO.parent / "shared" / "contracts" / "http-api.md"
    if not contract.exists():
        return CONTRACT_OUTPUTS
    text = contract.read_text()
    section = text.split("## Stack outputs", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"`([A-Za-z]+)`", section.split("\n\n", 2)[1])


def test_outputs_of_the_contract_are_present(cfn):
    names = _contract_outputs()
    assert set(CONTRACT_OUTPUTS) <= set(names) or names == CONTRACT_OUTPUTS
    missing = [n for n in list(names) + LOCAL_OUTPUTS if n not in cfn["Outputs"]]
    assert not missing, missing
