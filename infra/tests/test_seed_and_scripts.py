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
