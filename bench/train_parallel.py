"""Data-parallel training: 1 process of batch B against N processes of B/N (``torchrun``), same data, seed and steps.

The N processes draw exactly the clips the one process draws (`duetto.data.draw`), so their loss curves should agree
within noise (the noise and flow times each process draws differ); the table gives the mean loss over windows of
updates and the whole job's items per second.

    python bench/train_parallel.py --data LATENTS... [--steps 200] [--batch-size 8] [--procs 2] [--preset tiny]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def run(out: Path, data: list[str], steps: int, batch: int, procs: int, preset: str, threads: int) -> list[dict]:
    args = ["joint", "--data", *data, "--preset", preset, "--steps", str(steps), "--batch-size", str(batch),
            "--out", str(out), "--log-every", "10", "--eval-every", "0", "--ckpt-every", "0", "--no-progress",
            "--crop-seconds", "2", "--video-patch", "4", "--warmup", "20", "--held-out", "0.03"]
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, threads // procs))}
    if procs == 1:
        cmd = [sys.executable, "-m", "duetto.train.cli", *args]
    else:
        from duetto.joint.parallel import launch_command
        cmd = launch_command(procs, "-m", "duetto.train.cli", *args)
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode:
        sys.exit(f"bench/train_parallel.py: {procs} process(es) failed:\n{r.stderr[-2000:]}")
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=8, help="the whole job's batch (default 8)")
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--threads", type=int, default=2, help="torch threads in all, shared by the processes")
    a = ap.parse_args()
    from duetto.data import console
    with tempfile.TemporaryDirectory() as d:
        one = run(Path(d) / "one", a.data, a.steps, a.batch_size, 1, a.preset, a.threads)
        many = run(Path(d) / "many", a.data, a.steps, a.batch_size // a.procs, a.procs, a.preset, a.threads)
    window = max(10, a.steps // 5)
    rows = []
    for lo in range(0, a.steps, window):
        sel = [(r["step"], r["loss"]) for r in one if lo < r["step"] <= lo + window]
        sel2 = [(r["step"], r["loss"]) for r in many if lo < r["step"] <= lo + window]
        if sel and sel2:
            rows.append({"updates": f"{lo + 1}-{lo + window}", f"loss 1 x {a.batch_size}": f"{sum(x for _, x in sel) / len(sel):.4f}",
                         f"loss {a.procs} x {a.batch_size // a.procs}": f"{sum(x for _, x in sel2) / len(sel2):.4f}"})
    speed = lambda log: sum(r["items_per_s"] for r in log[1:]) / max(1, len(log) - 1)  # noqa: E731
    rows.append({"updates": "items/s (job)", f"loss 1 x {a.batch_size}": f"{speed(one):.2f}",
                 f"loss {a.procs} x {a.batch_size // a.procs}": f"{speed(many):.2f}"})
    print(f"{a.preset} joint model, {a.steps} updates, {a.threads} thread(s) in all; logged every 10 updates")
    print(console.table(rows, list(rows[0])))


if __name__ == "__main__":
    main()
