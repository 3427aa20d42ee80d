"""The seed stock the e2e tests rely on, and the scripts the Makefile calls."""
import json
import os
import re

from conftest import REPO

SCRIPTS = ["tools-venv", "build-lambdas", "check", "local-deploy", "local-destroy", "seed", "deploy", "units",
           "generate-template"]


def test_seed_stock():
    items = json.loads((REPO / "infra" / "seed" / "inventory.json").read_text())["items"]
    skus = [i["sku"] for i in items]
    assert len(skus) == len(set(skus))
    for i in items:
        assert re.fullmatch(r"[A-Z0-9-]{1,64}", i["sku"]), i  # the API's SKU rule
        assert isinstance(i["available"], int) and i["available"] >= 0, i
        assert i.get("reserved", 0) == 0, i
    stock = {i["sku"]: i["available"] for i in items}
    assert stock["RARE-0001"] == 1  # insufficient-stock case: order 2
    assert stock["BOOK-0001"] >= 10_000


def test_scripts_are_executable_and_documented():
    for name in SCRIPTS:
        path = REPO / "infra" / "scripts" / name
        assert os.access(path, os.X_OK), name
        head = path.read_text().splitlines()[:3]
        assert head[0].startswith("#!"), name
        assert any("Usage:" in line for line in head), name


def test_local_stacks_settle_within_a_minute(monkeypatch):
    """Local tests wait for the settle timeout; AWS keeps the template's 900 s default."""
    import sys

    sys.path.insert(0, str(REPO / "infra" / "scripts"))
    import local_deploy

    monkeypatch.delenv("SETTLE_TIMEOUT_SECONDS", raising=False)
    params = local_deploy.settings()["parameters"]
    assert params["Environment"] == "localstack"
    assert params["SettleTimeoutSeconds"] == "180"
    monkeypatch.setenv("SETTLE_TIMEOUT_SECONDS", "5")
    assert local_deploy.settings()["parameters"]["SettleTimeoutSeconds"] == "5"


def _client_error(code):
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": code}}, "op")


class FakeCloudFormation:
    """Two pages of stack resources, and the stack's parameters."""

    def __init__(self, environment):
        self.environment = environment

    def describe_stacks(self, StackName):
        return {"Stacks": [{"StackName": StackName,
                            "Parameters": [{"ParameterKey": "Environment", "ParameterValue": self.environment}]}]}

    def list_stack_resources(self, StackName, NextToken=None):
        if NextToken is None:
            return {"NextToken": "2", "StackResourceSummaries": [
                {"ResourceType": "AWS::DynamoDB::Table", "PhysicalResourceId": "orders-1"},
                {"ResourceType": "AWS::SQS::Queue", "PhysicalResourceId": "https://queue"}]}
        return {"StackResourceSummaries": [
            {"ResourceType": "AWS::DynamoDB::Table", "PhysicalResourceId": "gone-1"},
            {"ResourceType": "AWS::KMS::Key", "PhysicalResourceId": "key-1"}]}


class FakeDynamoDb:
    def __init__(self):
        self.deleted = []

    def delete_table(self, TableName):
        if TableName == "gone-1":  # deleted with the stack, as LocalStack 4.8.1 does
            raise _client_error("ResourceNotFoundException")
        self.deleted.append(TableName)


class FakeKms:
    def __init__(self):
        self.scheduled = []

    def describe_key(self, KeyId):
        return {"KeyMetadata": {"KeyState": "Enabled"}}

    def schedule_key_deletion(self, KeyId, PendingWindowInDays):
        self.scheduled.append((KeyId, PendingWindowInDays))


def _local_destroy():
    import sys

    sys.path.insert(0, str(REPO / "infra" / "scripts"))
    import local_destroy

    return local_destroy


def test_local_destroy_removes_what_retain_leaves_of_a_local_stack():
    """The tables and the key are retained on stack deletion; for a local stack local-destroy
    deletes what is left of them (by the names read before the deletion), so a redeploy starts clean."""
    local_destroy = _local_destroy()
    cf = FakeCloudFormation("localstack")
    assert local_destroy.is_local(cf, "orderflow-local")
    leftovers = local_destroy.retained_resources(cf, "orderflow-local")
    assert leftovers == [("AWS::DynamoDB::Table", "orders-1"), ("AWS::DynamoDB::Table", "gone-1"),
                         ("AWS::KMS::Key", "key-1")]
    dynamodb, kms = FakeDynamoDb(), FakeKms()
    local_destroy.delete_retained(leftovers, dynamodb, kms)
    assert dynamodb.deleted == ["orders-1"]  # the one already gone is skipped
    assert kms.scheduled == [("key-1", 7)]


def test_local_destroy_leaves_a_stack_not_deployed_for_localstack_alone():
    assert not _local_destroy().is_local(FakeCloudFormation("aws"), "orderflow")
