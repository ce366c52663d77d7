"""Teacher against student: cost per 4-second clip and what the clips are worth, same prompts and seeds.

Cost, each case in a fresh process (so its peak memory is its own): model passes per clip, sampling seconds
(conditions and the sampler's steps), decode seconds, peak memory (resident on a CPU, allocated on a GPU), and
``duetto generate`` end to end in a fresh process (imports, loading, sampling, decoding, writing the mp4).
Quality comes from ``duetto-train eval`` reports of each case on the same held-out prompts (give them with
``--report``; `recipes/distil.sh` makes them): sync on clips with events, lips in sync (the clips where the
checker followed a face), phoneme error of the words asked for, latent Fréchet distance and flicker.

    python bench/distil.py --teacher samples/duetto-tiny --student samples/duetto-tiny-student \\
        --report teacher=runs/eval-teacher-im,runs/eval-teacher-speech --report student-4=runs/eval-s4-im,...
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASE = r"""
import json, time, torch
torch.set_num_threads({threads})
from duetto.joint.pipeline import Pipeline
dev = "cuda" if torch.cuda.is_available() else "cpu"
pipe = Pipeline.load({bundle!r}).to(dev).with_sampling(steps={steps})
passes = []
pipe.model.register_forward_hook(lambda *_: passes.append(1))
pipe.generate("warm-up", seconds=1.0, steps=1)
if dev == "cuda":
    torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
marks, runs = [], []
for seed in range({repeats}):
    passes.clear(); marks.clear()
    t = time.perf_counter()
    clip = pipe.generate("a wooden ball bounces on a table", seconds={seconds}, seed=seed,
                         callback=lambda i, n: marks.append(time.perf_counter()))
    if dev == "cuda":
        torch.cuda.synchronize()
    end = time.perf_counter()
    runs.append((marks[-1] - t, end - marks[-1], len(passes)))
peak = torch.cuda.max_memory_allocated() / 2**20 if dev == "cuda" else \
    int([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]) / 1024
runs.sort()
print(json.dumps({{"sampling_s": runs[len(runs) // 2][0], "decode_s": runs[len(runs) // 2][1], "passes": runs[0][2],
                  "peak_mb": peak, "device": dev}}))
"""


def cost(bundle: Path, steps: int | None, seconds: float, threads: int, repeats: int) -> dict:
    code = CASE.format(bundle=str(bundle), steps=steps, seconds=seconds, threads=threads, repeats=repeats)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"bench/distil.py: {bundle} at {steps} steps failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def end_to_end(bundle: Path, steps: int | None, seconds: float, threads: int, repeats: int) -> float:
    """Median wall seconds of ``duetto generate`` in a fresh process, writing the mp4."""
    import os
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    times = []
    with tempfile.TemporaryDirectory() as d:
        for seed in range(repeats):
            cmd = [sys.executable, "-m", "duetto.joint.cli", "generate", "a wooden ball bounces on a table",
                   "--checkpoint", str(bundle), "--seconds", str(seconds), "--seed", str(seed), "-o",
                   f"{d}/o.mp4", "--overwrite", "--quiet", "--device", "cpu" if threads else "auto"]
            if steps:
                cmd += ["--steps", str(steps)]
            t = time.perf_counter()
            out = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if out.returncode:
                sys.exit(f"bench/distil.py: duetto generate failed:\n{out.stderr[-2000:]}")
            times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def quality(folders: list[Path]) -> dict:
    """The figures of one case from its eval reports (impacts+music; speech), pooled where they are counts."""
    out = {}
    for folder in folders:
        report = json.loads((folder / "report.json").read_text())
        for row in report["summary"]:
            fam = row["family"]
            if fam == "all":
                continue
            if row.get("with_events"):
                n, k = out.get("events", (0, 0))
                out["events"] = (n + row["with_events"], k + round(row["sync_within_1_frame"] * row["with_events"]))
            if row.get("with_face"):
                n, k = out.get("lips", (0, 0))
                out["lips"] = (n + row["with_face"], k + round(row["sync_with_face"] * row["with_face"]))
            for key in ("phone_error", "colour_right", "voice_closer"):
                if row.get(key) is not None:
                    out[f"{key}:{fam}"] = row[key]
            out[f"frechet:{fam}"] = row.get("latent_frechet")
            out[f"flicker:{fam}"] = row.get("flicker")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", type=Path, required=True, help="the teacher bundle (at its own settings)")
    ap.add_argument("--student", type=Path, required=True, help="the student bundle")
    ap.add_argument("--student-steps", default="4,2,1", help="the student's step counts (default 4,2,1)")
    ap.add_argument("--report", action="append", default=[], metavar="CASE=DIR[,DIR]",
                    help="eval report folders of a case (teacher, student-4, student-2, student-1)")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--threads", type=int, default=2, help="torch threads on a CPU (default 2)")
    ap.add_argument("--repeats", type=int, default=3, help="timed clips per case (median; default 3)")
    a = ap.parse_args()
    from duetto.data import console
    cases = [("teacher", a.teacher, None)] + [(f"student-{s}", a.student, int(s)) for s in a.student_steps.split(",")]
    reports = {}
    for item in a.report:
        name, _, dirs = item.partition("=")
        reports[name] = quality([Path(d) for d in dirs.split(",") if d])
    rows = []
    for name, bundle, steps in cases:
        c = cost(bundle, steps, a.seconds, a.threads, a.repeats)
        row = {"case": name, "passes": c["passes"], "sampling s": f"{c['sampling_s']:.2f}",
               "decode s": f"{c['decode_s']:.2f}", "end to end s": f"{end_to_end(bundle, steps, a.seconds, a.threads, a.repeats):.2f}",
               "peak MB": f"{c['peak_mb']:.0f}", "device": c["device"]}
        q = reports.get(name)
        if q:
            for key, label in (("events", "events in sync"), ("lips", "lips in sync")):
                if key in q:
                    row[label] = f"{q[key][1]}/{q[key][0]}"
            for key in sorted(k for k in q if ":" in k):
                v = q[key]
                row[key] = "-" if v is None else (f"{100 * v:.1f} %" if key.split(":")[0] in
                                                  ("phone_error", "colour_right", "voice_closer") else f"{v:.2f}")
        rows.append(row)
    cols = list(dict.fromkeys(k for r in rows for k in r))
    print(f"teacher {a.teacher}, student {a.student}; {a.seconds:g} s clips, {a.threads} thread(s)")
    print(console.table(rows, cols))


if __name__ == "__main__":
    main()
