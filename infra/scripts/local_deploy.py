"""Deploy infra/template.yaml into LocalStack, as `sam package` + `sam deploy` would, but with the
host-built binaries of infra/scripts/build-lambdas (no `sam build`, no Docker, offline).

What it changes in the template, and nothing else: each rust-cargolambda function's CodeUri becomes
the S3 location of a zip of target/lambda/<Binary>/bootstrap (the zip `sam package` would upload),
and its build Metadata is dropped. LocalStack runs the SAM transform itself.

Creates or updates the stack through a change set (LOCAL_DEPLOY_DIRECT=1: CreateStack/UpdateStack);
an update with no changes succeeds. LocalStack's engine can report CREATE_COMPLETE with a failed
resource, so every resource's status is checked too. On failure the
stack's failed events are printed. Outputs are printed and written as JSON.
Used by infra/scripts/local-deploy (see there for the environment variables).

`--template FILE --stack NAME` deploys another template the same way, as a stack of its own
beside the orders stack (infra/stacks/*.yaml, e.g. infra/scripts/local-deploy-loyalty): the
parameters it declares are filled from the orders stack (STACK_NAME): `OrdersStackName`, every
parameter named like one of its outputs, `AppKeyArn` from its key alias, and the local settings
(Architecture, LogLevel, ...) it shares with the orders template."""
import argparse
import hashlib
import io
import json
import os
import sys
import time
import zipfile
from pathlib import Path

from botocore.exceptions import ClientError

from localstack_common import ROOT, client, endpoint, outputs_file, region, stack_name, write_json

TEMPLATE = ROOT / "infra" / "template.yaml"


def log(msg):
    print(f"local-deploy: {msg}", file=sys.stderr, flush=True)


def fail(msg):
    log(f"error: {msg}")
    sys.exit(1)


def settings(template=TEMPLATE, stack=None):
    return {
        "endpoint": endpoint(),
        "region": region(),
        "template": Path(template),
        "orders_stack": stack_name(),
        "stack": stack or stack_name(),
        "bucket": os.environ.get("ARTIFACT_BUCKET", "orderflow-local-artifacts"),
        "outputs_file": outputs_file(),
        "parameters": {
            "Environment": "localstack",
            "Architecture": "x86_64",
            "Stage": os.environ.get("STAGE", "local"),
            "LogLevel": os.environ.get("ORDERFLOW_LOG_LEVEL", "info"),
            "SenderEmail": os.environ.get("SENDER_EMAIL", "orders@example.com"),
            "AlarmEmail": "",
            "LocalStackEndpoint": endpoint(),
            # Local tests wait for the settle timeout: a minute, not the 15 of AWS.
            "SettleTimeoutSeconds": os.environ.get("SETTLE_TIMEOUT_SECONDS", "180"),
        },
    }


def clients(cfg):
    return {n: client(n) for n in ("s3", "cloudformation", "kms")}


def side_stack_parameters(cfg, declared, cf, kms):
    """A side stack's parameters, from the orders stack it attaches to. Only what the template
    declares is passed (CloudFormation rejects the others); a required one left unfilled fails
    here, by name, instead of in the change set."""
    orders = cfg["orders_stack"]
    try:
        stack = cf.describe_stacks(StackName=orders)["Stacks"][0]
    except ClientError as e:
        if "does not exist" in str(e):
            fail(f"the orders stack {orders} is not deployed (infra/scripts/local-deploy first)")
        raise
    known = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    known.update({k: v for k, v in cfg["parameters"].items() if k in declared})
    known["OrdersStackName"] = orders
    if "AppKeyArn" in declared:
        known["AppKeyArn"] = kms.describe_key(KeyId=f"alias/{orders}")["KeyMetadata"]["Arn"]
    params = {k: known[k] for k in declared if k in known}
    missing = [k for k, spec in declared.items() if k not in params and "Default" not in spec]
    if missing:
        fail(f"{cfg['template']}: no value for parameter(s) {', '.join(missing)} from stack {orders}")
    return params


def zip_bootstrap(binary: Path) -> bytes:
    """A reproducible zip (fixed timestamp, mode 0755) so an unchanged binary keeps its S3 key."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = (0o100755 & 0xFFFF) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, binary.read_bytes())
    return buf.getvalue()


def package(cfg, s3):
    from samcli.yamlhelper import yaml_parse  # keeps !Ref/!Sub/... as intrinsic functions

    template = yaml_parse(cfg["template"].read_text())
    try:
        s3.head_bucket(Bucket=cfg["bucket"])
    except ClientError:
        s3.create_bucket(Bucket=cfg["bucket"])
    for res in template["Resources"].values():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        meta = res.get("Metadata", {})
        if meta.get("BuildMethod") != "rust-cargolambda":
            continue
        binary = meta["BuildProperties"]["Binary"]
        path = Path(os.environ.get("LAMBDA_ARTIFACTS_DIR", ROOT / "target" / "lambda")) / binary / "bootstrap"
        if not path.is_file():
            fail(f"{path} is missing: run infra/scripts/build-lambdas first")
        data = zip_bootstrap(path)
        key = f"{cfg['stack']}/{binary}-{hashlib.sha256(data).hexdigest()[:16]}.zip"
        try:
            s3.head_object(Bucket=cfg["bucket"], Key=key)
        except ClientError:
            s3.put_object(Bucket=cfg["bucket"], Key=key, Body=data)
            log(f"uploaded {binary} ({len(data) // 1024} KiB zipped) to s3://{cfg['bucket']}/{key}")
        res["Properties"]["CodeUri"] = {"Bucket": cfg["bucket"], "Key": key}
        del res["Metadata"]
    return template_source(cfg, s3, json.dumps(template, separators=(",", ":")))


def template_source(cfg, s3, body):
    """The template as CloudFormation takes it: by URL from the artifacts bucket, as `sam deploy`
    does, because an inline TemplateBody is capped at 51,200 bytes and this template is larger."""
    data = body.encode()
    key = f"{cfg['stack']}/template-{hashlib.sha256(data).hexdigest()[:16]}.json"
    s3.put_object(Bucket=cfg["bucket"], Key=key, Body=data)
    return {"TemplateURL": f"{cfg['endpoint'].rstrip('/')}/{cfg['bucket']}/{key}"}


def stack_status(cf, stack):
    try:
        return cf.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
    except ClientError as e:
        if "does not exist" in str(e):
            return None
        raise


def print_failures(cf, stack, since):
    log(f"stack {stack} failed; failed events:")
    try:
        events = cf.describe_stack_events(StackName=stack)["StackEvents"]
    except ClientError as e:
        log(f"  (cannot read events: {e})")
        return
    for ev in reversed(events):
        status = ev.get("ResourceStatus", "")
        if "FAILED" in status or "ROLLBACK" in status:
            ts = ev.get("Timestamp")
            if ts is not None and ts.timestamp() < since - 5:
                continue
            print(f"  {ev.get('LogicalResourceId')} ({ev.get('ResourceType')}) {status}: "
                  f"{ev.get('ResourceStatusReason', '')}", file=sys.stderr)


def wait_stack(cf, stack, since, timeout=900):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = stack_status(cf, stack)
        if status is None:
            fail(f"stack {stack} disappeared")
        if status.endswith("_COMPLETE") or status.endswith("_FAILED"):
            if status in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
                bad = [r for r in cf.list_stack_resources(StackName=stack)["StackResourceSummaries"]
                       if r["ResourceStatus"].endswith("_FAILED")]
                if not bad:
                    return status
                for r in bad:
                    print(f"  {r['LogicalResourceId']} ({r['ResourceType']}) {r['ResourceStatus']}: "
                          f"{r.get('ResourceStatusReason', '')}", file=sys.stderr)
                fail(f"stack {stack} reports {status} but {len(bad)} resource(s) failed")
            print_failures(cf, stack, since)
            fail(f"stack {stack} ended in {status}")
        time.sleep(1)
    fail(f"stack {stack} not finished after {timeout} s")


def deploy(cfg, cf, template):
    stack = cfg["stack"]
    status = stack_status(cf, stack)
    if status in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "REVIEW_IN_PROGRESS", "DELETE_FAILED", "CREATE_FAILED"):
        log(f"stack {stack} is {status} (a failed first deploy): deleting it before creating again")
        cf.delete_stack(StackName=stack)
        for _ in range(300):
            if stack_status(cf, stack) in (None, "DELETE_COMPLETE"):
                break
            time.sleep(1)
        status = None
    kind = "UPDATE" if status else "CREATE"
    since = time.time()
    params = [{"ParameterKey": k, "ParameterValue": v} for k, v in cfg["parameters"].items()]
    caps = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
    if os.environ.get("LOCAL_DEPLOY_DIRECT") != "1":
        return deploy_change_set(cfg, cf, template, kind, params, caps, since)
    # LOCAL_DEPLOY_DIRECT=1: CreateStack/UpdateStack, a fallback should LocalStack's change sets
    # misbehave (its v2 engine has had bugs with conditional resources).
    log(f"{kind.lower()} stack {stack} at {cfg['endpoint']}")
    try:
        if kind == "CREATE":
            cf.create_stack(StackName=stack, **template, Parameters=params, Capabilities=caps)
        else:
            cf.update_stack(StackName=stack, **template, Parameters=params, Capabilities=caps)
    except ClientError as e:
        if "No updates are to be performed" in str(e):
            log("no changes: the stack is up to date")
            return "UNCHANGED"
        raise
    return wait_stack(cf, stack, since)


def deploy_change_set(cfg, cf, template, kind, params, caps, since):
    stack = cfg["stack"]
    name = f"orderflow-{int(time.time())}"
    log(f"{kind.lower()} stack {stack} via change set {name} at {cfg['endpoint']}")
    cs = cf.create_change_set(
        StackName=stack, ChangeSetName=name, ChangeSetType=kind, **template, Parameters=params,
        Capabilities=caps,
    )
    cs_id = cs["Id"]
    deadline = time.monotonic() + 300
    while True:
        desc = cf.describe_change_set(ChangeSetName=cs_id, StackName=stack)
        st = desc["Status"]
        if st == "CREATE_COMPLETE":
            break
        if st == "FAILED":
            reason = desc.get("StatusReason", "")
            if "didn't contain changes" in reason or "No updates are to be performed" in reason:
                log("no changes: the stack is up to date")
                try:
                    cf.delete_change_set(ChangeSetName=cs_id, StackName=stack)
                except ClientError:
                    pass
                return "UNCHANGED"
            fail(f"change set failed: {reason}")
        if time.monotonic() > deadline:
            fail(f"change set still {st} after 300 s")
        time.sleep(0.5)
    cf.execute_change_set(ChangeSetName=cs_id, StackName=stack)
    return wait_stack(cf, stack, since)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="local-deploy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--template", type=Path, default=TEMPLATE,
                        help="template to deploy (default infra/template.yaml, the orders stack)")
    parser.add_argument("--stack", help="stack name (default STACK_NAME, or orderflow-local)")
    parser.add_argument("--outputs", type=Path,
                        help="outputs JSON (default OUTPUTS_FILE for the orders stack, "
                             "<its folder>/<stack>-outputs.json for another one)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    template_path = args.template.resolve()
    cfg = settings(template_path, args.stack)
    side = template_path != TEMPLATE.resolve()
    if side and cfg["stack"] == cfg["orders_stack"]:
        fail(f"--stack must name a stack of its own for {args.template}, not the orders stack {cfg['stack']}")
    cfg["outputs_file"] = args.outputs or (
        cfg["outputs_file"].with_name(f"{cfg['stack']}-outputs.json") if side else cfg["outputs_file"])
    c = clients(cfg)
    start = time.monotonic()
    try:
        if side:
            from samcli.yamlhelper import yaml_parse

            declared = yaml_parse(template_path.read_text()).get("Parameters", {})
            cfg["parameters"] = side_stack_parameters(cfg, declared, c["cloudformation"], c["kms"])
        template = package(cfg, c["s3"])
        result = deploy(cfg, c["cloudformation"], template)
    except ClientError as e:
        fail(f"{e}")
    except Exception as e:  # connection refused and the like
        if "Could not connect" in str(e) or "Connection" in type(e).__name__:
            fail(f"LocalStack is not reachable at {cfg['endpoint']} (start it: localstack/start): {e}")
        raise
    stack = c["cloudformation"].describe_stacks(StackName=cfg["stack"])["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    write_json(cfg["outputs_file"], outputs)
    log(f"{result} in {time.monotonic() - start:.1f} s; outputs written to {cfg['outputs_file']}")
    width = max(map(len, outputs), default=0)
    for k in sorted(outputs):
        print(f"{k:<{width}}  {outputs[k]}")


if __name__ == "__main__":
    main()
