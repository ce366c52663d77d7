"""Move a clip's sound against its picture by a known amount (for evaluation and tests)."""
from __future__ import annotations

import numpy as np

from duetto.data import Clip, timebase


def shift_audio(clip: Clip, offset_ms: float) -> Clip:
    """The same clip with its sound ``offset_ms`` ahead of the picture (negative: behind).
    Sound ahead by d means what was heard at t + d is now heard at t; the gap is silence."""
    d = timebase.sample_of(abs(offset_ms) / 1000, clip.sample_rate)
    a = np.zeros_like(clip.audio)
    n = clip.audio.shape[1]
    if d >= n:
        return Clip(video=clip.video, audio=a, fps=clip.fps, sample_rate=clip.sample_rate, start=clip.start)
    if offset_ms >= 0:
        a[:, : n - d] = clip.audio[:, d:]
    else:
        a[:, d:] = clip.audio[:, : n - d]
    return Clip(video=clip.video, audio=a, fps=clip.fps, sample_rate=clip.sample_rate, start=clip.start,
                metadata=clip.metadata)
