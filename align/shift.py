"""Move a clip's sound against its picture by a known amount (for evaluation and tests)."""
from __future__ import annotations

import numpy as np

from dataclasses import replace

from duetto.data import timebase


def shift_audio(clip, offset_ms: float):
    """The same clip (`Clip` or `LumaClip`) with its sound ``offset_ms`` ahead of the picture
    (negative: behind). Sound ahead by d means what was heard at t + d is now heard at t; the gap
    is silence."""
    d = timebase.sample_of(abs(offset_ms) / 1000, clip.sample_rate)
    a = np.zeros_like(clip.audio)
    n = clip.audio.shape[1]
    if d >= n:
        return replace(clip, audio=a)
    if offset_ms >= 0:
        a[:, : n - d] = clip.audio[:, d:]
    else:
        a[:, d:] = clip.audio[:, : n - d]
    return replace(clip, audio=a)
