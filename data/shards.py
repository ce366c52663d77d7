"""Webdataset shards: tar files whose members ``KEY.mp4`` + ``KEY.json`` make one sample.

Writing is atomic per shard (a ``.tmp`` file renamed when the shard is complete), so a crash leaves
only whole shards. Reading streams members in order and turns every problem into a `BadSample` with
a reason instead of an exception, so one corrupt sample never stops a run.
"""
from __future__ import annotations

import glob
import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Union

from .errors import DuettoError

MAX_MEMBER_BYTES = 1 << 30
REASONS = ("corrupt_tar", "missing_member", "bad_json", "bad_media", "too_short", "too_large")


@dataclass(frozen=True)
class Sample:
    shard: str
    key: str
    files: dict[str, bytes]       # extension ("mp4", "json") -> bytes

    @property
    def name(self) -> str:
        return f"{self.shard}:{self.key}"


@dataclass(frozen=True)
class BadSample:
    shard: str
    key: str
    reason: str                   # one of REASONS
    detail: str

    def __str__(self):
        return f"{self.shard}:{self.key}: {self.reason}: {self.detail}"


class ShardWriter:
    """Write samples into ``DIR/PREFIX-000000.tar``, starting a new shard every ``max_count`` samples
    or ``max_bytes`` bytes. Use as a context manager; ``paths`` lists finished shards."""

    def __init__(self, out_dir, prefix: str = "shard", max_count: int = 100, max_bytes: int = 1 << 28):
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.prefix, self.max_count, self.max_bytes = prefix, max_count, max_bytes
        self.paths: list[Path] = []
        self._tar = self._tmp = None
        self._count = self._bytes = 0
        self._keys: set[str] = set()

    def _open(self):
        final = self.dir / f"{self.prefix}-{len(self.paths):06d}.tar"
        self._final = final
        self._tmp = final.with_name(f".{final.name}.tmp{os.getpid()}")
        self._tar = tarfile.open(self._tmp, "w", format=tarfile.USTAR_FORMAT)
        self._count = self._bytes = 0

    def write(self, key: str, files: dict[str, bytes]):
        if "." in key or "/" in key or not key:
            raise ValueError(f"sample key {key!r} must be non-empty with no '.' or '/'")
        if key in self._keys:
            raise ValueError(f"duplicate sample key {key!r}")
        self._keys.add(key)
        if self._tar is None:
            self._open()
        for ext, data in sorted(files.items()):
            info = tarfile.TarInfo(f"{key}.{ext}")
            info.size, info.mtime, info.mode = len(data), 0, 0o644   # mtime 0: same samples, same bytes
            self._tar.addfile(info, io.BytesIO(data))
            self._bytes += len(data)
        self._count += 1
        if self._count >= self.max_count or self._bytes >= self.max_bytes:
            self._finish()

    def _finish(self):
        if self._tar is None:
            return
        self._tar.close()
        with open(self._tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(self._tmp, self._final)
        self.paths.append(self._final)
        self._tar = None

    def close(self):
        self._finish()

    def abort(self):
        """Drop the shard being written (finished shards stay)."""
        if self._tar is not None:
            self._tar.close()
            self._tar = None
            Path(self._tmp).unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *_):
        self.abort() if exc_type else self.close()


def iter_shard(path: Union[str, Path], required=("mp4", "json")) -> Iterator[Union[Sample, BadSample]]:
    """Samples of one shard in order; problems come out as `BadSample` (never raised)."""
    shard = str(path)
    try:
        tar = tarfile.open(shard, "r|")
    except Exception as e:   # OSError, TarError, and whatever a hostile header provokes
        yield BadSample(shard, "*", "corrupt_tar", f"cannot open as tar ({e})")
        return
    key, files, skip, seen = None, {}, None, set()

    def flush():
        if key is None:
            return None
        if skip is not None:
            return skip
        missing = [ext for ext in required if ext not in files]
        if missing:
            return BadSample(shard, key, "missing_member", f"no .{', .'.join(missing)} member")
        return Sample(shard, key, dict(files))

    try:
        with tar:
            for m in tar:
                if not m.isfile():
                    continue
                base = os.path.basename(m.name)
                if "." not in base:
                    continue
                k = os.path.join(os.path.dirname(m.name), base.split(".", 1)[0])
                ext = base.split(".", 1)[1]
                if k != key:
                    out = flush()
                    if out is not None:
                        yield out
                    key, files, skip = k, {}, None
                    if k in seen:                    # webdataset would read it as a second sample: say so
                        skip = BadSample(shard, key, "duplicate_key", "a sample of this key came earlier in the shard")
                    seen.add(k)
                if ext in files and skip is None:
                    skip = BadSample(shard, key, "duplicate_member", f"{m.name} appears twice")
                if m.size > MAX_MEMBER_BYTES:
                    skip = BadSample(shard, key, "too_large", f"member {m.name} is {m.size >> 20} MiB")
                    continue
                f = tar.extractfile(m)
                data = f.read() if f is not None else b""
                if len(data) != m.size:
                    raise tarfile.ReadError(f"member {m.name} truncated")
                files[ext] = data
    except Exception as e:   # OSError, EOFError, TarError; ValueError/OverflowError from bad pax headers
        yield BadSample(shard, key or "*", "corrupt_tar", f"unreadable after this point ({type(e).__name__}: {e})")
        return
    out = flush()
    if out is not None:
        yield out
    # tarfile stops quietly at a corrupt header; whatever follows must be the zero padding of the end
    left = _unread_bytes(shard, tar.offset)
    if left:
        yield BadSample(shard, key or "*", "corrupt_tar", f"bad member header at byte {tar.offset}; "
                                                          f"{left} bytes after it unread")


def _unread_bytes(path: str, offset: int) -> int:
    with open(path, "rb") as f:
        f.seek(offset)
        rest = f.read()
    return len(rest.rstrip(b"\0"))


def expand_shards(specs) -> list[str]:
    """Shard paths from files, directories (their ``*.tar``) and globs; `DuettoError` if none."""
    out: list[str] = []
    for spec in specs:
        p = Path(spec)
        if p.is_dir():
            out += sorted(str(x) for x in p.glob("*.tar"))
        elif p.is_file():
            out.append(str(p))
        else:
            matched = sorted(glob.glob(str(spec))) if any(c in str(spec) for c in "*?[") else []
            if not matched:
                raise DuettoError(f"{spec}: no such shard, directory or glob match")
            out += matched
    if not out:
        raise DuettoError(f"no .tar shards found in {', '.join(map(str, specs))}")
    return out


def reader_slot() -> tuple[int, int, int | None]:
    """``(reader, readers, worker id or None)``: this DataLoader worker's place among every worker of every
    distributed rank, so iterable datasets split shards (or samples) without overlap."""
    from torch.utils.data import get_worker_info
    import torch.distributed as dist
    info = get_worker_info()
    wid, nw = (info.id, info.num_workers) if info else (0, 1)
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_available() and dist.is_initialized() else (0, 1)
    return rank * nw + wid, world * nw, (wid if info else None)
