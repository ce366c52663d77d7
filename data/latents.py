"""Read latent shards (written by `duetto-data encode`, format in `duetto.data.latent_format`) for training.

Every clip comes back as a dict::

    {"key": str,
     "video": float32 [C_v, L_v, h, w],  "video_times": float64 [L_v]   (seconds, centre of each latent),
     "audio": float32 [C_a, L_a],        "audio_times": float64 [L_a],
     "caption": str, "meta": the source clip's JSON (events etc. in seconds from the clip's start),
     "voice": float32 [VOICE_DIM] (64 before 2026-12-08) or None, "music": float32 [L_a, MUSIC_DIM] or None  (optional members),
     "info": what was encoded: {"video": {...frames, seconds...}, "audio": {...}, "vae": {...}, "source", ...}}

A corrupt or hostile member (tar, JSON, array) is a one-line `DuettoError` naming ``shard:key``; with
``strict=False`` such samples are skipped, logged and counted instead. Latents from a different autoencoder
than expected are always an error: pass ``video_vae``/``audio_vae`` (a loaded model, a model folder, a record
from `vae_record`, or a weights SHA-256), or by default every clip must match the first one read.
"""
from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import IterableDataset

from .autoencoder import load_autoencoder
from .errors import DuettoError
from .latent_format import FORMAT, LATENT_DTYPES, MEMBERS, TIME_DTYPE, read_npy, record_mismatch, vae_record
from .schema import load_json, validate_meta
from .shards import BadSample, Sample, expand_shards, iter_shard, reader_slot

log = logging.getLogger("duetto.data")
STREAM_FIELDS = {"video": ("frames", "latents", "temporal_factor"), "audio": ("samples", "latents", "channels")}


def expected_vae(vae) -> dict | None:
    """A VAE record to check latents against, from a model, a model folder, a record or a weights SHA-256."""
    if vae is None or isinstance(vae, dict):
        return vae
    if isinstance(vae, torch.nn.Module):
        return vae_record(vae)
    if isinstance(vae, str) and re.fullmatch(r"[0-9a-f]{64}", vae):
        return {"weights_sha256": vae}
    if isinstance(vae, (str, Path)):
        return vae_record(load_autoencoder(vae))
    raise TypeError(f"expected a model, a model folder, a record or a sha256, got {type(vae).__name__}")


def _vae_mismatch(got: dict, want: dict) -> str | None:
    if set(want) == {"weights_sha256"}:             # only a hash to go by
        return None if got["weights_sha256"] == want["weights_sha256"] else \
            f"weights sha256 {got['weights_sha256'][:12]}… is not {want['weights_sha256'][:12]}…"
    return record_mismatch(got, want)


def _check_info(info, name: str) -> dict:
    """The sample JSON's structure (types and the time base), before any array is trusted."""
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise DuettoError(f"{name}: not a {FORMAT} sample")
    if info.get("dtype") not in LATENT_DTYPES:
        raise DuettoError(f"{name}: unknown latent dtype {str(info.get('dtype'))[:20]!r}")
    validate_meta(info.get("meta"), name)
    for stream, ints in STREAM_FIELDS.items():
        s = info.get(stream)
        if not isinstance(s, dict) or not all(isinstance(s.get(k), int) and s[k] > 0 for k in ints) \
                or not isinstance(s.get("shape"), list) or not all(
                    isinstance(s.get(k), (int, float)) and math.isfinite(s[k]) and s[k] > 0
                    for k in ("seconds", "latents_per_second", "fps" if stream == "video" else "sample_rate")):
            raise DuettoError(f"{name}: missing or malformed \"{stream}\" section")
        vae = info.get("vae", {}).get(stream) if isinstance(info.get("vae"), dict) else None
        if not (isinstance(vae, dict) and isinstance(vae.get("class"), str) and isinstance(vae.get("config"), dict)
                and isinstance(vae.get("weights_sha256"), str)):
            raise DuettoError(f"{name}: no record of the {stream} VAE")
    v, a = info["video"], info["audio"]
    exact = (v["frames"] == 1 + v["temporal_factor"] * (v["latents"] - 1),     # trimmed to the latent grid
             abs(v["seconds"] - v["frames"] / v["fps"]) < 1e-9,
             abs(a["seconds"] - a["samples"] / a["sample_rate"]) < 1e-9,
             abs(a["seconds"] - v["seconds"]) <= 0.5 / a["sample_rate"] + 1e-12)   # one span for both streams
    if not all(exact):
        raise DuettoError(f"{name}: inconsistent time base (frames {v['frames']}, {v['latents']} video latents, "
                          f"{v['seconds']} s; {a['samples']} audio samples, {a['seconds']} s)")
    return info


def read_latent_sample(sample: Sample, dtype: torch.dtype = torch.float32) -> dict:
    """One latent sample -> the clip dict described in the module docstring, every member validated."""
    name = sample.name
    missing = [m for m in MEMBERS if m not in sample.files]
    if missing:
        raise DuettoError(f"{name}: missing member(s) {', '.join('.' + m for m in missing)}")
    info = _check_info(load_json(sample.files["json"], f"{name}.json"), f"{name}.json")
    lat = {LATENT_DTYPES[info["dtype"]]}
    zv = read_npy(sample.files["video.npy"], f"{name}.video.npy", lat, 4)
    za = read_npy(sample.files["audio.npy"], f"{name}.audio.npy", lat, 2)
    tv = read_npy(sample.files["video_times.npy"], f"{name}.video_times.npy", {TIME_DTYPE}, 1)
    ta = read_npy(sample.files["audio_times.npy"], f"{name}.audio_times.npy", {TIME_DTYPE}, 1)
    for stream, z, t in (("video", zv, tv), ("audio", za, ta)):
        s = info[stream]
        if list(z.shape) != s["shape"] or z.shape[1] != s["latents"] or t.shape != (z.shape[1],):
            raise DuettoError(f"{name}: {stream} latents {tuple(z.shape)} and times {tuple(t.shape)} do not match "
                              f"the recorded shape {s['shape']}")
        if (len(t) > 1 and not (np.diff(t) > 0).all()) or t[0] < 0 or t[-1] > s["seconds"] + 1.0:
            raise DuettoError(f"{name}: {stream} timestamps are not increasing seconds inside the clip")
    meta = info.pop("meta")
    voice = music = None
    if "voice.npy" in sample.files:
        voice = torch.from_numpy(read_npy(sample.files["voice.npy"], f"{name}.voice.npy", {np.dtype("<f4")}, 1))
        from duetto.joint.conditioning import VOICE_DIM, VOICE_DIM_SPECTRUM
        if len(voice) not in (VOICE_DIM, VOICE_DIM_SPECTRUM):
            raise DuettoError(f"{name}.voice.npy: {len(voice)} values, not {VOICE_DIM} (or {VOICE_DIM_SPECTRUM})")
    if "music.npy" in sample.files:
        music = read_npy(sample.files["music.npy"], f"{name}.music.npy", {np.dtype("<f4")}, 2)
        if music.shape[0] != za.shape[1]:
            raise DuettoError(f"{name}: music features {music.shape} do not match {za.shape[1]} audio latents")
        music = torch.from_numpy(music)
    return {"key": sample.key, "video": torch.from_numpy(zv).to(dtype), "audio": torch.from_numpy(za).to(dtype),
            "video_times": torch.from_numpy(tv), "audio_times": torch.from_numpy(ta),
            "caption": meta["caption"], "meta": meta, "info": info, "voice": voice, "music": music}


class LatentDataset(IterableDataset):
    """Clips of latent shards, for `torch.utils.data.DataLoader` (use `collate_latents` to batch).

    ``shuffle`` reorders shards and the clips inside each shard, anew each epoch, from ``seed``; shards (or,
    with fewer shards than readers, clips) are split across DataLoader workers and distributed ranks.
    ``epochs=None`` repeats forever. ``strict=False`` skips unreadable samples (counted per process in
    ``skipped``); a latent from another VAE is an error either way.
    """

    def __init__(self, shards, *, video_vae=None, audio_vae=None, shuffle: bool = False, seed: int = 0,
                 epochs: int | None = 1, strict: bool = True, dtype: torch.dtype = torch.float32, split: bool = True):
        self.shards = expand_shards(shards if isinstance(shards, (list, tuple)) else [shards])
        self.split = split           # each reader (DataLoader worker x rank) reads its share; False: every clip
        self.expect = {"video": expected_vae(video_vae), "audio": expected_vae(audio_vae)}
        self.shuffle, self.seed, self.epochs, self.strict, self.dtype = shuffle, seed, epochs, strict, dtype
        self.skipped: dict[str, int] = {}
        self.epoch = 0

    def set_epoch(self, epoch: int):
        self.epoch = epoch

    def _bad(self, what: BadSample | DuettoError):
        if self.strict:
            raise what if isinstance(what, DuettoError) else DuettoError(str(what))
        reason = what.reason if isinstance(what, BadSample) else "bad_latents"
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        log.warning("skipped %s", what)

    def _check_vae(self, clip: dict, name: str):
        for stream, want in self.expect.items():
            got = clip["info"]["vae"][stream]
            if want is None:
                self.expect[stream] = got          # the first clip read sets what every other must match
            elif (why := _vae_mismatch(got, want)) is not None:
                raise DuettoError(f"{name}: latents from a different {stream} VAE ({why})")

    def _samples(self, shard: str, rng) -> Iterator[Sample]:
        items = list(iter_shard(shard, required=MEMBERS))
        if self.shuffle:
            rng.shuffle(items)
        yield from items

    def __iter__(self):
        reader, readers, _ = reader_slot() if self.split else (0, 1, None)
        by_shard = len(self.shards) >= readers
        epoch = self.epoch
        while self.epochs is None or epoch < self.epoch + self.epochs:
            shards = list(self.shards)
            if self.shuffle:
                np.random.default_rng([self.seed, epoch]).shuffle(shards)
            if by_shard:
                shards = shards[reader::readers]
            rng, i, seen, yielded = np.random.default_rng([self.seed, epoch, 1]), -1, 0, 0
            for shard in shards:
                for item in self._samples(shard, rng):
                    i += 1
                    if not by_shard and i % readers != reader:
                        continue
                    seen += 1
                    if isinstance(item, BadSample):
                        self._bad(item)
                        continue
                    try:
                        clip = read_latent_sample(item, self.dtype)
                    except DuettoError as e:
                        self._bad(e)
                        continue
                    self._check_vae(clip, item.name)
                    yielded += 1
                    yield clip
            if self.epochs is None and seen == 0:
                return              # more readers than clips: this one has none, the others go on
            if self.epochs is None and yielded == 0:
                raise DuettoError(f"no usable latent clips in {len(shards)} shard(s); refusing to loop forever")
            epoch += 1


def iter_latents(shards, *, video_vae=None, audio_vae=None, strict: bool = True,
                 dtype: torch.dtype = torch.float32) -> Iterator[dict]:
    """Every clip of ``shards`` (files, folders, globs) once, in order, in every process (a training job's processes
    each hold the whole set and take their share of each step's draw, `duetto.data.draw`)."""
    return iter(LatentDataset(shards, video_vae=video_vae, audio_vae=audio_vae, strict=strict, dtype=dtype,
                              split=False))


def load_latents(shards, **kw) -> list[dict]:
    """All clips in memory (latents are small): a list to index, split or shuffle. Same options as `iter_latents`."""
    return list(iter_latents(shards, **kw))


def collate_latents(batch: list[dict]) -> dict:
    """Stack ``video`` ``[B, C_v, L_v, h, w]``, ``audio`` ``[B, C_a, L_a]`` and their times; lists for the rest.
    Clips of different lengths cannot share a batch (`DuettoError`)."""
    shapes = {(tuple(b["video"].shape), tuple(b["audio"].shape)) for b in batch}
    if len(shapes) > 1:
        raise DuettoError(f"clips of different latent shapes in one batch ({sorted(shapes)[:2]}); "
                          "encode clips of one length or use batch_size=1")
    out = {k: torch.stack([b[k] for b in batch]) for k in ("video", "audio", "video_times", "audio_times")}
    return {**out, **{k: [b.get(k) for b in batch] for k in ("key", "caption", "meta", "info", "voice", "music")}}
