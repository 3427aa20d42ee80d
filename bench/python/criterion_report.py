"""Reads criterion's results (target/criterion/**/new/{estimates,benchmark}.json) written after a
given time, and turns them into per-iteration times and per-core throughput.

usage: criterion_report.py CRITERION_DIR SINCE_EPOCH_SECONDS LABEL [BENCH_OUTPUT]
With BENCH_OUTPUT (what `cargo bench` printed), only the benchmarks that run printed are kept.
Prints a JSON list: {label, id, median_ns, median_ci_ns [lo, hi], mean_ns, std_dev_ns, mad_ns,
elements, per_s {median, lo, hi}} (per_s from the median; lo/hi from its confidence interval).
"""
import json
import os
import sys


def main():
    root, since, label = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    ran = None
    if len(sys.argv) > 4:
        with open(sys.argv[4], errors="replace") as f:
            ran = {line[len("Benchmarking "):].strip() for line in f
                   if line.startswith("Benchmarking ") and ":" not in line}
    rows = []
    for dirpath, _, files in os.walk(root):
        if os.path.basename(dirpath) != "new" or "estimates.json" not in files:
            continue
        est_path = os.path.join(dirpath, "estimates.json")
        if os.path.getmtime(est_path) < since:
            continue
        with open(est_path) as f:
            est = json.load(f)
        meta = {}
        if "benchmark.json" in files:
            with open(os.path.join(dirpath, "benchmark.json")) as f:
                meta = json.load(f)
        elements = None
        throughput = meta.get("throughput") or {}
        if "Elements" in throughput:
            elements = throughput["Elements"]
        elif "Bytes" in throughput:
            elements = None
        median = est["median"]["point_estimate"]
        ci = est["median"]["confidence_interval"]
        n = elements or 1
        row = {
            "label": label,
            "id": meta.get("full_id") or os.path.relpath(os.path.dirname(dirpath), root),
            "median_ns": median,
            "median_ci_ns": [ci["lower_bound"], ci["upper_bound"]],
            "confidence_level": ci.get("confidence_level"),
            "mean_ns": est["mean"]["point_estimate"],
            "std_dev_ns": est["std_dev"]["point_estimate"],
            "mad_ns": est["median_abs_dev"]["point_estimate"],
            "elements": elements,
            "per_s": {
                "median": n * 1e9 / median,
                "lo": n * 1e9 / ci["upper_bound"],
                "hi": n * 1e9 / ci["lower_bound"],
            },
        }
        if ran is not None and row["id"] not in ran:
            continue
        rows.append(row)
    rows.sort(key=lambda r: r["id"])
    json.dump(rows, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
