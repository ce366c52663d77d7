"""`eval`: shift clips' sound by known amounts, and give each clip unrelated sound, and score the readings.

Per clip (assumed in sync as published): each shift's reading against the unshifted one (relative: is a known
shift recovered?) and against zero (absolute: is the published sync read?); the share of readings judged "no
usable sync signal"; of the confident ones, the share within two frames; the calibration of the confidence by
bin. With ``unrelated``, each clip's picture also gets another clip's sound: a confident reading there is wrong.
"""
from __future__ import annotations

import os
from dataclasses import replace

import numpy as np

from . import calibration
from .measure import analysis_input, forget_pictures, measure_sync
from .shift import shift_audio

DEFAULT_SHIFTS = (-400, -240, -120, -40, 0, 40, 120, 240, 400)


def _row(name, r, shift, frame_ms, base_ms):
    return {"clip": name, "method": r.method, "face": r.face, "shift_ms": shift, "offset_ms": r.offset_ms,
            "confidence": r.confidence, "verdict": r.verdict, "frame_ms": round(frame_ms, 2),
            "rel_err_ms": None if shift is None or r.offset_ms is None or base_ms is None
            else round(r.offset_ms - base_ms - shift, 1),
            "abs_err_ms": None if shift is None or r.offset_ms is None else round(r.offset_ms - shift, 1),
            "readings": r.readings}


PARTNERS = (1, 3, 7)   # with unrelated sound, clip k takes the sound of clips k + 1, k + 3, k + 7 (in turn)


def evaluate(sources, shifts=DEFAULT_SHIFTS, progress=None, unrelated: int = 0,
             **measure_kw) -> tuple[list[dict], list[dict]]:
    """Rows per (clip, shift) (and per clip and each of ``unrelated`` other clips' sound: ``shift_ms`` None) and a
    summary per method. ``sources``: paths, `Clip`s or ``(name, clip)`` pairs. A path is decoded once; its small faces
    are read from the file at a larger size, as `check` reads them (`measure_sync`'s ``picture_file``)."""
    named = [s if isinstance(s, tuple) else (str(s) if not hasattr(s, "fps") else f"<clip {i}>", s)
             for i, s in enumerate(sources)]
    clips = [(name, analysis_input(src)[0]) for name, src in named]
    try:
        rows = _measure_all(named, clips, shifts, progress, unrelated, measure_kw)
    finally:
        forget_pictures()
    return rows, summarise(rows)


def _measure_all(named, clips, shifts, progress, unrelated, measure_kw) -> list[dict]:
    rows = []
    for k, (name, clip) in enumerate(clips):
        src = named[k][1]
        kw = {**measure_kw, "picture_file": src} if isinstance(src, (str, os.PathLike)) else measure_kw
        base = measure_sync(clip, **kw)
        frame_ms = 1000 / clip.fps
        for s in shifts:
            r = base if s == 0 else measure_sync(shift_audio(clip, s), **kw)
            rows.append(_row(name, r, s, frame_ms, base.offset_ms))
            if progress:
                progress()
        for j in PARTNERS[:unrelated] if len(clips) > 1 else ():
            other = clips[(k + j) % len(clips)][1] if (k + j) % len(clips) != k else clips[(k + 1) % len(clips)][1]
            sound = np.resize(other.audio[0], clip.audio.shape[1])[None].astype(np.float32)  # repeated to length
            rows.append(_row(name, measure_sync(replace(clip, audio=sound), **kw), None, frame_ms, None))
            if progress:
                progress()
    return rows


def _confident(r) -> bool:
    return r["verdict"] != "no-signal" and r["offset_ms"] is not None


def reading_right(row: dict, offset_ms: float | None, frames: float = 2) -> bool:
    """Whether ``offset_ms``, read on ``row``'s clip and shift, is within ``frames`` frames of the known offset (a row
    with unrelated sound has none: never right)."""
    return row["shift_ms"] is not None and offset_ms is not None and \
        abs(offset_ms - row["shift_ms"]) <= frames * row["frame_ms"]


def _within(r, frames) -> bool:
    return reading_right(r, r["offset_ms"], frames)


def summarise(rows) -> list[dict]:
    summary = []
    shifted = [r for r in rows if r["shift_ms"] is not None]
    for method in sorted({r["method"] for r in shifted}) + ["all"]:
        sel = [r for r in shifted if method in ("all", r["method"])]
        rel_ok = [r["rel_err_ms"] is not None and abs(r["rel_err_ms"]) <= r["frame_ms"] for r in sel]
        conf = [r for r in sel if _confident(r)]
        summary.append({
            "method": method, "clips": len({r["clip"] for r in sel}), "pairs": len(sel),
            "rel_within_1_frame": round(float(np.mean(rel_ok)), 3),
            "rel_mean_abs_err_ms": round(float(np.mean([abs(r["rel_err_ms"]) for r in sel
                                                        if r["rel_err_ms"] is not None] or [np.nan])), 1),
            "abs_within_2_frames": round(float(np.mean([_within(r, 2) for r in sel])), 3),
            "no_signal": round(float(np.mean([not _confident(r) for r in sel])), 3),
            "confident_within_2_frames": round(float(np.mean([_within(r, 2) for r in conf])), 3) if conf else None})
    other = [r for r in rows if r["shift_ms"] is None]
    if other:
        summary.append({"method": "unrelated sound", "clips": len(other), "pairs": len(other),
                        "no_signal": round(float(np.mean([not _confident(r) for r in other])), 3)})
    return summary


def calibration_table(rows) -> list[dict]:
    """Share of readings within two frames by confidence bin (shifted pairs; unrelated sound counts as wrong)."""
    conf = [r["confidence"] for r in rows]
    right = [r["shift_ms"] is not None and _within(r, 2) for r in rows]
    return calibration.table(np.asarray(conf), np.asarray(right))
