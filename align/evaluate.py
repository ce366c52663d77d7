"""`eval`: shift clips' sound by known amounts and score how well the shifts are recovered."""
from __future__ import annotations

import numpy as np

from .measure import analysis_input, measure_sync
from .shift import shift_audio

DEFAULT_SHIFTS = (-400, -240, -120, -40, 0, 40, 120, 240, 400)


def evaluate(paths, shifts=DEFAULT_SHIFTS, progress=None) -> tuple[list[dict], list[dict]]:
    """Per (clip, shift) rows and a summary per method. Relative error compares each shifted copy with
    the unshifted clip's own measurement; absolute error assumes the published clip is in sync."""
    rows = []
    for path in paths:
        clip, name = analysis_input(path)
        base = measure_sync(clip)
        frame_ms = 1000 / clip.fps
        for s in shifts:
            r = measure_sync(shift_audio(clip, s))
            rows.append({"clip": str(path), "method": r.method, "shift_ms": s, "offset_ms": r.offset_ms,
                         "confidence": r.confidence, "verdict": r.verdict, "frame_ms": round(frame_ms, 2),
                         "rel_err_ms": None if r.offset_ms is None or base.offset_ms is None
                         else round(r.offset_ms - base.offset_ms - s, 1),
                         "abs_err_ms": None if r.offset_ms is None else round(r.offset_ms - s, 1)})
            if progress:
                progress()
    summary = []
    for method in sorted({r["method"] for r in rows}) + ["all"]:
        sel = [r for r in rows if method in ("all", r["method"])]
        rel = [(r["rel_err_ms"], r["frame_ms"]) for r in sel]
        ab = [(r["abs_err_ms"], r["frame_ms"]) for r in sel]
        ok = lambda pairs, k: float(np.mean([e is not None and abs(e) <= k * f for e, f in pairs]))  # noqa: E731
        summary.append({"method": method, "pairs": len(sel), "rel_within_1_frame": round(ok(rel, 1), 3),
                        "rel_within_half_frame": round(ok(rel, 0.5), 3),
                        "rel_mean_abs_err_ms": round(float(np.mean([abs(e) for e, _ in rel if e is not None] or [np.nan])), 1),
                        "abs_within_2_frames": round(ok(ab, 2), 3),
                        "no_signal": round(float(np.mean([r["verdict"] == "no-signal" for r in sel])), 3)})
    return rows, summary
