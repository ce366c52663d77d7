"""Sync features on one clock: audio and picture signals sampled at ``RATE`` Hz, with their times.

Audio runs at 16 kHz mono. A feature made from the difference between video frames k-1 and k is
placed at ``k / fps``: by the project's time base an event at t is shown on frame ``round(t * fps)``,
so what first shows on frame k happened, on average, at frame k's timestamp.
"""
from __future__ import annotations

import numpy as np

RATE = 100          # feature samples per second (10 ms)
AUDIO_RATE = 16000
HOP = AUDIO_RATE // RATE


def _blocks_db(x: np.ndarray) -> np.ndarray:
    n = len(x) // HOP
    return 10 * np.log10((x[: n * HOP].reshape(n, HOP) ** 2).mean(axis=1) + 1e-10)


def _band(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Zero-phase band-pass by FFT mask with smooth (1/4 octave) edges."""
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1 / AUDIO_RATE)
    ramp = lambda f0, s: 1 / (1 + np.exp(-(np.log2(np.maximum(f, 1)) - np.log2(f0)) / s))  # noqa: E731
    return np.fft.irfft(spec * ramp(lo, 0.1) * (1 - ramp(hi, 0.1)), len(x))


def audio_onset_strength(audio: np.ndarray) -> np.ndarray:
    """How much the sound's energy rises, per 10 ms block ``[n]`` (block i covers [i, i+1) x 10 ms):
    positive rises of four band levels over the previous 30 ms, summed."""
    bands = [(100, 500), (500, 1500), (1500, 4000), (4000, 7500)]
    levels = np.stack([_blocks_db(_band(audio, lo, hi)) for lo, hi in bands])
    floor = levels.max(axis=1, keepdims=True) - 50
    levels = np.maximum(levels, floor)
    past = np.maximum.reduce([np.pad(levels, ((0, 0), (k, 0)), mode="edge")[:, :-k] for k in (1, 2, 3)])
    return np.maximum(levels - past, 0).sum(axis=0)


def speech_loudness_change(audio: np.ndarray) -> np.ndarray:
    """|change| of speech-band (300-3400 Hz) loudness between consecutive 10 ms blocks ``[n]``,
    placed at the block boundary (index i = boundary between blocks i-1 and i)."""
    level = np.maximum(_blocks_db(_band(audio, 300, 3400)), -60)
    level = np.maximum(level, level.max() - 50)
    return np.abs(np.diff(level, prepend=level[:1]))


def audio_times(n: int, kind: str) -> np.ndarray:
    """Seconds of each feature sample: block centres for onsets, block boundaries for changes."""
    i = np.arange(n)
    return (i + 0.5) / RATE if kind == "onset" else i / RATE


def luma(video: np.ndarray) -> np.ndarray:
    return video.astype(np.float32) @ np.asarray([0.299, 0.587, 0.114], np.float32)


def frame_change(y: np.ndarray, box=None) -> np.ndarray:
    """Mean |change| of luma ``[T, H, W]`` between consecutive frames, optionally inside ``box``
    (y0, y1, x0, x1): ``[T - 1]``; sample k-1 (frames k-1 -> k) sits at ``k / fps``."""
    if box is not None:
        y0, y1, x0, x1 = box
        y = y[:, y0:y1, x0:x1]
    return np.abs(np.diff(y, axis=0)).mean(axis=(1, 2))


def change_times(n: int, fps: float) -> np.ndarray:
    return (np.arange(n) + 1.0) / fps


def on_grid(values: np.ndarray, times: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Linear interpolation onto ``grid`` (seconds); NaN outside the sampled span."""
    out = np.interp(grid, times, values)
    out[(grid < times[0]) | (grid > times[-1])] = np.nan
    return out


def smooth(x: np.ndarray, seconds: float) -> np.ndarray:
    """Centred moving average (no delay) over ``seconds``."""
    n = max(1, int(round(seconds * RATE)))
    if n == 1:
        return x
    return np.convolve(x, np.ones(n) / n, mode="same")
