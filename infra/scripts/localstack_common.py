"""Shared by the local scripts: LocalStack endpoint, clients, stack outputs."""
import json
import os
import sys
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

ROOT = Path(__file__).resolve().parents[2]


def endpoint():
    ep = os.environ.get("LOCALSTACK_ENDPOINT") or f"http://127.0.0.1:{os.environ.get('LOCALSTACK_PORT', '4566')}"
    return ep.rstrip("/")


def region():
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def stack_name():
    return os.environ.get("STACK_NAME", "orderflow-local")


def outputs_file():
    return Path(os.environ.get("OUTPUTS_FILE", ROOT / ".localstack" / "stack-outputs.json"))


def client(service):
    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=region())
    conf = Config(retries={"max_attempts": 3, "mode": "standard"}, s3={"addressing_style": "path"})
    return session.client(service, endpoint_url=endpoint(), config=conf)


def stack_outputs(name=None):
    """Outputs of the deployed local stack (asked from LocalStack, not the file: it is the truth)."""
    cf = client("cloudformation")
    try:
        stack = cf.describe_stacks(StackName=name or stack_name())["Stacks"][0]
    except ClientError as e:
        if "does not exist" in str(e):
            return None
        raise
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def run(main, tag):
    try:
        main()
    except EndpointConnectionError as e:
        print(f"{tag}: error: LocalStack is not reachable at {endpoint()} (start it: localstack/start): {e}",
              file=sys.stderr)
        sys.exit(1)
    except ClientError as e:
        print(f"{tag}: error: {e}", file=sys.stderr)
        sys.exit(1)


def write_json(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
