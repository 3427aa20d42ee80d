"""Checks over the parsed template that cfn-lint and checkov do not make: the fan-out's retry and
limit settings, least privilege, and agreement with the event contract and
docs/contracts/conventions.md. Every consumer of infra/consumers.yaml is held to the same rules;
each test runs on the repository's template and on one generated with a throwaway consumer
(conftest.py)."""
import json
import re
from pathlib import Path

import pytest

from conftest import HAND_FUNCTIONS, REPO, as_list, iu, ref_target, resources

DLQ_RETENTION = 14 * 24 * 3600
# Actions AWS offers no resource-level permission for: the only ones allowed on Resource "*".
WILDCARD_RESOURCE_ALLOWED = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
# AWS managed policies allowed on a role, each for a reason given in the template.
MANAGED_POLICIES_ALLOWED = {"AmazonAPIGatewayPushToCloudWatchLogs"}
HTTP_API_CONTRACT = REPO / "docs" / "contracts" / "http-api.md"
CONTRACT_OUTPUTS = [  # docs/contracts/http-api.md, "Stack outputs the tests and tools rely on"
    "ApiUrl", "OrderEventsTopicArn", "OrdersTableName", "InventoryTableName", "PaymentsTableName",
    "InventoryQueueUrl", "BillingQueueUrl", "NotificationQueueUrl",
    "InventoryDlqUrl", "BillingDlqUrl", "NotificationDlqUrl",
]
LOCAL_OUTPUTS = ["ApiId", "ApiStage", "OutboxRelayFunctionName", "SenderEmail"]
LIFECYCLE_CONTRACT = REPO / "docs" / "contracts" / "order-lifecycle.md"
LIFECYCLE_OUTPUTS = [  # docs/contracts/order-lifecycle.md, "Tables other tools read" and the line after it
    "OrdersTableName", "InventoryTableName", "ReservationsTableName", "PaymentsTableName", "ShipmentsTableName",
    "OrderEventsTopicArn", "ApiUrl",
]
# The hand-written tables (docs/contracts/conventions.md): logical id -> (hash key, ttl?).
# The consumers' tables come from infra/consumers.yaml.
HAND_TABLES = {
    "OrdersTable": ("orderId", False),
    "OutboxTable": ("eventId", True),
    "IdempotencyTable": ("pk", True),
}
HAND_ENV = {
    "OrderApiFunction": {"ORDERS_TABLE_NAME", "OUTBOX_TABLE_NAME", "IDEMPOTENCY_TABLE_NAME", "ORDER_EVENTS_TOPIC_ARN"},
    "OutboxRelayFunction": {"OUTBOX_TABLE_NAME", "ORDER_EVENTS_TOPIC_ARN"},
}


# --- queues -------------------------------------------------------------------------------------

def test_every_queue_is_encrypted(cfn, queues):
    all_queues = resources(cfn, "AWS::SQS::Queue")
    # A queue and a DLQ each (a timer is a second pair), plus the topic's delivery DLQ; nothing else.
    assert len(all_queues) == 2 * len(queues) + 1
    queues = all_queues
    for name, q in queues.items():
        p = q["Properties"]
        assert p.get("KmsMasterKeyId") or p.get("SqsManagedSseEnabled") is True, name


def test_every_work_queue_has_a_dlq(cfn, queues):
    subscribed = queues
    queues = resources(cfn, "AWS::SQS::Queue")
    dlqs = {ref_target(q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])
            for q in queues.values() if "RedrivePolicy" in q["Properties"]}
    for name, q in queues.items():
        p = q["Properties"]
        if name == "DeliveryDlq":  # SNS's, not SQS's: no queue redrives into it, and it redrives nowhere
            assert "RedrivePolicy" not in p and p["MessageRetentionPeriod"] == DLQ_RETENTION
            continue
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
    assert dlqs == {f"{q.prefix}Dlq" for _, q in subscribed}


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


def test_each_consumer_has_its_queue_and_dlq(sam_template, queues):
    for c, q in queues:
        p, physical = q.prefix, c.name + ("-timer" if q.delay is not None else "")
        queue = sam_template["Resources"][f"{p}Queue"]["Properties"]
        dlq = sam_template["Resources"][f"{p}Dlq"]["Properties"]
        assert queue["QueueName"] == {"Fn::Sub": "${AWS::StackName}-" + physical}, c.name
        assert dlq["QueueName"] == {"Fn::Sub": "${AWS::StackName}-" + physical + "-dlq"}, c.name
        assert ref_target(queue["RedrivePolicy"]["deadLetterTargetArn"]) == f"{p}Dlq", c.name
        # Only a timer queue delays delivery, by exactly what its entry says.
        if c.timer and p == f"{c.pascal}Timer":
            assert queue["DelaySeconds"] == iu.to_cfn(c.timer.delay), c.name
        else:
            assert "DelaySeconds" not in queue, c.name
        assert queue["RedrivePolicy"]["maxReceiveCount"] == 5, c.name
        assert queue["VisibilityTimeout"] == 6 * c.timeout, c.name
        assert dlq["MessageRetentionPeriod"] == DLQ_RETENTION, c.name
        for q in (queue, dlq):
            assert q["KmsMasterKeyId"] == {"Ref": "AppKey"}, c.name


# --- event source mappings ----------------------------------------------------------------------

def _mappings(cfn, consumers):
    maps = resources(cfn, "AWS::Lambda::EventSourceMapping")
    assert len(maps) == sum(len(c.queues()) for c in consumers), maps.keys()  # one per subscribed queue
    return maps


def test_every_mapping_reports_batch_item_failures_and_is_bounded(cfn, consumers):
    for name, m in _mappings(cfn, consumers).items():
        p = m["Properties"]
        assert p.get("FunctionResponseTypes") == ["ReportBatchItemFailures"], name
        assert 2 <= p["ScalingConfig"]["MaximumConcurrency"] <= 1000, name
        assert 1 <= p["BatchSize"] <= 10, name  # > 10 would require a batching window
        assert 0 <= p["MaximumBatchingWindowInSeconds"] <= 20, name
        assert p.get("Enabled", True) is True, name


def test_each_consumer_mapping_reads_its_queue_with_its_settings(cfn, consumers):
    maps = _mappings(cfn, consumers)
    for c in consumers:
        mine = [m["Properties"] for m in maps.values()
                if ref_target(m["Properties"]["FunctionName"]) == f"{c.pascal}Function"]
        assert sorted(ref_target(p["EventSourceArn"]) for p in mine) == sorted(f"{q.prefix}Queue" for q in c.queues())
        for p in mine:
            assert p["BatchSize"] == c.batch_size, c.name
            assert p["MaximumBatchingWindowInSeconds"] == c.batching_window, c.name
            assert p["ScalingConfig"] == {"MaximumConcurrency": c.max_concurrency}, c.name
            assert p["FunctionResponseTypes"] == ["ReportBatchItemFailures"], c.name
    # The SAM event keeps its name (event_name, by default the first subscribed type): the
    # mapping's logical id stays; a timer's event is `Timer`.
    expected = {f"{c.pascal}Function{c.event}" for c in consumers}
    expected |= {f"{c.pascal}FunctionTimer" for c in consumers if c.timer}
    assert expected == set(maps)


def test_visibility_timeout_is_at_least_six_function_timeouts(cfn, consumers, functions):
    queues = resources(cfn, "AWS::SQS::Queue")
    lambdas = resources(cfn, "AWS::Lambda::Function")
    seen = set()
    for name, m in _mappings(cfn, consumers).items():
        p = m["Properties"]
        queue = queues[ref_target(p["EventSourceArn"])]["Properties"]
        fn_id = ref_target(p["FunctionName"])
        timeout = lambdas[fn_id]["Properties"]["Timeout"]
        assert timeout == functions[fn_id][1], fn_id
        assert queue["VisibilityTimeout"] >= 6 * timeout, (name, queue["VisibilityTimeout"], timeout)
        seen.add(fn_id)
    assert seen == {f"{c.pascal}Function" for c in consumers}


# --- SNS fan-out --------------------------------------------------------------------------------

def test_filter_policies_equal_the_event_contract_constants(cfn, consumers, queues, rust_consts):
    type_attribute = rust_consts["EVENT_TYPE_ATTRIBUTE"]
    version_attribute = rust_consts["EVENT_VERSION_ATTRIBUTE"]
    known_types = {v for k, v in rust_consts.items() if k.endswith("_EVENT_TYPE")}
    subs = {k: v for k, v in resources(cfn, "AWS::SNS::Subscription").items() if v["Properties"]["Protocol"] == "sqs"}
    assert len(subs) == len(queues)
    unfiltered = {f"{q.prefix}Subscription" for _, q in queues if q.all}
    for name, s in subs.items():
        p = s["Properties"]
        assert ref_target(p["TopicArn"]) == "OrderEventsTopic", name
        assert p["RawMessageDelivery"] in (True, "true"), name
        if name in unfiltered:
            continue
        assert p.get("FilterPolicyScope", "MessageAttributes") == "MessageAttributes", name
        # The filter names the type and the version, so a v2 published side by side never reaches
        # a v1-only queue (docs/contracts/order-lifecycle.md).
        assert set(p["FilterPolicy"]) == {type_attribute, version_attribute}, name
        types, versions = p["FilterPolicy"][type_attribute], p["FilterPolicy"][version_attribute]
        assert types and set(types) <= known_types, (name, types)
        assert len(versions) == 1, name
        for event_type in types:
            assert rust_consts[f"{iu.snake(event_type)}_V{versions[0]}_VERSION"] == versions[0], (name, event_type)
    for c, q in queues:
        p = subs[f"{q.prefix}Subscription"]["Properties"]
        assert ref_target(p["Endpoint"]) == f"{q.prefix}Queue", c.name
        if q.all:
            continue
        assert p["FilterPolicy"] == {type_attribute: list(q.subscribes), version_attribute: [str(q.version)]}, c.name
        assert (rust_consts["ORDER_PLACED_EVENT_TYPE"] in p["FilterPolicy"][type_attribute]) \
            == ("OrderPlaced" in q.subscribes), c.name


def test_subscriptions_wait_for_their_queue_policy(sam_template, queues):
    for c, q in queues:
        sub = sam_template["Resources"][f"{q.prefix}Subscription"]
        assert sub["DependsOn"] == f"{q.prefix}QueuePolicy", c.name  # else SNS may deliver before it may


def test_every_subscription_redrives_undeliverable_events_to_the_delivery_dlq(cfn, queues):
    subs = {k: v for k, v in resources(cfn, "AWS::SNS::Subscription").items() if v["Properties"]["Protocol"] == "sqs"}
    assert len(subs) == len(queues)
    for name, s in subs.items():
        assert ref_target(s["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]) == "DeliveryDlq", name
    dlq = cfn["Resources"]["DeliveryDlq"]["Properties"]
    assert dlq["MessageRetentionPeriod"] == 1209600 and ref_target(dlq["KmsMasterKeyId"]) == "AppKey"
    # SNS itself writes there, so the queue's policy admits the topic (checked with the others below).
    policy = cfn["Resources"]["DeliveryDlqPolicy"]["Properties"]
    assert [ref_target(q) for q in policy["Queues"]] == ["DeliveryDlq"]
    # Both the delivery DLQ and a failure to reach it are alarmed.
    not_empty = cfn["Resources"]["DeliveryDlqNotEmptyAlarm"]["Properties"]
    assert ref_target(not_empty["Dimensions"][0]["Value"]) == "DeliveryDlq"
    assert not_empty["MetricName"] == "ApproximateNumberOfMessagesVisible"
    lost = cfn["Resources"]["EventsRedriveToDlqFailedAlarm"]["Properties"]
    assert (lost["Namespace"], lost["MetricName"]) == ("AWS/SNS", "NumberOfNotificationsFailedToRedriveToDlq")
    assert lost["Dimensions"][0]["Name"] == "TopicName"


def test_queue_policies_admit_only_the_topic(cfn, case):
    subs = resources(cfn, "AWS::SNS::Subscription")
    subscribed = {ref_target(s["Properties"]["Endpoint"])
                  for s in subs.values() if s["Properties"]["Protocol"] == "sqs"}
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
    assert subscribed == {f"{q.prefix}Queue" for _, q in case.queues}
    for _, q in case.queues:
        assert cfn["Resources"][f"{q.prefix}QueuePolicy"]["Properties"]["Queues"] == [{"Ref": f"{q.prefix}Queue"}]


def _roles_allowed_to_publish(cfn):
    """Roles whose own policy allows sns:Publish on the order topic."""
    roles = set()
    for name, role in resources(cfn, "AWS::IAM::Role").items():
        for pol in role["Properties"].get("Policies", []):
            for st in as_list(pol["PolicyDocument"]["Statement"]):
                if st["Effect"] == "Allow" and "sns:Publish" in as_list(st["Action"]) \
                        and "OrderEventsTopic" in {ref_target(r) for r in as_list(st["Resource"])}:
                    roles.add(name)
    return roles


def test_only_the_producers_may_publish_to_the_topic(cfn, case, consumers):
    """The topic policy refuses sns:Publish to every principal but the roles that publish (the
    order API, the relay, each consumer with `publishes`), so nobody else in the account can inject
    an event every consumer would act on; it refuses nothing else."""
    policies = resources(cfn, "AWS::SNS::TopicPolicy")
    assert list(policies) == ["OrderEventsTopicPolicy"]
    props = policies["OrderEventsTopicPolicy"]["Properties"]
    assert [ref_target(t) for t in props["Topics"]] == ["OrderEventsTopic"]
    (statement,) = props["PolicyDocument"]["Statement"]
    assert {k: v for k, v in statement.items() if k != "Condition"} == {
        "Sid": "OnlyProducersPublish", "Effect": "Deny", "Principal": "*", "Action": "sns:Publish",
        "Resource": {"Ref": "OrderEventsTopic"}}
    (operator,) = statement["Condition"]
    assert operator == "ArnNotEquals"
    (key,) = statement["Condition"][operator]
    assert key == "aws:PrincipalArn"  # the role, whatever the session (each invocation's)
    allowed = statement["Condition"][operator][key]
    assert all(a == {"Fn::GetAtt": [ref_target(a), "Arn"]} for a in allowed), allowed
    allowed = [ref_target(a) for a in allowed]
    assert len(allowed) == len(set(allowed))
    # Exactly the roles IAM lets publish: a new producer is admitted, a consumer that stops is not.
    assert set(allowed) == _roles_allowed_to_publish(cfn)
    producers = {"OrderApiRole", "OutboxRelayRole"} | {f"{c.pascal}Role" for c in consumers if c.publishes}
    if case.name == "repo":
        assert set(allowed) == producers == {"OrderApiRole", "OutboxRelayRole", "InventoryRole", "BillingRole",
                                             "OrderLifecycleRole"}
    else:  # the throwaway entry publishes through an extra statement, without `publishes`
        assert set(allowed) == producers | {"PointsRole"}
    # Every function told the topic's ARN to publish to is one of them.
    for fn_id, fn in resources(cfn, "AWS::Lambda::Function").items():
        if "ORDER_EVENTS_TOPIC_ARN" in fn["Properties"].get("Environment", {}).get("Variables", {}):
            assert ref_target(fn["Properties"]["Role"]) in allowed, fn_id
    # The alarm topic keeps SNS's default policy: CloudWatch publishes there.
    assert not [p for p in policies.values() if "AlarmTopic" in {ref_target(t) for t in p["Properties"]["Topics"]}]


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


def test_no_wildcard_actions_and_wildcard_resources_only_where_required(cfn, functions):
    docs = list(_policy_documents(cfn))
    assert len(docs) >= len(functions)
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


def test_every_function_has_its_own_explicit_role(sam_template, functions):
    assert set(resources(sam_template, "AWS::Serverless::Function")) == set(functions)
    roles = set()
    for fn_id in functions:
        role = ref_target(sam_template["Resources"][fn_id]["Properties"]["Role"])
        assert role and role not in roles, fn_id
        roles.add(role)


def test_consumers_may_only_touch_their_own_queue(cfn, consumers):
    """Consume its queues; send only into its own main DLQ (parking), nowhere else."""
    for c in consumers:
        fn_id, queue = f"{c.pascal}Function", [f"{q.prefix}Queue" for q in c.queues()]
        role = ref_target(cfn["Resources"][fn_id]["Properties"]["Role"])
        assert role == f"{c.pascal}Role", fn_id
        sqs = []
        for pol in cfn["Resources"][role]["Properties"]["Policies"]:
            for st in pol["PolicyDocument"]["Statement"]:
                actions = [a for a in as_list(st["Action"]) if a.startswith("sqs:")]
                if actions:
                    sqs.append((sorted(actions), [ref_target(r) for r in as_list(st["Resource"])]))
        consume = sorted(["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
                          "sqs:GetQueueAttributes"])
        assert sorted(sqs) == sorted([(consume, queue), (["sqs:SendMessage"], [f"{c.pascal}Dlq"])]), fn_id


def test_each_consumer_knows_its_dead_letter_queue(cfn, consumers):
    """DEAD_LETTER_QUEUE_URL is its main DLQ's URL, the queue its role may send to."""
    for c in consumers:
        env = cfn["Resources"][f"{c.pascal}Function"]["Properties"]["Environment"]["Variables"]
        assert env["DEAD_LETTER_QUEUE_URL"] == {"Ref": f"{c.pascal}Dlq"}, c.name


def _referenced_ids(value, logical_ids):
    """Logical ids a policy resource names: Ref/GetAtt targets and ${X} / ${X.Arn} in !Sub."""
    found = set()
    if isinstance(value, dict):
        target = ref_target(value)
        if target:
            found.add(target)
        for key, inner in value.items():
            if key == "Fn::Sub":
                text = inner if isinstance(inner, str) else inner[0]
                found |= {m.split(".")[0] for m in re.findall(r"\$\{([A-Za-z0-9.]+)\}", text)} & logical_ids
            found |= _referenced_ids(inner, logical_ids)
    elif isinstance(value, list):
        for inner in value:
            found |= _referenced_ids(inner, logical_ids)
    return found


def test_each_consumer_role_names_only_its_own_resources(sam_template, consumers):
    logical_ids = set(sam_template["Resources"])
    for c in consumers:
        p = c.pascal
        role = sam_template["Resources"][f"{p}Role"]["Properties"]
        assert role["AssumeRolePolicyDocument"]["Statement"] == [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
        assert "ManagedPolicyArns" not in role, c.name
        (policy,) = role["Policies"]
        assert policy["PolicyName"] == c.name
        statements = {st["Sid"]: st for st in policy["PolicyDocument"]["Statement"]}
        assert len(statements) == len(policy["PolicyDocument"]["Statement"]), f"{c.name}: Sids repeat"
        assert statements["Logs"]["Resource"] == {"Fn::GetAtt": [f"{p}LogGroup", "Arn"]}
        consume = [{"Fn::GetAtt": [f"{q.prefix}Queue", "Arn"]} for q in c.queues()]
        assert statements["ConsumeQueue"]["Resource"] == (consume if c.timer else consume[0]), c.name
        assert statements["EncryptedQueue"] == {"Sid": "EncryptedQueue", "Effect": "Allow", "Action": "kms:Decrypt",
                                                "Resource": {"Fn::GetAtt": ["AppKey", "Arn"]}}
        # It parks into its main DLQ only (the timer's DLQ is its redrive policy's alone), and may
        # encrypt what it sends there.
        assert statements["ParkInDeadLetterQueue"] == {
            "Sid": "ParkInDeadLetterQueue", "Effect": "Allow", "Action": "sqs:SendMessage",
            "Resource": {"Fn::GetAtt": [f"{p}Dlq", "Arn"]}}, c.name
        assert statements["EncryptedDeadLetterQueue"] == {
            "Sid": "EncryptedDeadLetterQueue", "Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
            "Resource": {"Fn::GetAtt": ["AppKey", "Arn"]}}, c.name
        assert statements["Idempotency"]["Resource"] == {"Fn::GetAtt": ["IdempotencyTable", "Arn"]}
        assert "dynamodb:DeleteItem" in statements["Idempotency"]["Action"]  # releases a failed claim
        for t in c.tables:
            st = statements[t.sid]
            assert st["Resource"] == {"Fn::GetAtt": [t.logical_id, "Arn"]}, (c.name, t.name)
            assert as_list(st["Action"]) == [f"dynamodb:{a}" for a in t.actions], (c.name, t.name)
        for u in c.uses_tables:  # a table it does not own: only the actions its entry lists
            st = statements[u.sid]
            assert st["Resource"] == {"Fn::GetAtt": [u.ref, "Arn"]}, (c.name, u.ref)
            assert as_list(st["Action"]) == [f"dynamodb:{a}" for a in u.actions], (c.name, u.ref)
        producer = {"Outbox", "Publish", "EncryptedTopic"}
        if c.publishes:  # the order API's rights to the outbox and the topic, no more
            assert statements["Outbox"]["Resource"] == {"Fn::GetAtt": ["OutboxTable", "Arn"]}, c.name
            assert as_list(statements["Outbox"]["Action"]) == ["dynamodb:PutItem", "dynamodb:UpdateItem"], c.name
            assert statements["Publish"] == {"Sid": "Publish", "Effect": "Allow", "Action": "sns:Publish",
                                             "Resource": {"Ref": "OrderEventsTopic"}}, c.name
            assert statements["EncryptedTopic"] == {
                "Sid": "EncryptedTopic", "Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                "Resource": {"Fn::GetAtt": ["AppKey", "Arn"]}}, c.name
        else:
            assert not producer & set(statements), c.name
        own = {f"{p}LogGroup", "AppKey", "IdempotencyTable", "OrderEventsTopic"}
        own |= {f"{q.prefix}Queue" for q in c.queues()} | {f"{p}Dlq"}
        own |= {t.logical_id for t in c.tables} | {u.ref for u in c.uses_tables}
        own |= {"OutboxTable"} if c.publishes else set()
        own |= set(sam_template["Parameters"])
        for st in statements.values():
            named = _referenced_ids(st["Resource"], logical_ids | set(sam_template["Parameters"]))
            assert named <= own, f"{c.name}/{st['Sid']} names {named - own}"
        expected = (len(iu.FIXED_SIDS) + len(c.tables) + len(c.uses_tables) + (3 if c.publishes else 0)
                    + len(c.statements))
        assert len(statements) == expected, (c.name, sorted(statements))


# --- functions ----------------------------------------------------------------------------------

def _expected_env(fn_id, consumers):
    for c in consumers:
        if f"{c.pascal}Function" == fn_id:
            env = {"IDEMPOTENCY_TABLE_NAME": {"Ref": "IdempotencyTable"},
                   "DEAD_LETTER_QUEUE_URL": {"Ref": f"{c.pascal}Dlq"}}  # where it parks, timer or not
            env.update({t.env: {"Ref": t.logical_id} for t in c.tables})
            env.update({u.env: {"Ref": u.ref} for u in c.uses_tables})
            if c.publishes:  # the same names as the order API's
                env.update({"OUTBOX_TABLE_NAME": {"Ref": "OutboxTable"},
                            "ORDER_EVENTS_TOPIC_ARN": {"Ref": "OrderEventsTopic"}})
            if c.timer and c.timer.delay_env:  # the very value the timer queue delays by
                env[c.timer.delay_env] = iu.to_cfn(c.timer.delay)
            env.update(iu.to_cfn(c.environment))
            return env
    return None


def test_function_settings(cfn, sam_template, consumers, functions):
    for fn_id, (binary, timeout) in functions.items():
        src = sam_template["Resources"][fn_id]
        assert src["Metadata"]["BuildMethod"] == "rust-cargolambda"
        assert src["Metadata"]["BuildProperties"]["Binary"] == binary
        fn = cfn["Resources"][fn_id]["Properties"]
        assert fn["Runtime"] == "provided.al2023"
        assert fn["Handler"] == "bootstrap"
        assert fn["Architectures"] == [{"Ref": "Architecture"}]
        assert fn["TracingConfig"] == {"Mode": "Active"}
        assert fn["Timeout"] == timeout
        assert fn["FunctionName"] == {"Fn::Sub": "${AWS::StackName}-" + binary}
        env = fn["Environment"]["Variables"]
        assert env["SERVICE_NAME"] == binary
        assert env["LOG_LEVEL"] == {"Ref": "LogLevel"}
        expected = _expected_env(fn_id, consumers)
        if expected is None:
            assert HAND_ENV[fn_id] <= set(env), HAND_ENV[fn_id] - set(env)
        else:  # a consumer: exactly what its entry says, nothing left over from another
            assert {k: v for k, v in env.items() if k not in ("SERVICE_NAME", "LOG_LEVEL")} == expected, fn_id
        # Its log group exists, has a retention and is the one Lambda writes to (/aws/lambda/<name>).
        log_group = cfn["Resources"][src["DependsOn"]]
        assert log_group["Type"] == "AWS::Logs::LogGroup"
        assert log_group["Properties"]["RetentionInDays"]
        assert log_group["Properties"]["LogGroupName"]["Fn::Sub"] == "/aws/lambda/" + fn["FunctionName"]["Fn::Sub"]


def test_each_consumer_function_follows_its_entry(sam_template, consumers):
    for c in consumers:
        p = c.pascal
        fn = sam_template["Resources"][f"{p}Function"]
        props = fn["Properties"]
        assert fn["DependsOn"] == f"{p}LogGroup", c.name
        assert props["Description"] == c.description, c.name
        assert props["Role"] == {"Fn::GetAtt": [f"{p}Role", "Arn"]}, c.name
        assert props.get("MemorySize") == c.memory, c.name  # absent: the Globals' size
        assert props["CodeUri"] == "..", c.name
        events = {c.event: f"{p}Queue"} | ({"Timer": f"{p}TimerQueue"} if c.timer else {})
        assert set(props["Events"]) == set(events), c.name
        for name, queue in events.items():
            event = props["Events"][name]
            assert event["Type"] == "SQS" and event["Properties"]["Queue"] == {"Fn::GetAtt": [queue, "Arn"]}
        log_group = sam_template["Resources"][f"{p}LogGroup"]["Properties"]
        assert log_group == {"LogGroupName": {"Fn::Sub": "/aws/lambda/${AWS::StackName}-" + c.name},
                             "RetentionInDays": {"Ref": "LogRetentionDays"},
                             "KmsKeyId": {"Fn::GetAtt": ["AppKey", "Arn"]}}, c.name


def _workspace_binaries():
    """Package and [[bin]] names of every Cargo.toml of the repository."""
    import os
    import tomllib

    binaries = set()
    for folder, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in (".git", ".venv", "target", "node_modules") and not d.startswith(".")]
        if "Cargo.toml" in files:
            data = tomllib.loads((Path(folder) / "Cargo.toml").read_text())
            if "package" in data:
                binaries.add(data["package"]["name"])
            binaries |= {b["name"] for b in data.get("bin", []) if "name" in b}
    return binaries


def test_every_function_binary_is_a_crate_of_the_workspace(case):
    """A consumer entry without its crate fails here, not at build or deploy time."""
    binaries = _workspace_binaries()
    missing = {fn["Metadata"]["BuildProperties"]["Binary"]
               for fn in resources(case.sam, "AWS::Serverless::Function").values()} - binaries
    if case.name == "repo":
        assert not missing, f"no crate or [[bin]] named {sorted(missing)} in the workspace"
    else:  # the throwaway consumer has no crate: this is the check that says so
        assert "points" in missing


def test_architecture_parameter_defaults_to_arm64(sam_template):
    p = sam_template["Parameters"]["Architecture"]
    assert p["Default"] == "arm64" and set(p["AllowedValues"]) == {"arm64", "x86_64"}
    for name in ("Stage", "Architecture", "LogLevel", "AlarmEmail", "SenderEmail"):
        assert name in sam_template["Parameters"], name


def test_the_sender_is_a_verified_ses_identity_and_the_only_one_used(sam_template, consumers):
    """SES sends only from a verified identity: the parameter says so, and the notification role may
    send as that address or its domain, nothing else."""
    p = sam_template["Parameters"]["SenderEmail"]
    assert "verified" in p["Description"] and "cannot be verified" in p["Description"]
    env = sam_template["Resources"]["NotificationFunction"]["Properties"]["Environment"]["Variables"]
    assert env["SENDER_EMAIL"] == {"Ref": "SenderEmail"}
    statements = sam_template["Resources"]["NotificationRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    ses = [st for st in statements["Statement"] if any(a.startswith("ses:") for a in as_list(st["Action"]))]
    (statement,) = ses
    identities = [r["Fn::Sub"] if isinstance(r["Fn::Sub"], str) else r["Fn::Sub"][0] for r in statement["Resource"]]
    assert [i.rsplit(":identity/", 1)[1] for i in identities] == ["${SenderEmail}", "${Domain}"]
    # Notification runs the fewest batches SQS allows: the SES send rate, not Lambda, is its limit.
    (notification,) = [c for c in consumers if c.name == "notification"]
    assert notification.max_concurrency == 2


def test_settle_timeout_parameter_is_bounded_by_the_sqs_delay(sam_template):
    p = sam_template["Parameters"]["SettleTimeoutSeconds"]
    assert (p["Type"], p["Default"], p["MinValue"], p["MaxValue"]) == ("Number", 900, 1, 900)
    assert "DelaySeconds" in p["Description"] and "900" in p["Description"]


def test_the_lifecycle_timer_waits_the_settle_timeout(sam_template, consumers):
    """The timer queue delays by the parameter and the function is told the same value: a
    function expecting a longer delay would fail every early delivery into the DLQ."""
    (c,) = [c for c in consumers if c.name == "order-lifecycle"]
    queue = sam_template["Resources"]["OrderLifecycleTimerQueue"]["Properties"]
    assert queue["DelaySeconds"] == {"Ref": "SettleTimeoutSeconds"}
    env = sam_template["Resources"]["OrderLifecycleFunction"]["Properties"]["Environment"]["Variables"]
    assert env["SETTLE_TIMEOUT_SECONDS"] == {"Ref": "SettleTimeoutSeconds"}
    sub = sam_template["Resources"]["OrderLifecycleTimerSubscription"]["Properties"]
    assert sub["FilterPolicy"] == {"event_type": ["OrderPlaced"], "event_version": ["1"]}
    timer = sam_template["Resources"]["OrderLifecycleFunction"]["Properties"]["Events"]["Timer"]["Properties"]
    assert timer["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert c.timer.delay_env == "SETTLE_TIMEOUT_SECONDS"


def test_every_producer_can_write_the_outbox_and_publish(cfn, consumers):
    """The outbox entry is put in the producer's transaction and marked published after its publish;
    a consumer that publishes nothing has none of it."""
    for c in consumers:
        fn = cfn["Resources"][f"{c.pascal}Function"]["Properties"]
        env = fn["Environment"]["Variables"]
        statements = [st for pol in cfn["Resources"][f"{c.pascal}Role"]["Properties"]["Policies"]
                      for st in pol["PolicyDocument"]["Statement"]]
        actions = {(a, ref_target(r) or json.dumps(r)) for st in statements
                   for a in as_list(st["Action"]) for r in as_list(st["Resource"])}
        producer = {("dynamodb:PutItem", "OutboxTable"), ("dynamodb:UpdateItem", "OutboxTable"),
                    ("sns:Publish", "OrderEventsTopic"), ("kms:GenerateDataKey", "AppKey")}
        if c.publishes:
            assert env["OUTBOX_TABLE_NAME"] == {"Ref": "OutboxTable"}, c.name
            assert env["ORDER_EVENTS_TOPIC_ARN"] == {"Ref": "OrderEventsTopic"}, c.name
            assert producer <= actions, (c.name, producer - actions)
        else:
            assert not {"OUTBOX_TABLE_NAME", "ORDER_EVENTS_TOPIC_ARN"} & set(env), c.name
            assert not {a for a in actions if a[1] == "OutboxTable"}, c.name


def test_the_one_relay_can_publish_every_producers_entries(cfn):
    """One OutboxTable, one relay: whoever wrote an entry, the relay finds it on the pending index,
    publishes it to the encrypted topic and marks it published."""
    statements = [st for pol in cfn["Resources"]["OutboxRelayRole"]["Properties"]["Policies"]
                  for st in pol["PolicyDocument"]["Statement"]]
    by_sid = {st["Sid"]: st for st in statements}
    assert by_sid["PendingOutboxEntries"]["Action"] == "dynamodb:Query"
    assert by_sid["PendingOutboxEntries"]["Resource"] == {"Fn::Sub": "${OutboxTable.Arn}/index/pending-by-created"}
    assert "dynamodb:UpdateItem" in as_list(by_sid["Outbox"]["Action"])
    assert ref_target(by_sid["Outbox"]["Resource"]) == "OutboxTable"
    assert ref_target(by_sid["Publish"]["Resource"]) == "OrderEventsTopic"
    assert {"kms:GenerateDataKey", "kms:Decrypt"} <= set(as_list(by_sid["EncryptedTopic"]["Action"]))


def test_relay_runs_every_minute(cfn):
    rules = resources(cfn, "AWS::Events::Rule")
    assert any(r["Properties"]["ScheduleExpression"] == "rate(1 minute)"
               and ref_target(r["Properties"]["Targets"][0]["Arn"]) == "OutboxRelayFunction" for r in rules.values())


# --- API ----------------------------------------------------------------------------------------

def test_api_proxies_every_route_to_the_order_function(sam_template, functions):
    events = sam_template["Resources"]["OrderApiFunction"]["Properties"]["Events"]
    routes = {(e["Properties"]["Path"], e["Properties"]["Method"].upper())
              for e in events.values() if e["Type"] == "Api"}
    assert routes == {("/", "ANY"), ("/{proxy+}", "ANY")}
    assert all(ref_target(e["Properties"]["RestApiId"]) == "OrderApi" for e in events.values())
    # No other function is wired to the API: API Gateway never answers 404/405 itself.
    for fn_id in functions:
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

def test_tables_follow_the_conventions(cfn, consumers):
    tables = dict(HAND_TABLES)
    tables.update({t.logical_id: (t.hash_key, t.ttl) for c in consumers for t in c.tables})
    assert set(resources(cfn, "AWS::DynamoDB::Table")) == set(tables)
    for name, (key, ttl) in tables.items():
        p = cfn["Resources"][name]["Properties"]
        assert p["KeySchema"] == [{"AttributeName": key, "KeyType": "HASH"}], name
        assert p["BillingMode"] == "PAY_PER_REQUEST", name
        assert p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, name
        sse = {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": {"Ref": "AppKey"}}
        assert p["SSESpecification"] == sse, name
        if ttl:
            assert p["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}, name
        else:
            assert "TimeToLiveSpecification" not in p, name
    gsi = cfn["Resources"]["OutboxTable"]["Properties"]["GlobalSecondaryIndexes"]
    assert [g["IndexName"] for g in gsi] == ["pending-by-created"]
    assert gsi[0]["KeySchema"] == [{"AttributeName": "pendingPartition", "KeyType": "HASH"},
                                   {"AttributeName": "createdAt", "KeyType": "RANGE"}]
    for c in consumers:
        for t in c.tables:
            p = cfn["Resources"][t.logical_id]["Properties"]
            assert p["AttributeDefinitions"] == [{"AttributeName": a, "AttributeType": "S"}
                                                 for a in t.key_attributes()], t.name
            assert [g["IndexName"] for g in p.get("GlobalSecondaryIndexes", [])] == [g.name for g in t.gsis], t.name


def test_every_table_outlives_a_teardown_and_a_replacement(cfn, sam_template, consumers):
    """Each table holds business data (the template's "Tables" comment says what): deleting the
    stack or an update that replaces a table keeps it, and on AWS a DeleteTable is refused until
    someone turns the protection off on purpose. LocalStack stacks (IsLocal) are not protected."""
    tables = resources(sam_template, "AWS::DynamoDB::Table")
    assert set(HAND_TABLES) | {t.logical_id for c in consumers for t in c.tables} == set(tables)
    for name, table in tables.items():
        assert table.get("DeletionPolicy") == "Retain", name
        assert table.get("UpdateReplacePolicy") == "Retain", name
        # !If, not !Not [!Condition ...]: LocalStack's engine mis-evaluates nested conditions.
        assert table["Properties"]["DeletionProtectionEnabled"] == {"Fn::If": ["IsLocal", False, True]}, name
    assert sam_template["Conditions"]["IsLocal"] == {"Fn::Equals": [{"Ref": "Environment"}, "localstack"]}
    # The SAM transform keeps the policies (they are what CloudFormation acts on).
    for name in tables:
        assert (cfn["Resources"][name]["DeletionPolicy"], cfn["Resources"][name]["UpdateReplacePolicy"]) \
            == ("Retain", "Retain"), name


def test_the_key_outlives_the_stack_and_its_alias_does_not(sam_template):
    """A retained table is unreadable without its key, so the key is retained too; the alias is only
    a name, and a retained one would block the next deploy under the same stack name."""
    key = sam_template["Resources"]["AppKey"]
    assert (key["DeletionPolicy"], key["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert key["Properties"]["PendingWindowInDays"] == 7  # when deleted on purpose, a week to change one's mind
    alias = sam_template["Resources"]["AppKeyAlias"]
    assert alias.get("DeletionPolicy", "Delete") == "Delete"
    for name, table in resources(sam_template, "AWS::DynamoDB::Table").items():
        assert table["Properties"]["SSESpecification"]["KMSMasterKeyId"] == {"Ref": "AppKey"}, name


# --- alarms -------------------------------------------------------------------------------------

def test_alarms_cover_dlqs_queue_age_function_errors_and_throttles(cfn, queues, functions):
    covered = set()
    for name, a in resources(cfn, "AWS::CloudWatch::Alarm").items():
        p = a["Properties"]
        assert [ref_target(x) for x in p["AlarmActions"]] == ["AlarmTopic"], name
        # A metric-math alarm names its metrics under Metrics; a plain one at the top.
        metrics = [m["MetricStat"]["Metric"] for m in p.get("Metrics", []) if "MetricStat" in m] or [p]
        for metric in metrics:
            covered.add((metric["MetricName"], ref_target(metric["Dimensions"][0]["Value"])))
    for _, q in queues:
        assert ("ApproximateNumberOfMessagesVisible", f"{q.prefix}Dlq") in covered
        assert ("ApproximateAgeOfOldestMessage", f"{q.prefix}Queue") in covered
    for fn_id in functions:
        assert ("Errors", fn_id) in covered and ("Throttles", fn_id) in covered, fn_id
    email = cfn["Resources"]["AlarmEmailSubscription"]
    assert email["Condition"] == "HasAlarmEmail" and email["Properties"]["Protocol"] == "email"


def test_each_consumer_has_its_alarms(sam_template, consumers):
    for c in consumers:
        p = c.pascal
        expected = {  # logical id -> (namespace, metric, dimension, target, threshold)
            f"{p}ErrorsAlarm": ("AWS/Lambda", "Errors", "FunctionName", {"Ref": f"{p}Function"}, 0),
            f"{p}ThrottlesAlarm": ("AWS/Lambda", "Throttles", "FunctionName", {"Ref": f"{p}Function"}, 0),
            # The batch core's EMF metrics, under the consumer's SERVICE_NAME.
            f"{p}ParkedEventsAlarm": ("orderflow", "ParkedEvents", "Service", c.name, 0),
            f"{p}FailedEventsAlarm": ("orderflow", "FailedEvents", "Service", c.name, 0),
        }
        for q in c.queues():  # two per queue; a timer queue's age may include its delay (at most 900 s)
            age = 300 if q.delay is None else iu.delay_bound(q.delay, sam_template["Parameters"]) + 300
            expected[f"{q.prefix}DlqNotEmptyAlarm"] = ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName",
                                                       {"Fn::GetAtt": [f"{q.prefix}Dlq", "QueueName"]}, 0)
            expected[f"{q.prefix}QueueAgeAlarm"] = ("AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName",
                                                    {"Fn::GetAtt": [f"{q.prefix}Queue", "QueueName"]}, age)
            arrival = sam_template["Resources"][f"{q.prefix}DlqArrivalAlarm"]["Properties"]
            visible, arrivals = arrival["Metrics"]
            assert visible["MetricStat"]["Metric"] == {
                "Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible",
                "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [f"{q.prefix}Dlq", "QueueName"]}}]}
            assert visible["ReturnData"] is False and arrivals["ReturnData"] is True
            # Fires when the count rises, so each new dead letter alarms, not only the first.
            assert arrivals["Expression"] == "DIFF(FILL(visible, 0))"
            assert (arrival["Threshold"], arrival["ComparisonOperator"]) == (0, "GreaterThanThreshold")
            assert arrival["AlarmActions"] == [{"Ref": "AlarmTopic"}], q.prefix
        for alarm_id, (namespace, metric, dimension, target, threshold) in expected.items():
            a = sam_template["Resources"][alarm_id]
            assert a["Type"] == "AWS::CloudWatch::Alarm", alarm_id
            props = a["Properties"]
            assert (props["Namespace"], props["MetricName"]) == (namespace, metric), alarm_id
            assert props["Dimensions"] == [{"Name": dimension, "Value": target}], alarm_id
            assert props["Threshold"] == threshold and props["ComparisonOperator"] == "GreaterThanThreshold"
            assert props["TreatMissingData"] == "notBreaching", alarm_id
            assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}], alarm_id
            assert c.name in props["AlarmDescription"].lower(), alarm_id


# --- outputs ------------------------------------------------------------------------------------

def _contract_outputs():
    """The output names of docs/contracts/http-api.md ("Stack outputs the tests and tools rely
    on"), else the copy above."""
    if not HTTP_API_CONTRACT.exists():
        return CONTRACT_OUTPUTS
    text = HTTP_API_CONTRACT.read_text()
    section = text.split("## Stack outputs", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"`([A-Za-z]+)`", section.split("\n\n", 2)[1])


def _lifecycle_outputs():
    """The outputs named in docs/contracts/order-lifecycle.md's "Tables other tools read", else the copy above."""
    if not LIFECYCLE_CONTRACT.exists():
        return LIFECYCLE_OUTPUTS
    section = LIFECYCLE_CONTRACT.read_text().split("## Tables other tools read", 1)[1].split("\n## ", 1)[0]
    return sorted(set(re.findall(r"`([A-Za-z]+(?:TableName|TopicArn|ApiUrl))`", section)) | {"ApiUrl"})


def test_outputs_of_the_lifecycle_contract_are_present(cfn):
    names = _lifecycle_outputs()
    assert set(LIFECYCLE_OUTPUTS) <= set(names), set(LIFECYCLE_OUTPUTS) - set(names)
    missing = [n for n in names if n not in cfn["Outputs"]]
    assert not missing, missing
    # "the queue and DLQ URL of every consumer (<Name>QueueUrl, <Name>DlqUrl)": the timer's too.
    for name in ("OrderLifecycleQueueUrl", "OrderLifecycleDlqUrl", "OrderLifecycleTimerQueueUrl",
                 "OrderLifecycleTimerDlqUrl", "ShippingQueueUrl", "ShippingDlqUrl", "OrderLifecycleFunctionName",
                 "ShippingFunctionName"):
        assert name in cfn["Outputs"], name


def test_outputs_of_the_contract_are_present(cfn):
    names = _contract_outputs()
    assert set(CONTRACT_OUTPUTS) <= set(names) or names == CONTRACT_OUTPUTS
    missing = [n for n in list(names) + LOCAL_OUTPUTS if n not in cfn["Outputs"]]
    assert not missing, missing


def test_every_consumer_has_its_outputs(sam_template, consumers):
    outputs = sam_template["Outputs"]
    for c in consumers:
        p = c.pascal
        expected = {f"{p}FunctionName": f"{p}Function"}
        for q in c.queues():
            expected.update({f"{q.prefix}QueueUrl": f"{q.prefix}Queue", f"{q.prefix}DlqUrl": f"{q.prefix}Dlq"})
        expected.update({f"{t.name}TableName": t.logical_id for t in c.tables})
        for name, target in expected.items():
            assert outputs.get(name) == {"Value": {"Ref": target}}, name
    # Tools find the DLQs as every output ending in DlqUrl (infra/scripts/units dlq-outputs).
    assert {n for n in outputs if n.endswith("DlqUrl")} == \
        {f"{q.prefix}DlqUrl" for c in consumers for q in c.queues()} | {"DeliveryDlqUrl"}
    assert {f"{p}FunctionName" for p in ("OrderApi", "OutboxRelay")} <= set(outputs)
    for fn_id in HAND_FUNCTIONS:
        assert outputs[fn_id + "Name"]["Value"] == {"Ref": fn_id}


# --- the event store ----------------------------------------------------------------------------

def test_the_event_store_takes_every_event_without_a_filter(cfn, rust_consts):
    sub = cfn["Resources"]["EventStoreSubscription"]["Properties"]
    assert ref_target(sub["Endpoint"]) == "EventStoreQueue"
    assert ref_target(sub["TopicArn"]) == "OrderEventsTopic"
    # No filter at all: every type and version, including those no crate knows yet.
    assert "FilterPolicy" not in sub and "FilterPolicyScope" not in sub
    assert sub["RawMessageDelivery"] in (True, "true")  # the body is the published message, as stored


def test_the_event_store_table_has_its_indexes_and_ttl(cfn):
    p = cfn["Resources"]["EventStoreTable"]["Properties"]
    assert p["KeySchema"] == [{"AttributeName": "eventId", "KeyType": "HASH"}]
    indexes = {g["IndexName"]: g for g in p["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"byOrder", "byType"}
    for name, hash_key in (("byOrder", "orderId"), ("byType", "eventType")):
        assert indexes[name]["KeySchema"] == [{"AttributeName": hash_key, "KeyType": "HASH"},
                                              {"AttributeName": "timeId", "KeyType": "RANGE"}], name
        assert indexes[name]["Projection"] == {"ProjectionType": "ALL"}, name
    assert {a["AttributeName"] for a in p["AttributeDefinitions"]} == {"eventId", "orderId", "eventType", "timeId"}
    assert p["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}


def test_the_event_store_is_an_output_and_its_retention_a_parameter(cfn, sam_template):
    assert ref_target(cfn["Outputs"]["EventStoreTableName"]["Value"]) == "EventStoreTable"
    p = sam_template["Parameters"]["EventRetentionDays"]
    assert (p["Type"], p["Default"], p["MinValue"]) == ("Number", 400, 0)
    env = cfn["Resources"]["EventStoreFunction"]["Properties"]["Environment"]["Variables"]
    assert env["EVENT_RETENTION_DAYS"] == {"Ref": "EventRetentionDays"}
    assert env["EVENT_STORE_TABLE_NAME"] == {"Ref": "EventStoreTable"}


def test_the_order_api_reads_the_event_store_by_order_only(cfn):
    fn = cfn["Resources"]["OrderApiFunction"]["Properties"]
    assert fn["Environment"]["Variables"]["EVENT_STORE_TABLE_NAME"] == {"Ref": "EventStoreTable"}
    statements = cfn["Resources"]["OrderApiRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    by_sid = {s["Sid"]: s for s in statements}
    assert by_sid["EventStore"]["Action"] == "dynamodb:Query"
    assert by_sid["EventStore"]["Resource"] == [{"Fn::GetAtt": ["EventStoreTable", "Arn"]},
                                                {"Fn::Sub": "${EventStoreTable.Arn}/index/byOrder"}]
    # Nothing else of the store: the API never writes an event there.
    assert not [s for s in statements if s["Sid"] != "EventStore" and "EventStoreTable" in str(s["Resource"])]


def test_the_outbox_backlog_and_deferred_publishes_are_alarmed(sam_template):
    expected = {  # logical id -> (metric, Service, threshold)
        "OutboxPendingAgeAlarm": ("OutboxOldestPendingAgeSeconds", "outbox-relay", 300),
        "OutboxMalformedAlarm": ("OutboxMalformed", "outbox-relay", 0),
        "OutboxPublishDeferredAlarm": ("OutboxPublishDeferred", "order-api", 0),
    }
    for alarm_id, (metric, service, threshold) in expected.items():
        props = sam_template["Resources"][alarm_id]["Properties"]
        assert (props["Namespace"], props["MetricName"]) == ("orderflow", metric), alarm_id
        assert props["Dimensions"] == [{"Name": "Service", "Value": service}], alarm_id
        assert props["Threshold"] == threshold and props["ComparisonOperator"] == "GreaterThanThreshold", alarm_id
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}], alarm_id


# --- errors API Gateway answers itself -------------------------------------------------------------

# RFC 9110 reason phrases: an `about:blank` problem's title is its status's phrase (RFC 9457 4.2.1).
STATUS_PHRASES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                  413: "Content Too Large", 415: "Unsupported Media Type", 429: "Too Many Requests",
                  500: "Internal Server Error", 502: "Bad Gateway", 504: "Gateway Timeout"}
# The response types this API can produce (IAM authorization included), each with its status.
GATEWAY_RESPONSE_STATUS = {
    "REQUEST_TOO_LARGE": 413, "THROTTLED": 429, "QUOTA_EXCEEDED": 429,
    "ACCESS_DENIED": 403, "MISSING_AUTHENTICATION_TOKEN": 403, "INVALID_SIGNATURE": 403, "EXPIRED_TOKEN": 403,
    "INTEGRATION_TIMEOUT": 504, "INTEGRATION_FAILURE": 504, "API_CONFIGURATION_ERROR": 500,
}
ORDER_API_HTTP = REPO / "lambdas" / "order-api" / "src" / "http.rs"


def _gateway_responses(cfn):
    """The gateway responses as API Gateway gets them: in the OpenAPI body of the REST API (so every
    deployment of the stage carries them)."""
    body = cfn["Resources"]["OrderApi"]["Properties"]["Body"]
    return body["x-amazon-apigateway-gateway-responses"]


def _render(template):
    """The body API Gateway sends: its simple substitution of the two variables used."""
    assert set(re.findall(r"\$[A-Za-z.]+", template)) <= {"$context.requestId", "$context.error.messageString"}
    return json.loads(template.replace("$context.error.messageString", json.dumps("Message from \"API Gateway\""))
                      .replace("$context.requestId", "c0ffee-1"))


def test_errors_api_gateway_answers_itself_are_problem_json(cfn):
    responses = _gateway_responses(cfn)
    assert set(responses) == set(GATEWAY_RESPONSE_STATUS) | {"DEFAULT_4XX", "DEFAULT_5XX"}
    # No other gateway response resources: SAM redeploys would not carry them.
    assert not resources(cfn, "AWS::ApiGateway::GatewayResponse")
    function_types = set(re.findall(r'"(about:blank|urn:orderflow:problem:[a-z-]+)"', ORDER_API_HTTP.read_text()))
    assert "about:blank" in function_types
    for name, response in responses.items():
        header = {"gatewayresponse.header.Content-Type": "'application/problem+json'"}
        assert response["responseParameters"] == header, name
        templates = response["responseTemplates"]
        assert set(templates) == {"application/problem+json", "application/json"}, name
        assert templates["application/json"] == templates["application/problem+json"], name
        problem = _render(templates["application/problem+json"])
        assert problem["requestId"] == "c0ffee-1", name
        # The scheme of the function's own types: about:blank, or urn:orderflow:problem:<kebab-case>.
        assert re.fullmatch(r"about:blank|urn:orderflow:problem:[a-z]+(-[a-z]+)*", problem["type"]), name
        if name.startswith("DEFAULT_"):
            # Whatever type it stands for: its status is unknown to the template, its message the detail.
            assert "statusCode" not in response, name
            assert set(problem) == {"type", "title", "detail", "requestId"}, name
            assert problem["type"] == "urn:orderflow:problem:gateway-error", name
            assert problem["detail"] == "Message from \"API Gateway\"", name
            continue
        status = GATEWAY_RESPONSE_STATUS[name]
        assert response["statusCode"] == str(status), name
        assert set(problem) == {"type", "title", "status", "detail", "requestId"}, name
        assert (problem["type"], problem["title"], problem["status"]) == ("about:blank", STATUS_PHRASES[status], status)
        # A fixed detail: API Gateway's message (ARNs for ACCESS_DENIED) never reaches the caller.
        assert "$context.error" not in templates["application/problem+json"], name
        assert problem["detail"] and problem["detail"][0].islower(), name  # written like the function's details
    assert "65536 bytes" in _render(responses["REQUEST_TOO_LARGE"]["responseTemplates"]["application/json"])["detail"]
    for name in ("INTEGRATION_TIMEOUT", "INTEGRATION_FAILURE"):  # the order may have been placed after all
        assert "Idempotency-Key" in _render(responses[name]["responseTemplates"]["application/json"])["detail"]


def test_the_contract_documents_the_gateway_errors():
    text = HTTP_API_CONTRACT.read_text()
    for name in GATEWAY_RESPONSE_STATUS:
        assert f"`{name}`" in text, name
    assert "urn:orderflow:problem:gateway-error" in text and "requestId" in text


# --- the shared idempotency table, partitioned by owner ---------------------------------------

def _idempotency_statements(cfn):
    for name, doc in _policy_documents(cfn):
        for st in doc["Statement"]:
            if st.get("Effect") == "Allow" and ref_target(st.get("Resource")) == "IdempotencyTable":
                yield name.split("/")[0], st


def test_each_role_may_touch_only_its_own_idempotency_records(cfn, consumers):
    owners = {}
    for role, st in _idempotency_statements(cfn):
        [prefix] = st["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
        assert prefix.endswith("#*"), role
        owners[role] = prefix.removesuffix("#*")
    expected = {f"{c.pascal}Role": c.name for c in consumers} | {"OrderApiRole": "order-api"}
    assert owners == expected
    assert len(set(owners.values())) == len(owners), "no two roles share a key prefix"
    # The prefixes are the ones the code writes: the consumer core keys `<CONSUMER>#<event id>`,
    # the order API `order-api#<Idempotency-Key>`.
    for c in consumers:
        lib = REPO / "lambdas" / c.name / "src" / "lib.rs"
        if lib.exists():  # the loyalty case's consumer is generated into the template only
            assert f'pub const CONSUMER: &str = "{c.name}";' in lib.read_text(), c.name
    assert 'format!("order-api#{}"' in (REPO / "lambdas/order-api/src/ports.rs").read_text()
    assert 'format!("{}#{}", self.config.consumer' in (REPO / "crates/orderflow-consumer/src/batch.rs").read_text()


def test_the_order_api_gets_only_the_idempotency_calls_it_makes(cfn):
    [(_, st)] = [(role, st) for role, st in _idempotency_statements(cfn) if role == "OrderApiRole"]
    # A Put in the order's transaction and a GetItem on a replay; it never updates or deletes one.
    assert sorted(as_list(st["Action"])) == ["dynamodb:GetItem", "dynamodb:PutItem"]


# --- least privilege: every granted data-plane action is one the function's code calls ----------

# The IAM action of each SDK call (`.get_item()`) and transaction item (`Put::builder()`); a
# TransactWriteItems needs the actions of its items, not an action of its own.
_SDK_CALLS = {
    "dynamodb:GetItem": r"\.get_item\(\)", "dynamodb:PutItem": r"\.put_item\(\)|\bPut::builder\(\)",
    "dynamodb:UpdateItem": r"\.update_item\(\)|\bUpdate::builder\(\)",
    "dynamodb:DeleteItem": r"\.delete_item\(\)|\bDelete::builder\(\)",
    "dynamodb:ConditionCheckItem": r"\bConditionCheck::builder\(\)", "dynamodb:Query": r"\.query\(\)",
    "dynamodb:Scan": r"\.scan\(\)", "dynamodb:BatchWriteItem": r"\.batch_write_item\(\)",
    "dynamodb:BatchGetItem": r"\.batch_get_item\(\)", "sns:Publish": r"\.publish\(\)",
    "sns:PublishBatch": r"\.publish_batch\(\)", "ses:SendEmail": r"\.send_email\(\)",
    "ses:SendRawEmail": r"\.send_raw_email\(\)", "sqs:SendMessage": r"\.send_message\(\)",
}
# Called by Lambda's event source mapping and runtime on the function's behalf, not by its code.
_SERVICE_SIDE = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"}


def _crate_sources(crate_dir: Path, workspace_deps: dict, seen: set) -> str:
    """The text of a crate's src/ and of every workspace crate it depends on (not dev-deps)."""
    if crate_dir in seen:
        return ""
    seen.add(crate_dir)
    text = "".join(f.read_text() for f in sorted((crate_dir / "src").rglob("*.rs")))
    manifest = (crate_dir / "Cargo.toml").read_text()
    deps = manifest.split("[dependencies]", 1)[1].split("\n[", 1)[0]
    for name in re.findall(r"^([a-z0-9-]+)\s*=", deps, flags=re.M):
        if name in workspace_deps:
            text += _crate_sources(REPO / workspace_deps[name], workspace_deps, seen)
    return text


def test_no_role_is_granted_a_data_action_its_code_never_calls(case, sam_template, cfn):
    # Per action, not per (action, table): a call is not tied to the table it targets here. The
    # SQS consume actions are Lambda's, on the function's behalf. Only the repo's own functions:
    # the generated variant's extra consumer has no crate.
    if case.name != "repo":
        pytest.skip("the variant's consumer has no code")
    root = (REPO / "Cargo.toml").read_text()
    workspace_deps = dict(re.findall(r'^([a-z0-9-]+)\s*=\s*\{[^}]*path\s*=\s*"([^"]+)"', root, flags=re.M))
    problems = []
    for fn in resources(sam_template, "AWS::Serverless::Function").values():
        binary = fn["Metadata"]["BuildProperties"]["Binary"]
        code = _crate_sources(REPO / "lambdas" / binary, workspace_deps, set())
        called = {action for action, pattern in _SDK_CALLS.items() if re.search(pattern, code)}
        role = ref_target(fn["Properties"]["Role"])
        granted = set()
        for pol in cfn["Resources"][role]["Properties"]["Policies"]:
            for st in pol["PolicyDocument"]["Statement"]:
                if st["Effect"] == "Allow":
                    data = ("dynamodb", "sns", "ses", "sqs")
                    granted |= {a for a in as_list(st["Action"]) if a.split(":")[0] in data}
        if unused := granted - called - _SERVICE_SIDE:
            problems.append(f"{role} is granted {sorted(unused)}, which {binary}'s code never calls")
    assert not problems, "\n".join(problems)
