"""The one clock: conversions between frame/sample indices and seconds.

Conventions (every other module goes through these functions):
- video frame ``i`` of a clip at ``fps`` is presented at ``i / fps`` seconds and shown until ``(i+1) / fps``;
- audio sample ``n`` at ``sample_rate`` sits at ``n / sample_rate`` seconds;
- an event at ``t`` seconds is *shown* on the frame whose presentation time is nearest: ``round(t * fps)``;
- a clip of ``T`` frames lasts ``T / fps`` seconds and carries ``round(T / fps * sample_rate)`` audio samples.
"""
from __future__ import annotations

from fractions import Fraction
import math

import numpy as np


def frame_time(i, fps: float):
    """Presentation time in seconds of frame index ``i`` (int or array)."""
    return np.asarray(i, dtype=np.float64) / float(fps) if np.ndim(i) else i / float(fps)


def frame_of(t, fps: float):
    """Index of the frame that shows an instant ``t`` (seconds): the frame with the nearest timestamp."""
    x = np.floor(np.asarray(t, dtype=np.float64) * float(fps) + 0.5).astype(np.int64)
    return x if np.ndim(t) else int(x)


def sample_of(t, sample_rate: int):
    """Index of the audio sample at ``t`` seconds (nearest)."""
    x = np.floor(np.asarray(t, dtype=np.float64) * sample_rate + 0.5).astype(np.int64)
    return x if np.ndim(t) else int(x)


def n_frames(seconds: float, fps: float) -> int:
    """Whole frames in ``seconds`` (nearest; 2.0 s at 25 fps is 50 frames)."""
    return int(math.floor(seconds * float(fps) + 0.5))


def n_samples_for_frames(frames: int, fps: float, sample_rate: int) -> int:
    """Audio samples that span ``frames`` video frames exactly (nearest sample)."""
    return int(math.floor(frames / float(fps) * sample_rate + 0.5))


def fps_fraction(fps: float) -> Fraction:
    """An exact rational frame rate for a container: 29.97 -> 30000/1001, 25.0 -> 25."""
    for den in (1, 1001):
        num = round(fps * den)
        if abs(num / den - fps) < 1e-4:
            return Fraction(num, den)
    return Fraction(fps).limit_denominator(100_000)


def resample(x: np.ndarray, src_rate: int, dst_rate: int, axis: int = -1) -> np.ndarray:
    """Audio from ``src_rate`` to ``dst_rate`` Hz along ``axis`` by an exact rational factor with a
    zero-phase polyphase filter: sample n at n / src_rate stays at the same instant."""
    if src_rate == dst_rate:
        return x
    from scipy.signal import resample_poly
    g = math.gcd(int(src_rate), int(dst_rate))
    return resample_poly(x, dst_rate // g, src_rate // g, axis=axis)
