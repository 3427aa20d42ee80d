#!/usr/bin/env python3
"""Cold init of a Lambda bootstrap binary: process start to its first Runtime API poll.

Serves a stand-in Lambda Runtime API on 127.0.0.1, starts the binary N times with the
environment Lambda would give it, and records when `GET /2018-06-01/runtime/invocation/next`
arrives. Nothing is invoked: the first poll is where init ends.

    measure-cold-init.py target/release/order-api [runs]
"""

import http.server
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

first_poll = threading.Event()
poll_time = [0.0]


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server naming)
        if self.path.endswith("/runtime/invocation/next") and not first_poll.is_set():
            poll_time[0] = time.perf_counter()
            first_poll.set()
        # Hold the long poll open like Lambda does until there is an event; the client is killed.
        time.sleep(2)

    def log_message(self, *args):
        pass


def main():
    binary = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": "orderflow-order-api",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/orderflow-order-api",
        "AWS_LAMBDA_LOG_STREAM_NAME": "stream",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "ORDERS_TABLE_NAME": "orders",
        "OUTBOX_TABLE_NAME": "outbox",
        "IDEMPOTENCY_TABLE_NAME": "idempotency",
        "ORDER_EVENTS_TOPIC_ARN": "arn:aws:sns:us-east-1:000000000000:orders",
    }
    samples = []
    for _ in range(runs):
        first_poll.clear()
        start = time.perf_counter()
        child = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if first_poll.wait(timeout=10):
            samples.append((poll_time[0] - start) * 1000)
        child.kill()
        child.wait()
    if not samples:
        sys.exit("the binary never polled the Runtime API")
    print(
        f"cold init over {len(samples)} runs: median {statistics.median(samples):.1f} ms, "
        f"min {min(samples):.1f} ms, max {max(samples):.1f} ms"
    )


if __name__ == "__main__":
    socket.setdefaulttimeout(10)
    main()
