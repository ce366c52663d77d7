"""Known-timing test signals: a clip with one flash and one click, and finders for both. Tests and
benchmarks use them to measure where an instant lands after a round trip."""
from __future__ import annotations

import numpy as np

from . import timebase
from .clip import Clip


def click_flash_clip(fps=25.0, sr=16000, frames=50, event_frame=17, size=64, channels=1,
                     event_time=None) -> tuple[Clip, float]:
    """A dark clip with one white frame and one 6 ms click: returns (clip, event time in seconds).

    The click starts at ``event_time`` (default: the flash frame's timestamp); the flash is on the
    frame that shows that instant."""
    t = timebase.frame_time(event_frame, fps) if event_time is None else event_time
    video = np.full((frames, size, size, 3), 30, np.uint8)
    video[timebase.frame_of(t, fps)] = 240
    n = timebase.n_samples_for_frames(frames, fps, sr)
    audio = np.zeros((channels, n), np.float32)
    i = timebase.sample_of(t, sr)
    burst = int(0.006 * sr)
    audio[:, i:i + burst] = 0.8 * np.sign(np.sin(np.arange(burst) * 2 * np.pi * 900 / sr) + 1e-9)
    return Clip(video=video, audio=audio, fps=fps, sample_rate=sr), t


def click_time(audio: np.ndarray, sr: int, thr: float = 0.2) -> float:
    """Seconds of the first sample whose magnitude exceeds ``thr`` (any channel; ``[C, N]`` or ``[N]``)."""
    a = np.abs(np.atleast_2d(np.asarray(audio)))
    return float(np.argmax(a.max(axis=0) > thr)) / sr


def flash_frame(video) -> int:
    """Index of the brightest frame of ``[T, H, W, 3]`` (or a list of frames)."""
    return int(np.argmax([np.asarray(f).mean() for f in video]))
