"""Build small shards for tests, good and broken."""
from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from duetto.data.shards import ShardWriter
from duetto.data.synth import SynthConfig, render_sample


def synth_shard(out: Path, family: str, seeds, cfg: SynthConfig, prefix: str = "t") -> list[Path]:
    with ShardWriter(out, prefix=prefix, max_count=1000) as w:
        for s in seeds:
            w.write(*render_sample(family, s, cfg))
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
