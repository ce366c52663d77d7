"""An iterable dataset of time-aligned random windows from clip shards, for `torch.utils.data.DataLoader`.

Each window starts on a frame of the target frame rate, and both streams are cut at that instant.
Bad samples are skipped, logged with their reason, and counted in shared memory so the counts from
every DataLoader worker are visible in the main process (`ClipWindows.bad_counts`).
"""
from __future__ import annotations

import logging

import numpy as np
import torch
from torch.utils.data import IterableDataset

from . import timebase
from .errors import DuettoError
from .media import read_clip
from .schema import parse_meta
from .shards import REASONS, BadSample, expand_shards, iter_shard, reader_slot

log = logging.getLogger("duetto.data")
MAX_WORKERS = 64


class ClipWindows(IterableDataset):
    """Yields dicts: ``video`` uint8 ``[T, H, W, 3]``, ``audio`` float32 ``[C, N]``, ``start`` (seconds
    into the source clip), ``key``, ``caption`` and ``meta`` (the sample's JSON, events in source seconds).

    T = round(seconds * fps) and N = round(T / fps * sample_rate): every window has the same shape.
    ``epochs=None`` repeats forever; shards (or, with fewer shards than readers, samples) are split
    across DataLoader workers and distributed ranks.
    """

    def __init__(self, shards, seconds: float = 2.0, fps: float = 25.0, size=64, sample_rate: int = 16000,
                 channels: int = 1, windows_per_clip: int = 1, shuffle: bool = True, seed: int = 0,
                 epochs: int | None = 1):
        self.shards = expand_shards(shards if isinstance(shards, (list, tuple)) else [shards])
        self.seconds, self.fps, self.size = seconds, float(fps), size
        self.sample_rate, self.channels = sample_rate, channels
        self.windows_per_clip, self.shuffle, self.seed, self.epochs = windows_per_clip, shuffle, seed, epochs
        self.frames = timebase.n_frames(seconds, fps)
        self._counts = torch.zeros(MAX_WORKERS + 1, len(REASONS), dtype=torch.int64).share_memory_()
        self.first_epoch = 0

    def set_epoch(self, epoch: int):
        """Start the next iteration at ``epoch`` (new shuffles and windows), like a DistributedSampler:
        call it before each pass of a DataLoader whose workers are not persistent."""
        self.first_epoch = epoch

    def bad_counts(self) -> dict[str, int]:
        """Skipped samples by reason, summed over the main process and every worker."""
        tot = self._counts.sum(0).tolist()
        return {r: int(n) for r, n in zip(REASONS, tot) if n}

    def _reader(self):
        reader, readers, wid = reader_slot()
        return reader, readers, (0 if wid is None else wid % MAX_WORKERS + 1)

    def _skip(self, row: int, bad: BadSample):
        self._counts[row, REASONS.index(bad.reason)] += 1
        log.warning("skipped %s", bad)

    def __iter__(self):
        reader, readers, row = self._reader()
        by_shard = len(self.shards) >= readers
        epoch = self.first_epoch
        while self.epochs is None or epoch < self.first_epoch + self.epochs:
            rng = np.random.default_rng([self.seed, epoch, reader])
            shards = list(self.shards)
            if self.shuffle:
                np.random.default_rng([self.seed, epoch]).shuffle(shards)   # same order on every reader
            if by_shard:
                shards = shards[reader::readers]
            i, seen, yielded = -1, 0, 0
            for shard in shards:
                for item in iter_shard(shard):
                    i += 1
                    if not by_shard and i % readers != reader:
                        continue
                    seen += 1
                    if isinstance(item, BadSample):
                        self._skip(row, item)
                        continue
                    for window in self._windows(item, rng, row):
                        yielded += 1
                        yield window
            if self.epochs is None and seen == 0:
                return              # more readers than samples: this one has none, the others go on
            if self.epochs is None and yielded == 0:
                raise DuettoError(f"no usable samples in {len(shards)} shard(s) "
                                  f"(skipped: {self.bad_counts()}); refusing to loop forever")
            epoch += 1

    def _windows(self, sample, rng, row):
        try:
            meta = parse_meta(sample.files["json"], f"{sample.name}.json")
        except DuettoError as e:
            self._skip(row, BadSample(sample.shard, sample.key, "bad_json", str(e)))
            return
        available = timebase.n_frames(meta["duration"], self.fps) - self.frames
        if available < 0:
            self._skip(row, BadSample(sample.shard, sample.key, "too_short",
                                      f"{meta['duration']:.2f} s < window {self.seconds:.2f} s"))
            return
        for _ in range(self.windows_per_clip):
            first = int(rng.integers(0, available + 1))
            start = timebase.frame_time(first, self.fps)      # on the target frame grid
            try:
                clip = read_clip(sample.files["mp4"], fps=self.fps, size=self.size, sample_rate=self.sample_rate,
                                 channels=self.channels, start=start, duration=self.frames / self.fps,
                                 name=f"{sample.name}.mp4")
            except DuettoError as e:
                self._skip(row, BadSample(sample.shard, sample.key, "bad_media", str(e)))
                return
            yield {"key": sample.key, "video": torch.from_numpy(clip.video), "audio": torch.from_numpy(clip.audio),
                   "start": start, "caption": meta["caption"], "meta": meta}


def collate(batch: list[dict]) -> dict:
    """Stack ``video``/``audio``/``start``; keep ``key``, ``caption`` and ``meta`` as lists."""
    return {"video": torch.stack([b["video"] for b in batch]), "audio": torch.stack([b["audio"] for b in batch]),
            "start": torch.tensor([b["start"] for b in batch], dtype=torch.float64),
            "key": [b["key"] for b in batch], "caption": [b["caption"] for b in batch],
            "meta": [b["meta"] for b in batch]}
