"""Data-parallel training: 1 process of batch B against N processes of B/N (``torchrun``), same data, seed and steps.

The N processes draw exactly the clips the one process draws (`duetto.data.draw`), so their loss curves should agree
within noise (the noise and flow times each process draws differ). What "noise" is, is measured: a third run, one
process of B with another seed, gives the spread two equally good runs show. The table gives, at each evaluation,
the held-out velocity error (fixed clips, noise and flow times: `JointTask.evaluate`, video + audio) of the three
runs, then the mean training loss over the last window and the whole job's items per second.

    python bench/train_parallel.py --data LATENTS... [--steps 600] [--eval-every 100] [--batch-size 8] [--procs 2]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def run(out: Path, data: list[str], steps: int, batch: int, procs: int, preset: str, threads: int, seed: int = 0,
        eval_every: int = 0) -> list[dict]:
    args = ["joint", "--data", *data, "--preset", preset, "--steps", str(steps), "--batch-size", str(batch),
            "--out", str(out), "--log-every", "10", "--eval-every", str(eval_every), "--ckpt-every", "0", "--no-progress",
            "--crop-seconds", "2", "--video-patch", "4", "--warmup", "20", "--held-out", "0.03", "--seed", str(seed)]
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


def held_out(log: list[dict]) -> dict[int, float]:
    """Update -> held-out velocity error, video + audio."""
    return {r["step"]: r["eval/flow_video"] + r["eval/flow_audio"] for r in log if "eval/flow_video" in r}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--eval-every", type=int, default=100, help="held-out velocity error every N updates (default 100)")
    ap.add_argument("--batch-size", type=int, default=8, help="the whole job's batch (default 8)")
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--threads", type=int, default=2, help="torch threads in all, shared by the processes")
    ap.add_argument("--json", help="also write the three runs' logs here")
    a = ap.parse_args()
    from duetto.data import console
    b, n = a.batch_size, a.procs
    names = (f"1 x {b}", f"{n} x {b // n}", f"1 x {b}, seed 1")
    with tempfile.TemporaryDirectory() as d:
        logs = {names[0]: run(Path(d) / "one", a.data, a.steps, b, 1, a.preset, a.threads, 0, a.eval_every),
                names[1]: run(Path(d) / "many", a.data, a.steps, b // n, n, a.preset, a.threads, 0, a.eval_every),
                names[2]: run(Path(d) / "seed1", a.data, a.steps, b, 1, a.preset, a.threads, 1, a.eval_every)}
    if a.json:
        Path(a.json).write_text(json.dumps(logs))
    evals = {k: held_out(v) for k, v in logs.items()}
    rows = [{"updates": str(step), **{k: f"{evals[k][step]:.4f}" for k in names}} for step in sorted(evals[names[0]])
            if all(step in evals[k] for k in names)]
    if rows:
        gap = lambda k: sum(abs(evals[k][s] - evals[names[0]][s]) for s in map(int, (r["updates"] for r in rows))) / len(rows)  # noqa: E731
        rows.append({"updates": "mean |diff| to 1 x B", names[0]: "0", names[1]: f"{gap(names[1]):.4f}", names[2]: f"{gap(names[2]):.4f}"})
    last = lambda log: [r["loss"] for r in log if r["step"] > a.steps - max(10, a.steps // 5)]  # noqa: E731
    rows.append({"updates": "train loss, last fifth", **{k: f"{sum(last(v)) / max(1, len(last(v))):.4f}" for k, v in logs.items()}})
    speed = lambda log: float(np.mean([r["items_per_s"] for r in log[1:] if "items_per_s" in r]))  # noqa: E731
    rows.append({"updates": "items/s (job)", **{k: f"{speed(v):.2f}" for k, v in logs.items()}})
    print(f"{a.preset} joint model, {a.steps} updates, {a.threads} thread(s) in all; held-out velocity error "
          f"(video + audio) at each evaluation; the seed-1 column is the spread of two equally good runs")
    print(console.table(rows, ["updates", *names]))


if __name__ == "__main__":
    main()
