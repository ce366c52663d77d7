"""A clip bank: every usable clip of some shards (or media files) decoded once into memory, and windows cut
from it that depend only on ``(seed, step)``, so a resumed training run sees exactly the batches it would
have seen. Meant for the small datasets of the autoencoder trainers; a bank of 200 four-second 64x64 clips
at 25 fps holds about 250 MB.

Windows are cut on the clock: a window starting at frame f starts at ``f / fps`` seconds, and its audio
starts at sample ``round(f / fps * sample_rate)``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import timebase
from .errors import DuettoError
from .media import read_clip
from .schema import parse_meta
from .shards import BadSample, expand_shards, iter_shard

log = logging.getLogger(__name__)
MEDIA_SUFFIXES = (".mp4", ".mkv", ".mov", ".webm")


@dataclass
class Bank:
    """``videos[i]`` uint8 ``[T_i, H, W, 3]``, ``audios[i]`` float32 ``[C, N_i]`` on one clock;
    ``keys[i]`` names the clip; ``skipped`` counts what could not be used, by reason."""

    videos: list[np.ndarray]
    audios: list[np.ndarray]
    keys: list[str]
    metas: list[dict]
    fps: float
    sample_rate: int
    skipped: dict

    def __len__(self) -> int:
        return len(self.videos)

    def split(self, held_out: float) -> tuple[Bank, Bank]:
        """(train, held out): ``ceil(held_out * n)`` clips, evenly spaced in key order (so every shard and
        family is represented), are held out."""
        out = held_out_indices(self.keys, held_out)
        order = list(np.argsort(self.keys, kind="stable"))
        order = [i for i in order if i not in out] + [i for i in order if i in out]
        pick = lambda idx: Bank([self.videos[i] for i in idx], [self.audios[i] for i in idx],  # noqa: E731
                                [self.keys[i] for i in idx], [self.metas[i] for i in idx],
                                self.fps, self.sample_rate, dict(self.skipped))
        return pick(order[: len(self) - len(out)]), pick(order[len(self) - len(out):])

    def video_batch(self, seed: int, step: int, batch: int, frames: int, rank: int = 0, world: int = 1) -> torch.Tensor:
        """uint8 ``[B, frames, H, W, 3]``: process ``rank``'s share of the job's clips and start frames for
        ``(seed, step)`` (`duetto.data.draw`: ``batch`` distinct clips a process, none shared between processes)."""
        return self._batch(self.videos, seed, step, batch, frames, rank, world, axis=0)

    def audio_batch(self, seed: int, step: int, batch: int, samples: int, rank: int = 0, world: int = 1) -> torch.Tensor:
        """float32 ``[B, C, samples]``, drawn as `video_batch` draws."""
        return self._batch(self.audios, seed, step, batch, samples, rank, world, axis=1)

    def _batch(self, items: list, seed: int, step: int, batch: int, length: int, rank: int, world: int,
               axis: int) -> torch.Tensor:
        """``batch`` windows of ``length`` along ``axis`` (time) of this process's clips."""
        from .draw import draw_clips, mine
        rng = np.random.default_rng([seed, step])
        idx = draw_clips(rng, len(self), batch * world)
        starts = [int(rng.integers(0, items[i].shape[axis] - length + 1)) for i in idx]
        out = [items[i][(slice(None),) * axis + (slice(s, s + length),)]
               for i, s in zip(mine(idx, batch, rank), mine(starts, batch, rank))]
        return torch.from_numpy(np.stack(out))


def held_out_indices(keys: list[str], share: float) -> set[int]:
    """Indices of the ``ceil(share * n)`` items held out: evenly spaced in key order, so every shard and family
    is represented. Holding out everything is a `DuettoError`."""
    n_out = int(np.ceil(share * len(keys))) if share > 0 else 0
    if n_out >= len(keys):
        raise DuettoError(f"holding out {n_out} of {len(keys)} clips leaves none to train on")
    order = list(np.argsort(keys, kind="stable"))
    return {int(order[int((j + 0.5) * len(keys) / n_out)]) for j in range(n_out)}


def load_bank(sources, *, fps: float, size: int, sample_rate: int, channels: int, min_seconds: float,
              max_clips: int | None = None, progress: bool = False) -> Bank:
    """Decode shards (``.tar``, globs, folders of shards) and/or media files into a `Bank`. Clips shorter
    than ``min_seconds`` or unreadable are skipped and counted; an empty result is a `DuettoError`."""
    media = [Path(s) for s in sources if Path(s).suffix.lower() in MEDIA_SUFFIXES]
    for p in media:
        if not p.is_file():
            raise DuettoError(f"{p}: no such media file")
    shard_specs = [s for s in sources if Path(s).suffix.lower() not in MEDIA_SUFFIXES]
    shards = expand_shards(shard_specs) if shard_specs else []
    videos, audios, keys, metas, skipped = [], [], [], [], {}

    def add(src, name, meta):
        try:
            clip = read_clip(src, fps=fps, size=size, sample_rate=sample_rate, channels=channels, name=name)
        except DuettoError as e:
            skipped["bad_media"] = skipped.get("bad_media", 0) + 1
            log.warning("skipped %s", e)
            return
        if len(clip.video) / fps < min_seconds:
            skipped["too_short"] = skipped.get("too_short", 0) + 1
            return
        videos.append(clip.video)
        audios.append(clip.audio)
        keys.append(name)
        metas.append(meta)

    from tqdm import tqdm
    with tqdm(total=None, desc="loading clips", unit="clip", disable=not progress) as bar:
        for shard in shards:
            for item in iter_shard(shard):
                if max_clips is not None and len(videos) >= max_clips:
                    break
                if isinstance(item, BadSample):
                    skipped[item.reason] = skipped.get(item.reason, 0) + 1
                    continue
                try:
                    meta = parse_meta(item.files["json"], f"{item.name}.json")
                except DuettoError:
                    skipped["bad_json"] = skipped.get("bad_json", 0) + 1
                    continue
                add(item.files["mp4"], f"{Path(shard).name}/{item.key}", meta)
                bar.update(1)
        for p in media:
            if max_clips is None or len(videos) < max_clips:
                add(p, str(p), {"caption": p.stem})
                bar.update(1)
    if not videos:
        raise DuettoError(f"no usable clips of at least {min_seconds:g} s in {len(shards)} shard(s) and "
                          f"{len(media)} media file(s) (skipped: {skipped or 'none'})")
    frames = min(len(v) for v in videos)
    log.info("bank: %d clips, shortest %d frames (%.2f s)", len(videos), frames, timebase.frame_time(frames, fps))
    return Bank(videos, audios, keys, metas, float(fps), int(sample_rate), skipped)
