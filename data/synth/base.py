"""What every synthetic family shares: its config, event records and the finished `Clip`."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import timebase
from ..clip import Clip


@dataclass(frozen=True)
class SynthConfig:
    """Output format of a synthetic scene (the scene itself comes from the seed)."""

    seconds: float = 4.0
    fps: float = 25.0
    size: int = 64            # square frames, pixels
    sample_rate: int = 16000
    min_gap: float = 0.16     # seconds between any two events in a scene, so each is detectable

    @property
    def n_frames(self) -> int:
        return timebase.n_frames(self.seconds, self.fps)

    @property
    def n_samples(self) -> int:
        return timebase.n_samples_for_frames(self.n_frames, self.fps, self.sample_rate)

    @property
    def duration(self) -> float:
        return self.n_frames / self.fps

    def event_window(self) -> tuple[float, float]:
        """Events are placed in [lo, hi] so each is fully visible and audible in the clip."""
        return 0.12, self.duration - max(0.2, 2.5 / self.fps)

    def check(self):
        if not (1.0 <= self.seconds <= 600 and 5 <= self.fps <= 240 and 16 <= self.size <= 2048 and self.size % 2 == 0):
            raise ValueError(f"bad synth config: need 1 <= seconds <= 600, 5 <= fps <= 240, even size 16..2048 "
                             f"(got seconds={self.seconds}, fps={self.fps}, size={self.size})")
        if not 8000 <= self.sample_rate <= 192_000:
            raise ValueError(f"sample_rate must be 8000..192000 Hz (got {self.sample_rate})")


def event(t: float, cfg: SynthConfig, kind: str, **info) -> dict:
    """An event record: its time in seconds, the frame that shows it, and what it is."""
    return {"time": round(float(t), 6), "frame": timebase.frame_of(t, cfg.fps), "kind": kind, **info}


def spaced(times, t: float, gap: float) -> bool:
    """True when ``t`` keeps at least ``gap`` seconds from every time in ``times``."""
    return all(abs(t - u) >= gap for u in times)


def make_clip(frames: list[np.ndarray], audio: np.ndarray, cfg: SynthConfig, meta: dict) -> Clip:
    video = np.stack(frames)
    meta = {"fps": cfg.fps, "sample_rate": cfg.sample_rate, "duration": cfg.duration,
            "width": cfg.size, "height": cfg.size, "channels": 1, **meta}
    meta["events"] = sorted(meta.get("events", []), key=lambda e: e["time"])
    return Clip(video=video, audio=audio.reshape(1, -1).astype(np.float32), fps=cfg.fps,
                sample_rate=cfg.sample_rate, metadata=meta)
