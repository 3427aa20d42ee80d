"""bench/run item 4: the Rust consumer core vs the Powertools (Python) consumer, same machine, same
input bytes, same run.

- throughput: ROUNDS rounds; each round runs `core-bench throughput` (RUST_REPS reps over every
  batch of BIG) and the Python consumer (PY_REPS reps over the first PY_BATCHES batches), so both
  see the same background load over time. One thread each. events/s per rep.
- cold import + init: COLD_RUNS fresh processes of each; time from just before the spawn to the
  "ready" line on the child's stdout (process start, interpreter/loader, imports, constructing the
  processor, the idempotency layer and the rule). One discarded warm-up run each (page cache, .pyc).
- memory: the same processes then process SMALL (100 batches = 1000 events) and print their VmHWM
  (peak RSS of the process, from /proc/self/status).

usage: side_by_side.py RUST_BIN PYTHON SCRIPT BIG SMALL [ROUNDS RUST_REPS PY_REPS PY_BATCHES COLD_RUNS]
"""
import json
import statistics
import subprocess
import sys
import time


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def cold(cmd):
    t0 = time.monotonic_ns()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    t_ready = time.monotonic_ns()
    assert line.strip() == "ready", line
    rest = p.stdout.read()
    assert p.wait() == 0
    result = json.loads(rest.strip().splitlines()[-1])
    result["ready_ms"] = (t_ready - t0) / 1e6
    return result


def spread(values):
    values = sorted(values)
    n = len(values)
    return {
        "n": n,
        "median": statistics.median(values),
        "mean": statistics.fmean(values),
        "stdev": statistics.stdev(values) if n > 1 else 0.0,
        "min": values[0],
        "max": values[-1],
        "p10": values[max(0, int(0.1 * n + 0.5) - 1)],
        "p90": values[max(0, min(n - 1, int(0.9 * n + 0.5) - 1))],
    }


def main():
    rust, python, script, big, small = sys.argv[1:6]
    rounds, rust_reps, py_reps, py_batches, cold_runs = (
        [int(x) for x in sys.argv[6:11]] if len(sys.argv) > 6 else [5, 6, 1, 300, 20]
    )
    rust_rates, py_rates, rust_parse = [], [], []
    rust_cpu, py_cpu = [], []
    rust_events = py_events = None
    for _ in range(rounds):
        r = run_json([rust, "throughput", big, str(rust_reps)])
        rust_rates += r["rates"]
        rust_parse += r.get("payload_parse_rates", [])
        rust_cpu += r.get("cpu_rates", [])
        rust_events = r["events_per_rep"]
        assert r["failures"] == 0, r
        p = run_json([python, script, "throughput", big, str(py_reps), str(py_batches)])
        py_rates += p["rates"]
        py_cpu += p.get("cpu_rates", [])
        py_events = p["events_per_rep"]
        assert p["failures"] == 0, p
    cold([rust, "init", small])
    cold([python, script, "init", small])
    rust_cold, py_cold = [], []
    for _ in range(cold_runs):
        rust_cold.append(cold([rust, "init", small]))
        py_cold.append(cold([python, script, "init", small]))
    for r in rust_cold + py_cold:
        assert r["failures"] == 0 and r["reserved"] == r["events"], r
    # Where the Python cold start goes: stages timed inside the module, one extra run.
    trace = subprocess.run([python, script, "init", small, "--marks"], capture_output=True, text=True).stderr
    imports = json.loads(trace.strip().splitlines()[-1])
    out = {
        "rust": {
            "events_per_rep": rust_events,
            "events_per_s": spread(rust_rates),
            "payload_parse_only_events_per_s": spread(rust_parse) if rust_parse else None,
            "events_per_cpu_s": spread(rust_cpu) if rust_cpu else None,
            "ready_ms": spread([r["ready_ms"] for r in rust_cold]),
            "vm_hwm_kib": spread([r["vm_hwm_kib"] for r in rust_cold]),
            "memory_events": rust_cold[0]["events"],
        },
        "python": {
            "events_per_rep": py_events,
            "events_per_s": spread(py_rates),
            "events_per_cpu_s": spread(py_cpu) if py_cpu else None,
            "ready_ms": spread([r["ready_ms"] for r in py_cold]),
            "vm_hwm_kib": spread([r["vm_hwm_kib"] for r in py_cold]),
            "memory_events": py_cold[0]["events"],
            "import_ms": imports,
        },
        "rounds": rounds,
    }
    out["ratios"] = {
        "throughput_rust_over_python": out["rust"]["events_per_s"]["median"] / out["python"]["events_per_s"]["median"],
        "cpu_throughput_rust_over_python": (
            out["rust"]["events_per_cpu_s"]["median"] / out["python"]["events_per_cpu_s"]["median"]
        ) if rust_cpu and py_cpu else None,
        "cold_python_over_rust": out["python"]["ready_ms"]["median"] / out["rust"]["ready_ms"]["median"],
        "memory_python_over_rust": out["python"]["vm_hwm_kib"]["median"] / out["rust"]["vm_hwm_kib"]["median"],
    }
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
