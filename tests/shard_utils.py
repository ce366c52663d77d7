"""Build small shards for tests, good and broken."""
from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from duetto.data.media import SHARD_AUDIO, encode_clip
from duetto.data.schema import dump_meta
from duetto.data.shards import ShardWriter
from duetto.data.synth import SynthConfig, render


def synth_shard(out: Path, family: str, seeds, cfg: SynthConfig, prefix: str = "t") -> list[Path]:
    with ShardWriter(out, prefix=prefix, max_count=1000) as w:
        for s in seeds:
            clip = render(family, s, cfg)
            key = f"{family}-{s:05d}"
            w.write(key, {"mp4": encode_clip(clip, audio_codec=SHARD_AUDIO), "json": dump_meta({**clip.metadata, "key": key})})
    return w.paths


def raw_tar(path: Path, members: list[tuple[str, bytes]]) -> Path:
    """A tar with exactly these members (no validation: for broken samples)."""
    with tarfile.open(path, "w") as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return path


def meta_bytes(**kw) -> bytes:
    base = {"caption": "x", "fps": 25.0, "sample_rate": 16000, "duration": 2.0}
    base.update(kw)
    return json.dumps({k: v for k, v in base.items() if v is not None}).encode()
