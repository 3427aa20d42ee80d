"""Shared by infra/scripts/units, infra/scripts/generate-template and infra/tests: the repo's
paths, a YAML loader that keeps CloudFormation short tags (!Ref, !GetAtt, !Sub, ...), and
infra/consumers.yaml read and checked."""
from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "infra" / "template.yaml"
CONSUMERS_FILE = REPO / "infra" / "consumers.yaml"
TOOLS_VENV = REPO / ".venv" / "tools"


def reexec_in_tools_venv() -> None:
    """Run the calling script with .venv/tools' python (PyYAML pinned there), creating the venv
    first (infra/scripts/tools-venv: quick when it is up to date)."""
    if Path(sys.prefix).resolve() == TOOLS_VENV.resolve():
        return
    import subprocess

    subprocess.run([str(REPO / "infra" / "scripts" / "tools-venv")], check=True)
    python = TOOLS_VENV / "bin" / "python"
    os.execv(python, [str(python), os.path.abspath(sys.argv[0]), *sys.argv[1:]])


class Tag:
    """A CloudFormation short-form value: `!Ref X` is Tag("Ref", "X")."""

    __slots__ = ("name", "value")

    def __init__(self, name: str, value):
        self.name, self.value = name, value

    def __eq__(self, other):
        return isinstance(other, Tag) and (self.name, self.value) == (other.name, other.value)

    def __hash__(self):
        return hash((self.name, repr(self.value)))

    def __repr__(self):
        return f"!{self.name} {self.value!r}"


def load_yaml(text: str):
    """Parse YAML keeping CloudFormation short tags as Tag objects."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def construct(loader, suffix, node):
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return Tag(suffix, value)

    Loader.add_multi_constructor("!", construct)
    return yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader plus the tag constructor


def template_functions(doc) -> list[str]:
    """Binary names of the template's AWS::Serverless::Function resources, in template order."""
    return [r["Metadata"]["BuildProperties"]["Binary"] for r in doc["Resources"].values()
            if r.get("Type") == "AWS::Serverless::Function"]


def consumer_names(path: Path = CONSUMERS_FILE) -> list[str]:
    return [c["name"] for c in load_yaml(path.read_text())["consumers"]]
