"""Hostile and broken inputs, made on the fly (never committed)."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from duetto.data.testsignals import click_flash_clip
from duetto.data import write_clip


def only_stream(path: Path, kind: str) -> Path:
    """An mp4 with only a video or only an audio stream."""
    with av.open(str(path), "w") as out:
        if kind == "video":
            s = out.add_stream("libx264", rate=25)
            s.width = s.height = 32
            s.pix_fmt = "yuv420p"
            for i in range(10):
                f = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
                f.pts = i
                out.mux(s.encode(f))
        else:
            s = out.add_stream("aac", rate=16000, layout="mono")
            for i in range(0, 16000, 1024):
                f = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
                f.sample_rate, f.pts, f.time_base = 16000, i, Fraction(1, 16000)
                out.mux(s.encode(f))
        out.mux(s.encode(None))
    return path


def make_bad_files(d: Path) -> dict[str, tuple[Path, str]]:
    """name -> (path, a phrase the error must contain)."""
    d.mkdir(parents=True, exist_ok=True)
    good = write_clip(d / "good.mp4", click_flash_clip(frames=50)[0])
    data = good.read_bytes()
    (d / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (d / "empty.mp4").write_bytes(b"")
    (d / "text.mp4").write_text("this is not a video\n" * 20)
    return {
        "truncated": (d / "truncated.mp4", "truncated"),
        "no_audio": (only_stream(d / "noaudio.mp4", "video"), "no audio stream"),
        "no_video": (only_stream(d / "novideo.mp4", "audio"), "no video stream"),
        "empty": (d / "empty.mp4", "empty file"),
        "not_media": (d / "text.mp4", "not a readable media file"),
        "missing": (d / "nope.mp4", "no such file"),
    }
