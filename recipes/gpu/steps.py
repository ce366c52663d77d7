"""The update count that fits a time budget, from probe runs trained side by side (their log.jsonl): the slowest
run's clips per second / the batch size (env BS, default 32) x the budget x 0.85 (start-up, evaluations and
checkpoints take the rest), rounded down to hundreds.

    python recipes/gpu/steps.py BUDGET_S PROBE_RUN...
"""
import json
import os
import sys

budget, dirs = float(sys.argv[1]), sys.argv[2:]
rates = []
for d in dirs:
    recs = [json.loads(line) for line in open(f"{d}/log.jsonl") if line.strip()]
    rates.append(min(r["items_per_s"] for r in recs if "items_per_s" in r and r["step"] > 40))
ups = min(rates) / float(os.environ.get("BS", "32"))
n = int(ups * budget * 0.85)
print(n // 100 * 100 if n >= 1000 else max(n, 10))
print(f"probe: clips/s per run {[round(r, 1) for r in rates]}, updates/s {ups:.2f}", file=sys.stderr)
