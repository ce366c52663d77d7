"""Sync-check speed: seconds per clip and real-time factor by resolution (decode + analysis), on the
real clips in ../shared/media and synthetic clips; then recovery of known shifts on synthetic clips, bounces
as a camera sees them, the real clips presented otherwise (frame rates, sizes, an inset), fix then check, and
swapped audio.

    python bench/sync.py [--media ../shared/media] [--seeds 12] [--only TABLE...]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from duetto.align import measure_sync
from duetto.align.fix import fix_offset
from duetto.align.measure import MIN_CONFIDENCE, analysis_input
from duetto.align.shift import shift_audio
from duetto.data import console, probe, write_clip
from duetto.data.media import read_luma
from duetto.data.synth import SynthConfig, render


def synthetic_recovery(seeds: int, shifts=(-240, -80, 0, 40, 120), rates=(25, 15)):
    """Known shifts of synthetic clips (4 s, 64x64, at 25 fps, the shards' rate, and 15 fps): share
    recovered within +-1 frame (whatever the verdict, and with a verdict other than no-signal), and the median
    and worst error."""
    print(f"\nsynthetic clips shifted by {list(shifts)} ms, {seeds} seeds per family")
    rows = []
    for fps in rates:
        cfg = SynthConfig(seconds=4, fps=fps, size=64)
        for family in ("impacts", "music", "speech"):
            errs, sure = [], []
            for seed in range(seeds):
                clip = render(family, seed, cfg)
                for s in shifts:
                    r = measure_sync(shift_audio(clip, s))
                    errs.append(np.inf if r.offset_ms is None else r.offset_ms - s)
                    sure.append(r.verdict != "no-signal")
            errs, sure = np.asarray(errs), np.asarray(sure)
            rows.append({"fps": fps, "family": family, "pairs": len(errs),
                         "within 1 frame": f"{np.mean(np.abs(errs) <= 1000 / fps):.3f}",
                         "and confident": f"{np.mean(sure & (np.abs(errs) <= 1000 / fps)):.3f}",
                         "median error ms": f"{np.median(errs[np.isfinite(errs)]):+.1f}",
                         "worst |error| ms": f"{np.max(np.abs(errs)):.0f}"})
    print(console.table(rows, list(rows[0])))


def camera_bounces(seeds: int = 8, rates=(15, 25, 30000 / 1001)):
    """Synthetic drops as a camera films them (`impacts.photographed`: no contact flash or squash, motion blur
    over a whole-frame exposure centred on the frame's time or starting at it, or one instant): what the
    events method reads on bounces it was not shaped on. In sync by construction: every reading is an error."""
    from duetto.data.synth.impacts import photographed
    print(f"\nbounces photographed (no flash), in sync, {seeds} seeds, 96x96, events method")
    rows = []
    for fps in rates:
        cfg = SynthConfig(seconds=4, fps=fps, size=96)
        for exposure in ("instant", "centred", "from pts"):
            e = np.asarray([measure_sync(photographed(s, cfg, exposure), method="events").offset_ms for s in range(seeds)])
            rows.append({"fps": f"{fps:.2f}", "exposure": exposure, "median ms": f"{np.median(e):+.1f}",
                         "mean ms": f"{e.mean():+.1f}", "within 1 frame": f"{np.mean(np.abs(e) <= 1000 / fps):.2f}",
                         "worst |ms|": f"{np.abs(e).max():.0f}"})
    print(console.table(rows, list(rows[0])))


def presentations(real_paths):
    """Each real clip as analysed, then presented otherwise in memory: shown at 15, 30 and 50 fps by repeating
    or dropping frames (each output frame shows the source frame nearest its time: a converter that shows the
    latest one instead delays the picture by half an output frame on average, which the checker then measures),
    at half size, and as a 240-pixel inset in a 1280x720 frame. A measurement of the clip should not move."""
    import cv2

    from duetto.data import timebase
    from duetto.data.media import LumaClip

    def at_rate(c, fps):
        # the nearest source frame, ties to the earlier one as read_clip does (not timebase.frame_of: its ties
        # go to the later frame, which then shows half an output frame early and is measured so)
        idx = np.floor(np.arange(int(c.duration * fps)) * c.fps / fps + 0.5 - 1e-9).astype(int)
        idx = np.minimum(idx, len(c.luma) - 1)
        n = timebase.n_samples_for_frames(len(idx), fps, c.sample_rate)
        return LumaClip(c.luma[idx], np.pad(c.audio, ((0, 0), (0, max(0, n - c.audio.shape[1]))))[:, :n], fps, c.sample_rate)

    def resized(c, h, w, canvas=None, at=(0, 0)):
        frames = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in c.luma])
        if canvas is not None:
            out = np.full((len(frames), *canvas), 40, np.uint8)
            out[:, at[0]: at[0] + h, at[1]: at[1] + w] = frames
            frames = out
        return replace(c, luma=frames)

    rows = []
    for p in real_paths:
        c = analysis_input(p)[0]
        h, w = c.luma.shape[1:]
        s = 48 / max(h, w)        # 240 of 1280 pixels, at the analysis size of a 1280x720 file (256x144)
        variants = {"as is": c, "15 fps": at_rate(c, 15), "30 fps": at_rate(c, 30), "50 fps": at_rate(c, 50),
                    "half size": resized(c, h // 2, w // 2),
                    "inset": resized(c, round(h * s), round(w * s), canvas=(144, 256), at=(20, 140))}
        row = {"clip": p.name}
        for k, v in variants.items():
            r = measure_sync(v)
            row[k] = "-" if r.offset_ms is None else f"{r.offset_ms:+.0f} ({r.confidence:.1f}{'' if r.verdict != 'no-signal' else ' ns'})"
        rows.append(row)
    if rows:
        print("\nreal clips presented otherwise: offset ms (confidence; ns = no-signal)")
        print(console.table(rows, list(rows[0])))


TABLES = ("speed", "synthetic", "camera", "presentations", "fix", "swapped")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--media", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "media")
    ap.add_argument("--seeds", type=int, default=12, help="seeds per family for the synthetic table (default 12)")
    ap.add_argument("--only", nargs="+", choices=TABLES, default=TABLES, help="tables to print (default: all)")
    a = ap.parse_args()
    real = sorted(p for p in a.media.iterdir() if p.suffix in (".mp4", ".mkv", ".avi")) if a.media.is_dir() else []
    if "speed" in a.only:
        speed(list(real))
    if "synthetic" in a.only:
        synthetic_recovery(a.seeds)
    if "camera" in a.only:
        camera_bounces()
    if "presentations" in a.only:
        presentations(real)
    if "fix" in a.only:
        fix_then_check(real)
    if "swapped" in a.only:
        swapped_audio(real)


def plain_xcorr(path, side: int = 256, search_s: float = 0.6) -> float:
    """The baseline a checker must not be much slower than: decode luma at ``side`` pixels and mono 16 kHz, then
    cross-correlate the picture's motion energy (mean |frame difference|) with the sound's loudness per frame.
    Returns the offset in ms (positive: sound ahead)."""
    pr = probe(path)
    scale = min(1.0, side / max(pr.width, pr.height))
    c = read_luma(path, size=(max(16, 2 * round(pr.height * scale / 2)), max(16, 2 * round(pr.width * scale / 2))),
                  sample_rate=16000, channels=1)
    motion = np.abs(np.diff(c.luma.astype(np.float32), axis=0)).mean(axis=(1, 2))
    hop = 16000 / c.fps
    loud = np.array([np.sqrt(np.mean(c.audio[0, int(k * hop): int((k + 1) * hop)] ** 2) + 1e-12)
                     for k in range(1, len(c.luma))])
    m, a = (motion - motion.mean()) / (motion.std() + 1e-9), (loud - loud.mean()) / (loud.std() + 1e-9)
    lags = range(-int(search_s * c.fps), int(search_s * c.fps) + 1)
    score = [np.mean(a[max(0, -d): len(a) - max(0, d)] * m[max(0, d): len(m) - max(0, -d)]) for d in lags]
    return 1000 * lags[int(np.argmax(score))] / c.fps


def _median_time(fn, repeats=3):
    times = []
    for _ in range(repeats):                    # median of 3: this machine's timings vary by ~30 %
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), out


def speed(paths):
    """Seconds per `measure_sync` call (decode + analysis, in one process as `duetto-sync check` runs many files)
    by resolution: the real clips and two synthetic ones; beside it the plain cross-correlation baseline on the
    same file in the same run, and the ratio of the two speeds (the checker's / the baseline's)."""
    with tempfile.TemporaryDirectory() as d:
        for size in (64, 256):
            paths.append(write_clip(Path(d) / f"synth_{size}.mp4", render("impacts", 0, SynthConfig(seconds=8, size=size))))
        rows = []
        for p in paths:
            pr = probe(p)
            measure_sync(p)                     # warm-up (imports, model load)
            plain_xcorr(p)
            dt, r = _median_time(lambda: measure_sync(p))
            db, _ = _median_time(lambda: plain_xcorr(p))
            rows.append({"clip": p.name, "resolution": f"{pr.width}x{pr.height}", "seconds": f"{pr.duration:.1f}",
                         "check s": f"{dt:.2f}", "real-time factor": f"{pr.duration / dt:.1f}x",
                         "plain xcorr s": f"{db:.2f}", "speed vs plain": f"{db / dt:.2f}x",
                         "method": r.method, "face": r.face or "-"})
    print(f"machine: {os.cpu_count()} cores")
    rows.sort(key=lambda r: int(r["resolution"].split("x")[1]))
    print(console.table(rows, list(rows[0])))


def fix_then_check(real_paths, shifts=(-400, -120, 40, 240)):
    """Each real clip's sound moved by known amounts (written as mp4 by `fix_offset`), then fixed by the
    offset measured on that copy, then checked: the remaining offset, against half a frame. Like
    `duetto-sync fix`, a measurement under the confidence threshold is not acted on ("refused")."""
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for p in real_paths:
            for s in shifts:
                shifted = fix_offset(p, Path(d) / "s.mp4", -s)
                r = measure_sync(shifted)
                after = measure_sync(fix_offset(shifted, Path(d) / "f.mp4", r.offset_ms))
                ok = abs(after.offset_ms) <= 500 / after.fps
                rows.append({"clip": p.name, "shift ms": s, "measured ms": f"{r.offset_ms:+.1f}",
                             "confidence": f"{r.confidence:.1f}", "after fix ms": f"{after.offset_ms:+.1f}",
                             "within half frame": "yes" if ok else "NO",
                             "cli": "refuses" if r.verdict == "no-signal" else "fixes"})
    if rows:
        ok = [r["within half frame"] == "yes" for r in rows]
        acted = [o for o, r in zip(ok, rows) if r["cli"] == "fixes"]
        print(f"\nfix then check on shifted real clips: {sum(ok)}/{len(rows)} within half a frame; of the "
              f"{len(acted)} that duetto-sync fix acts on (confidence >= {MIN_CONFIDENCE:g}), {sum(acted)}")
        print(console.table(rows, list(rows[0])))


def swapped_audio(real_paths, synthetic_per_family: int = 4):
    """Confidence on matched clips vs the same pictures with another clip's sound (every pair (i, j)
    with (i + j) % 3 == 0): how often unrelated sound is judged "no-signal", and matched clips kept."""
    clips = [analysis_input(p)[0] for p in real_paths]
    cfg = SynthConfig(seconds=4)
    clips += [analysis_input(render(f, s, cfg))[0] for f in ("impacts", "music", "speech") for s in range(synthetic_per_family)]

    def swap(v, a):
        n = v.audio.shape[1]
        x = a.audio[:, :n]
        return replace(v, audio=np.pad(x, ((0, 0), (0, n - x.shape[1]))).astype(np.float32))

    matched = np.asarray([measure_sync(c).confidence for c in clips])
    reps = [measure_sync(swap(clips[i], clips[j]))
            for i in range(len(clips)) for j in range(len(clips)) if i != j and (i + j) % 3 == 0]
    mixed = np.asarray([r.confidence for r in reps])
    print(f"\nswapped audio ({len(real_paths)} real + {len(clips) - len(real_paths)} synthetic clips), "
          f"threshold {MIN_CONFIDENCE:g}: unrelated sound judged no-signal in "
          f"{np.mean([r.verdict == 'no-signal' for r in reps]):.1%} of {len(reps)} pairs; "
          f"matched clips above the threshold: real {int((matched[:len(real_paths)] >= MIN_CONFIDENCE).sum())}/"
          f"{len(real_paths)}, synthetic {int((matched[len(real_paths):] >= MIN_CONFIDENCE).sum())}/"
          f"{len(clips) - len(real_paths)}")
    q = [50, 90, 95, 99]
    print("confidence percentiles " + ", ".join(f"p{k}" for k in q) + ": swapped "
          + ", ".join(f"{v:.2f}" for v in np.percentile(mixed, q)) + "; matched real "
          + ", ".join(f"{v:.2f}" for v in np.percentile(matched[:len(real_paths)], q)))


if __name__ == "__main__":
    main()
