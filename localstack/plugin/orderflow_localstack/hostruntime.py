"""A Lambda execution environment as a host process, without any LocalStack import.

``HostRuntime`` runs a custom-runtime ``bootstrap`` (provided.al2023 / provided.al2) as a child
process in its own process group, serves the Lambda Runtime API for it on a loopback port, and
hands it one invocation at a time. It captures the process' stdout/stderr and attributes every
byte to exactly one invocation (or to the gap before one), enforces the function timeout by
killing the process group, and reports init errors and crashes the way Lambda does.

The LocalStack adapter lives in ``executor.py``; keeping this module free of LocalStack imports
lets the unit tests exercise it with a tiny Python bootstrap.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import logging
import os
import queue
import select
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = logging.getLogger(__name__)

RUNTIME_API_PREFIX = "/2018-06-01/runtime"
# Lambda truncates a function's output in the Invoke response's log tail and in CloudWatch at
# 256 KiB per event; keep at most this much per invocation so a chatty function cannot eat memory.
MAX_LOG_BYTES_PER_INVOCATION = 4 * 1024 * 1024
# Idle threads (output pump, Runtime API server, waiting GET /next) wake up this rarely: with many
# warm environments, frequent wake-ups compete for the GIL with the invocations being served.
# Events that matter (output, EOF, a new invocation, stop) wake them at once anyway.
IDLE_WAKEUP_S = 5.0


class InitError(Exception):
    """The runtime failed before it asked for its first invocation (init error, crash, bad entrypoint)."""

    def __init__(self, payload: dict, logs: str = ""):
        super().__init__(payload.get("errorMessage", "init error"))
        self.payload = payload
        self.logs = logs

    @property
    def payload_bytes(self) -> bytes:
        return json.dumps(self.payload).encode()


@dataclass
class InvokeResult:
    request_id: str
    payload: bytes
    is_error: bool
    logs: str
    duration_ms: float = 0.0
    status: str = "success"  # success | error | timeout | crash


def timeout_message(timeout_s: float) -> str:
    return f"Task timed out after {timeout_s:.2f} seconds"


def timeout_payload(request_id: str, timeout_s: float) -> dict:
    return {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {request_id} Error: {timeout_message(timeout_s)}",
    }


def exit_payload(request_id: str | None, returncode: int | None, phase: str = "invoke") -> dict:
    if returncode is None:
        reason = "Runtime exited without providing a reason"
    elif returncode < 0:
        try:
            reason = f"Runtime exited with error: signal: {signal.Signals(-returncode).name.lower()[3:]}"
        except ValueError:
            reason = f"Runtime exited with error: signal {-returncode}"
    else:
        reason = f"Runtime exited with error: exit status {returncode}"
    prefix = f"RequestId: {request_id} " if request_id else ""
    error_type = "Runtime.ExitError"
    if phase == "init":
        return {"errorType": error_type, "errorMessage": f"{prefix}Error: {reason}"}
    return {"errorType": error_type, "errorMessage": f"{prefix}Error: {reason}"}


def normalize_error_body(body: bytes, error_type_header: str | None) -> bytes:
    """Lambda passes the runtime's error document through; make sure it is a JSON object."""
    try:
        doc = json.loads(body or b"null")
    except ValueError:
        doc = None
    if isinstance(doc, dict) and ("errorMessage" in doc or "errorType" in doc):
        return json.dumps(doc).encode()
    message = body.decode("utf-8", "replace") if body else "Unhandled"
    return json.dumps(
        {"errorType": error_type_header or "Runtime.Unknown", "errorMessage": message}
    ).encode()


def max_rss_mb(pid: int | None) -> int | None:
    """Peak resident set size of a live process (VmHWM), in MB."""
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return max(1, int(line.split()[1]) // 1024)
    except OSError:
        return None
    return None


def format_invocation_logs(
    request_id: str,
    version: str,
    body: str,
    duration_ms: float,
    memory_mb: int,
    init_duration_ms: float | None = None,
    status: str = "success",
    timeout_s: float | None = None,
    preamble: str = "",
    max_memory_mb: int | None = None,
) -> str:
    """Lambda's log framing: output between START and END belongs to that invocation only."""
    lines = [preamble] if preamble else []
    lines.append(f"START RequestId: {request_id} Version: {version}\n")
    if body:
        lines.append(body if body.endswith("\n") else body + "\n")
    if status == "timeout" and timeout_s is not None:
        ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        lines.append(f"{ts} {request_id} {timeout_message(timeout_s)}\n")
    lines.append(f"END RequestId: {request_id}\n")
    report = (
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
        f"Billed Duration: {max(1, int(duration_ms + 0.999))} ms\tMemory Size: {memory_mb} MB\t"
        f"Max Memory Used: {max_memory_mb or memory_mb} MB"
    )
    if init_duration_ms is not None:
        report += f"\tInit Duration: {init_duration_ms:.2f} ms"
    if status in ("timeout", "crash"):
        report += f"\tStatus: {status}"
    lines.append(report + "\n")
    return "".join(lines)


# --------------------------------------------------------------------------------------------
# Process spawning: PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, so all
# children are forked by one long-lived thread; otherwise a short-lived LocalStack worker thread
# ending would kill a healthy function process.
# --------------------------------------------------------------------------------------------

_PR_SET_PDEATHSIG = 1


def _child_setup() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:  # noqa: BLE001 - best effort, process groups still cover stop()
        pass


class _Spawner:
    def __init__(self) -> None:
        self._requests: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _run(self) -> None:
        while True:
            args, kwargs, box, done = self._requests.get()
            try:
                box.append(subprocess.Popen(*args, **kwargs))
            except BaseException as e:  # noqa: BLE001 - handed back to the caller
                box.append(e)
            done.set()

    def popen(self, *args, **kwargs) -> subprocess.Popen:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="hostlambda-spawner", daemon=True)
                self._thread.start()
        box: list = []
        done = threading.Event()
        self._requests.put((args, kwargs, box, done))
        done.wait()
        if isinstance(box[0], BaseException):
            raise box[0]
        return box[0]


SPAWNER = _Spawner()

# Every live process group we started, so an interpreter exit can reap them all.
_LIVE_GROUPS: set[int] = set()
_LIVE_LOCK = threading.Lock()
# Serialises "kill the group" against "reap the leader" (see HostRuntime._reap).
_REAP_LOCK = threading.Lock()


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def kill_all_groups() -> None:
    with _LIVE_LOCK:
        groups = list(_LIVE_GROUPS)
        _LIVE_GROUPS.clear()
    for pgid in groups:
        kill_group(pgid)


# --------------------------------------------------------------------------------------------
# Output capture
# --------------------------------------------------------------------------------------------


class OutputCapture:
    """Collects a child's stdout+stderr from one pipe.

    Reading happens only under ``lock`` with a non-blocking drain, so "everything written before
    event X" is exactly what a drain after X returns: the runtime writes its log lines before it
    POSTs the response, the response handler drains, and the next byte belongs to the next slice.
    """

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        flags = fcntl.fcntl(self.read_fd, fcntl.F_GETFL)
        fcntl.fcntl(self.read_fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        self.lock = threading.Lock()
        self._buf = bytearray()
        self._eof = False
        self._closed = False
        self._dropped = 0
        self._thread = threading.Thread(target=self._pump, name="hostlambda-output", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close_write_end(self) -> None:
        # Close exactly once: a second os.close() on a reused fd number would close somebody
        # else's socket (LocalStack's reactor notices).
        with self.lock:
            fd, self.write_fd = self.write_fd, -1
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass

    def _pump(self) -> None:
        try:
            while True:
                with self.lock:
                    if self._eof or self._closed:
                        return
                    fd = self.read_fd
                try:
                    readable, _, _ = select.select([fd], [], [], IDLE_WAKEUP_S)
                except (OSError, ValueError):
                    return
                if readable:
                    self.drain()
        finally:
            # the pump owns the read end once close() was requested (no select on a reused fd number)
            with self.lock:
                if self._closed and self.read_fd >= 0:
                    fd, self.read_fd = self.read_fd, -1
                    try:
                        os.close(fd)
                    except OSError:
                        pass

    def drain(self) -> None:
        with self.lock:
            if self._closed:
                return
            while True:
                try:
                    chunk = os.read(self.read_fd, 65536)
                except BlockingIOError:
                    return
                except OSError as e:
                    if e.errno == errno.EINTR:
                        continue
                    self._eof = True
                    return
                if not chunk:
                    self._eof = True
                    return
                room = MAX_LOG_BYTES_PER_INVOCATION - len(self._buf)
                if room > 0:
                    self._buf += chunk[:room]
                self._dropped += max(0, len(chunk) - max(room, 0))

    def take(self) -> str:
        """Drain, then return and clear everything collected so far."""
        self.drain()
        with self.lock:
            data = bytes(self._buf)
            dropped = self._dropped
            self._buf.clear()
            self._dropped = 0
        text = data.decode("utf-8", "replace")
        if dropped:
            text += f"\n[output truncated: {dropped} bytes dropped]\n"
        return text

    def drain_until_eof(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.drain()
            with self.lock:
                if self._eof:
                    return
            time.sleep(0.005)

    def close(self) -> None:
        """Close both ends without blocking; a running pump thread closes the read end itself."""
        self.close_write_end()
        with self.lock:
            if self._closed:
                return
            self._closed = True
            if self._thread.is_alive():
                return
            fd, self.read_fd = self.read_fd, -1
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass


# --------------------------------------------------------------------------------------------
# Runtime API
# --------------------------------------------------------------------------------------------


@dataclass
class _Invocation:
    request_id: str
    payload: bytes
    headers: dict[str, str]
    done: threading.Event = field(default_factory=threading.Event)
    result_payload: bytes = b""
    is_error: bool = False
    status: str = "success"
    # output written before the runtime asked for this invocation (init, tail of the previous one)
    preamble: str = ""
    body: str | None = None  # output between the runtime's GET /next and its response

    def complete(self, payload: bytes, is_error: bool, status: str, body: str | None = None) -> bool:
        """First completion wins (response vs. timeout vs. crash)."""
        with _COMPLETE_LOCK:
            if self.done.is_set():
                return False
            self.result_payload = payload
            self.is_error = is_error
            self.status = status
            self.body = body
            self.done.set()
            return True


_COMPLETE_LOCK = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # small request/response pairs: no 40 ms delayed-ACK stalls
    server: _RuntimeApiServer

    def log_message(self, format, *args):  # noqa: A002 - silence default stderr logging
        LOG.debug("runtime api: " + format, *args)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            return self.rfile.read(length)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return b""

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        # headers and body in one write
        self._headers_buffer.append(b"\r\n")
        if body:
            self._headers_buffer.append(body)
        self.flush_headers()

    def do_GET(self):  # noqa: N802 - the name BaseHTTPRequestHandler dispatches to
        if self.path != f"{RUNTIME_API_PREFIX}/invocation/next":
            self._send(HTTPStatus.NOT_FOUND, b'{"errorType":"InvalidPath"}')
            return
        invocation = self.server.runtime._next_invocation()
        if invocation is None:  # shutting down: drop the connection, the process gets killed
            self.close_connection = True
            self._send(HTTPStatus.GONE, b'{"errorType":"ShuttingDown"}')
            return
        self._send(HTTPStatus.OK, invocation.payload, invocation.headers)

    def do_POST(self):  # noqa: N802 - the name BaseHTTPRequestHandler dispatches to
        body = self._body()
        path = self.path
        runtime = self.server.runtime
        if path == f"{RUNTIME_API_PREFIX}/init/error":
            runtime._on_init_error(body, self.headers.get("Lambda-Runtime-Function-Error-Type"))
            self._send(HTTPStatus.ACCEPTED, b'{"status":"OK"}')
            return
        prefix = f"{RUNTIME_API_PREFIX}/invocation/"
        if path.startswith(prefix):
            rest = path[len(prefix):]
            request_id, _, action = rest.partition("/")
            if action in ("response", "error"):
                ok = runtime._on_result(
                    request_id,
                    body,
                    is_error=action == "error",
                    error_type=self.headers.get("Lambda-Runtime-Function-Error-Type"),
                )
                if ok:
                    self._send(HTTPStatus.ACCEPTED, b'{"status":"OK"}')
                else:
                    self._send(
                        HTTPStatus.BAD_REQUEST,
                        b'{"errorType":"InvalidRequestID","errorMessage":"unknown or completed request id"}',
                    )
                return
        self._send(HTTPStatus.NOT_FOUND, b'{"errorType":"InvalidPath"}')


class _RuntimeApiServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, runtime: HostRuntime):
        self.runtime = runtime
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request, client_address):  # a killed runtime drops its connection
        LOG.debug("runtime api connection from %s ended with an error", client_address, exc_info=True)


# --------------------------------------------------------------------------------------------
# The execution environment
# --------------------------------------------------------------------------------------------


class HostRuntime:
    """One execution environment: at most one bootstrap process, one invocation at a time."""

    def __init__(
        self,
        code_dir: str,
        env: dict[str, str],
        *,
        timeout_s: float,
        memory_mb: int = 128,
        version: str = "$LATEST",
        entrypoint: str = "bootstrap",
        startup_timeout_s: float = 20.0,
        name: str = "function",
    ) -> None:
        self.code_dir = code_dir
        self.base_env = dict(env)
        self.timeout_s = float(timeout_s)
        self.memory_mb = int(memory_mb)
        self.version = version
        self.entrypoint = entrypoint
        self.startup_timeout_s = startup_timeout_s
        self.name = name

        self._lock = threading.RLock()
        self._server: _RuntimeApiServer | None = None
        self._server_thread: threading.Thread | None = None
        self._proc: subprocess.Popen | None = None
        self._output: OutputCapture | None = None
        self._ready = threading.Event()  # set on the first GET /next of the current process
        self._init_error: dict | None = None
        self._exited = threading.Event()
        # Makes "is this still the current process? then it exited" one step against a respawn:
        # without it an old process's watcher could pass the check, the respawn clear `_exited`,
        # and the watcher then set it for the new process, which would look dead at its init.
        self._exit_lock = threading.Lock()
        self._stopped = threading.Event()
        self._pending: queue.Queue[_Invocation | None] = queue.Queue()
        self._current: _Invocation | None = None
        self._init_duration_ms: float | None = None
        self._gap_logs = ""  # output produced outside an invocation (init, after a response)
        self.all_logs: list[str] = []  # bounded history for get_logs()

    # ---- Runtime API callbacks (server threads) ----

    def _next_invocation(self) -> _Invocation | None:
        self._ready.set()
        # Wait on this process' queue only: a handler left over from a killed process must never
        # take an invocation meant for its successor (the old queue gets a None on respawn).
        pending = self._pending
        while not self._stopped.is_set():
            try:
                item = pending.get(timeout=IDLE_WAKEUP_S)
            except queue.Empty:
                continue
            if item is None:
                return None
            # The runtime writes a previous invocation's trailing output before its GET /next:
            # everything collected up to now precedes this invocation's START line.
            if self._output is not None:
                item.preamble = self._output.take()
            return item
        return None

    def _on_init_error(self, body: bytes, error_type: str | None) -> None:
        payload = json.loads(normalize_error_body(body, error_type or "Runtime.InitError"))
        self._init_error = payload

    def _on_result(self, request_id: str, body: bytes, *, is_error: bool, error_type: str | None) -> bool:
        inv = self._current
        if inv is None or inv.request_id != request_id or inv.done.is_set():
            return False
        # Everything written before the POST belongs to this invocation; later output goes to the gap
        # before the next one.
        output = self._output.take() if self._output is not None else ""
        if is_error:
            done = inv.complete(normalize_error_body(body, error_type), True, "error", output)
        else:
            done = inv.complete(body, False, "success", output)
        if not done and output:
            self._gap_logs += output
        return done

    # ---- lifecycle ----

    @property
    def runtime_api(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _ensure_server(self) -> None:
        if self._server is None:
            self._server = _RuntimeApiServer(self)
            self._server_thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": IDLE_WAKEUP_S},
                name=f"hostlambda-api-{self.name}",
                daemon=True,
            )
            self._server_thread.start()

    def start(self) -> None:
        """Spawn the bootstrap and wait until it asks for work; raise InitError if it cannot."""
        with self._lock:
            if self._stopped.is_set():
                raise InitError({"errorType": "Runtime.Stopped", "errorMessage": "environment stopped"})
            self._ensure_server()
            self._spawn_and_wait()

    def _spawn_and_wait(self) -> None:
        path = os.path.join(self.code_dir, self.entrypoint)
        if not os.path.isfile(path):
            raise InitError(
                {
                    "errorType": "Runtime.InvalidEntrypoint",
                    "errorMessage": f"RequestId:  Error: Couldn't find valid bootstrap(s): [{path}]",
                }
            )
        if not os.access(path, os.X_OK):
            try:
                os.chmod(path, os.stat(path).st_mode | 0o755)
            except OSError:
                pass
        env = dict(self.base_env)
        env["AWS_LAMBDA_RUNTIME_API"] = self.runtime_api
        self._ready.clear()
        with self._exit_lock:
            self._proc = None  # an old watcher from here on sees it is not current
            self._exited.clear()
        self._init_error = None
        old_pending, self._pending = self._pending, queue.Queue()
        old_pending.put(None)  # release a GET /next still parked by the previous process
        self._current = None
        output = OutputCapture()
        started = time.perf_counter()
        try:
            proc = SPAWNER.popen(
                [path],
                cwd=self.code_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output.write_fd,
                stderr=output.write_fd,
                close_fds=True,
                process_group=0,
                preexec_fn=_child_setup,
            )
        except OSError as e:
            output.close()
            raise InitError(
                {
                    "errorType": "Runtime.InvalidEntrypoint",
                    "errorMessage": f"RequestId:  Error: fork/exec {path}: {e.strerror or e}",
                }
            ) from e
        output.close_write_end()
        output.start()
        self._proc, self._output = proc, output
        with _LIVE_LOCK:
            _LIVE_GROUPS.add(proc.pid)
        threading.Thread(target=self._watch, args=(proc,), name=f"hostlambda-wait-{proc.pid}", daemon=True).start()

        deadline = time.monotonic() + self.startup_timeout_s
        while True:
            if self._ready.wait(0.01):
                break
            if self._init_error is not None or self._exited.is_set() or self._stopped.is_set():
                break
            if time.monotonic() > deadline:
                break
        if self._ready.is_set() and self._init_error is None:
            self._init_duration_ms = (time.perf_counter() - started) * 1000
            return
        # failed: collect what it printed, kill it, report the way Lambda does
        if self._init_error is not None:
            payload = self._init_error
            self._exited.wait(0.5)  # a runtime usually exits right after init/error
        elif self._exited.is_set():
            payload = exit_payload(None, proc.returncode, phase="init")
        elif self._stopped.is_set():
            payload = {"errorType": "Runtime.Stopped", "errorMessage": "environment stopped during init"}
        else:
            payload = {
                "errorType": "Runtime.Unknown",
                "errorMessage": f"Error: runtime did not call the Runtime API within {self.startup_timeout_s:.0f} s",
            }
        self._kill_process()
        logs = self._gap_logs + (self._output.take() if self._output else "")
        self._gap_logs = ""
        self._remember(logs)
        raise InitError(payload, logs)

    def _watch(self, proc: subprocess.Popen) -> None:
        # Wait without reaping: while the leader is a zombie its pid (= the group id) cannot be
        # reused, so killing the group cannot hit a stranger. Then kill what it left, then reap.
        try:
            os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:
            pass
        self._reap(proc)
        with self._exit_lock:
            if proc is not self._proc:
                return
            self._exited.set()
        inv = self._current
        if inv is not None and not inv.done.is_set():
            if self._output is not None:
                self._output.drain_until_eof(0.2)
            inv.complete(json.dumps(exit_payload(inv.request_id, proc.returncode)).encode(), True, "crash")

    def _reap(self, proc: subprocess.Popen) -> None:
        with _REAP_LOCK:
            if proc.returncode is None:
                kill_group(proc.pid, signal.SIGKILL)
                proc.wait()
            with _LIVE_LOCK:
                _LIVE_GROUPS.discard(proc.pid)

    def _signal_group(self, proc: subprocess.Popen) -> None:
        """SIGKILL the process group unless its leader was already reaped (its id may be reused)."""
        with _REAP_LOCK:
            if proc.returncode is None:
                kill_group(proc.pid, signal.SIGKILL)

    def kill(self) -> bool:
        """SIGKILL the running process group, as a crash or an OOM kill does: the watcher then
        reports the invocation in flight as Runtime.ExitError. False when no process runs."""
        proc = self._proc
        if proc is None:
            return False
        with _REAP_LOCK:
            if proc.returncode is not None:
                return False
            kill_group(proc.pid, signal.SIGKILL)
            return True

    def _kill_process(self) -> None:
        proc = self._proc
        if proc is None:
            return
        self._signal_group(proc)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            LOG.warning("process %s did not die after SIGKILL", proc.pid)
        if self._output is not None:
            self._output.drain_until_eof(0.2)

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None and self._ready.is_set()

    def invoke(
        self,
        request_id: str,
        payload: bytes,
        *,
        trace_id: str | None = None,
        invoked_function_arn: str = "",
        client_context: str | None = None,
        cognito_identity: str | None = None,
    ) -> InvokeResult:
        with self._lock:
            init_ms: float | None = None
            if self._stopped.is_set():
                payload = b'{"errorType":"Runtime.Stopped","errorMessage":"environment stopped"}'
                return InvokeResult(request_id, payload, True, "", 0.0, "crash")
            if not self.alive():
                # after a timeout or crash: a fresh process (Lambda's "suppressed init")
                self._kill_process()
                if self._output is not None:
                    self._gap_logs += self._output.take()
                    self._output.close()
                    self._output = None
                try:
                    self._spawn_and_wait()
                except InitError as e:
                    logs = format_invocation_logs(
                        request_id, self.version, "", 0.0, self.memory_mb, status="error", preamble=e.logs
                    )
                    return InvokeResult(request_id, e.payload_bytes, True, logs, 0.0, "init_error")
            if self._init_duration_ms is not None:
                init_ms, self._init_duration_ms = self._init_duration_ms, None

            gap = self._gap_logs
            self._gap_logs = ""
            deadline_ms = int(time.time() * 1000 + self.timeout_s * 1000)
            headers = {
                "Lambda-Runtime-Aws-Request-Id": request_id,
                "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": invoked_function_arn,
            }
            if trace_id:
                headers["Lambda-Runtime-Trace-Id"] = trace_id
            if client_context:
                headers["Lambda-Runtime-Client-Context"] = client_context
            if cognito_identity:
                headers["Lambda-Runtime-Cognito-Identity"] = cognito_identity
            inv = _Invocation(request_id, payload, headers)
            self._current = inv
            started = time.perf_counter()
            self._pending.put(inv)
            finished = inv.done.wait(self.timeout_s)
            duration_ms = (time.perf_counter() - started) * 1000
            if not finished and inv.complete(
                json.dumps(timeout_payload(request_id, self.timeout_s)).encode(), True, "timeout"
            ):
                self._kill_process()
                duration_ms = self.timeout_s * 1000
            preamble = gap + inv.preamble
            body = inv.body if inv.body is not None else self._output.take()
            peak_mb = max_rss_mb(self.pid) if inv.status in ("success", "error") else None
            self._current = None
            if inv.status in ("timeout", "crash"):
                self._ready.clear()  # respawn on next invoke
            logs = format_invocation_logs(
                request_id,
                self.version,
                body,
                duration_ms,
                self.memory_mb,
                init_duration_ms=init_ms,
                status=inv.status,
                timeout_s=self.timeout_s,
                preamble=preamble,
                max_memory_mb=peak_mb,
            )
            self._remember(logs)
            return InvokeResult(request_id, inv.result_payload, inv.is_error, logs, duration_ms, inv.status)

    def _remember(self, logs: str) -> None:
        self.all_logs.append(logs)
        del self.all_logs[:-50]

    def stop(self) -> None:
        """Kill the process group and release everything without waiting (LocalStack stops
        environments one after another, so stop must be quick)."""
        self._stopped.set()
        try:
            self._pending.put_nowait(None)
        except Exception:  # noqa: BLE001 - best effort: stop() must not raise
            pass
        inv = self._current
        if inv is not None:
            inv.complete(b'{"errorType":"Runtime.Stopped","errorMessage":"environment stopped"}', True, "crash")
        proc = self._proc
        if proc is not None:
            self._signal_group(proc)  # the watcher thread reaps it
        if self._output is not None:
            self._output.close()
        if self._server is not None:
            server, self._server = self._server, None

            def close_server() -> None:
                server.shutdown()  # returns once serve_forever has left its select()
                server.server_close()

            threading.Thread(target=close_server, name="hostlambda-api-close", daemon=True).start()

    def get_logs(self) -> str:
        return "".join(self.all_logs)
