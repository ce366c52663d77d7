"""Latent caches: decode clip shards once at the autoencoders' own rates, encode both streams and write latent
shards (the format is in `duetto.data.latent_format`), so training reads small tensors instead of mp4s.

Each clip is decoded from its start at the video VAE's ``fps``, a square ``size``, and the audio VAE's sample
rate and channels; the video is trimmed to ``1 + k * n`` frames (temporal factor ``k``) and the audio to the
same span; both are encoded with ``chunked_encode`` (bounded memory, the posterior mean: deterministic).
Unusable samples are skipped with a reason, as every other shard reader does.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from einops import rearrange
from tqdm import tqdm

from . import timebase
from .autoencoder import load_autoencoder
from .clip import Clip
from .errors import DuettoError
from .latent_format import FORMAT, LATENT_DTYPES, npy_bytes, vae_record
from .media import read_clip
from .schema import MAX_JSON_BYTES, parse_meta
from .shards import BadSample, ShardWriter, iter_shard

log = logging.getLogger("duetto.data")
DEFAULT_SIZE = 64


@dataclass(frozen=True)
class EncodeConfig:
    size: int | None = None          # square frame side in pixels; None: the video VAE config's ``size``, else 64
    dtype: str = "float32"           # latent storage: float32 (exact) or float16 (half the bytes)
    chunk_seconds: float = 4.0       # encode this much of a clip at a time (memory is bounded by it)
    shard_size: int = 500            # clips per latent shard
    device: str = "cpu"

    def __post_init__(self):
        if self.dtype not in LATENT_DTYPES:
            raise DuettoError(f"latent dtype must be one of {', '.join(LATENT_DTYPES)}, not {self.dtype!r}")
        if not (self.chunk_seconds > 0 and self.shard_size > 0 and (self.size is None or self.size > 0)):
            raise DuettoError("chunk_seconds, shard_size and size must be positive")


@dataclass
class EncodeReport:
    written: list[dict] = field(default_factory=list)   # {key, source, frames, seconds}
    skipped: list[dict] = field(default_factory=list)   # {source, reason}
    shards: list[str] = field(default_factory=list)


def modality(model) -> str | None:
    """"video" or "audio" for an autoencoder of that kind (duck-typed: ``data`` never imports ``video``/``audio``)."""
    if not (callable(getattr(model, "encode", None)) and callable(getattr(model, "timestamps", None))):
        return None
    if hasattr(model, "temporal_factor") and hasattr(model.config, "fps"):
        return "video"
    if hasattr(model, "sample_rate") and hasattr(model, "channels"):
        return "audio"
    return None


def load_vae(directory, want: str, device: str = "cpu"):
    """A saved autoencoder of modality ``want``; `DuettoError` for a missing/corrupt folder or the wrong kind."""
    model = load_autoencoder(directory)
    got = modality(model)
    if got != want:
        kind = f"{'an' if got == 'audio' else 'a'} {got} autoencoder" if got else "not an autoencoder"
        raise DuettoError(f"{directory}: is {kind} ({type(model).__name__}), not {want}")
    try:
        return model.to(torch.device(device))
    except (RuntimeError, AssertionError) as e:
        raise DuettoError(f"device {device!r} unusable ({str(e).splitlines()[0][:80]})") from None


def trim_to_latents(clip: Clip, temporal_factor: int) -> Clip:
    """The first ``1 + k * floor((T - 1) / k)`` frames and the audio spanning them: the longest prefix whose
    last latent covers real frames only."""
    frames = 1 + temporal_factor * ((clip.n_frames - 1) // temporal_factor)
    samples = timebase.n_samples_for_frames(frames, clip.fps, clip.sample_rate)
    return Clip(video=clip.video[:frames], audio=clip.audio[:, :samples], fps=clip.fps,
                sample_rate=clip.sample_rate, start=clip.start, metadata=clip.metadata)


class ClipEncoder:
    """Both autoencoders and the decode settings: clip bytes -> latent sample members."""

    def __init__(self, video_vae, audio_vae, cfg: EncodeConfig = EncodeConfig()):
        self.video_vae, self.audio_vae, self.cfg = video_vae, audio_vae, cfg
        self.size = cfg.size or getattr(video_vae.config, "size", None) or DEFAULT_SIZE
        self.fps = float(video_vae.config.fps)
        self.device = next(video_vae.parameters()).device
        self.records = {"video": vae_record(video_vae), "audio": vae_record(audio_vae)}
        try:   # one black frame: a size the VAE cannot take fails here, before any clip is decoded
            with torch.inference_mode():
                video_vae.encode(torch.zeros(1, 3, 1, self.size, self.size, device=self.device))
        except DuettoError as e:
            raise DuettoError(f"--size {self.size} does not suit the video VAE ({e})") from None

    def decode(self, src, name: str) -> Clip:
        """The whole clip from its start, at the VAEs' frame rate, sample rate and channels, ``size`` square."""
        return read_clip(src, fps=self.fps, size=self.size, sample_rate=self.audio_vae.sample_rate,
                         channels=self.audio_vae.channels, name=name)

    @torch.inference_mode()
    def encode(self, clip: Clip) -> tuple[np.ndarray, np.ndarray]:
        """(video latents float32 ``[C_v, L_v, h, w]``, audio latents float32 ``[C_a, L_a]``)."""
        v, a = self.video_vae, self.audio_vae
        video = rearrange(torch.from_numpy(clip.video), "t h w c -> 1 c t h w").float().div(127.5).sub(1.0)
        video = video.to(self.device)                       # = duetto.video.vae.to_model_range, [1, 3, T, H, W]
        audio = torch.from_numpy(clip.audio)[None].to(self.device)                          # [1, C, N]
        zv = v.chunked_encode(video, chunk_latents=max(1, round(self.cfg.chunk_seconds * v.latents_per_second)))
        if hasattr(a, "chunked_encode"):
            za = a.chunked_encode(audio, chunk_latents=max(1, round(self.cfg.chunk_seconds * a.latents_per_second)))
        else:                                               # e.g. a frozen EnCodec: no finite receptive field
            za = a.encode(audio)
        return zv[0].float().cpu().numpy(), za[0].float().cpu().numpy()

    def sample(self, key: str, decoded: Clip, meta: dict, source: dict) -> dict[str, bytes]:
        """The members of one latent sample (see `duetto.data.latent_format`) from a clip as `decode` gives it:
        trimmed to the video latent grid (`trim_to_latents`), then encoded."""
        clip = trim_to_latents(decoded, self.video_vae.temporal_factor)
        zv, za = self.encode(clip)
        dt = LATENT_DTYPES[self.cfg.dtype]
        zv, za = zv.astype(dt), za.astype(dt)
        if not (np.isfinite(zv).all() and np.isfinite(za).all()):
            raise DuettoError(f"latents are not finite in {self.cfg.dtype}")
        v, a = self.video_vae, self.audio_vae
        samples = clip.audio.shape[1]
        info = {
            "format": FORMAT, "key": key, "dtype": self.cfg.dtype, "source": source, "meta": meta,
            "video": {"fps": self.fps, "size": list(clip.size), "source_frames": decoded.n_frames,
                      "frames": clip.n_frames, "seconds": clip.duration, "temporal_factor": v.temporal_factor,
                      "latents": zv.shape[1], "latents_per_second": v.latents_per_second, "shape": list(zv.shape)},
            "audio": {"sample_rate": a.sample_rate, "channels": a.channels, "samples": samples,
                      "seconds": samples / a.sample_rate,
                      "padded_samples": round(za.shape[1] * a.sample_rate / a.latents_per_second) - samples,
                      "latents": za.shape[1], "latents_per_second": a.latents_per_second, "shape": list(za.shape)},
            "vae": self.records,
        }
        meta_json = _json_bytes(info)
        if len(meta_json) > MAX_JSON_BYTES:
            raise DuettoError(f"latent metadata larger than {MAX_JSON_BYTES >> 10} KiB")
        audio_times = np.asarray(a.timestamps(za.shape[1]), np.float64)
        return {"json": meta_json, "video.npy": npy_bytes(zv), "audio.npy": npy_bytes(za),
                "video_times.npy": npy_bytes(np.asarray(v.timestamps(zv.shape[1]), np.float64)),
                "audio_times.npy": npy_bytes(audio_times), **conditions(clip, audio_times)}


def conditions(clip: Clip, audio_times: np.ndarray) -> dict[str, bytes]:
    """The optional members: the voice embedding (left out for a silent clip) and the music features on the
    audio latent clock, from the clip's own sound (the joint model learns to follow them; at generation a
    reference recording takes their place)."""
    from duetto.joint.conditioning import music_features, voice_embedding
    out = {"music.npy": npy_bytes(music_features(clip.audio, clip.sample_rate, audio_times))}
    try:
        out["voice.npy"] = npy_bytes(voice_embedding(clip.audio, clip.sample_rate))
    except DuettoError:
        pass
    return out


def _json_bytes(info: dict) -> bytes:
    return json.dumps(info, ensure_ascii=False, sort_keys=True, allow_nan=False).encode("utf-8")


def encode_shards(shards: list[str], out, encoder: ClipEncoder, progress: bool = True) -> EncodeReport:
    """Encode every usable sample of ``shards`` (paths) into ``out/latents-NNNNNN.tar``; each shard is
    written atomically. Bad samples are skipped, logged and listed in the report with their reason."""
    report, seen = EncodeReport(), set()

    def skip(source: str, reason: str):
        report.skipped.append({"source": source, "reason": reason})
        log.warning("skipped %s: %s", source, reason)

    with ShardWriter(out, prefix="latents", max_count=encoder.cfg.shard_size) as writer, \
            tqdm(desc="encode", unit="clip", disable=not progress) as bar:
        for shard in shards:
            for item in iter_shard(shard):
                if isinstance(item, BadSample):
                    skip(f"{item.shard}:{item.key}", f"{item.reason}: {item.detail}")
                    continue
                if item.key in seen:
                    skip(item.name, "duplicate key (already encoded from an earlier shard)")
                    continue
                try:
                    meta = parse_meta(item.files["json"], f"{item.name}.json")
                    clip = encoder.decode(item.files["mp4"], f"{item.name}.mp4")
                    files = encoder.sample(item.key, clip, meta, {"shard": Path(shard).name, "key": item.key})
                except DuettoError as e:
                    skip(item.name, str(e))
                    continue
                writer.write(item.key, files)
                seen.add(item.key)
                video = json.loads(files["json"])["video"]
                report.written.append({"key": item.key, "source": item.name, "frames": video["frames"],
                                       "seconds": video["seconds"]})
                bar.update(1)
    report.shards = [str(p) for p in writer.paths]
    return report
