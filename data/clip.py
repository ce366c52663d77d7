"""`Clip`: one synced piece of video and audio on one clock, plus its metadata."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from . import timebase


@dataclass(frozen=True, eq=False)
class Clip:
    """A clip that starts at ``start`` seconds of its source.

    video: uint8 ``[T, H, W, 3]`` RGB; frame ``i`` is presented at ``start + i / fps``.
    audio: float32 ``[C, N]`` in [-1, 1]; sample ``n`` sits at ``start + n / sample_rate``.
    ``N == round(T / fps * sample_rate)``: both streams cover the same span.
    """

    video: np.ndarray
    audio: np.ndarray
    fps: float
    sample_rate: int
    start: float = 0.0
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        v, a = self.video, self.audio
        if v.ndim != 4 or v.shape[-1] != 3 or v.dtype != np.uint8:
            raise ValueError(f"video must be uint8 [T,H,W,3], got {v.dtype} {tuple(v.shape)}")
        if a.ndim != 2 or a.dtype != np.float32:
            raise ValueError(f"audio must be float32 [C,N], got {a.dtype} {tuple(a.shape)}")
        want = timebase.n_samples_for_frames(v.shape[0], self.fps, self.sample_rate)
        if a.shape[1] != want:
            raise ValueError(f"audio has {a.shape[1]} samples, {v.shape[0]} frames at {self.fps} fps "
                             f"need {want} at {self.sample_rate} Hz")

    @property
    def n_frames(self) -> int:
        return self.video.shape[0]

    @property
    def duration(self) -> float:
        """Seconds spanned by the clip (``T / fps``)."""
        return self.n_frames / self.fps

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return self.video.shape[1], self.video.shape[2]

    @property
    def channels(self) -> int:
        return self.audio.shape[0]

    def frame_times(self) -> np.ndarray:
        """Presentation time of every frame in seconds from the clip's start, ``[T]``."""
        return timebase.frame_time(np.arange(self.n_frames), self.fps)

    def with_metadata(self, **kw) -> "Clip":
        return replace(self, metadata={**self.metadata, **kw})


def luma(video: np.ndarray) -> np.ndarray:
    """BT.601 luma of RGB frames ``[..., 3]`` as float32 ``[...]`` (0-255)."""
    return video.astype(np.float32) @ np.asarray([0.299, 0.587, 0.114], np.float32)
