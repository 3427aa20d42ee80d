"""Fixtures: the template under test, as written (`sam_template`) and as CloudFormation after the
SAM transform (`cfn`), with the consumers it was generated from (`consumers`), the events crate's
constants, and helpers to resolve logical ids.

Every test that takes one of these fixtures runs twice: on the repository's template ("repo") and
on a template generated into a temporary directory from infra/consumers.yaml plus a throwaway
consumer entry ("with-loyalty"), which shows that the rules hold for any consumer the entry list
describes, not only for the three written today."""
import copy
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "infra" / "scripts"))
import infra_units as iu  # noqa: E402

TEMPLATE = Path(os.environ.get("ORDERFLOW_TEMPLATE", iu.TEMPLATE))
EVENTS_LIB = iu.EVENTS_LIB

# The hand-written functions (everything else is a consumer of infra/consumers.yaml):
# logical id -> (binary / SERVICE_NAME, timeout seconds per docs/contracts/conventions.md).
HAND_FUNCTIONS = {
    "OrderApiFunction": ("order-api", 10),
    "OutboxRelayFunction": ("outbox-relay", 30),
}
# A consumer that does not exist, written with every optional field set to a non-default value.
# Named `points`, not `loyalty`: a real loyalty consumer exists (lambdas/loyalty, deployed in its
# own stack), and the throwaway must be a consumer without a crate.
LOYALTY_ENTRY = """
  - name: points
    description: Awards loyalty points for each OrderPlaced (test-only entry)
    subscribes: { OrderPlaced: 1 }
    timeout: 15
    memory: 256
    batch_size: 5
    batching_window: 0
    max_concurrency: 3
    tables:
      - name: LoyaltyPoints
        hash_key: customerId
        ttl: true
        actions: [GetItem, UpdateItem]
    uses_tables:
      - ref: OrdersTable
        env: ORDERS_TABLE_NAME
        sid: ReadOrders
        actions: [GetItem]
    timer:
      subscribes: { OrderPlaced: 1 }
      delay_seconds: 30
    environment:
      POINTS_PER_EURO: "10"
      POINTS_SENDER: !Ref SenderEmail
    statements:
      - Sid: PublishPointsAwarded
        Effect: Allow
        Action: sns:Publish
        Resource: !Ref OrderEventsTopic
"""


def load_yaml(text):
    from samcli.yamlhelper import yaml_parse  # understands !Ref, !Sub, ... short forms

    return yaml_parse(text)


def transform(sam_template):
    """The template after the SAM transform, as `sam validate` does it (CodeUri replaced by a dummy
    S3 location; no managed policy names need resolving because every role is explicit)."""
    from samtranslator.translator.transform import transform as sam_transform

    class NoManagedPolicies:
        def load(self):
            return {}

    doc = copy.deepcopy(sam_template)
    for res in doc["Resources"].values():
        if res["Type"] == "AWS::Serverless::Function":
            res["Properties"]["CodeUri"] = "s3://bucket/key"
    return sam_transform(doc, {}, NoManagedPolicies())


@dataclass
class Case:
    name: str
    template: Path
    consumers_file: Path
    consumers: list
    sam: dict
    cfn: dict

    @property
    def queues(self):
        """(consumer, queue) for every subscribed queue: <Name>Queue, and <Name>TimerQueue."""
        return [(c, q) for c in self.consumers for q in c.queues()]

    @property
    def functions(self):
        """logical id -> (binary, timeout) of every function the template should have."""
        functions = dict(HAND_FUNCTIONS)
        functions.update({f"{c.pascal}Function": (c.name, c.timeout) for c in self.consumers})
        return functions


def write_loyalty_case(directory: Path) -> tuple[Path, Path]:
    """consumers.yaml + the loyalty entry, and the template generated from it, in `directory`."""
    consumers_file = directory / "consumers.yaml"
    consumers_file.write_text(iu.CONSUMERS_FILE.read_text().rstrip("\n") + "\n" + LOYALTY_ENTRY)
    template = directory / "template.yaml"
    template.write_text(iu.generate_files(consumers_file, iu.TEMPLATE))
    return consumers_file, template


@pytest.fixture(scope="session", params=["repo", "with-loyalty"])
def case(request, tmp_path_factory):
    if request.param == "repo":
        consumers_file, template = iu.CONSUMERS_FILE, TEMPLATE
    else:
        consumers_file, template = write_loyalty_case(tmp_path_factory.mktemp("loyalty"))
    sam = load_yaml(template.read_text())
    return Case(request.param, template, consumers_file, iu.load_consumers(consumers_file), sam, transform(sam))


@pytest.fixture(scope="session")
def sam_template(case):
    return case.sam


@pytest.fixture(scope="session")
def cfn(case):
    return case.cfn


@pytest.fixture(scope="session")
def consumers(case):
    return case.consumers


@pytest.fixture(scope="session")
def queues(case):
    return case.queues


@pytest.fixture(scope="session")
def functions(case):
    return case.functions


@pytest.fixture(scope="session")
def rust_consts():
    """`pub const NAME: &str = "value";` from the events crate: the single source of truth."""
    return iu.rust_consts(EVENTS_LIB)


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
