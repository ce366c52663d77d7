"""`measure_sync`: how far a clip's sound is ahead of (positive) or behind its picture, how sure we are,
how that changes over time, and a verdict against a tolerance."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from duetto.data import Clip, probe, timebase
from duetto.data.clip import luma
from duetto.data.media import LumaClip, read_luma
from duetto.data.errors import DuettoError

from . import features as F
from .correlate import lag_curve
from .face import find_mouth
from .tolerance import DEFAULT_PRESET, tolerance

ANALYSIS_SIDE = 256       # the picture is analysed with its longer side at this many pixels
MIN_CONFIDENCE = 3.5      # z-score of the peak against unrelated audio (see correlate.py); below: no signal
MIN_FPS = 5.0             # below this a frame lasts longer than a third of the default search (a slideshow)
FACE_SHARE = 0.5          # auto: the speech method when a face is in at least this share of sampled frames
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
    drift_ms_per_min: float | None = None
    curve: dict = field(default_factory=dict, repr=False)  # lags_ms, corr, audio/picture [P][n] and their cues (plots)

    def to_dict(self, curve: bool = False) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "curve"}
        if curve:
            d["curve"] = self.curve
        return d


def analysis_input(src) -> tuple[LumaClip, str]:
    """What the measurement reads, and a name for it: luma at about ``ANALYSIS_SIDE`` pixels (never
    upscaled) and mono 16 kHz audio. ``src``: a path, a `Clip` or a `LumaClip`."""
    if isinstance(src, (Clip, LumaClip)):
        y = luma(src.video) if isinstance(src, Clip) else src.luma
        audio = timebase.resample(src.audio.mean(axis=0), src.sample_rate, F.AUDIO_RATE)
        n = timebase.n_samples_for_frames(y.shape[0], src.fps, F.AUDIO_RATE)
        audio = np.pad(audio, (0, max(0, n - len(audio))))[:n].astype(np.float32)[None]
        return LumaClip(luma=y, audio=audio, fps=src.fps, sample_rate=F.AUDIO_RATE), "<clip>"
    name = os.fspath(src)
    pr = probe(name)
    scale = min(1.0, ANALYSIS_SIDE / max(pr.width, pr.height, 1))
    size = (max(16, 2 * round(pr.height * scale / 2)), max(16, 2 * round(pr.width * scale / 2)))
    return read_luma(name, size=size, sample_rate=F.AUDIO_RATE, channels=1), name


CUES = {"speech": [("loudness change", "mouth motion"), ("loudness", "mouth aperture")],
        "events": [("onsets", "motion ends")]}
SPEECH_BAND = (1.0, 8.0)  # Hz: the syllable rhythm that the aperture cue compares


def _signals(clip: LumaClip, y: np.ndarray, times: np.ndarray, method: str, mouth):
    """Cues as (audio features ``[P, n]``, picture features ``[P, n]``) on a common 100 Hz grid; ``y`` is the
    clip's luma ``[T', H, W]`` without repeated frames and ``times`` ``[T']`` the seconds of each.

    events: onset strength against motion ends. speech, two cues whose lag curves are averaged: the change
    of speech loudness against the change inside the mouth box (how much moves), and the speech loudness
    against the darkness of the mouth box (how far the lips are open), both band-passed to the syllable
    rhythm. The second is signed, so a mouth that opens while the sound falls counts against a lag."""
    grid = np.arange(0, clip.duration, 1 / F.RATE)
    x = clip.audio[0].astype(np.float64)
    start, stop = F.sounding_span(x)

    def sounding(a, at_boundaries=False):  # padding silence before and after the sound is not compared
        a = a.astype(np.float64)           # (a change feature's sample ``stop`` is the sound's last change)
        a[:start] = np.nan
        a[stop + (1 if at_boundaries else 0):] = np.nan
        return a
    if method == "speech":
        a = F.smooth(F.speech_loudness_change(x), SMOOTH_S)
        v = F.frame_change(y, mouth)
        level = F.band_pass(F.on_grid(F.speech_level(x), F.audio_times(len(x) // F.HOP, "onset"), grid), *SPEECH_BAND)
        level[(grid < start / F.RATE) | (grid >= stop / F.RATE)] = np.nan   # filtered whole, then cut to the sound
        dark = F.mouth_darkness(y, mouth)
        audio = [F.on_grid(sounding(a, at_boundaries=True), F.audio_times(len(a), "change"), grid), level]
        picture = [F.on_grid(v, times[1:], grid), F.band_pass(F.on_grid(dark, times, grid), *SPEECH_BAND)]
        return np.stack(audio), np.stack(picture)
    a = F.smooth(F.audio_onset_strength(x), SMOOTH_S)
    # an impact sounds when the motion that led to it ends (stops or bounces back)
    fps = (len(times) - 1) / (times[-1] - times[0])        # the rate of distinct pictures
    yb = F.blur(y, ENDS_BLUR / fps)
    a, v = F.clip_outliers(a), F.clip_outliers(F.motion_ends(yb, F.frame_change(yb)))
    return (F.on_grid(sounding(a), F.audio_times(len(a), "onset"), grid)[None],
            F.on_grid(v, times[1:-1], grid)[None])


def measure_sync(src, *, method: str = "auto", preset: str = DEFAULT_PRESET, search: float = 0.6,
                 window: float = 4.0) -> SyncReport:
    """Measure a clip (path, `Clip` or `LumaClip`). ``method``: ``auto`` (speech when a face is found in most
    frames, else events), ``speech`` or ``events``. ``search``: the largest offset looked for, seconds."""
    tol = tolerance(preset)
    if method not in ("auto", "speech", "events"):
        raise DuettoError(f"unknown method {method!r}: auto, speech or events")
    clip, name = analysis_input(src)
    base = dict(source=name, tolerance=str(tol), fps=clip.fps, duration=clip.duration)

    def no_signal(reason: str, method: str = method) -> SyncReport:
        return SyncReport(offset_ms=None, confidence=0.0, method=method, verdict="no-signal", reason=reason, **base)

    if clip.duration < 1.0:
        return no_signal("clip shorter than 1 s")
    if clip.fps < MIN_FPS:
        return no_signal(f"{clip.fps:g} frames a second are too few to time sound against (at least {MIN_FPS:g})")
    y = np.asarray(clip.luma, dtype=np.float32)
    if np.abs(clip.audio).max() < 1e-3:
        return no_signal("silence: the audio carries no signal")
    change, peak = F.frame_motion(y)
    if peak < F.STILL:
        return no_signal("static picture: nothing moves")
    mouth, face_frac = None, 0.0
    if method != "events":
        mouth, face_frac = find_mouth(y, min_share=FACE_SHARE if method == "auto" else 0.0)
    if method == "auto":
        method = "speech" if mouth is not None and face_frac >= FACE_SHARE else "events"
    if method == "speech" and mouth is None:
        return no_signal("no face found for the speech method", method)
    what = "speech" if method == "speech" else "event"
    distinct = ~F.repeated_frames(change)                # a frame-rate conversion's repeats left out
    a, v = _signals(clip, y[distinct], timebase.frame_time(np.flatnonzero(distinct), clip.fps), method, mouth)
    if not all(np.isfinite(x).sum() > 1 and np.nanstd(x) > 0 for x in (*a, *v)):
        return no_signal(f"no {'speech' if method == 'speech' else 'events'} to compare", method)
    curve = lag_curve(a, v, search)
    windows = _windows(a, v, search, window)
    drift = _drift(windows)
    rep = SyncReport(offset_ms=round(curve.best_s * 1000, 1), confidence=round(curve.confidence, 2), method=method,
                     verdict="", reason="", windows=windows, drift_ms_per_min=drift,
                     curve={"lags_ms": (curve.lags_s * 1000).round(1).tolist(),
                            "corr": np.nan_to_num(curve.corr).round(4).tolist(),
                            "audio": np.nan_to_num(a).round(4).tolist(), "picture": np.nan_to_num(v).round(4).tolist(),
                            "cues": CUES[method],
                            "rate": F.RATE}, **base)
    if curve.confidence < MIN_CONFIDENCE:
        rep.verdict = "no-signal"
        rep.reason = f"no clear {what} correlation (confidence {curve.confidence:.1f} < {MIN_CONFIDENCE:g})"
    elif tol.allows(rep.offset_ms):
        rep.verdict, rep.reason = "pass", f"{rep.offset_ms:+.0f} ms is within {tol}"
    else:
        rep.verdict, rep.reason = "fail", f"{rep.offset_ms:+.0f} ms is outside {tol}"
    return rep


def _windows(a, v, search, window) -> list[dict]:
    n, w = a.shape[-1], int(window * F.RATE)
    if n < 2 * w:
        return []
    out = []
    for s in range(0, n - w + 1, w // 2):
        c = lag_curve(a[:, s:s + w], v[:, s:s + w], search, null_rolls=12)
        out.append({"start": s / F.RATE, "end": (s + w) / F.RATE, "offset_ms": round(c.best_s * 1000, 1),
                    "confidence": round(c.confidence, 2)})
    return out


def _drift(windows) -> float | None:
    ok = [w for w in windows if w["confidence"] >= MIN_CONFIDENCE]
    if len(ok) < 3:
        return None
    t = np.array([(w["start"] + w["end"]) / 2 for w in ok])
    o = np.array([w["offset_ms"] for w in ok])
    return round(float(np.polyfit(t, o, 1)[0] * 60), 1)
