"""Extension (`joint.extend`): memory and time against length, sync in each window, and the seams.

1. Peak memory: one fresh process per length (``--lengths``) makes a clip of that length with ``duetto generate
   --seconds`` (the first window, then windows keeping ``--history`` s); the peak resident memory of the process and
   its wall time. Flat memory means the context does not grow with the clip.
2. Per clip of the longest length, for each prompt (``--per-family`` prompts of the gallery's, which no training
   set used), read back from the mp4 it wrote (`duetto.train.evaluate.extension_scores`, as ``duetto-train eval
   --extend`` scores):
   - sync in each window: `duetto.align.measure_sync` on each window's span of the clip; a window is an event window
     when the picture there has visual events (`train.evaluate.event_timing`); in sync = within one frame;
   - the seams in the picture: the mean |luma change| across each seam's frame boundary (cut), and across the
     blend before it (drift), as percentiles of the same measure over every other position of the clip (50: a seam
     is a typical boundary);
   - the seams in the sound: the energy of the first difference (what a click or a step adds) in the 10 ms around
     each seam, as a percentile of the same measure at every other 10 ms position (click);
   - speech prompts: the share of the words planned across a seam that sound there (RMS above a tenth of the
     clip's speaking level within the word's span).

    python bench/extend.py [--checkpoint B] [--lengths 8 16 32] [--per-family 2] [--steps S] [--history 2]
                           [--family F ...] [--no-memory]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path



def run_length(bundle: str, seconds: float, out: Path, prompt: str, speech: str | None, seed: int, steps: int | None,
               history: float, threads: int) -> dict:
    cmd = [sys.executable, "-c", (
        "import resource, sys, time; t = time.perf_counter(); from duetto.joint.cli import main; "
        "code = main(sys.argv[1:]); "
        "print('BENCH', time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); "
        "sys.exit(code)"),
        "generate", prompt, "--checkpoint", bundle, "--seconds", str(seconds), "--seed", str(seed), "-o", str(out),
        "--history", str(history), "--overwrite", "--quiet", "--device", "cpu"]
    cmd += ["--speech", speech] if speech else []
    cmd += ["--steps", str(steps)] if steps else []
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    if r.returncode:
        sys.exit(f"bench/extend.py: generate --seconds {seconds} failed:\n{r.stderr[-2000:]}")
    line = [ln for ln in r.stderr.splitlines() if ln.startswith("BENCH")][-1].split()
    return {"seconds": seconds, "wall_s": float(line[1]), "peak_mb": int(line[2]) / 1024}


def analyse(path: Path, family: str, starts: list[float], history: float, window: float, speech: str | None):
    from duetto.data import read_clip
    from duetto.train.evaluate import extension_scores
    c = read_clip(path)
    r = extension_scores(c, family, starts, window, history, speech)
    row = {"family": family, "seconds": round(c.duration, 2), "windows": r["windows"],
           "event windows in sync": f"{r['event_windows_in_sync']}/{r['event_windows']}",
           "seam cut pct": r["seam_picture_pct"], "seam drift pct": r["seam_drift_pct"],
           "seam click pct": r["seam_sound_pct"]}
    if speech:
        row["words across seams sounding"] = f"{r['words_across_seams_sounding']}/{r['words_across_seams']}"
    return row, r["event_windows_in_sync"], r["event_windows"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=None,
                    help="bundle (default: the one duetto generate uses past one window, duetto-tiny-v2)")
    ap.add_argument("--lengths", type=float, nargs="+", default=[4, 8, 16, 32])
    ap.add_argument("--per-family", type=int, default=2,
                    help="gallery prompts a family for the longest clips (0: the memory runs only)")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--history", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--keep", type=Path, default=None, help="keep the clips in this folder")
    ap.add_argument("--family", action="append", default=None, help="only these families' prompts (repeatable)")
    ap.add_argument("--no-memory", action="store_true", help="skip the memory runs (the clips of the longest length only)")
    a = ap.parse_args()
    from duetto.data import console
    from duetto.joint.cli import LONG_BUNDLE
    from duetto.joint.gallery import prompts
    from duetto.joint.pipeline import Pipeline
    bundle = a.checkpoint or str(LONG_BUNDLE)          # what duetto generate --seconds S uses past one window
    from duetto.joint.extend import plan, windows
    pipe = Pipeline.load(bundle)
    window, p_ext = pipe.config.seconds, plan(pipe, a.history)
    ps = [p for p in prompts(a.per_family) if a.family is None or p["family"] in a.family]
    long_sentence = ("the quick brown fox jumps over the lazy dog and then it runs far away into the green forest "
                     "where the birds sing all day long")
    with tempfile.TemporaryDirectory() as tmp:
        folder = a.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        first = prompts(1)[0]["caption"]           # the memory runs' prompt, also with --per-family 0 (memory only)
        mem = [run_length(bundle, s, folder / f"len-{s:g}.mp4", first, None, 0, a.steps, a.history, a.threads)
               for s in ([] if a.no_memory else a.lengths)]
        rows, hit, total = [], 0, 0
        longest = max(a.lengths)
        for i, p in enumerate(ps):
            speech = long_sentence if p["family"] == "speech" else None
            out = folder / f"{i:02d}-{p['family']}.mp4"
            t = time.perf_counter()
            run_length(bundle, longest, out, p["caption"], speech, 1 + i, a.steps, a.history, a.threads)
            row, h, n = analyse(out, p["family"], windows(longest, p_ext), a.history, window, speech)
            row["made in s"] = round(time.perf_counter() - t, 1)
            rows.append(row)
            if p["family"] != "speech":
                hit, total = hit + h, total + n
            print(json.dumps(row), flush=True)
    print(f"{bundle}: {window:g} s windows keeping {a.history:g} s, {a.steps or 'the bundle'} steps, {a.threads} thread(s)")
    if mem:
        print(console.table([{"seconds": m["seconds"], "peak MB": round(m["peak_mb"]), "wall s": round(m["wall_s"], 1)}
                             for m in mem], ["seconds", "peak MB", "wall s"]))
        print()
    if rows:
        print(console.table(rows, console.columns(rows)))
    print(f"\nevent windows in sync within one frame (impacts and music clips): {hit}/{total}"
          + (f" = {100 * hit / total:.1f} %" if total else ""))


if __name__ == "__main__":
    main()
