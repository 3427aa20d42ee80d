import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
LOCALSTACK_DIR = HERE.parent
# Unit tests import the plugin from the source tree (the installed copy is what LocalStack loads).
sys.path.insert(0, str(LOCALSTACK_DIR / "plugin"))

PYFN_DIR = HERE / "fixtures" / "pyfn"

# The integration tests' LocalStack: its own port and state dir, a developer's on 4566 is left alone.
PORT = int(os.environ.get("LOCALSTACK_TEST_PORT", "4599"))
ENDPOINT = f"http://127.0.0.1:{PORT}"
REPO = LOCALSTACK_DIR.parent
STATE = REPO / ".localstack" / f"test-{PORT}"
SCRIPT_ENV = {**os.environ, "LOCALSTACK_PORT": str(PORT), "LOCALSTACK_STATE_DIR": str(STATE)}


def session_pids(sid):
    """Live (non-zombie) processes of a session."""
    out = subprocess.run(["ps", "-eo", "pid=,sid=,stat="], capture_output=True, text=True).stdout
    rows = (line.split() for line in out.splitlines())
    return sorted(int(p) for p, s, stat in rows if int(s) == sid and not stat.startswith("Z"))


def kill_session(sid):
    for pid in session_pids(sid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture(scope="module")
def localstack():
    """LocalStack through localstack/start for one test module; stopped (by PID too) at its end."""
    t = time.monotonic()
    proc = subprocess.run([str(LOCALSTACK_DIR / "start")], env=SCRIPT_ENV, capture_output=True, text=True, timeout=300)
    started_in = time.monotonic() - t
    pid = None
    pidfile = STATE / "localstack.pid"
    if pidfile.exists():
        pid = int(pidfile.read_text())
    try:
        assert proc.returncode == 0, f"start failed:\n{proc.stdout}\n{proc.stderr}"
        assert proc.stdout.strip() == ENDPOINT
        print(f"\nlocalstack/start took {started_in:.1f} s")
        yield {"pid": pid, "start_seconds": started_in}
    finally:
        subprocess.run([str(LOCALSTACK_DIR / "stop")], env=SCRIPT_ENV, capture_output=True, timeout=60)
        if pid:
            kill_session(pid)  # belt and braces when stop itself failed


def pytest_configure(config):
    config.addinivalue_line("markers", "integration: starts LocalStack through localstack/start")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
