"""Delete the local stack, wait for it to go, then remove the code zips and the outputs file.
Side stacks attached to it (infra/stacks/*.yaml deployed with parameter OrdersStackName = this
stack, e.g. <stack>-loyalty) go first: their subscriptions name its topic."""
import sys
import time

from botocore.exceptions import ClientError

from localstack_common import client, outputs_file, run, stack_name

BUCKET_ENV_DEFAULT = "orderflow-local-artifacts"


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
    for name in [*sides, stack]:
        delete(cf, name)
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
