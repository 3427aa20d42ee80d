"""Integration: LocalStack started through localstack/start, Lambda through the host-process executor.

Runs on its own port and state dir (LOCALSTACK_TEST_PORT, default 4599) so a developer's LocalStack
on 4566 is left alone. The module fixture (conftest.py) stops LocalStack by PID even when a test fails.
"""

import base64
import io
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import threading
import time
import uuid
import zipfile
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from conftest import ENDPOINT, LOCALSTACK_DIR, PYFN_DIR, REPO, SCRIPT_ENV, STATE, kill_session, session_pids

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
TESTFN_DIR = LOCALSTACK_DIR / "testfn"


def client(service):
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}, read_timeout=120),
    )


def zip_dir(path: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for f in sorted(path.iterdir()):
            info = zipfile.ZipInfo(f.name)
            info.external_attr = (0o755 << 16) if os.access(f, os.X_OK) else (0o644 << 16)
            zf.writestr(info, f.read_bytes())
    return buf.getvalue()


def create_function(name, code: bytes, *, timeout=5, env=None, runtime="provided.al2023", wait=True):
    lam = client("lambda")
    lam.create_function(
        FunctionName=name,
        Runtime=runtime,
        Handler="bootstrap",
        Role=ROLE,
        Code={"ZipFile": code},
        Timeout=timeout,
        MemorySize=128,
        Architectures=["x86_64"],
        Environment={"Variables": env or {}},
    )
    if wait:
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    return name


def invoke(name, payload, **kw):
    r = client("lambda").invoke(FunctionName=name, Payload=json.dumps(payload).encode(), **kw)
    body = r["Payload"].read()
    logs = base64.b64decode(r["LogResult"]).decode() if "LogResult" in r else ""
    return r.get("FunctionError"), json.loads(body or b"null"), logs


def wait_for(predicate, timeout=30.0, interval=0.2, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last value: {last!r}")


def log_messages(group):
    logs = client("logs")
    try:
        events = logs.filter_log_events(logGroupName=group)["events"]
    except logs.exceptions.ResourceNotFoundException:
        return []
    return [e["message"] for e in events]


@pytest.fixture(scope="module")
def pyfn_zip():
    return zip_dir(PYFN_DIR)


def test_health_lists_the_services(localstack):
    health = json.loads(subprocess.run(["curl", "-s", f"{ENDPOINT}/_localstack/health"], capture_output=True).stdout)
    assert health["version"] == "4.8.1"
    for service in ("lambda", "dynamodb", "sqs", "sns", "cloudformation", "logs", "apigateway", "ses", "events"):
        assert health["services"][service] in ("available", "running"), service


def test_start_is_idempotent(localstack):
    proc = subprocess.run([str(LOCALSTACK_DIR / "start")], env=SCRIPT_ENV, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == ENDPOINT
    assert "already running" in proc.stderr


def test_direct_invoke_result_env_and_logs(localstack, pyfn_zip):
    name = create_function("direct-" + uuid.uuid4().hex[:6], pyfn_zip, env={"GREETING": "hi"})
    err, doc, tail = invoke(name, {"echo": "ping", "log": ["line one", "line two"]}, LogType="Tail")
    assert err is None, doc
    assert doc["echo"] == "ping"
    env = doc["env"]
    assert env["GREETING"] == "hi"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    # An access key of this environment's own (the fault injector's caller), still account 000000000000.
    assert re.fullmatch(r"OFLE[0-9A-F]{16}", env["AWS_ACCESS_KEY_ID"]), env["AWS_ACCESS_KEY_ID"]
    assert env["AWS_SECRET_ACCESS_KEY"] == "test"
    assert env["AWS_ENDPOINT_URL"] == ENDPOINT
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{name}"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert doc["trace"].startswith("Root=1-")
    assert f"START RequestId: {doc['requestId']}" in tail
    assert "line one\nline two\n" in tail
    # delivered to CloudWatch Logs
    msgs = wait_for(lambda: [m for m in log_messages(f"/aws/lambda/{name}") if "line two" in m], what="logs")
    assert msgs
    # a second invocation is warm (same process) and gets its own trace id
    err2, doc2, _ = invoke(name, {"echo": 2})
    assert doc2["pid"] == doc["pid"] and doc2["seen"] == 2 and doc2["trace"] != doc["trace"]


def test_timeout_then_clean_respawn(localstack, pyfn_zip):
    name = create_function("timeout-" + uuid.uuid4().hex[:6], pyfn_zip, timeout=1)
    _, first, _ = invoke(name, {"echo": 0})
    t = time.monotonic()
    err, doc, tail = invoke(name, {"sleep": 10}, LogType="Tail")
    assert time.monotonic() - t < 4
    assert err == "Unhandled"
    assert doc["errorMessage"].endswith("Task timed out after 1.00 seconds")
    assert "Task timed out after 1.00 seconds" in tail
    err, doc, _ = invoke(name, {"echo": "after"})
    assert err is None and doc["echo"] == "after" and doc["pid"] != first["pid"]


def test_init_error_surfaces(localstack, pyfn_zip):
    name = create_function("initerr-" + uuid.uuid4().hex[:6], pyfn_zip, env={"INIT_FAIL": "1"})
    err, doc, _ = invoke(name, {})
    assert err == "Unhandled"
    assert doc == {"errorType": "Runtime.InitTest", "errorMessage": "init failed on purpose"}
    # the init output reaches CloudWatch Logs although no invocation ran
    wait_for(lambda: any("failing on purpose" in m for m in log_messages(f"/aws/lambda/{name}")), what="init logs")


def test_crash_surfaces_and_recovers(localstack, pyfn_zip):
    name = create_function("crash-" + uuid.uuid4().hex[:6], pyfn_zip)
    err, doc, _ = invoke(name, {"crash": 2})
    assert err == "Unhandled" and doc["errorType"] == "Runtime.ExitError"
    err, doc, _ = invoke(name, {"echo": 1})
    assert err is None


def test_other_runtimes_are_refused(localstack, pyfn_zip):
    lam = client("lambda")
    name = create_function("py-" + uuid.uuid4().hex[:6], pyfn_zip, runtime="python3.12", wait=False)
    cfg = wait_for(
        lambda: (c := lam.get_function_configuration(FunctionName=name))["State"] != "Pending" and c,
        what="function state",
    )
    assert cfg["State"] == "Failed"
    assert "not supported by the 'hostprocess' Lambda executor" in cfg["StateReason"]


def test_concurrent_invocations_use_several_environments(localstack, pyfn_zip):
    name = create_function("conc-" + uuid.uuid4().hex[:6], pyfn_zip)
    results = []

    def run():
        results.append(invoke(name, {"sleep": 1.0, "echo": "c"}))

    t = time.monotonic()
    threads = [threading.Thread(target=run) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.monotonic() - t
    assert all(err is None for err, _, _ in results), results
    assert len({doc["pid"] for _, doc, _ in results}) == 4
    assert elapsed < 3.5, elapsed


def test_sqs_event_source_mapping_partial_batch_failure(localstack, pyfn_zip):
    sqs = client("sqs")
    suffix = uuid.uuid4().hex[:6]
    dlq_url = sqs.create_queue(QueueName=f"dlq-{suffix}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    q_url = sqs.create_queue(
        QueueName=f"q-{suffix}",
        Attributes={
            "VisibilityTimeout": "2",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"}),
        },
    )["QueueUrl"]
    q_arn = sqs.get_queue_attributes(QueueUrl=q_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    name = create_function("esm-" + suffix, pyfn_zip)
    lam = client("lambda")
    uuid_ = lam.create_event_source_mapping(
        EventSourceArn=q_arn,
        FunctionName=name,
        BatchSize=10,
        MaximumBatchingWindowInSeconds=0,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )["UUID"]
    wait_for(lambda: lam.get_event_source_mapping(UUID=uuid_)["State"] == "Enabled", what="ESM enabled")
    sqs.send_message(QueueUrl=q_url, MessageBody=json.dumps({"id": "ok-1"}))
    sqs.send_message(QueueUrl=q_url, MessageBody=json.dumps({"id": "fail-1"}))

    def dlq_message():
        msgs = sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=1, MaxNumberOfMessages=10).get("Messages", [])
        return msgs

    msgs = wait_for(dlq_message, timeout=45, what="failed message in the DLQ")
    assert [json.loads(m["Body"])["id"] for m in msgs] == ["fail-1"]
    lines = wait_for(
        lambda: (m := log_messages(f"/aws/lambda/{name}")) and sum("fail-1" in x for x in m) >= 2 and m,
        what="logs of both attempts",
    )
    assert sum('"ok-1"' in line for line in lines) == 1, "the successful record was processed once"
    assert sum('"fail-1"' in line for line in lines) >= 2, "the failed record was retried"
    lam.delete_event_source_mapping(UUID=uuid_)


def test_dynamodb_without_java(localstack):
    ddb = client("dynamodb")
    table = "orders-" + uuid.uuid4().hex[:6]
    ddb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "pendingPartition", "AttributeType": "S"},
            {"AttributeName": "createdAt", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "pending-by-created",
                "KeySchema": [
                    {"AttributeName": "pendingPartition", "KeyType": "HASH"},
                    {"AttributeName": "createdAt", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    ddb.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiresAt"})
    assert ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"
    ddb.put_item(
        TableName=table,
        Item={"pk": {"S": "a"}, "pendingPartition": {"S": "p"}, "createdAt": {"S": "2026-01-01"}},
        ConditionExpression="attribute_not_exists(pk)",
    )
    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
        ddb.put_item(TableName=table, Item={"pk": {"S": "a"}}, ConditionExpression="attribute_not_exists(pk)")
    with pytest.raises(ddb.exceptions.TransactionCanceledException) as e:
        ddb.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": table,
                        "Item": {"pk": {"S": "b"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": {"pk": {"S": "a"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    assert [r["Code"] for r in e.value.response["CancellationReasons"]] == ["None", "ConditionalCheckFailed"]
    assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "b"}})
    ddb.update_item(
        TableName=table,
        Key={"pk": {"S": "a"}},
        UpdateExpression="SET n = if_not_exists(n, :z) + :one REMOVE pendingPartition",
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeValues={":z": {"N": "0"}, ":one": {"N": "1"}},
    )
    ddb.put_item(
        TableName=table,
        Item={"pk": {"S": "c"}, "pendingPartition": {"S": "p"}, "createdAt": {"S": "2026-01-02"}},
    )
    items = ddb.query(
        TableName=table,
        IndexName="pending-by-created",
        KeyConditionExpression="pendingPartition = :p",
        ExpressionAttributeValues={":p": {"S": "p"}},
    )["Items"]
    assert [i["pk"]["S"] for i in items] == ["c"]  # sparse index: "a" left it


def test_dynamodb_table_from_cloudformation(localstack):
    cfn = client("cloudformation")
    ddb = client("dynamodb")
    stack = "ddb-" + uuid.uuid4().hex[:6]
    template = {
        "Resources": {
            "OutboxTable": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "BillingMode": "PAY_PER_REQUEST",
                    "AttributeDefinitions": [
                        {"AttributeName": "eventId", "AttributeType": "S"},
                        {"AttributeName": "pendingPartition", "AttributeType": "S"},
                        {"AttributeName": "createdAt", "AttributeType": "S"},
                    ],
                    "KeySchema": [{"AttributeName": "eventId", "KeyType": "HASH"}],
                    "GlobalSecondaryIndexes": [
                        {
                            "IndexName": "pending-by-created",
                            "KeySchema": [
                                {"AttributeName": "pendingPartition", "KeyType": "HASH"},
                                {"AttributeName": "createdAt", "KeyType": "RANGE"},
                            ],
                            "Projection": {"ProjectionType": "ALL"},
                        }
                    ],
                    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                    "SSESpecification": {"SSEEnabled": True},
                    "TimeToLiveSpecification": {"AttributeName": "expiresAt", "Enabled": True},
                },
            }
        },
        "Outputs": {"Table": {"Value": {"Ref": "OutboxTable"}}},
    }
    cfn.create_stack(StackName=stack, TemplateBody=json.dumps(template))
    cfn.get_waiter("stack_create_complete").wait(StackName=stack, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    table = cfn.describe_stacks(StackName=stack)["Stacks"][0]["Outputs"][0]["OutputValue"]
    desc = ddb.describe_table(TableName=table)["Table"]
    assert desc["TableStatus"] == "ACTIVE"
    assert desc["GlobalSecondaryIndexes"][0]["IndexName"] == "pending-by-created"
    assert desc["SSEDescription"]["Status"] == "ENABLED"
    assert ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": "expiresAt",
    }
    cfn.delete_stack(StackName=stack)
    cfn.get_waiter("stack_delete_complete").wait(StackName=stack, WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def test_dynamodb_stream_to_lambda(localstack, pyfn_zip):
    """DynamoDB Streams served by moto, polled by LocalStack's event source mapping."""
    ddb, lam = client("dynamodb"), client("lambda")
    suffix = uuid.uuid4().hex[:6]
    table = "stream-" + suffix
    ddb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    stream_arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    name = create_function("stream-" + suffix, pyfn_zip)
    mapping = lam.create_event_source_mapping(
        EventSourceArn=stream_arn, FunctionName=name, StartingPosition="TRIM_HORIZON", BatchSize=10
    )["UUID"]
    wait_for(lambda: lam.get_event_source_mapping(UUID=mapping)["State"] == "Enabled", what="ESM enabled")
    ddb.put_item(TableName=table, Item={"pk": {"S": "streamed-1"}})
    lines = wait_for(
        lambda: [m for m in log_messages(f"/aws/lambda/{name}") if "stream record" in m], what="stream record"
    )
    assert "stream record INSERT" in lines[0] and "streamed-1" in lines[0]
    lam.delete_event_source_mapping(UUID=mapping)


def test_api_gateway_lambda_proxy(localstack, pyfn_zip):
    """The local API URL shape the deploy side relies on: /_aws/execute-api/<apiId>/<stage>/<path>."""
    apigw, lam = client("apigateway"), client("lambda")
    name = create_function("api-" + uuid.uuid4().hex[:6], pyfn_zip)
    fn_arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    api = apigw.create_rest_api(name=name)["id"]
    root = apigw.get_resources(restApiId=api)["items"][0]["id"]
    res = apigw.create_resource(restApiId=api, parentId=root, pathPart="orders")["id"]
    apigw.put_method(restApiId=api, resourceId=res, httpMethod="POST", authorizationType="NONE")
    apigw.put_integration(
        restApiId=api,
        resourceId=res,
        httpMethod="POST",
        type="AWS_PROXY",
        integrationHttpMethod="POST",
        uri=f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{fn_arn}/invocations",
    )
    apigw.create_deployment(restApiId=api, stageName="local")
    import urllib.request

    req = urllib.request.Request(
        f"{ENDPOINT}/_aws/execute-api/{api}/local/orders", data=b'{"sku": "A"}', method="POST",
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 201
        doc = json.loads(r.read())
    assert doc == {"path": "/orders", "method": "POST", "requestBody": '{"sku": "A"}'}


def test_s3_objects_stay_in_the_state_dir(localstack):
    s3 = client("s3")
    bucket = "b-" + uuid.uuid4().hex[:8]
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x" * 1024)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x" * 1024
    assert (STATE / "tmp" / "localstack-s3-storage").is_dir()


def build_rust_testfn():
    """Build localstack/testfn (cached after the first build, ~2 min cold on 2 cores).

    Its own target dir: the shared target/ is locked whenever someone else builds."""
    if os.environ.get("LOCALSTACK_TEST_RUST", "1") == "0" or not shutil.which("cargo"):
        return None
    target = REPO / "target" / "localstack-testfn"
    binary = target / "release" / "localstack-testfn"
    proc = subprocess.run(
        ["cargo", "build", "--release", "--quiet", "--locked"],
        cwd=TESTFN_DIR,
        env={**os.environ, "CARGO_TARGET_DIR": str(target)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    if proc.returncode != 0 or not binary.exists():
        pytest.fail(f"building localstack/testfn failed:\n{proc.stderr[-3000:]}")
    return binary


def test_rust_function_warm_invoke_median(localstack, tmp_path):
    binary = build_rust_testfn()
    if binary is None:
        pytest.skip("no cargo on PATH (or LOCALSTACK_TEST_RUST=0)")
    shutil.copy(binary, tmp_path / "bootstrap")
    name = create_function("rust-" + uuid.uuid4().hex[:6], zip_dir(tmp_path))
    err, doc, tail = invoke(name, {"hello": "rust"}, LogType="Tail")
    assert err is None, doc
    assert doc["echo"] == {"hello": "rust"} and doc["function"] == name
    assert doc["trace"].startswith("Root=1-")
    assert f"rust handling {doc['requestId']}" in tail
    lam = client("lambda")
    samples = []
    for i in range(60):
        t = time.perf_counter()
        r = lam.invoke(FunctionName=name, Payload=b'{"n": %d}' % i)
        r["Payload"].read()
        samples.append((time.perf_counter() - t) * 1000)
    median = statistics.median(samples[10:])
    p90 = sorted(samples[10:])[int(len(samples[10:]) * 0.9)]
    print(f"\nRust warm invoke through LocalStack: median {median:.1f} ms, p90 {p90:.1f} ms (n={len(samples) - 10})")
    (STATE.parent / "rust-warm-invoke-ms.txt").write_text(f"median {median:.2f}\np90 {p90:.2f}\n")
    # The goal is < 20 ms (met on an idle 2-core machine); the default bound is looser so the
    # suite stays green on a loaded CI runner. LOCALSTACK_TEST_WARM_MEDIAN_MS=20 enforces the goal.
    bound = float(os.environ.get("LOCALSTACK_TEST_WARM_MEDIAN_MS", "50"))
    assert median < bound, f"warm invoke median {median:.1f} ms (bound {bound} ms)"
    err, doc, _ = invoke(name, {"fail": True})
    assert err == "Unhandled" and doc["errorMessage"] == "failing on request"


def test_stop_leaves_no_process(localstack, pyfn_zip):
    name = create_function("last-" + uuid.uuid4().hex[:6], pyfn_zip)
    _, doc, _ = invoke(name, {})
    pid = localstack["pid"]
    before = session_pids(pid)
    assert doc["pid"] in before and pid in before
    proc = subprocess.run([str(LOCALSTACK_DIR / "stop")], env=SCRIPT_ENV, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    for p in before:
        assert not Path(f"/proc/{p}").exists() or "Z" in Path(f"/proc/{p}/stat").read_text().split(") ")[1][:1], p
    assert session_pids(pid) == []
    assert not (STATE / "localstack.pid").exists()
    assert not (STATE / "tmp" / "lambda").exists()
    again = subprocess.run([str(LOCALSTACK_DIR / "stop")], env=SCRIPT_ENV, capture_output=True, text=True, timeout=30)
    assert again.returncode == 0 and "not running" in again.stderr


def test_hard_killed_localstack_leaves_no_process(pyfn_zip, tmp_path):
    """LocalStack killed with SIGKILL: function processes die with it (parent-death signal), and
    stop cleans up whatever they spawned."""
    proc = subprocess.run([str(LOCALSTACK_DIR / "start")], env=SCRIPT_ENV, capture_output=True, text=True, timeout=300)
    pid = int((STATE / "localstack.pid").read_text())
    try:
        assert proc.returncode == 0, proc.stderr
        code = tmp_path / "code"
        code.mkdir()
        shutil.copy(PYFN_DIR / "bootstrap", code / "fn.py")
        (code / "bootstrap").write_text('#!/bin/sh\nsleep 300 &\nexec python3 "$(dirname "$0")/fn.py"\n')
        (code / "bootstrap").chmod(0o755)
        name = create_function("crashy-" + uuid.uuid4().hex[:6], zip_dir(code))
        err, doc, _ = invoke(name, {})
        assert err is None and doc["pid"] in session_pids(pid)
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: doc["pid"] not in session_pids(pid), timeout=5, what="function process gone")
        out = subprocess.run([str(LOCALSTACK_DIR / "stop")], env=SCRIPT_ENV, capture_output=True, text=True, timeout=30)
        assert out.returncode == 0
        assert "killing what is left" in out.stderr  # the grandchild `sleep 300`
        assert session_pids(pid) == []
    finally:
        kill_session(pid)
        (STATE / "localstack.pid").unlink(missing_ok=True)
