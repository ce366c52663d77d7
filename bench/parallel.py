"""Sampling across processes: time of one guided step and peak activation memory per rank against the process count.

Each case runs under ``torch.distributed.run`` (gloo on CPUs, NCCL on GPUs): the shipped bundle on a 4 s clip with
its guided step's passes spread across ranks (``guidance``) or its tokens split by time (``sequence``), and a long
clip on the ``base`` preset with random weights (``--base-seconds``, ``--base-size``), sequence parallel. The step is
one guided velocity at flow time 0.5 (three model passes for the shipped settings). Peak activation memory: on a
GPU the allocator's peak above what was allocated before the step; on a CPU the resident high-water mark above the
resident size before it (so the weights, the same on every rank, are left out).

    python bench/parallel.py [--bundle samples/duetto-tiny] [--procs 1,2,3] [--base-seconds 7.5] [--base-size 128]

Torch threads per rank: ``--threads`` divided by the process count (the CPU is shared), at least 1.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

WORKER = r"""
import json, sys, time, torch
from duetto.joint import parallel
mode, bundle, seconds, size, threads = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(threads)
dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
rank, world, dev = parallel.start(dev)
from duetto.joint.pipeline import GenerationConfig, Pipeline
if bundle == "base":
    from duetto.joint.config import preset
    torch.manual_seed(0)
    pipe = Pipeline.untrained(preset("base"), GenerationConfig(size=size, text_encoder="hashing-64", video_scale=3,
                                                                audio_scale=3, video_sync_scale=2, audio_sync_scale=2))
else:
    pipe = Pipeline.load(bundle)
pipe = pipe.to(dev)
if world > 1 and mode == "guidance":
    pipe.passes = parallel.across_ranks()
if world > 1 and mode == "sequence":
    from duetto.joint.sequence import SequenceParallel
    pipe.sequence = SequenceParallel()
lay = pipe.layout(seconds)
cond = pipe.condition_inputs("a ball drops onto a wooden floor", 1, lay["audio_times"].numpy())
fn = pipe.velocity(cond, lay["video_times"], lay["audio_times"])
m = pipe.model.config
g = torch.Generator().manual_seed(0)
v = torch.randn(1, m.video_channels, lay["n_video"], size // 8, size // 8, generator=g).to(dev)
a = torch.randn(1, m.audio_channels, lay["n_audio"], generator=g).to(dev)
t = torch.full((1,), 0.5, device=dev)

def rss(field):
    return int([l for l in open("/proc/self/status") if l.startswith(field)][0].split()[1]) / 1024

with torch.no_grad():
    fn(v, a, t, t)                                   # warm-up
    if dev.type == "cuda":
        torch.cuda.synchronize(); base = torch.cuda.memory_allocated(); torch.cuda.reset_peak_memory_stats()
    else:
        base = rss("VmRSS")
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        fn(v, a, t, t)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
peak = (torch.cuda.max_memory_allocated() - base) / 2**20 if dev.type == "cuda" else rss("VmHWM") - base
print("RESULT " + json.dumps({"rank": rank, "world": world, "step_s": min(times), "act_mb": peak,
                              "tokens": lay["n_video"] * (size // 8 // m.video_patch) ** 2 + lay["n_audio"] // m.audio_patch,
                              "device": dev.type}), flush=True)
parallel.stop()
"""


def case(worker: Path, mode: str, bundle: str, seconds: float, size: int, procs: int, threads: int) -> list[dict]:
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, threads // procs))}
    from duetto.joint.parallel import launch_command
    cmd = launch_command(procs, worker, mode, bundle, seconds, size, max(1, threads // procs))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    import re
    rows = [json.loads(m) for m in re.findall(r"RESULT (\{[^{}]*\})", out.stdout)]    # ranks' lines may interleave
    if out.returncode or len(rows) != procs:
        said = [line for line in (out.stdout + out.stderr).splitlines() if "error:" in line and "Traceback" not in line]
        return [{"error": (said or ["failed"])[0].split("error:", 1)[-1].strip()[:90]}]
    return sorted(rows, key=lambda r: r["rank"])


def main():
    here = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default=str(here / "samples" / "duetto-tiny"))
    ap.add_argument("--procs", default="1,2,3", help="process counts (default 1,2,3)")
    ap.add_argument("--seconds", type=float, default=4.0, help="the shipped bundle's clip (default 4)")
    ap.add_argument("--base-seconds", type=float, default=7.5,
                    help="the base preset's long clip (default 7.5: 48 video and 378 audio latents, which 2 and 3 ranks split)")
    ap.add_argument("--base-size", type=int, default=128, help="the base preset's frame size (default 128)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads in all, shared by the ranks (default 2)")
    a = ap.parse_args()
    from duetto.data import console
    procs = [int(p) for p in a.procs.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as d:
        worker = Path(d) / "worker.py"
        worker.write_text(WORKER)
        for label, bundle, seconds, size, modes in (
                ("shipped 4 s", a.bundle, a.seconds, 64, ("guidance", "sequence")),
                (f"base {a.base_seconds:g} s {a.base_size}px", "base", a.base_seconds, a.base_size, ("sequence",))):
            for mode in modes:
                for n in procs:
                    if n == 1 and mode != modes[0]:
                        continue                                   # one process is the same run in every mode
                    res = case(worker, mode, bundle, seconds, size, n, a.threads)
                    row = {"model": label, "mode": mode if n > 1 else "one process", "procs": n}
                    if "error" in res[0]:
                        row["note"] = res[0]["error"]
                    else:
                        row.update({"tokens": res[0]["tokens"], "step s": f"{max(r['step_s'] for r in res):.2f}",
                                    "act MB per rank": "/".join(f"{r['act_mb']:.0f}" for r in res),
                                    "device": res[0]["device"]})
                    rows.append(row)
    print(f"one guided step at t = 0.5; {a.threads} thread(s) shared by the ranks")
    print(console.table(rows, list(dict.fromkeys(k for r in rows for k in r))))


if __name__ == "__main__":
    main()
