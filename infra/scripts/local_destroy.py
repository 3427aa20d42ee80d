"""Delete the local stack, wait for it to go, then remove the code zips and the outputs file.
Side stacks attached to it (infra/stacks/*.yaml deployed with parameter OrdersStackName = this
stack, e.g. <stack>-loyalty) go first: their subscriptions name its topic.

The tables and the KMS key are `DeletionPolicy: Retain` (on AWS a teardown must not destroy data),
so a CloudFormation engine that honours it leaves them behind after the stack is gone. For a stack
deployed with Environment=localstack, and only then, their names are read before the deletion and
whatever is left of them afterwards is deleted (tables) or scheduled for deletion (the key), so the
next local deploy starts clean. LocalStack 4.8.1 does not honour Retain yet and deletes them with
the stack: then there is nothing left to delete."""
import sys
import time

from botocore.exceptions import ClientError

from localstack_common import client, outputs_file, run, stack_name

BUCKET_ENV_DEFAULT = "orderflow-local-artifacts"
# What the templates retain (infra/template.yaml, infra/stacks/*.yaml).
RETAINED_TYPES = ("AWS::DynamoDB::Table", "AWS::KMS::Key")


def side_stacks(cf, orders):
    names = []
    for page in cf.get_paginator("describe_stacks").paginate():
        for s in page["Stacks"]:
            params = {p["ParameterKey"]: p.get("ParameterValue") for p in s.get("Parameters", [])}
            live = s.get("StackStatus") != "DELETE_COMPLETE"
            if live and s["StackName"] != orders and params.get("OrdersStackName") == orders:
                names.append(s["StackName"])
    return names


def main():
    import os

    stack = stack_name()
    cf = client("cloudformation")
    sides = side_stacks(cf, stack)
    leftovers = []
    if is_local(cf, stack):
        for name in [*sides, stack]:
            leftovers += retained_resources(cf, name)
    for name in [*sides, stack]:
        delete(cf, name)
    delete_retained(leftovers, client("dynamodb"), client("kms"))
    bucket = os.environ.get("ARTIFACT_BUCKET", BUCKET_ENV_DEFAULT)
    s3 = client("s3")
    try:
        for name in [*sides, stack]:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{name}/"):
                for obj in page.get("Contents", []):
                    s3.delete_object(Bucket=bucket, Key=obj["Key"])
    except ClientError:
        pass
    outputs_file().unlink(missing_ok=True)


def is_local(cf, stack):
    """Whether the stack was deployed for LocalStack (its Environment parameter): only such a
    stack's retained tables and key are removed after it."""
    try:
        found = cf.describe_stacks(StackName=stack)["Stacks"][0]
    except ClientError as e:
        if "does not exist" in str(e):
            return False
        raise
    params = {p["ParameterKey"]: p.get("ParameterValue") for p in found.get("Parameters", [])}
    if params.get("Environment") != "localstack":
        print(f"local-destroy: stack {stack} has Environment={params.get('Environment')}, not localstack: "
              "its retained tables and key are left as they are", file=sys.stderr)
        return False
    return True


def retained_resources(cf, stack):
    """(type, physical id) of the stack's resources that DeletionPolicy: Retain keeps."""
    found, token = [], None
    while True:
        page = cf.list_stack_resources(StackName=stack, **({"NextToken": token} if token else {}))
        found += [(r["ResourceType"], r["PhysicalResourceId"]) for r in page["StackResourceSummaries"]
                  if r["ResourceType"] in RETAINED_TYPES and r.get("PhysicalResourceId")]
        token = page.get("NextToken")
        if not token:
            return found


def delete_retained(leftovers, dynamodb, kms):
    """Delete the tables and schedule the keys for deletion that outlived their stack; those the
    stack deletion removed already are skipped."""
    for resource_type, physical_id in leftovers:
        try:
            if resource_type == "AWS::DynamoDB::Table":
                dynamodb.delete_table(TableName=physical_id)
            elif kms.describe_key(KeyId=physical_id)["KeyMetadata"].get("KeyState") != "PendingDeletion":
                kms.schedule_key_deletion(KeyId=physical_id, PendingWindowInDays=7)
            else:
                continue
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("ResourceNotFoundException", "NotFoundException"):
                continue
            raise
        print(f"local-destroy: deleted the retained {resource_type} {physical_id}", file=sys.stderr)


def delete(cf, stack):
    try:
        cf.describe_stacks(StackName=stack)
    except ClientError as e:
        if "does not exist" not in str(e):
            raise
        print(f"local-destroy: stack {stack} does not exist: nothing to delete", file=sys.stderr)
    else:
        start = time.monotonic()
        cf.delete_stack(StackName=stack)
        while time.monotonic() - start < 300:
            try:
                status = cf.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
            except ClientError:
                status = "DELETE_COMPLETE"
            if status == "DELETE_COMPLETE":
                break
            if status == "DELETE_FAILED":
                print(f"local-destroy: error: stack {stack} DELETE_FAILED", file=sys.stderr)
                sys.exit(1)
            time.sleep(1)
        else:
            print(f"local-destroy: error: stack {stack} still deleting after 300 s", file=sys.stderr)
            sys.exit(1)
        print(f"local-destroy: stack {stack} deleted in {time.monotonic() - start:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    run(main, "local-destroy")
