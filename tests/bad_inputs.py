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


def _tar(path: Path, members: list[tuple[str, bytes | None, dict]]) -> Path:
    import io
    import tarfile
    with tarfile.open(path, "w") as t:
        for name, data, attrs in members:
            info = tarfile.TarInfo(name)
            info.size = len(data or b"")
            for k, v in attrs.items():
                setattr(info, k, v)
            t.addfile(info, io.BytesIO(data) if data else None)
    return path


def make_odd_files(d: Path, good: Path) -> dict[str, Path]:
    """More hostile inputs: files that are not files, broken containers, tar and JSON shapes. name -> path."""
    import gzip
    import os
    import tarfile
    d.mkdir(parents=True, exist_ok=True)
    data = good.read_bytes()
    meta = b'{"caption": "a ball", "fps": 25, "sample_rate": 16000, "duration": 2.0}'
    f = {"fifo": d / "pipe.mp4", "loop": d / "loop.mp4", "dir_mp4": d / "dir.mp4", "random": d / "random.mp4",
         "cut90": d / "cut90.mp4"}
    os.mkfifo(f["fifo"])
    os.symlink(f["loop"].name, f["loop"])                       # a link to itself
    f["dir_mp4"].mkdir()
    f["random"].write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    f["cut90"].write_bytes(data[: len(data) * 9 // 10])         # the index (moov) is at the end: cut off
    from duetto.data.clip import Clip
    f["wide"] = write_clip(d / "wide.mp4", Clip(video=np.zeros((10, 16, 8200, 3), np.uint8),
                                                audio=np.zeros((1, 6400), np.float32), fps=25.0, sample_rate=16000))
    k = lambda ext, body=None: ("k." + ext, data if ext == "mp4" and body is None else body, {})  # noqa: E731
    f["tar_dup_member"] = _tar(d / "dupmember.tar", [k("mp4"), k("json", meta), k("json", meta)])
    f["tar_dup_key"] = _tar(d / "dupkey.tar", [k("mp4"), k("json", meta), ("j.json", meta, {}), k("mp4"), k("json", meta)])
    f["tar_symlink"] = _tar(d / "symlink.tar", [("k.mp4", None, {"type": tarfile.SYMTYPE, "linkname": "/etc/passwd"}),
                                                k("json", meta)])
    f["tar_fifo"] = _tar(d / "fifo.tar", [("k.mp4", None, {"type": tarfile.FIFOTYPE}), k("json", meta)])
    f["tar_deep_json"] = _tar(d / "deep.tar", [k("mp4"), k("json", b"[" * 100_000 + b"]" * 100_000)])
    f["tar_nan_json"] = _tar(d / "nan.tar", [k("mp4"), k("json", b'{"caption": NaN, "fps": Infinity}')])
    f["tar_bad_utf8"] = _tar(d / "utf.tar", [k("mp4"), k("json", b'{"caption": "\xff\xfe"}')])
    f["tar_gz"] = d / "shard.tar.gz"
    f["tar_gz"].write_bytes(gzip.compress(f["tar_dup_member"].read_bytes()))
    raw = bytearray(_tar(d / "claim.tar", [k("mp4"), k("json", meta)]).read_bytes())
    raw[124:136] = b"77777777777\0"                             # the first member claims 8 GiB
    raw[148:156] = b" " * 8
    raw[148:156] = ("%06o\0 " % sum(raw[:512])).encode()
    f["tar_claims_huge"] = d / "claimhuge.tar"
    f["tar_claims_huge"].write_bytes(raw)
    return f
