"""Music-reference features against ground truth: the beat tracker of `duetto.joint.conditioning` on synthetic
music clips, whose metadata holds the true beat times. Prints, per clip and overall, the tempo found and
true, recall (true beats within ``--tol`` of a found beat) and precision (found beats within ``--tol`` of a
true one).

    python bench/conditioning.py [--seeds 16] [--seconds 4] [--tol 0.06]
"""
from __future__ import annotations

import argparse

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=16, help="music clips, seeds 0..N-1 (default 16)")
    ap.add_argument("--seconds", type=float, default=4.0, help="clip length (default 4)")
    ap.add_argument("--tol", type=float, default=0.06, help="match tolerance in seconds (default 0.06)")
    a = ap.parse_args()
    from duetto.data import console
    from duetto.data.synth import SynthConfig, render
    from duetto.joint.conditioning import track_beats

    def share_near(xs, ys):
        return float(np.mean([np.min(np.abs(ys - x)) <= a.tol for x in xs])) if len(xs) and len(ys) else 0.0
    rows = []
    for seed in range(a.seeds):
        clip = render("music", seed, SynthConfig(seconds=a.seconds))
        truth = np.asarray(clip.metadata["music"]["beats"])
        found = track_beats(clip.audio, clip.sample_rate)
        rows.append({"seed": seed, "tempo": clip.metadata["music"]["tempo"],
                     "found bpm": f"{60 / np.diff(found).mean():.0f}" if len(found) > 1 else "-",
                     "recall": share_near(truth, found), "precision": share_near(found, truth)})
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("recall", "precision")}
    for r in rows:
        r["recall"], r["precision"] = f"{r['recall']:.2f}", f"{r['precision']:.2f}"
    print(console.table(rows, list(rows[0])))
    print(f"{a.seeds} clips of {a.seconds:g} s, tolerance {a.tol * 1000:.0f} ms: "
          f"beat recall {mean['recall']:.3f}, precision {mean['precision']:.3f}")


if __name__ == "__main__":
    main()
