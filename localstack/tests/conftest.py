import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOCALSTACK_DIR = HERE.parent
# Unit tests import the plugin from the source tree (the installed copy is what LocalStack loads).
sys.path.insert(0, str(LOCALSTACK_DIR / "plugin"))

PYFN_DIR = HERE / "fixtures" / "pyfn"


def pytest_configure(config):
    config.addinivalue_line("markers", "integration: starts LocalStack through localstack/start")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
