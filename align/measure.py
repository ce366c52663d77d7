"""`measure_sync`: how far a clip's sound is ahead of (positive) or behind its picture, how sure we are,
how that changes over time, and a verdict against a tolerance."""
from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from duetto.data import Clip, probe, timebase
from duetto.data.clip import luma
from duetto.data.media import LumaClip, read_luma
from duetto.data.errors import DuettoError

from . import calibration
from . import features as F
from .correlate import lag_curve
from .face import find_mouth
from .tolerance import DEFAULT_PRESET, tolerance

ANALYSIS_SIDE = 256       # a file is decoded once with its longer side at about this many pixels (never upscaled)
FACE_PX = 80              # a face shorter than this (pixels) there is read from a larger picture where one exists...
FACE_MAX_SIDE = 1280      # ...the clip given in memory, or the file decoded again, at most this size
LUMA_BUDGET = 128 << 20   # bytes of decoded luma a file may take: a long clip is read smaller (a 10-minute 16:9
                          # clip at 25 fps at about 126x71, not 256x144), so memory (about 2 GB at most, most of it
                          # the analysis's float copies) is bounded however long it is
MIN_CONFIDENCE = calibration.MIN_CONFIDENCE   # below: "no usable sync signal" (a calibrated probability, calibration.py)
MIN_FPS = 5.0             # below this a frame lasts longer than a third of the default search (a slideshow)
FACE_SHARE = 0.5          # a face counts when found in at least this share of the sampled frames
SMOOTH_S = 0.04           # audio features are smoothed to about a video frame's bandwidth
ENDS_BLUR = 0.6           # motion ends are found on luma blurred by this / fps of the shorter side (features.blur):
                          # an object's travel per frame grows as the frame rate falls


@dataclass
class SyncReport:
    source: str
    offset_ms: float | None        # positive: sound ahead of the picture (ITU-R BT.1359)
    confidence: float
    method: str                    # "events" or "speech"
    verdict: str                   # "pass", "fail" or "no-signal"
    reason: str
    tolerance: str
    fps: float
    duration: float
    windows: list[dict] = field(default_factory=list)   # {start, end, offset_ms, confidence}
    readings: dict = field(default_factory=dict)   # method -> {offset_ms, confidence}: every method that was tried
    face: str = ""                 # what read the face: "mesh" (lips), "blazeface" (mouth box), "haar" or ""
    drift_ms_per_min: float | None = None
    curve: dict = field(default_factory=dict, repr=False)  # lags_ms, corr, audio/picture [P][n] and their cues (plots)

    def to_dict(self, curve: bool = False) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "curve"}
        if curve:
            d["curve"] = self.curve
        return d


def analysis_input(src) -> tuple[LumaClip, str]:
    """What the measurement reads, and a name for it: luma (a file's at about ``ANALYSIS_SIDE`` pixels, a clip given
    in memory at its own size) and mono 16 kHz audio. ``src``: a path, a `Clip` or a `LumaClip`."""
    if isinstance(src, (Clip, LumaClip)):
        y = luma(src.video) if isinstance(src, Clip) else src.luma
        audio = timebase.resample(src.audio.mean(axis=0), src.sample_rate, F.AUDIO_RATE)
        n = timebase.n_samples_for_frames(y.shape[0], src.fps, F.AUDIO_RATE)
        audio = np.pad(audio, (0, max(0, n - len(audio))))[:n].astype(np.float32)[None]
        return LumaClip(luma=y, audio=audio, fps=src.fps, sample_rate=F.AUDIO_RATE), "<clip>"
    name = os.fspath(src)
    pr = probe(name)
    side = min(ANALYSIS_SIDE, _budget_side(pr, ANALYSIS_SIDE))
    return read_luma(name, size=_size(pr.height, pr.width, side), sample_rate=F.AUDIO_RATE, channels=1), name


def _budget_side(pr, side: float, budget: int | None = None) -> float:
    """The longer side (pixels, at most ``side``) at which the whole of a probed file's luma fits ``budget``
    (default `LUMA_BUDGET`; at least 64 pixels)."""
    frames = max(1.0, (pr.duration or 0.0) * (pr.fps or 25.0))
    h, w = _size(pr.height, pr.width, side)
    area = (LUMA_BUDGET if budget is None else budget) / frames
    return max(64.0, side * min(1.0, (area / (h * w)) ** 0.5))


def _size(h: int, w: int, side: float) -> tuple[int, int]:
    """(height, width), even, with the longer side at most ``side`` (never upscaled)."""
    scale = min(1.0, side / max(h, w, 1))
    return max(16, 2 * round(h * scale / 2)), max(16, 2 * round(w * scale / 2))


def _face_frames(src, clip: LumaClip, y: np.ndarray, faces: list, reuse: bool = False) -> tuple[np.ndarray, float]:
    """The frames the faces are read from, and the factor from ``y``'s pixels (the analysis size) to theirs: ``y``
    itself, unless the smallest face is shorter than `FACE_PX` there and more pixels exist: the clip given in
    memory, or the file decoded again at the size that makes the face 1.5 `FACE_PX` tall (at most `FACE_MAX_SIDE`,
    a whole decimation of the source)."""
    small = min((f.height for f in faces if f is not None), default=FACE_PX)
    if small >= FACE_PX:
        return y, 1.0
    h, w = y.shape[1:]
    if clip.luma.shape[1] > h:                               # a clip given in memory, larger than the analysis
        return clip.luma, clip.luma.shape[1] / h
    if not isinstance(src, (str, os.PathLike)):
        return y, 1.0
    pr = probe(os.fspath(src))
    side = min(FACE_MAX_SIDE, max(h, w) * 1.5 * FACE_PX / small)      # the face half as large again
    cap = _budget_side(pr, FACE_MAX_SIDE, 4 * LUMA_BUDGET)            # the whole clip's faces within 4 budgets
    step = max(1, round(max(pr.height, pr.width) / min(side, cap)),  # a whole decimation of the source: the decoder's
               math.ceil(max(pr.height, pr.width) / cap))
    want = _size(pr.height, pr.width, max(pr.height, pr.width) / step)   # luma plane is read without resampling
    if want[0] <= h:
        return y, 1.0
    read = _kept_luma if reuse else _luma
    big = read(os.fspath(src), want, os.stat(src).st_mtime_ns)
    n = min(len(big), len(y))                               # the same frames, by the same time base
    return np.concatenate([big[:n], np.repeat(big[n - 1:n], len(y) - n, axis=0)]) if n < len(y) else big[:len(y)], \
        want[0] / h


def _luma(path: str, size: tuple[int, int], mtime_ns: int) -> np.ndarray:
    """A file's luma at ``size`` (read-only)."""
    y = read_luma(path, size=size, sample_rate=F.AUDIO_RATE, channels=1).luma
    y.flags.writeable = False
    return y


_kept_luma = lru_cache(maxsize=1)(_luma)   # `eval` reads each clip's picture a dozen times (its sound shifted or
                                           # swapped); it clears this when done (`forget_pictures`)


def forget_pictures() -> None:
    _kept_luma.cache_clear()


def _downscale(y: np.ndarray, side: int) -> np.ndarray:
    """Luma ``[T, H, W]`` as float32, reduced by a whole factor (area average: cheap) to about ``side`` pixels on
    its longer side."""
    t, h, w = y.shape
    k = max(1, round(max(h, w) / side))
    if k == 1:
        return np.asarray(y, dtype=np.float32)
    import cv2
    size = (max(8, w // k), max(8, h // k))
    out = np.empty((t, size[1], size[0]), np.float32)
    for i in range(t):
        out[i] = cv2.resize(y[i, : size[1] * k, : size[0] * k], size, interpolation=cv2.INTER_AREA)
    return out


CUES = {"speech": [("loudness change", "mouth motion"), ("loudness", "mouth darkness"), ("loudness", "lip opening")],
        "events": [("onsets", "motion ends")]}
SPEECH_BAND = (1.0, 8.0)  # Hz: the syllable rhythm that the loudness, darkness and opening cues compare


@dataclass
class _Reading:
    method: str
    curve: object                  # correlate.LagCurve
    audio: np.ndarray              # [P, n] on the RATE grid
    picture: np.ndarray            # [P, n]
    cues: list
    face: str = ""


def _grid_audio(clip: LumaClip):
    grid = np.arange(0, clip.duration, 1 / F.RATE)
    x = clip.audio[0].astype(np.float64)
    start, stop = F.sounding_span(x)

    def sounding(a, at_boundaries=False):  # padding silence before and after the sound is not compared
        a = a.astype(np.float64)           # (a change feature's sample ``stop`` is the sound's last change)
        a[:start] = np.nan
        a[stop + (1 if at_boundaries else 0):] = np.nan
        return a
    return grid, x, start, stop, sounding


EVENT_TILES = 4           # motion ends are also read in up to 4 x 4 regions: the one that matches the sound best is
TILE_PX = 40              # taken; a region is at least this many pixels on a side (a 64 px picture: 1 x 1, none)


def _events(clip: LumaClip, y: np.ndarray, times: np.ndarray, search: float, tiles: int = EVENT_TILES) -> _Reading:
    """Onset strength against motion ends, on the picture ``y [T', H, W]`` (repeats left out) at ``times [T']``.
    An impact sounds when the motion that led to it ends (stops or bounces back). The whole frame and each of
    ``tiles`` x ``tiles`` regions are alternatives (`lag_curve` with ``pick``): the sounding object may fill a
    corner while captions, a camera's shake or a crowd move elsewhere."""
    grid, x, _, _, sounding = _grid_audio(clip)
    a = F.smooth(F.audio_onset_strength(x), SMOOTH_S)
    fps = (len(times) - 1) / (times[-1] - times[0])        # the rate of distinct pictures
    yb = F.blur(y, ENDS_BLUR / fps)
    tiles = min(tiles, min(y.shape[1:]) // TILE_PX)
    ends = F.motion_ends_regions(yb, (1, tiles) if tiles > 1 else (1,))
    audio = F.on_grid(sounding(F.clip_outliers(a)), F.audio_times(len(a), "onset"), grid)
    picture = np.stack([F.on_grid(F.clip_outliers(v), times[1:-1], grid) for v in ends])
    usable = [k for k, v in enumerate(picture) if np.isfinite(v).sum() > 1 and np.nanstd(v) > 0]
    if not usable or not (np.isfinite(audio).sum() > 1 and np.nanstd(audio) > 0):
        return _Reading("events", None, audio[None], picture[:1], CUES["events"])
    picture = picture[usable]
    curve = lag_curve(np.broadcast_to(audio, picture.shape), picture, search, pick=True)
    return _Reading("events", curve, audio[None], picture[curve.row][None], CUES["events"])


def _curve(audio, picture, search):
    if not all(np.isfinite(x).sum() > 1 and np.nanstd(x) > 0 for x in (*audio, *picture)):
        return None
    return lag_curve(audio, picture, search)


def _speech(clip: LumaClip, y: np.ndarray, times: np.ndarray, mouths: list, search: float, stride: int,
            mesh_face=None) -> _Reading | None:
    """Speech against the mouth: the change of speech loudness against how much moves in the mouth box, and the
    speech loudness (band-passed to the syllable rhythm) against how dark the mouth box is (an open mouth shows
    its cavity) and, where the face mesh ran, against the inner lips' opening. ``y [T', H, W]`` the frames at the
    size ``mouths`` (boxes) are in, ``times [T']`` their seconds. The best-correlated mouth is kept; the mesh
    (costlier) then reads that face only (``mesh_face``: its `lips.Face`) and its lips' box replaces the
    detector's."""
    grid, x, start, stop, sounding = _grid_audio(clip)
    change = F.on_grid(sounding(F.smooth(F.speech_loudness_change(x), SMOOTH_S), at_boundaries=True),
                       F.audio_times(len(x) // F.HOP, "change"), grid)
    level = F.band_pass(F.on_grid(F.speech_level(x), F.audio_times(len(x) // F.HOP, "onset"), grid), *SPEECH_BAND)
    level[(grid < start / F.RATE) | (grid >= stop / F.RATE)] = np.nan   # filtered whole, then cut to the sound

    def box_cues(box):
        y0, y1, x0, x1 = box
        roi = np.asarray(y[:, y0:y1, x0:x1], np.float32)
        return [F.on_grid(F.frame_change(roi), times[1:], grid),
                F.band_pass(F.on_grid(F.mouth_darkness(roi, (0, y1 - y0, 0, x1 - x0)), times, grid), *SPEECH_BAND)]

    best, best_k = None, -1
    for k, (box, _) in enumerate(mouths):
        audio, picture = np.stack([change, level]), np.stack(box_cues(box))
        c = _curve(audio, picture, search)
        if c is not None and (best is None or c.confidence > best.curve.confidence):
            best, best_k = _Reading("speech", c, audio, picture, CUES["speech"][:2], mouths[k][1]), k
    if best is None or mesh_face is None:
        return best
    from . import lips
    face = mesh_face(best_k)
    if face is None:
        return best
    aperture, lip_box = lips.lip_opening(y, face, stride)
    if lip_box is None:
        return best
    ok = np.isfinite(aperture)
    opening = F.band_pass(F.on_grid(np.interp(times, times[ok], aperture[ok]), times, grid), *SPEECH_BAND)
    audio, picture = np.stack([change, level, level]), np.stack(box_cues(lip_box) + [opening])
    c = _curve(audio, picture, search)
    return best if c is None else _Reading("speech", c, audio, picture, CUES["speech"], "mesh")


def _find_mouths(y: np.ndarray, need_share: float):
    """Mouth boxes in ``y``'s pixels as ``[(box, what found it)]`` and a `lips.Face` per box (None for the Haar
    cascade's). BlazeFace where mediapipe is installed, else the Haar cascade."""
    from . import lips
    if lips.available():
        faces = lips.find_faces(y, min_share=FACE_SHARE)
        return [(f.mouth, "blazeface") for f in faces], faces
    box, share = find_mouth(y, min_share=need_share)
    if box is None or share < FACE_SHARE:
        return [], []
    return [(box, "haar")], [None]


def _kept(frames: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``frames[keep]``, without a copy when every frame is kept (no frame-rate conversion's repeats): the two
    readings run side by side, and a long clip's float copies are its largest allocations."""
    return frames if len(keep) == len(frames) else frames[keep]


def _read_faces(src, clip: LumaClip, y: np.ndarray, keep: np.ndarray, times: np.ndarray, method: str, search: float,
                readings: dict, reuse: bool = False) -> str | None:
    """The speech reading (into ``readings``) where a face is found; what read the face (`SyncReport.face`: "" when
    nothing did), or None when ``method`` is "speech" and no face is found."""
    if method == "events":
        return ""
    mouths, faces = _find_mouths(y, FACE_SHARE if method == "auto" else 0.0)
    if not mouths:
        return None if method == "speech" else ""
    from . import lips
    frames, k = _face_frames(src, clip, y, faces, reuse)
    if k != 1.0:
        mouths = [(lips.scaled(box, k), how) for box, how in mouths]
        faces = [None if f is None else f.scaled(k) for f in faces]
    mesh = (lambda i: faces[i]) if faces and faces[0] is not None else None
    r = _speech(clip, _kept(frames, keep), times, mouths, search, lips.mesh_stride(clip.fps), mesh)
    if r is None:
        return ""
    readings["speech"] = r
    return r.face


def measure_sync(src, *, method: str = "auto", preset: str = DEFAULT_PRESET, search: float = 0.6,
                 window: float = 4.0, picture_file=None) -> SyncReport:
    """Measure a clip (path, `Clip` or `LumaClip`). ``method``: ``auto`` (both methods where a face is found, the
    more confident one reported; events alone otherwise), ``speech`` or ``events``. ``search``: the largest offset
    looked for, seconds. ``picture_file``: the file an in-memory clip's picture was decoded from (its sound may differ:
    `eval` shifts or swaps it), so that a small face is read from that file at a larger size, as it is when the file
    itself is measured."""
    tol = tolerance(preset)
    if method not in ("auto", "speech", "events"):
        raise DuettoError(f"unknown method {method!r}: auto, speech or events")
    clip, name = analysis_input(src)
    base = dict(source=name, tolerance=str(tol), fps=clip.fps, duration=clip.duration)

    def no_signal(reason: str, method: str = method, **kw) -> SyncReport:
        return SyncReport(offset_ms=None, confidence=0.0, method=method, verdict="no-signal", reason=reason,
                          **base, **kw)

    if clip.duration < 1.0:
        return no_signal("clip shorter than 1 s")
    if clip.fps < MIN_FPS:
        return no_signal(f"{clip.fps:g} frames a second are too few to time sound against (at least {MIN_FPS:g})")
    if np.abs(clip.audio).max() < 1e-3:
        return no_signal("silence: the audio carries no signal")
    y = _downscale(clip.luma, ANALYSIS_SIDE)
    change, peak = F.frame_motion(y)
    if peak < F.STILL:
        return no_signal("static picture: nothing moves")
    distinct = ~F.repeated_frames(change)                # a frame-rate conversion's repeats left out
    keep = np.flatnonzero(distinct)
    times = timebase.frame_time(keep, clip.fps)
    readings: dict[str, _Reading] = {}
    # The events reading runs beside the faces' (mediapipe waits for its graph without holding the GIL): a
    # faceless 720p clip 0.17 -> 0.13 s of analysis. Same readings, in the same order, as one after the other.
    with ThreadPoolExecutor(max_workers=1) as pool:
        events = pool.submit(_events, clip, _kept(y, keep), times, search) if method != "speech" else None
        face_how = _read_faces(src if picture_file is None else picture_file, clip, y, keep, times, method, search,
                               readings, reuse=picture_file is not None)
        r = events.result() if events is not None else None
        if r is not None and r.curve is not None:
            readings["events"] = r
    if face_how is None:
        return no_signal("no face found for the speech method", method)
    if not readings:
        what = {"speech": "speech", "events": "events"}.get(method, "speech or events")
        return no_signal(f"no {what} to compare", method, face=face_how)
    summary = {m: {"offset_ms": round(r.curve.best_s * 1000, 1), "z": round(r.curve.confidence, 2),
                   "peak": round(r.curve.peak, 4), "margin": round(r.curve.margin, 4), "face": r.face}
               for m, r in readings.items()}
    chosen, confidence = calibration.decide(summary)
    best = readings[chosen]
    curve, a, v = best.curve, best.audio, best.picture
    windows = _windows(a, v, search, window, calibration.kind(best.method, best.face))
    drift = _drift(windows)
    what = "speech" if best.method == "speech" else "event"
    rep = SyncReport(offset_ms=round(curve.best_s * 1000, 1), confidence=round(confidence, 3),
                     method=best.method, verdict="", reason="", windows=windows, drift_ms_per_min=drift,
                     readings=summary, face=face_how,
                     curve={"lags_ms": (curve.lags_s * 1000).round(1).tolist(),
                            "corr": np.nan_to_num(curve.corr).round(4).tolist(),
                            "audio": np.nan_to_num(a).round(4).tolist(), "picture": np.nan_to_num(v).round(4).tolist(),
                            "cues": best.cues, "rate": F.RATE}, **base)
    if confidence < MIN_CONFIDENCE:
        rep.verdict = "no-signal"
        rep.reason = f"no clear {what} correlation (confidence {confidence:.2f} < {MIN_CONFIDENCE:g})"
    elif tol.allows(rep.offset_ms):
        rep.verdict, rep.reason = "pass", f"{rep.offset_ms:+.0f} ms is within {tol}"
    else:
        rep.verdict, rep.reason = "fail", f"{rep.offset_ms:+.0f} ms is outside {tol}"
    return rep


def _windows(a, v, search, window, kind: str) -> list[dict]:
    n, w = a.shape[-1], int(window * F.RATE)
    if n < 2 * w:
        return []
    out = []
    for s in range(0, n - w + 1, w // 2):
        c = lag_curve(a[:, s:s + w], v[:, s:s + w], search, null_rolls=12)
        out.append({"start": s / F.RATE, "end": (s + w) / F.RATE, "offset_ms": round(c.best_s * 1000, 1),
                    "confidence": round(calibration.probability(kind, c.margin, c.peak, c.confidence), 3)})
    return out


def _drift(windows) -> float | None:
    ok = [w for w in windows if w["confidence"] >= MIN_CONFIDENCE]
    if len(ok) < 3:
        return None
    t = np.array([(w["start"] + w["end"]) / 2 for w in ok])
    o = np.array([w["offset_ms"] for w in ok])
    return round(float(np.polyfit(t, o, 1)[0] * 60), 1)
