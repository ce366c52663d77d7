"""Shared fixtures: clips with a click and a flash at known instants, and the real media folder."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from duetto.data import Clip, timebase

MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "media"


def click_flash_clip(fps=25.0, sr=16000, frames=50, event_frame=17, size=64, channels=1,
                     event_time=None) -> tuple[Clip, float]:
    """A dark clip with one white frame and one click: returns (clip, event time in seconds).

    The click starts at ``event_time`` (default: the flash frame's timestamp)."""
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
    """Seconds of the first sample whose magnitude exceeds ``thr`` (any channel)."""
    return float(np.argmax(np.abs(np.asarray(audio)).max(axis=0) > thr)) / sr


def flash_frame(video: np.ndarray) -> int:
    return int(np.argmax(video.reshape(len(video), -1).mean(axis=1)))


@pytest.fixture
def media():
    if not MEDIA.is_dir():
        pytest.skip(f"real clips folder {MEDIA} is absent")
    return MEDIA
