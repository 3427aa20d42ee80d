"""Unit tests of the host-process execution environment (no LocalStack)."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from conftest import PYFN_DIR
from orderflow_localstack.hostruntime import (
    HostRuntime,
    InitError,
    exit_payload,
    format_invocation_logs,
    normalize_error_body,
)


def base_env(**extra):
    env = {
        "PATH": os.environ["PATH"],
        "AWS_LAMBDA_FUNCTION_NAME": "unit-fn",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_REGION": "us-east-1",
        "GREETING": "hello",
    }
    env.update(extra)
    return env


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def wait_dead(pid, timeout=3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def make_runtime():
    runtimes = []

    def make(code_dir=PYFN_DIR, timeout_s=3.0, **env):
        rt = HostRuntime(str(code_dir), base_env(**env), timeout_s=timeout_s, memory_mb=128, startup_timeout_s=10)
        runtimes.append(rt)
        return rt

    yield make
    for rt in runtimes:
        rt.stop()


def section(logs, request_id):
    """The lines strictly between START and END of one request."""
    m = re.search(rf"START RequestId: {request_id} .*?\n(.*?)END RequestId: {request_id}\n", logs, re.S)
    assert m, logs
    return m.group(1)


def test_invoke_returns_payload_env_and_trace(make_runtime):
    rt = make_runtime()
    rt.start()
    res = rt.invoke("req-1", b'{"echo": 42}', trace_id="Root=1-abc;Parent=def;Sampled=1")
    assert not res.is_error
    doc = json.loads(res.payload)
    assert doc["echo"] == 42
    assert doc["requestId"] == "req-1"
    assert doc["trace"] == "Root=1-abc;Parent=def;Sampled=1"
    assert doc["env"]["GREETING"] == "hello"
    assert doc["env"]["AWS_LAMBDA_FUNCTION_NAME"] == "unit-fn"
    assert "Init Duration:" in res.logs
    # warm: same process, no init
    res2 = rt.invoke("req-2", b'{"echo": 1}')
    assert json.loads(res2.payload)["pid"] == doc["pid"]
    assert "Init Duration:" not in res2.logs


def test_logs_are_attributed_exactly(make_runtime):
    rt = make_runtime()
    rt.start()
    a = rt.invoke("req-a", json.dumps({"log": ["alpha-1", "alpha-2"]}).encode())
    b = rt.invoke("req-b", json.dumps({"log": ["beta-1"]}).encode())
    assert section(a.logs, "req-a") == "handling req-a\nalpha-1\nalpha-2\n"
    # "done req-a" is printed after req-a's response: it is outside both invocations
    assert section(b.logs, "req-b") == "handling req-b\nbeta-1\n"
    assert "done req-a" in b.logs.split("START RequestId: req-b")[0]
    assert "init: starting unit-fn" in a.logs.split("START")[0]
    assert re.search(r"REPORT RequestId: req-b\tDuration: [\d.]+ ms\tBilled Duration: \d+ ms\tMemory Size: 128 MB",
                     b.logs)


def test_big_output_does_not_block(make_runtime):
    rt = make_runtime()
    rt.start()
    lines = [f"line-{i:05d}-" + "x" * 200 for i in range(2000)]  # ~420 KB, far above a pipe buffer
    res = rt.invoke("req-big", json.dumps({"log": lines}).encode())
    assert not res.is_error
    body = section(res.logs, "req-big")
    assert body.count("\n") == 2001
    assert body.rstrip().endswith(lines[-1])


def test_handled_error(make_runtime):
    rt = make_runtime()
    rt.start()
    res = rt.invoke("req-err", b'{"fail": "nope"}')
    assert res.is_error
    assert json.loads(res.payload) == {"errorType": "Handled", "errorMessage": "nope"}
    assert rt.invoke("req-ok", b"{}").is_error is False


def test_timeout_kills_and_respawns(make_runtime):
    rt = make_runtime(timeout_s=0.5)
    rt.start()
    first_pid = rt.pid
    t = time.monotonic()
    res = rt.invoke("req-slow", b'{"sleep": 30, "log": ["before sleep"]}')
    assert time.monotonic() - t < 2
    assert res.is_error and res.status == "timeout"
    assert json.loads(res.payload) == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": "RequestId: req-slow Error: Task timed out after 0.50 seconds",
    }
    assert "req-slow Task timed out after 0.50 seconds" in res.logs
    assert "before sleep" in section(res.logs, "req-slow")
    assert wait_dead(first_pid)
    res2 = rt.invoke("req-next", b'{"echo": "again"}')
    assert not res2.is_error
    assert json.loads(res2.payload)["pid"] != first_pid
    assert "Init Duration:" in res2.logs


def test_crash_reports_exit_error_and_respawns(make_runtime):
    rt = make_runtime()
    rt.start()
    res = rt.invoke("req-crash", b'{"crash": 3}')
    assert res.is_error and res.status == "crash"
    assert json.loads(res.payload) == {
        "errorType": "Runtime.ExitError",
        "errorMessage": "RequestId: req-crash Error: Runtime exited with error: exit status 3",
    }
    assert "crashing now" in section(res.logs, "req-crash")
    assert not rt.invoke("req-after", b"{}").is_error


def test_init_error_is_reported(make_runtime):
    rt = make_runtime(INIT_FAIL="1")
    with pytest.raises(InitError) as e:
        rt.start()
    assert e.value.payload == {"errorType": "Runtime.InitTest", "errorMessage": "init failed on purpose"}
    assert "init: failing on purpose" in e.value.logs
    assert rt.pid is None or wait_dead(rt.pid)
    # an invoke retries init and reports the init error as the function error
    res = rt.invoke("req-init", b"{}")
    assert res.is_error and json.loads(res.payload)["errorType"] == "Runtime.InitTest"


def test_exit_during_init(make_runtime, tmp_path):
    (tmp_path / "bootstrap").write_text("#!/bin/sh\necho 'cannot start' >&2\nexit 7\n")
    (tmp_path / "bootstrap").chmod(0o755)
    rt = make_runtime(code_dir=tmp_path)
    with pytest.raises(InitError) as e:
        rt.start()
    assert e.value.payload["errorType"] == "Runtime.ExitError"
    assert "exit status 7" in e.value.payload["errorMessage"]
    assert "cannot start" in e.value.logs


def test_missing_bootstrap(make_runtime, tmp_path):
    rt = make_runtime(code_dir=tmp_path)
    with pytest.raises(InitError) as e:
        rt.start()
    assert e.value.payload["errorType"] == "Runtime.InvalidEntrypoint"


def test_stop_kills_the_whole_process_group(make_runtime, tmp_path):
    shutil.copy(PYFN_DIR / "bootstrap", tmp_path / "fn.py")
    (tmp_path / "bootstrap").write_text(
        "#!/bin/sh\nsleep 300 &\necho \"grandchild $!\"\nexec python3 \"$(dirname \"$0\")/fn.py\"\n"
    )
    (tmp_path / "bootstrap").chmod(0o755)
    rt = make_runtime(code_dir=tmp_path)
    rt.start()
    res = rt.invoke("req-1", b"{}")
    grandchild = int(re.search(r"grandchild (\d+)", res.logs).group(1))
    pid = rt.pid
    assert pid_alive(grandchild) and pid_alive(pid)
    rt.stop()
    assert wait_dead(pid) and wait_dead(grandchild)


def test_environments_run_concurrently(make_runtime):
    rts = [make_runtime() for _ in range(3)]
    for rt in rts:
        rt.start()
    results = {}

    def run(i, rt):
        results[i] = rt.invoke(f"req-{i}", b'{"sleep": 0.6}')

    t = time.monotonic()
    threads = [threading.Thread(target=run, args=(i, rt)) for i, rt in enumerate(rts)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert time.monotonic() - t < 1.5
    assert len({json.loads(r.payload)["pid"] for r in results.values()}) == 3


def test_children_die_with_the_host_process(tmp_path):
    """PR_SET_PDEATHSIG: a LocalStack that dies hard takes its function processes along."""
    script = textwrap.dedent(
        f"""
        import os, sys, threading
        sys.path.insert(0, {str(PYFN_DIR.parent.parent.parent / 'plugin')!r})
        from orderflow_localstack.hostruntime import HostRuntime
        env = {{"PATH": os.environ["PATH"], "AWS_LAMBDA_FUNCTION_NAME": "x"}}
        rt = HostRuntime({str(PYFN_DIR)!r}, env, timeout_s=3)
        # start from a short-lived thread, as LocalStack does: the child must outlive that thread
        t = threading.Thread(target=rt.start); t.start(); t.join()
        import time; time.sleep(0.3)
        print(rt.pid, flush=True)
        os.kill(os.getpid(), 9)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    child = int(out.stdout.split()[0])
    assert wait_dead(child, 5), "function process survived its parent"


def test_format_and_payload_helpers():
    logs = format_invocation_logs("r1", "$LATEST", "hello", 12.345, 256, init_duration_ms=3.2)
    assert logs.splitlines() == [
        "START RequestId: r1 Version: $LATEST",
        "hello",
        "END RequestId: r1",
        "REPORT RequestId: r1\tDuration: 12.35 ms\tBilled Duration: 13 ms\tMemory Size: 256 MB\t"
        "Max Memory Used: 256 MB\tInit Duration: 3.20 ms",
    ]
    assert json.loads(normalize_error_body(b"not json", "Oops")) == {
        "errorType": "Oops",
        "errorMessage": "not json",
    }
    assert json.loads(normalize_error_body(b'{"errorMessage": "m"}', None)) == {"errorMessage": "m"}
    assert (
        exit_payload("r", -signal.SIGKILL)["errorMessage"]
        == "RequestId: r Error: Runtime exited with error: signal: kill"
    )


def test_invoke_after_stop_does_not_respawn(make_runtime):
    rt = make_runtime()
    rt.start()
    pid = rt.pid
    rt.stop()
    res = rt.invoke("req-late", b"{}")
    assert res.is_error and json.loads(res.payload)["errorType"] == "Runtime.Stopped"
    assert rt.pid == pid and wait_dead(pid)


def test_stop_during_invocation_returns_an_error(make_runtime):
    rt = make_runtime(timeout_s=10)
    rt.start()
    threading.Timer(0.3, rt.stop).start()
    t = time.monotonic()
    res = rt.invoke("req-stop", b'{"sleep": 5}')
    assert time.monotonic() - t < 2
    assert res.is_error
