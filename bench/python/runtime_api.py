"""Cold start of a Lambda bootstrap binary under a minimal Lambda Runtime API on loopback.

For each run: a fresh process of BIN (clean environment: the Lambda variables, the function's own,
nothing inherited) pointed at this server through AWS_LAMBDA_RUNTIME_API. Timestamps, from the
moment just before the process is spawned (monotonic clock; spawning is included):
  poll_ms      the first `GET /2018-06-01/runtime/invocation/next` received (init done)
  response_ms  the invocation's result received: `POST .../{id}/response` or `.../{id}/error`
               (whole request read), after the event was handed out on that first poll
  next_ms      the second `GET .../next` (the runtime is ready for the next event)
At the second poll the process's peak RSS (VmHWM in /proc/<pid>/status) is read, then the process
is killed (SIGKILL) and reaped.

usage: runtime_api.py --bin PATH --name NAME --event FILE [--env K=V ...] [--env-json FILE]
                      [--runs N] [--log FILE] [--timeout S]
Prints one JSON document: the per-run figures and what the first response was.
"""
import argparse
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
import uuid

NEXT = "/2018-06-01/runtime/invocation/next"


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""


def parse_request(buf):
    """Returns (method, path, headers, body, rest) for a complete request in buf, else None."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = buf[:head_end].decode("latin-1").split("\r\n")
    method, path, _ = head[0].split(" ", 2)
    headers = {}
    for line in head[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    rest = buf[head_end + 4 :]
    if "content-length" in headers:
        n = int(headers["content-length"])
        if len(rest) < n:
            return None
        return method, path, headers, rest[:n], rest[n:]
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body, pos = b"", 0
        while True:
            line_end = rest.find(b"\r\n", pos)
            if line_end < 0:
                return None
            size = int(rest[pos:line_end].split(b";")[0], 16)
            start = line_end + 2
            if len(rest) < start + size + 2:
                return None
            if size == 0:
                # trailers: assume none; the final CRLF follows the zero chunk
                end = rest.find(b"\r\n", start)
                if end < 0:
                    return None
                return method, path, headers, body, rest[end + 2 :]
            body += rest[start : start + size]
            pos = start + size + 2
    return method, path, headers, b"", rest


def http_response(status, reason, body=b"", headers=None):
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}"]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def vm_hwm_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def one_run(server, port, args, env_extra, event_bytes, log):
    env = {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": args.name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{args.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/23/[$LATEST]bench",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_EXECUTION_ENV": "AWS_Lambda_provided.al2023",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        # Nothing listens on the discard port: an unexpected AWS call fails at once.
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "LAMBDA_TASK_ROOT": os.path.dirname(os.path.abspath(args.bin)),
        "_HANDLER": "bootstrap",
    }
    env.update(env_extra)
    sel = selectors.DefaultSelector()
    sel.register(server, selectors.EVENT_READ, None)
    request_id = str(uuid.uuid4())
    t = {}
    result = {}
    polls = 0
    t0 = time.monotonic_ns()
    proc = subprocess.Popen([args.bin], env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            cwd=env["LAMBDA_TASK_ROOT"], start_new_session=True)
    deadline = time.monotonic() + args.timeout
    done = False
    try:
        while not done:
            if time.monotonic() > deadline:
                result["error"] = "timeout"
                break
            if proc.poll() is not None and "exit" not in result:
                result["exit"] = proc.returncode
                if "poll" not in t:
                    result["error"] = f"exited with {proc.returncode} before polling"
                    break
            for key, _ in sel.select(timeout=0.05):
                if key.data is None:
                    s, _ = server.accept()
                    s.setblocking(False)
                    sel.register(s, selectors.EVENT_READ, Conn(s))
                    continue
                conn = key.data
                try:
                    chunk = conn.sock.recv(65536)
                except BlockingIOError:
                    continue
                now = time.monotonic_ns()
                if not chunk:
                    sel.unregister(conn.sock)
                    conn.sock.close()
                    continue
                conn.buf += chunk
                while True:
                    parsed = parse_request(conn.buf)
                    if parsed is None:
                        break
                    method, path, headers, body, conn.buf = parsed
                    if method == "GET" and path == NEXT:
                        polls += 1
                        if polls == 1:
                            t["poll"] = now
                            deadline_ms = int(time.time() * 1000) + 10_000
                            conn.sock.setblocking(True)
                            conn.sock.sendall(http_response(200, "OK", event_bytes, {
                                "Content-Type": "application/json",
                                "Lambda-Runtime-Aws-Request-Id": request_id,
                                "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                                "Lambda-Runtime-Invoked-Function-Arn":
                                    f"arn:aws:lambda:us-east-1:000000000000:function:{args.name}",
                                "Lambda-Runtime-Trace-Id":
                                    "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0",
                            }))
                            conn.sock.setblocking(False)
                        else:
                            t["next"] = now
                            result["vm_hwm_kib"] = vm_hwm_kib(proc.pid)
                            done = True
                            break
                    elif method == "POST" and path.startswith("/2018-06-01/runtime/"):
                        kind = path.rsplit("/", 1)[-1]
                        if "/init/" in path:
                            kind = "init_error"
                        t.setdefault("response", now)
                        result.setdefault("kind", kind)
                        result.setdefault("body", body.decode("utf-8", "replace")[:400])
                        conn.sock.setblocking(True)
                        conn.sock.sendall(http_response(202, "Accepted", b'{"status":"OK"}',
                                                        {"Content-Type": "application/json"}))
                        conn.sock.setblocking(False)
                        if kind == "init_error":
                            done = True
                            break
                    else:
                        conn.sock.setblocking(True)
                        conn.sock.sendall(http_response(404, "Not Found"))
                        conn.sock.setblocking(False)
                if done:
                    break
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        _, status, rusage = os.wait4(proc.pid, 0)
        proc.returncode = status
        for key in list(sel.get_map().values()):
            if key.data is not None:
                key.data.sock.close()
        sel.close()

    def ms(k):
        return (t[k] - t0) / 1e6 if k in t else None

    result.update({"poll_ms": ms("poll"), "response_ms": ms("response"), "next_ms": ms("next"),
                   "ru_maxrss_kib": rusage.ru_maxrss})
    return result


def summarize(values):
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    def q(p):
        # nearest-rank percentile
        k = max(0, min(len(values) - 1, int(round(p / 100 * len(values) + 0.5)) - 1))
        return values[k]
    mid = len(values) // 2
    median = q(50) if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
    return {"n": len(values), "median": median, "p90": q(90), "min": values[0], "max": values[-1]}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--event", required=True)
    p.add_argument("--env", action="append", default=[])
    p.add_argument("--env-json", help="a JSON object of extra environment variables")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--warmup", type=int, default=1, help="runs not counted (page cache)")
    p.add_argument("--timeout", type=float, default=15.0)
    p.add_argument("--log", default=os.devnull)
    args = p.parse_args()
    args.bin = os.path.abspath(args.bin)
    env_extra = {}
    if args.env_json:
        with open(args.env_json) as f:
            env_extra.update(json.load(f))
    for kv in args.env:
        k, v = kv.split("=", 1)
        env_extra[k] = v
    with open(args.event, "rb") as f:
        event_bytes = f.read()
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.setblocking(False)
    port = server.getsockname()[1]
    runs = []
    with open(args.log, "ab") as log:
        for i in range(args.warmup + args.runs):
            r = one_run(server, port, args, env_extra, event_bytes, log)
            if i >= args.warmup:
                runs.append(r)
    server.close()
    errors = [r.get("error") for r in runs if r.get("error")]
    out = {
        "name": args.name,
        "bin": args.bin,
        "runs": len(runs),
        "errors": errors,
        "first": {k: runs[0].get(k) for k in ("kind", "body")} if runs else None,
        "kinds": sorted({str(r.get("kind")) for r in runs}),
        "poll_ms": summarize([r.get("poll_ms") for r in runs]),
        "response_ms": summarize([r.get("response_ms") for r in runs]),
        "next_ms": summarize([r.get("next_ms") for r in runs]),
        "vm_hwm_kib": summarize([r.get("vm_hwm_kib") for r in runs]),
        "ru_maxrss_kib": summarize([r.get("ru_maxrss_kib") for r in runs]),
        "raw": runs,
    }
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
