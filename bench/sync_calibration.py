"""Fit the sync checker's confidence (align/calibration.py) and report it leave-one-source-out.

Material: every real clip in ../shared/media (its source is the repository SOURCES.md names) and synthetic clips
(impacts, music, speech; seeds 95000-95009, 4 s, 128 px; speech again at 64 px), each shifted by the nine
`DEFAULT_SHIFTS` and given three other clips' sound in turn (unrelated: every reading wrong). For each reading of each method (`SyncReport.readings`)
the label is whether it is within two frames of the known offset (real clips: in sync as published).

Leave-one-source-out: for each source, the weights and the threshold are fitted on every other source and the
synthetic clips, then applied to that source's clips, which therefore never take part in a choice their figures
report. The table at the end is the one align/README.md quotes (held-out = the 13 clips added on 2026-12-06, which
no earlier choice saw; all = the 20). Then the weights and threshold fitted on everything, for calibration.py.

    python bench/sync_calibration.py [--media ../shared/media] [--rows rows.json] [--reuse]
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
from tqdm import tqdm

from duetto.align import calibration as C
from duetto.align.evaluate import DEFAULT_SHIFTS, evaluate, reading_right
from duetto.data import console
from duetto.data.synth import SynthConfig, render

HELD_OUT = re.compile(r"^(speech|events)_")    # the clips added on 2026-12-06
TARGET_PRECISION = 0.9                        # the threshold: the lowest whose confident readings are this right


def sources(media: Path) -> dict[str, str]:
    """clip file name -> the repository it came from, read off SOURCES.md's tables."""
    out = {}
    for line in (media / "SOURCES.md").read_text().splitlines():
        m = re.match(r"\|\s*([\w.\-]+\.(?:mp4|mkv|avi|mov|webm))\s*\|\s*([^|:\[]+)", line)
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def collect(media: Path, seeds=range(95000, 95010)) -> list[dict]:
    src = sources(media)
    paths = sorted(p for p in media.iterdir() if p.name in src)
    cfg = SynthConfig(seconds=4.0, fps=25, size=128, sample_rate=16000)
    synth = [(f"synth-{f}-{s}", render(f, s, cfg)) for f in ("impacts", "music", "speech") for s in seeds]
    tiny = SynthConfig(seconds=4.0, fps=25, size=64, sample_rate=16000)        # the shipped model's size: faces
    synth += [(f"synth64-speech-{s}", render("speech", s, tiny)) for s in seeds]  # the mesh cannot always read
    rows = []
    for group in ([(str(p), p) for p in paths], synth):
        bar = tqdm(total=len(group) * (len(DEFAULT_SHIFTS) + 3), desc="measure", unit="pair")
        got, _ = evaluate(group, DEFAULT_SHIFTS, progress=bar.update, unrelated=3)
        bar.close()
        rows += got
    for r in rows:
        name = Path(r["clip"]).name
        r["source"] = src.get(name, "synthetic")
        r["held_out"] = bool(HELD_OUT.match(name))
    return rows


def examples(rows):
    """(kind, features, right, weight) per reading."""
    out = []
    for r in rows:
        for method, d in r["readings"].items():
            right = reading_right(r, d["offset_ms"])
            out.append((C.kind(method, d["face"]), C.features(d["margin"], d["peak"], d["z"]), right, 1.0))
    return out


MIN_EXAMPLES = 30     # a kind with fewer readings (or of one class) is fitted together with the other speech kind


def fit_all(rows) -> tuple[dict, float]:
    ex = examples(rows)
    weights = {}
    for k in C.WEIGHTS:
        sel = [(x, y, c) for kk, x, y, c in ex if kk == k]
        if k != "events" and (len(sel) < MIN_EXAMPLES or len({y for _, y, _ in sel}) < 2):
            sel = [(x, y, c) for kk, x, y, c in ex if kk in ("lips", "mouth")]
        if len({y for _, y, _ in sel}) == 2:
            weights[k] = C.fit(np.stack([x for x, _, _ in sel]), np.array([y for _, y, _ in sel]),
                               np.array([c for _, _, c in sel]))
        else:
            weights[k] = C.WEIGHTS[k]
    decided = [decide(r, weights) for r in rows]
    return weights, threshold([p for _, p, _ in decided], [ok for *_, ok in decided])


def decide(r, weights):
    """(method, confidence, right) of a row's reported reading under ``weights``."""
    if not r["readings"]:
        return None, 0.0, False
    method, p = C.decide(r["readings"], weights)
    d = r["readings"][method]
    return method, p, reading_right(r, d["offset_ms"])


def threshold(p, right) -> float:
    """The lowest confidence whose readings at or above it are `TARGET_PRECISION` right (0.5 at the least)."""
    p, right = np.asarray(p), np.asarray(right, bool)
    for t in np.arange(0.5, 0.99, 0.01):
        sel = p >= t
        if sel.sum() and right[sel].mean() >= TARGET_PRECISION:
            return round(float(t), 2)
    return 0.99


def report(rows, decided, t, label):
    shifted = [(r, d) for r, d in zip(rows, decided) if r["shift_ms"] is not None]
    base = [(r, d) for r, d in shifted if r["shift_ms"] == 0]
    by_clip = {r["clip"]: (r, d) for r, d in base}
    rel = []
    for r, (m, p, ok) in shifted:
        b_row, (bm, _, _) = by_clip[r["clip"]]
        o = r["readings"][m]["offset_ms"] if m else None
        ob = b_row["readings"][bm]["offset_ms"] if bm else None
        rel.append(o is not None and ob is not None and abs(o - ob - r["shift_ms"]) <= r["frame_ms"])
    conf = [ok for _, (m, p, ok) in shifted if p >= t]
    other = [p >= t for r, (m, p, ok) in zip(rows, decided) if r["shift_ms"] is None]
    return {"clips": label, "n": len(base), "rel_within_1_frame": round(float(np.mean(rel)), 3),
            "abs_within_2_frames": round(float(np.mean([ok for _, (m, p, ok) in shifted])), 3),
            "clips_abs_within_2_frames": round(float(np.mean([ok for _, (m, p, ok) in base])), 3),
            "no_signal": round(float(np.mean([p < t for _, (m, p, ok) in shifted])), 3),
            "confident_within_2_frames": round(float(np.mean(conf)), 3) if conf else None,
            "unrelated_confident": round(float(np.mean(other)), 3) if other else None}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--media", type=Path, default=Path("../shared/media"))
    ap.add_argument("--rows", type=Path, default=Path("sync-calibration-rows.json"),
                    help="where the measured readings are kept (--reuse reads them instead of measuring)")
    ap.add_argument("--reuse", action="store_true")
    a = ap.parse_args()
    if a.reuse and a.rows.exists():
        rows = json.loads(a.rows.read_text())
    else:
        rows = collect(a.media)
        a.rows.write_text(json.dumps(rows))
    real = sorted({r["source"] for r in rows if r["source"] != "synthetic"})
    decided = [None] * len(rows)
    folds = []
    for s in real:                                       # leave one source out
        train = [r for r in rows if r["source"] != s]
        w, t = fit_all(train)
        folds.append((s, t))
        for i, r in enumerate(rows):
            if r["source"] == s:
                decided[i] = (*decide(r, w), t)
    real_rows = [(r, d) for r, d in zip(rows, decided) if d is not None]
    print("\nleave-one-source-out thresholds:", ", ".join(f"{s}: {t:g}" for s, t in folds))
    table = []
    for label, sel in (("held-out (13 new)", lambda r: r["held_out"]), ("dev (7 old)", lambda r: not r["held_out"]),
                       ("all real (20)", lambda r: True)):
        pick = [(r, d) for r, d in real_rows if sel(r)]
        for kind_label, kind_sel in (("", lambda r: True), (" speech", lambda r: Path(r["clip"]).name.startswith(("speech", "talking"))),
                                     (" events", lambda r: not Path(r["clip"]).name.startswith(("speech", "talking")))):
            sub = [(r, d) for r, d in pick if kind_sel(r)]
            if not sub:
                continue
            rs = [r for r, _ in sub]
            table.append(report(rs, [d[:3] for _, d in sub], np.mean([d[3] for _, d in sub]), label + kind_label))
    print(console.table(table, list(table[0])))
    held = [(r, d) for r, d in real_rows if r["held_out"]]
    print("\ncalibration, held-out clips (leave-one-source-out confidences; unrelated sound counts as wrong):")
    cal = C.table(np.array([d[1] for _, d in held]), np.array([d[2] for _, d in held]))
    print(console.table(cal, list(cal[0])))
    print("\nper held-out clip (unshifted):")
    per = [{"clip": Path(r["clip"]).name, "method": d[0], "offset_ms": r["readings"][d[0]]["offset_ms"] if d[0] else None,
            "confidence": round(d[1], 3), "within_2_frames": d[2], "confident": d[1] >= d[3]}
           for r, d in held if r["shift_ms"] == 0]
    print(console.table(per, list(per[0])))
    w, t = fit_all(rows)
    print("\nfitted on everything (paste into align/calibration.py):")
    print("WEIGHTS = {\n" + "".join(f'    "{k}": ({", ".join(f"{v:.3f}" for v in ws)}),\n' for k, ws in w.items()) + "}")
    print(f"MIN_CONFIDENCE = {t}")


if __name__ == "__main__":
    main()
