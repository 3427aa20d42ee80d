"""The fault injector (localstack/README.md, "Faults on purpose").

Unit tests of faults.py and gateway.py's helpers (no LocalStack), then integration tests against a
LocalStack of this module's own (the `localstack` fixture of conftest.py): AWS-shaped errors per
protocol, matching, latency, request counts, callers, kill, DynamoDB transaction conflicts.
"""

import json
import random
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import ENDPOINT, PYFN_DIR
from orderflow_localstack.faults import (
    CALLER_KEY_LENGTH,
    CALLER_KEY_PREFIX,
    COMMON_ERRORS,
    DEFAULT_TRANSACTION_HOLD_MS,
    ERRORS,
    Call,
    Callers,
    FaultRegistry,
    ItemHolds,
    RequestCounts,
    RuleError,
    access_key_of,
    errors_for,
    parse_rule,
    parse_rules_body,
)

# ---- parsing -------------------------------------------------------------------------------


def test_a_minimal_rule_and_its_defaults():
    rule = parse_rule({"service": "DynamoDB", "error": "ThrottlingException"})
    assert rule.service == "dynamodb"
    assert (rule.operations, rule.resource, rule.caller, rule.body_contains) == (None, None, None, None)
    assert (rule.latency_ms, rule.count, rule.kill, rule.probability) == (None, None, False, 1.0)


def test_every_field_parses():
    rule = parse_rule(
        {
            "service": "sqs",
            "operations": ["SendMessage", "SendMessageBatch"],
            "resource": "orders-dlq",
            "caller": "order-api",
            "body_contains": '"kind":"x"',
            "error": "InternalError",
            "latency_ms": 12.7,
            "probability": 0.5,
            "count": 3,
        }
    )
    assert rule.operations == frozenset({"SendMessage", "SendMessageBatch"})
    assert (rule.resource, rule.caller, rule.body_contains, rule.error) == (
        "orders-dlq",
        "order-api",
        '"kind":"x"',
        "InternalError",
    )
    assert (rule.latency_ms, rule.probability, rule.count) == (12, 0.5, 3)
    assert parse_rule({"service": "lambda", "kill": True}).kill


@pytest.mark.parametrize(
    ("doc", "field", "message"),
    [
        ([], "rules", "JSON object"),
        ({"service": "sqs", "error": "InternalError", "colour": "red"}, "colour", "unknown field"),
        ({"error": "InternalError"}, "service", "required"),
        ({"service": "", "error": "InternalError"}, "service", "required"),
        ({"service": 3, "error": "InternalError"}, "service", "required"),
        ({"service": "sqs", "error": "InternalError", "operations": "SendMessage"}, "operations", "list"),
        ({"service": "sqs", "error": "InternalError", "operations": []}, "operations", "list"),
        ({"service": "sqs", "error": "InternalError", "operations": ["", "X"]}, "operations", "list"),
        ({"service": "sqs", "error": "InternalError", "operations": [1]}, "operations", "list"),
        ({"service": "sqs", "error": "Throttling"}, "error", "not an error of sqs"),
        ({"service": "sns", "error": ""}, "error", "non-empty string"),
        ({"service": "lambda", "error": "ProvisionedThroughputExceededException"}, "error", "not an error of lambda"),
        ({"service": "sqs", "latency_ms": -1}, "latency_ms", "between 0 and 600000"),
        ({"service": "sqs", "latency_ms": 600_001}, "latency_ms", "between 0 and 600000"),
        ({"service": "sqs", "latency_ms": "5"}, "latency_ms", "between 0 and 600000"),
        ({"service": "sqs", "latency_ms": True}, "latency_ms", "between 0 and 600000"),
        ({"service": "sqs", "latency_ms": 5, "probability": 1.5}, "probability", "between 0 and 1"),
        ({"service": "sqs", "latency_ms": 5, "probability": -0.1}, "probability", "between 0 and 1"),
        ({"service": "sqs", "latency_ms": 5, "probability": True}, "probability", "between 0 and 1"),
        ({"service": "sqs", "latency_ms": 5, "probability": "1"}, "probability", "between 0 and 1"),
        ({"service": "sqs", "latency_ms": 5, "count": 0}, "count", "positive integer"),
        ({"service": "sqs", "latency_ms": 5, "count": 1.5}, "count", "positive integer"),
        ({"service": "sqs", "latency_ms": 5, "count": True}, "count", "positive integer"),
        ({"service": "sqs", "kill": "yes"}, "kill", "true or false"),
        ({"service": "sqs", "kill": True, "error": "InternalError"}, "kill", "not both"),
        ({"service": "sqs"}, "error", "needs an error, latency_ms or kill"),
        ({"service": "sqs", "kill": False}, "error", "needs an error, latency_ms or kill"),
        ({"service": "sqs", "latency_ms": 5, "resource": ""}, "resource", "non-empty string"),
        ({"service": "sqs", "latency_ms": 5, "caller": 7}, "caller", "non-empty string"),
        ({"service": "sqs", "latency_ms": 5, "body_contains": ["x"]}, "body_contains", "non-empty string"),
    ],
)
def test_every_invalid_rule_is_refused_naming_its_field(doc, field, message):
    with pytest.raises(RuleError) as e:
        parse_rule(doc)
    assert e.value.field == field
    assert str(e.value).startswith(f"{field}: ")
    assert message in str(e.value)


def test_an_unknown_error_lists_the_known_ones():
    with pytest.raises(RuleError) as e:
        parse_rule({"service": "ses", "error": "Nope"})
    assert "InternalFailure, ServiceUnavailable, Throttling" in str(e.value)


def test_errors_per_service_and_the_common_ones():
    assert errors_for("dynamodb") is ERRORS["dynamodb"]
    assert errors_for("logs") is COMMON_ERRORS
    for errors in [*ERRORS.values(), COMMON_ERRORS]:
        for status, message, sender_fault in errors.values():
            assert status in (400, 500, 503) and message
            assert sender_fault == (status == 400)


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        (None, "rules"),
        ([], "rules"),
        ({}, "rules"),
        ({"rules": {}}, "rules"),
        ({"rules": []}, "rules"),
        ({"rules": [{"service": "sqs", "latency_ms": 1}, {"service": "sqs"}]}, "rules[1].error"),
        ({"rules": ["x"]}, "rules[0].rules"),
    ],
)
def test_a_bad_body_is_refused(doc, field):
    with pytest.raises(RuleError) as e:
        parse_rules_body(doc)
    assert e.value.field == field


def test_a_rule_reports_itself_as_the_e2e_client_reads_it():
    registry = FaultRegistry()
    rules = parse_rules_body(
        {"rules": [{"service": "sns", "operations": ["Publish", "CreateTopic"], "error": "Throttling", "count": 2}]}
    )
    [rule_id] = registry.add(rules)
    assert registry.rules() == [
        {
            "id": rule_id,
            "service": "sns",
            "operations": ["CreateTopic", "Publish"],
            "error": "Throttling",
            "count": 2,
            "probability": 1.0,
            "matched": 0,
            "injected": 0,
        }
    ]
    json.dumps(registry.rules())  # JSON as it is
    [kill] = registry.add([parse_rule({"service": "sqs", "kill": True, "latency_ms": 3})])
    assert registry.rules()[1] == {
        "id": kill,
        "service": "sqs",
        "latency_ms": 3,
        "probability": 1.0,
        "kill": True,
        "matched": 0,
        "injected": 0,
    }


# ---- matching and deciding -----------------------------------------------------------------


def registry_with(*docs, rng=None):
    registry = FaultRegistry(rng=rng)
    ids = registry.add(parse_rule(doc) for doc in docs)
    return registry, ids


def call(service="dynamodb", operation="PutItem", resources=("orders",), caller=None, body=b"", env=False):
    return Call(service, operation, tuple(resources), caller, lambda: body, env)


def test_no_rules_no_decision():
    registry = FaultRegistry()
    assert not registry.active()
    assert registry.decide(call()) is None


@pytest.mark.parametrize(
    ("doc", "hits", "misses"),
    [
        ({}, [call()], [call(service="sqs")]),
        ({"operations": ["PutItem", "UpdateItem"]}, [call(operation="UpdateItem")], [call(operation="GetItem")]),
        ({"resource": "ord"}, [call(resources=("x", "prod-orders"))], [call(resources=("idem",)), call(resources=[])]),
        ({"caller": "order-api"}, [call(caller="order-api")], [call(caller="order-api-2"), call(caller=None)]),
        ({"body_contains": "needle"}, [call(body=b'{"a": "needle"}')], [call(body=b"hay")]),
    ],
)
def test_each_field_narrows_the_match(doc, hits, misses):
    registry, _ = registry_with({"service": "dynamodb", "error": "ThrottlingException", **doc})
    for c in hits:
        decision = registry.decide(c)
        assert decision is not None and decision.error == "ThrottlingException", c
        assert not decision.kill and decision.latency_ms == 0
    for c in misses:
        assert registry.decide(c) is None, c
    assert registry.rules()[0]["matched"] == registry.rules()[0]["injected"] == len(hits)


def test_a_kill_rule_only_matches_a_call_from_an_environment():
    registry, _ = registry_with({"service": "sqs", "kill": True})
    assert registry.decide(call(service="sqs", caller="fn")) is None  # no environment to kill
    decision = registry.decide(call(service="sqs", caller="fn", env=True))
    assert decision.kill and decision.error is None


def test_the_body_is_read_only_when_a_rule_asks():
    reads = []

    def body():
        reads.append(1)
        return b"x"

    registry, _ = registry_with({"service": "dynamodb", "error": "ThrottlingException", "resource": "nope"})
    assert registry.decide(Call("dynamodb", "PutItem", ("orders",), None, body)) is None
    assert reads == []


@pytest.mark.parametrize(
    "body",
    [
        b'{"Message": "{\\"kind\\":\\"OrderPlaced\\"}"}',  # JSON protocols: as sent
        b"Action=Publish&Message=%7B%22kind%22%3A%22OrderPlaced%22%7D&TopicArn=arn",  # query protocol
        b"Action=SendEmail&Message.Body.Text.Data=%22kind%22%3A%22OrderPlaced%22+and+more",
    ],
)
def test_body_matching_of_raw_and_form_encoded_bodies(body):
    registry, _ = registry_with({"service": "sns", "error": "Throttling", "body_contains": '"kind":"OrderPlaced"'})
    assert registry.decide(call(service="sns", operation="Publish", body=body)).error == "Throttling"


def test_a_json_body_matches_inside_its_string_values():
    registry, _ = registry_with({"service": "sqs", "error": "InternalError", "body_contains": '"state":"COMPLETED"'})
    assert registry.decide(call(service="sqs", body=b'{"MessageBody": "{\\"state\\":\\"COMPLETED\\"}"}'))
    assert registry.decide(call(service="sqs", body=b'{"MessageBody": "{\\"state\\":\\"PENDING\\"}"}')) is None
    assert registry.decide(call(service="sqs", body=b'{"broken": "\\"state\\":\\"COMPLETED\\"')) is None


def test_a_form_encoded_body_with_spaces_matches_its_decoded_text():
    registry, _ = registry_with({"service": "ses", "error": "Throttling", "body_contains": "order 42 shipped"})
    assert registry.decide(call(service="ses", body=b"Action=SendEmail&Subject=order+42+shipped")) is not None
    assert registry.decide(call(service="ses", body=b"Action=SendEmail&Subject=order+43+shipped")) is None


def test_count_limits_the_injections():
    registry, [rule_id] = registry_with({"service": "dynamodb", "error": "ThrottlingException", "count": 2})
    assert [registry.decide(call()) is not None for _ in range(4)] == [True, True, False, False]
    [report] = registry.rules()
    assert (report["matched"], report["injected"]) == (2, 2)  # a spent rule no longer matches
    assert registry.injected_per_service() == {"dynamodb": 2}


def test_probability_draws_from_the_rng():
    draws = random.Random(42)
    expected = [draws.random() < 0.3 for _ in range(200)]
    registry, _ = registry_with({"service": "dynamodb", "error": "ThrottlingException", "probability": 0.3},
                                rng=random.Random(42))
    got = [registry.decide(call()) is not None for _ in range(200)]
    assert got == expected
    assert 40 < sum(got) < 80
    [report] = registry.rules()
    assert report["matched"] == 200 and report["injected"] == sum(got)


def test_probability_zero_matches_without_injecting_and_one_always_injects():
    registry, _ = registry_with(
        {"service": "sqs", "error": "InternalError", "probability": 0},
        {"service": "sns", "error": "InternalError", "probability": 1},
        rng=random.Random(1),
    )
    for _ in range(20):
        assert registry.decide(call(service="sqs")) is None
        assert registry.decide(call(service="sns")) is not None
    assert [(r["matched"], r["injected"]) for r in registry.rules()] == [(20, 0), (20, 20)]


def test_a_probability_miss_does_not_spend_the_count():
    registry, _ = registry_with(
        {"service": "sqs", "error": "InternalError", "probability": 0.5, "count": 3}, rng=random.Random(3)
    )
    hits = sum(registry.decide(call(service="sqs")) is not None for _ in range(50))
    assert hits == 3
    assert registry.rules()[0]["matched"] > 3


def test_latencies_add_up_until_the_first_error():
    registry, ids = registry_with(
        {"service": "sqs", "latency_ms": 100},
        {"service": "sqs", "latency_ms": 20, "operations": ["SendMessage"]},
        {"service": "sqs", "latency_ms": 5, "error": "RequestThrottled"},
        {"service": "sqs", "latency_ms": 1000, "error": "InternalError"},  # never reached
    )
    decision = registry.decide(call(service="sqs", operation="SendMessage"))
    assert decision.latency_ms == 125 and decision.error == "RequestThrottled" and decision.rule.id == ids[2]
    decision = registry.decide(call(service="sqs", operation="ReceiveMessage"))
    assert decision.latency_ms == 105 and decision.error == "RequestThrottled"
    assert [r["injected"] for r in registry.rules()] == [2, 1, 2, 0]
    assert registry.injected_per_service() == {"sqs": 5}


def test_a_latency_only_decision_serves_the_request():
    registry, _ = registry_with({"service": "sqs", "latency_ms": 40})
    decision = registry.decide(call(service="sqs"))
    assert decision.latency_ms == 40 and decision.rule is None and decision.error is None and not decision.kill


def test_remove_clear_and_reset():
    registry, ids = registry_with({"service": "sqs", "latency_ms": 1}, {"service": "sns", "latency_ms": 1})
    registry.decide(call(service="sqs"))
    assert registry.remove(ids[0]) == 1 and registry.remove(ids[0]) == 0 and registry.remove("nope") == 0
    assert [r["id"] for r in registry.rules()] == [ids[1]]
    assert registry.injected_per_service() == {"sqs": 1}  # removed rules' injections still count
    registry.reset_injected()
    assert registry.injected_per_service() == {}
    assert registry.clear() == 1 and registry.clear() == 0 and registry.rules() == []
    assert len(set(registry.add([parse_rule({"service": "sqs", "latency_ms": 1}) for _ in range(50)]))) == 50


def test_request_counts():
    counts = RequestCounts()
    for s, o, c in [("sqs", "SendMessage", "fn"), ("sqs", "SendMessage", "fn"), ("sqs", "SendMessage", None),
                    ("dynamodb", "PutItem", "fn")]:
        counts.count(s, o, c)
    assert counts.snapshot() == [
        {"service": "dynamodb", "operation": "PutItem", "caller": "fn", "count": 1},
        {"service": "sqs", "operation": "SendMessage", "caller": None, "count": 1},
        {"service": "sqs", "operation": "SendMessage", "caller": "fn", "count": 2},
    ]
    assert counts.reset() == 3 and counts.snapshot() == []


def test_counts_from_many_threads_add_up():
    counts = RequestCounts()
    threads = [threading.Thread(target=lambda: [counts.count("sqs", "X", None) for _ in range(500)]) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counts.snapshot()[0]["count"] == 4000


# ---- callers -------------------------------------------------------------------------------


def test_access_key_of_a_sigv4_authorization():
    header = (
        "AWS4-HMAC-SHA256 Credential=OFLE0123456789ABCDEF/20260101/us-east-1/sqs/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=abc"
    )
    assert access_key_of(header) == "OFLE0123456789ABCDEF"
    assert access_key_of(None) is None and access_key_of("") is None and access_key_of("Basic x") is None


def test_callers_register_lookup_unregister():
    callers = Callers()
    killed = []
    key = callers.register("order-api", lambda: killed.append(1) or True)
    other = callers.register("order-api", lambda: False)
    assert key != other  # one key per environment
    assert key.startswith(CALLER_KEY_PREFIX) and len(key) == CALLER_KEY_LENGTH
    env = callers.lookup(key)
    assert env.function_name == "order-api" and env.kill() is True and killed == [1]
    assert callers.lookup("test") is None and callers.lookup(None) is None
    assert callers.lookup(CALLER_KEY_PREFIX + "0" * 16) is None
    callers.unregister(key)
    callers.unregister(key)
    assert callers.lookup(key) is None and callers.lookup(other).function_name == "order-api"


def test_a_caller_key_is_the_default_account():
    from localstack.aws.accounts import get_account_id_from_access_key_id

    key = Callers().register("fn", lambda: False)
    assert get_account_id_from_access_key_id(key) == "000000000000"


# ---- DynamoDB item holds -------------------------------------------------------------------


def test_item_holds_all_or_nothing():
    holds = ItemHolds()
    first, second = object(), object()
    a, b, c = ("t", "a"), ("t", "b"), ("u", "c")
    assert holds.acquire([a, b], first) is None
    assert holds.is_held(a) and holds.is_held(b)
    assert holds.acquire([c, b], second) == 1  # b is first's; c was not taken either
    assert not holds.is_held(c)
    assert holds.acquire([a], first) is None  # its own
    holds.release([a, b], second)  # not second's to release
    assert holds.is_held(a)
    holds.release([a, b], first)
    assert not holds.is_held(a) and not holds.is_held(b)
    assert holds.acquire([c, b], second) is None
    assert holds.acquire([], first) is None


def test_item_holds_settings():
    holds = ItemHolds()
    assert holds.settings() == {"transaction_hold_ms": DEFAULT_TRANSACTION_HOLD_MS} == {"transaction_hold_ms": 5}
    assert holds.configure({"transaction_hold_ms": 200}) == {"transaction_hold_ms": 200} and holds.hold_ms == 200
    assert holds.configure({"transaction_hold_ms": 0})["transaction_hold_ms"] == 0
    for bad, field in [
        ([], "transaction_hold_ms"),
        ({}, "transaction_hold_ms"),
        ({"transaction_hold_ms": -1}, "transaction_hold_ms"),
        ({"transaction_hold_ms": 60_001}, "transaction_hold_ms"),
        ({"transaction_hold_ms": 1.5}, "transaction_hold_ms"),
        ({"transaction_hold_ms": True}, "transaction_hold_ms"),
        ({"transaction_hold_ms": 5, "x": 1}, "x"),
    ]:
        with pytest.raises(RuleError) as e:
            holds.configure(bad)
        assert e.value.field == field
    assert holds.hold_ms == 0


# ---- gateway helpers (LocalStack importable, not running) ----------------------------------


def test_resources_of_each_service():
    from orderflow_localstack.gateway import resources_of

    assert resources_of("dynamodb", {"TableName": "orders"}) == ("orders",)
    assert resources_of(
        "dynamodb",
        {"TransactItems": [{"Put": {"TableName": "a"}}, {"ConditionCheck": {"TableName": "b"}}]},
    ) == ("a", "b")
    assert resources_of("dynamodb", {"RequestItems": {"x": [], "y": []}}) == ("x", "y")
    assert resources_of("sns", {"TopicArn": "arn:t", "Message": "m"}) == ("arn:t",)
    assert resources_of("sqs", {"QueueUrl": "http://localhost/000000000000/q"}) == ("http://localhost/000000000000/q",)
    assert resources_of("ses", {"Source": "shop@example.com"}) == ("shop@example.com",)
    assert resources_of("lambda", {"FunctionName": "f"}) == ()
    assert resources_of("sqs", None) == ()


def test_body_of_re_encodes_a_consumed_form():
    from localstack.http import Request

    from orderflow_localstack.gateway import body_of

    form = b"Action=Publish&Message=%7B%22kind%22%3A+%22x%22%7D"
    request = Request("POST", "/", body=form, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert request.form["Message"] == '{"kind": "x"}'  # what LocalStack's query parser does first
    assert b"Message=%7B%22kind%22%3A+%22x%22%7D" in body_of(request)()
    raw = Request("POST", "/", body=b'{"a": 1}', headers={"Content-Type": "application/x-amz-json-1.0"})
    assert body_of(raw)() == b'{"a": 1}'


# ---- integration ---------------------------------------------------------------------------
# One LocalStack for this module (conftest.py's fixture); each test clears the rules, the counts
# and the transaction hold before and after.


def aws(service):
    import boto3

    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        # One attempt: an injected throttling or 5xx must reach the test, not be retried away.
        config=Config(retries={"total_max_attempts": 1}, read_timeout=60),
    )


def control(method, path, body=None):
    """(status, JSON answer) of the control API; fails when the answer is not JSON."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{ENDPOINT}/_orderflow{path}", data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            status, text = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read()
    return status, json.loads(text)


def add_rules(*rules):
    status, doc = control("POST", "/faults", {"rules": list(rules)})
    assert status == 200, doc
    return doc["ids"]


@pytest.fixture
def faults(localstack):
    def reset():
        assert control("DELETE", "/faults")[0] == 200
        assert control("DELETE", "/requests")[0] == 200
        assert control("POST", "/dynamodb", {"transaction_hold_ms": DEFAULT_TRANSACTION_HOLD_MS})[0] == 200

    reset()
    yield
    reset()


@pytest.fixture(scope="module")
def world(localstack):
    """A table, a topic, a queue and a verified SES sender, made with the test credentials."""
    suffix = uuid.uuid4().hex[:6]
    ddb = aws("dynamodb")
    table = f"faults-{suffix}"
    ddb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    ddb.put_item(TableName=table, Item={"pk": {"S": "seed"}, "v": {"S": "from the test"}})
    sender = f"shop-{suffix}@example.com"
    aws("ses").verify_email_identity(EmailAddress=sender)
    return {
        "table": table,
        "topic": aws("sns").create_topic(Name=f"faults-{suffix}")["TopicArn"],
        "queue": aws("sqs").create_queue(QueueName=f"faults-{suffix}")["QueueUrl"],
        "sender": sender,
    }


def send_email(world, subject="hello"):
    aws("ses").send_email(
        Source=world["sender"],
        Destination={"ToAddresses": ["someone@example.com"]},
        Message={"Subject": {"Data": subject}, "Body": {"Text": {"Data": "body"}}},
    )


def put(world, pk="a"):
    aws("dynamodb").put_item(TableName=world["table"], Item={"pk": {"S": pk}})


def transact(world, pk="a"):
    aws("dynamodb").transact_write_items(
        TransactItems=[
            {"Put": {"TableName": world["table"], "Item": {"pk": {"S": f"{pk}-other"}}}},
            {"Put": {"TableName": world["table"], "Item": {"pk": {"S": pk}}}},
        ]
    )


CASES = [
    # service, error, call, code boto3 reports, HTTP status
    ("dynamodb", "ProvisionedThroughputExceededException", put, "ProvisionedThroughputExceededException", 400),
    ("dynamodb", "ThrottlingException", put, "ThrottlingException", 400),
    ("dynamodb", "InternalServerError", put, "InternalServerError", 500),
    ("dynamodb", "TransactionConflict", put, "TransactionConflictException", 400),
    ("dynamodb", "TransactionConflict", transact, "TransactionCanceledException", 400),
    ("sns", "Throttling", lambda w: aws("sns").publish(TopicArn=w["topic"], Message="m"), "Throttling", 400),
    ("sns", "InternalError", lambda w: aws("sns").publish(TopicArn=w["topic"], Message="m"), "InternalError", 500),
    ("ses", "Throttling", send_email, "Throttling", 400),
    ("ses", "ServiceUnavailable", send_email, "ServiceUnavailable", 503),
    ("sqs", "ThrottlingException", lambda w: aws("sqs").send_message(QueueUrl=w["queue"], MessageBody="m"),
     "ThrottlingException", 400),
    ("sqs", "InternalError", lambda w: aws("sqs").send_message(QueueUrl=w["queue"], MessageBody="m"),
     "InternalError", 500),
]


@pytest.mark.integration
def test_control_api_answers_json_on_every_route(faults):
    assert control("DELETE", "/faults") == (200, {"removed": 0})
    assert control("GET", "/faults") == (200, {"rules": []})
    [a, b] = add_rules({"service": "sqs", "latency_ms": 1}, {"service": "sns", "error": "Throttling"})
    status, doc = control("GET", "/faults")
    assert status == 200 and [r["id"] for r in doc["rules"]] == [a, b]
    assert control("DELETE", f"/faults/{a}") == (200, {"removed": 1})
    assert control("DELETE", f"/faults/{a}") == (200, {"removed": 0})
    assert control("DELETE", "/faults") == (200, {"removed": 1})
    assert control("GET", "/requests") == (200, {"requests": [], "faults_injected": {}})
    assert control("DELETE", "/requests") == (200, {"removed": 0})
    assert control("GET", "/dynamodb") == (200, {"transaction_hold_ms": 5})
    assert control("POST", "/dynamodb", {"transaction_hold_ms": 7}) == (200, {"transaction_hold_ms": 7})
    status, doc = control("POST", "/faults", {"rules": [{"service": "sqs", "error": "Nope"}]})
    assert status == 400 and doc["field"] == "rules[0].error" and "Nope" in doc["error"]
    status, doc = control("POST", "/dynamodb", {"transaction_hold_ms": -5})
    assert status == 400 and doc["field"] == "transaction_hold_ms"
    for method, path in [("PUT", "/faults"), ("GET", "/nope"), ("GET", ""), ("POST", "/requests/x")]:
        status, doc = control(method, path)
        assert status == 404 and doc["error"] == f"no route {method} /_orderflow{path}" and doc["routes"]
    request = urllib.request.Request(f"{ENDPOINT}/_orderflow/faults", data=b"{not json", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(request, timeout=10)
    assert e.value.code == 400 and json.loads(e.value.read())["field"] == "body"


@pytest.mark.integration
def test_errors_are_aws_shaped_per_protocol_and_count_limits_them(faults, world):
    for service, error, make_call, code, status in CASES:
        [rule_id] = add_rules({"service": service, "error": error, "count": 1})
        with pytest.raises(ClientError) as e:
            make_call(world)
        response = e.value.response
        assert response["Error"]["Code"] == code, (service, error, response)
        assert response["ResponseMetadata"]["HTTPStatusCode"] == status, (service, error)
        assert response["Error"]["Message"], (service, error)
        if code == "TransactionCanceledException":
            assert [r["Code"] for r in response["CancellationReasons"]] == ["TransactionConflict", "None"]
        if service in ("sns", "ses"):  # query protocol: <Type>Sender</Type> on the client errors
            # (LocalStack's serializer writes no <Type> at all for the server errors, AWS writes Receiver).
            assert response["Error"].get("Type") == ("Sender" if status == 400 else None), response["Error"]
        make_call(world)  # count 1: spent, served as usual
        assert control("DELETE", f"/faults/{rule_id}") == (200, {"removed": 1})
    _, doc = control("GET", "/requests")
    assert doc["faults_injected"] == {"dynamodb": 5, "sns": 2, "ses": 2, "sqs": 2}


@pytest.mark.integration
def test_operations_resource_and_body_narrow_the_rules(faults, world):
    ddb, sns = aws("dynamodb"), aws("sns")
    add_rules(
        {"service": "dynamodb", "operations": ["GetItem"], "resource": world["table"], "error": "ThrottlingException"},
        {"service": "sns", "body_contains": '"kind":"OrderPlaced"', "error": "Throttling"},
        {"service": "ses", "resource": "nobody@", "error": "Throttling"},
    )
    put(world)  # another operation
    with pytest.raises(ClientError) as e:
        ddb.get_item(TableName=world["table"], Key={"pk": {"S": "a"}})
    assert e.value.response["Error"]["Code"] == "ThrottlingException"
    with pytest.raises(ClientError):  # another table: the error is the table's own
        ddb.get_item(TableName="no-such-table", Key={"pk": {"S": "a"}})
    sns.publish(TopicArn=world["topic"], Message=json.dumps({"kind": "OrderShipped"}, separators=(",", ":")))
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=world["topic"], Message=json.dumps({"kind": "OrderPlaced"}, separators=(",", ":")))
    assert e.value.response["Error"]["Code"] == "Throttling"
    send_email(world)  # another source
    _, doc = control("GET", "/faults")
    assert [(r["matched"], r["injected"]) for r in doc["rules"]] == [(1, 1), (1, 1), (0, 0)]


@pytest.mark.integration
def test_latency_and_probability(faults, world):
    sqs = aws("sqs")
    sqs.send_message(QueueUrl=world["queue"], MessageBody="warm")
    add_rules({"service": "sqs", "operations": ["SendMessage"], "latency_ms": 300})
    t = time.monotonic()
    sqs.send_message(QueueUrl=world["queue"], MessageBody="slow")
    assert 0.3 <= time.monotonic() - t < 2.0
    control("DELETE", "/faults")
    add_rules({"service": "sqs", "operations": ["SendMessage"], "error": "InternalError", "probability": 0.5})
    outcomes = []
    for i in range(40):
        try:
            sqs.send_message(QueueUrl=world["queue"], MessageBody=str(i))
            outcomes.append(False)
        except ClientError as e:
            assert e.response["Error"]["Code"] == "InternalError"
            outcomes.append(True)
    assert 5 <= sum(outcomes) <= 35, outcomes  # p(outside) < 1e-5
    _, doc = control("GET", "/faults")
    assert doc["rules"][0]["matched"] == 40 and doc["rules"][0]["injected"] == sum(outcomes)


@pytest.mark.integration
def test_requests_are_counted_per_operation(faults, world):
    for _ in range(3):
        put(world)
    aws("sns").publish(TopicArn=world["topic"], Message="m")
    _, doc = control("GET", "/requests")
    assert doc == {
        "requests": [
            {"service": "dynamodb", "operation": "PutItem", "caller": None, "count": 3},
            {"service": "sns", "operation": "Publish", "caller": None, "count": 1},
        ],
        "faults_injected": {},
    }
    assert control("DELETE", "/requests") == (200, {"removed": 2})
    assert control("GET", "/requests")[1]["requests"] == []


@pytest.fixture(scope="module")
def pyfn(localstack):
    from test_integration import create_function, zip_dir

    return create_function("faults-" + uuid.uuid4().hex[:6], zip_dir(PYFN_DIR))


def run(name, *calls):
    from test_integration import invoke

    return invoke(name, {"aws": list(calls)})


def get_item(world, pk="seed"):
    return {
        "service": "dynamodb",
        "target": "DynamoDB_20120810.GetItem",
        "json": {"TableName": world["table"], "Key": {"pk": {"S": pk}}},
    }


def publish(world, message):
    return {"service": "sns", "form": {"Action": "Publish", "Version": "2010-03-31", "TopicArn": world["topic"],
                                       "Message": message}}


@pytest.mark.integration
def test_a_function_calls_as_itself_in_the_default_account(faults, world, pyfn):
    err, doc, _ = run(pyfn, get_item(world), publish(world, "hi"))
    assert err is None, doc
    got, published = doc["aws"]
    # The caller key is still account 000000000000: the test's table is there.
    assert got == {"status": 200, "body": {"Item": {"pk": {"S": "seed"}, "v": {"S": "from the test"}}}}
    assert published["status"] == 200 and "<MessageId>" in published["body"]
    _, counts = control("GET", "/requests")
    assert {(c["service"], c["operation"], c["caller"]): c["count"] for c in counts["requests"]} == {
        ("dynamodb", "GetItem", pyfn): 1,
        ("sns", "Publish", pyfn): 1,
        ("lambda", "Invoke", None): 1,  # the test's; LocalStack's own calls are not counted
    }
    # A rule for this caller: the function's call fails, the test's own does not.
    add_rules({"service": "dynamodb", "caller": pyfn, "error": "ProvisionedThroughputExceededException"})
    err, doc, _ = run(pyfn, get_item(world))
    assert err is None, doc
    [failed] = doc["aws"]
    assert failed["status"] == 400
    # LocalStack writes the bare code (AWS prefixes com.amazonaws.dynamodb.v20120810#; SDKs take either).
    assert failed["body"]["__type"] == "ProvisionedThroughputExceededException"
    aws("dynamodb").get_item(TableName=world["table"], Key={"pk": {"S": "seed"}})


@pytest.mark.integration
def test_a_kill_rule_kills_the_calling_environment(faults, world, pyfn):
    err, before, _ = run(pyfn, get_item(world))
    assert err is None, before
    add_rules({"service": "dynamodb", "caller": pyfn, "kill": True, "count": 1})
    t = time.monotonic()
    err, doc, _ = run(pyfn, get_item(world))
    assert time.monotonic() - t < 3
    assert err == "Unhandled" and doc["errorType"] == "Runtime.ExitError", doc
    assert "signal: kill" in doc["errorMessage"]
    err, after, _ = run(pyfn, get_item(world))  # a fresh environment
    assert err is None and after["aws"][0]["status"] == 200 and after["pid"] != before["pid"]
    _, report = control("GET", "/faults")
    assert report["rules"][0]["injected"] == 1


@pytest.mark.integration
def test_overlapping_transactions_conflict(faults, world):
    # The two start together (a barrier): the second arrives well within the first's 200 ms.
    assert control("POST", "/dynamodb", {"transaction_hold_ms": 200}) == (200, {"transaction_hold_ms": 200})
    outcomes = []
    barrier = threading.Barrier(2)

    def transaction():
        client = aws("dynamodb")
        barrier.wait()
        try:
            client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": world["table"],
                            "Key": {"pk": {"S": "hot"}},
                            "UpdateExpression": "ADD n :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}},
                        }
                    }
                ]
            )
            outcomes.append("ok")
        except ClientError as e:
            outcomes.append((e.response["Error"]["Code"], e.response.get("CancellationReasons")))

    threads = [threading.Thread(target=transaction) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes, key=str) == sorted(
        [
            "ok",
            (
                "TransactionCanceledException",
                [{"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}],
            ),
        ],
        key=str,
    ), outcomes
    item = aws("dynamodb").get_item(TableName=world["table"], Key={"pk": {"S": "hot"}})["Item"]
    assert item["n"] == {"N": "1"}  # the cancelled one left nothing


@pytest.mark.integration
def test_a_single_item_write_on_a_held_item_conflicts(faults, world):
    control("POST", "/dynamodb", {"transaction_hold_ms": 600})
    holder = threading.Thread(target=transact, args=(world, "held"))
    holder.start()
    conflict = None
    try:
        deadline = time.monotonic() + 2
        while conflict is None and time.monotonic() < deadline:  # until the transaction holds the item
            try:
                put(world, "held")
                time.sleep(0.02)
            except ClientError as e:
                conflict = e.response["Error"]["Code"]
        put(world, "not-held")
    finally:
        holder.join()
    assert conflict == "TransactionConflictException"
    put(world, "held")  # released
