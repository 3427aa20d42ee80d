"""Fixtures: the SAM template as written (`sam_template`) and as CloudFormation after the SAM
transform (`cfn`), the events crate's constants, and helpers to resolve logical ids."""
import copy
import os
import re
from pathlib import Path

import pytest

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = Path(os.environ.get("ORDERFLOW_TEMPLATE", REPO / "infra" / "template.yaml"))
EVENTS_LIB = REPO / "crates" / "orderflow-events" / "src" / "lib.rs"

FUNCTIONS = {
    # logical id -> (binary / SERVICE_NAME, timeout seconds per CONVENTIONS.md)
    "OrderApiFunction": ("order-api", 10),
    "OutboxRelayFunction": ("outbox-relay", 30),
    "InventoryFunction": ("inventory", 10),
    "BillingFunction": ("billing", 10),
    "NotificationFunction": ("notification", 10),
}
CONSUMERS = {"InventoryFunction": "Inventory", "BillingFunction": "Billing", "NotificationFunction": "Notification"}


def load_yaml(text):
    from samcli.yamlhelper import yaml_parse  # understands !Ref, !Sub, ... short forms

    return yaml_parse(text)


@pytest.fixture(scope="session")
def sam_template():
    return load_yaml(TEMPLATE.read_text())


@pytest.fixture(scope="session")
def cfn(sam_template):
    """The template after the SAM transform, as `sam validate` does it (CodeUri replaced by a dummy
    S3 location; no managed policy names need resolving because every role is explicit)."""
    from samtranslator.translator.transform import transform

    class NoManagedPolicies:
        def load(self):
            return {}

    doc = copy.deepcopy(sam_template)
    for res in doc["Resources"].values():
        if res["Type"] == "AWS::Serverless::Function":
            res["Properties"]["CodeUri"] = "s3://bucket/key"
    return transform(doc, {}, NoManagedPolicies())


@pytest.fixture(scope="session")
def rust_consts():
    """`pub const NAME: &str = "value";` from the events crate: the single source of truth."""
    text = EVENTS_LIB.read_text()
    consts = dict(re.findall(r'pub\s+const\s+([A-Z0-9_]+)\s*:\s*&(?:\'static\s+)?str\s*=\s*"([^"]*)"\s*;', text))
    assert consts, f"no string constants found in {EVENTS_LIB}"
    return consts


def resources(doc, rtype):
    return {k: v for k, v in doc["Resources"].items() if v["Type"] == rtype}


def ref_target(value):
    """Logical id behind {"Ref": X} or {"Fn::GetAtt": [X, ...]} (or "X.Attr"), else None."""
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            att = value["Fn::GetAtt"]
            return att[0] if isinstance(att, list) else att.split(".")[0]
    return None


def as_list(x):
    return x if isinstance(x, list) else [x]
