"""Peak memory of each function binary while it processes a real invocation against LocalStack
(bench/run item 2, second table). Runs under .venv/tools (boto3).

Each function's environment is read back from LocalStack's Lambda API (what the template
configured), AWS_ENDPOINT_URL is pointed at LocalStack, and the binary from
target/lambda/<bin>/bootstrap runs under runtime_api.py's loopback Runtime API with a fresh
invocation per run (new event ids, so no run is an idempotent no-op).

usage: memory_real.py OUTPUTS_JSON ENDPOINT LAMBDA_DIR RUNS LOG FUNCTION...
(FUNCTION: the binary names, bench/run passes `infra/scripts/units functions`; the deployed name is
the stack output <PascalCase binary>FunctionName, e.g. order-api -> OrderApiFunctionName)
"""
import json
import os
import sys
import types

import boto3

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_events  # noqa: E402 - a sibling module: importable only after the sys.path line above
import runtime_api  # noqa: E402 - a sibling module too, found through the same sys.path entry


def output_name(binary):
    """The stack output holding a function's deployed name (infra/template.yaml's convention)."""
    return "".join(part.capitalize() for part in binary.split("-")) + "FunctionName"


def event_for(binary):
    if binary == "order-api":
        return make_events.apigw("POST", "/orders", {
            "customer": {"id": "cus_bench", "email": "bench@example.com", "name": "Bench"},
            "currency": "EUR",
            "items": [{"sku": "BOOK-0001", "quantity": 1, "unitPrice": 1999}],
        })
    if binary == "outbox-relay":
        return {"graceSeconds": 0}
    return {"Records": [make_events.sqs_record(json.dumps(make_events.order_placed(n)), n) for n in range(10)]}


def summary_of(result):
    body = result.get("body") or ""
    try:
        parsed = json.loads(body)
    except json.JSONDecodeError:
        return f"{result.get('kind')}: {body[:40]}"
    if isinstance(parsed, dict) and "statusCode" in parsed:
        return f"{result.get('kind')} statusCode {parsed['statusCode']}"
    if isinstance(parsed, dict) and "batchItemFailures" in parsed:
        return f"{result.get('kind')} batchItemFailures={len(parsed['batchItemFailures'])}"
    return f"{result.get('kind')} {body[:60]}"


def main():
    if len(sys.argv) < 7:
        sys.exit(__doc__.split("usage:")[1])
    outputs_path, endpoint, lambda_dir, runs, log_path = sys.argv[1:6]
    binaries = sys.argv[6:]
    with open(outputs_path) as f:
        outputs = json.load(f)
    client = boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    server = runtime_api.socket.socket()
    server.setsockopt(runtime_api.socket.SOL_SOCKET, runtime_api.socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.setblocking(False)
    port = server.getsockname()[1]
    results = []
    with open(log_path, "ab") as log:
        for binary in binaries:
            name = outputs.get(output_name(binary))
            if not name:
                continue
            env = client.get_function_configuration(FunctionName=name).get("Environment", {}).get("Variables", {})
            env = dict(env)
            env["AWS_ENDPOINT_URL"] = endpoint
            args = types.SimpleNamespace(bin=os.path.abspath(os.path.join(lambda_dir, binary, "bootstrap")),
                                         name=name, timeout=30.0)
            runs_out = []
            for _ in range(int(runs)):
                payload = json.dumps(event_for(binary)).encode()
                runs_out.append(runtime_api.one_run(server, port, args, env, payload, log))
            results.append({
                "name": binary,
                "function": name,
                "errors": [r.get("error") for r in runs_out if r.get("error")],
                "summaries": sorted({summary_of(r) for r in runs_out}),
                "poll_ms": runtime_api.summarize([r.get("poll_ms") for r in runs_out]),
                "response_ms": runtime_api.summarize([r.get("response_ms") for r in runs_out]),
                "vm_hwm_kib": runtime_api.summarize([r.get("vm_hwm_kib") for r in runs_out]),
                "raw": runs_out,
            })
    server.close()
    json.dump(results, sys.stdout)
    print()


if __name__ == "__main__":
    main()
