"""Generation speed and memory: seconds per clip and peak memory for 4-second clips at each step count,
each case in a fresh process so that its peak is its own (resident memory on a CPU, allocated GPU memory
on a GPU). Speed does not depend on the weights: without ``--checkpoint`` an untrained bundle of the
``tiny`` presets is used (joint model, both VAEs, a hashing caption encoder, so no download is needed).

    python bench/generate.py [--checkpoint BUNDLE] [--steps 1,4,8,25,50] [--seconds 4] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CASE = r"""
import json, time, torch
torch.set_num_threads({threads})
from duetto.joint.pipeline import Pipeline
dev = "cuda" if torch.cuda.is_available() else "cpu"
pipe = Pipeline.load({bundle!r}).to(dev)
pipe.generate("warm-up", seconds=1.0, steps=1)
if dev == "cuda":
    torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
t = time.perf_counter()
clip = pipe.generate("a wooden ball bounces on a table", seconds={seconds}, steps={steps}, seed=0)[0]
if dev == "cuda":
    torch.cuda.synchronize()
dt = time.perf_counter() - t
if dev == "cuda":
    peak = torch.cuda.max_memory_allocated() / 2**20
else:
    peak = int([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]) / 1024
print(json.dumps({{"seconds_taken": dt, "peak_mb": peak, "device": dev, "frames": clip.video.shape[0],
                  "clip_s": clip.duration}}))
"""


def untrained_bundle(folder: Path) -> Path:
    """The `tiny` presets with random weights: what a trained bundle costs to run."""
    import torch

    from duetto.joint.config import preset
    from duetto.joint.pipeline import GenerationConfig, Pipeline
    torch.manual_seed(0)
    return Pipeline.untrained(preset("tiny"), GenerationConfig(text_encoder="hashing-64")).save(folder / "untrained-tiny")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path, help="a generation bundle (default: untrained tiny presets)")
    ap.add_argument("--steps", default="1,4,8,25,50", help="comma-separated step counts (default 1,4,8,25,50)")
    ap.add_argument("--seconds", type=float, default=4.0, help="clip length (default 4)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads on a CPU (default 2)")
    a = ap.parse_args()
    from duetto.data import console
    rows = []
    with tempfile.TemporaryDirectory() as d:
        bundle = a.checkpoint or untrained_bundle(Path(d))
        for steps in (int(s) for s in a.steps.split(",")):
            code = CASE.format(bundle=str(bundle), seconds=a.seconds, steps=steps, threads=a.threads)
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
            if out.returncode:
                sys.exit(f"bench/generate.py: {steps} steps failed:\n{out.stderr[-2000:]}")
            r = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append({"steps": steps, "clip": f"{r['clip_s']:.2f} s, {r['frames']} frames", "device": r["device"],
                         "s per clip": f"{r['seconds_taken']:.2f}", "x real time": f"{r['clip_s'] / r['seconds_taken']:.2f}",
                         "peak memory MB": f"{r['peak_mb']:.0f}"})
    print(f"bundle: {a.checkpoint or 'untrained tiny presets'}")
    print(console.table(rows, list(rows[0])))


if __name__ == "__main__":
    main()
