"""The video VAE: causal 3D convolutions, 8x8 spatial compression, temporal x4 (or x1, frame by frame),
a KL bottleneck. Video in and out is ``[B, 3, T, H, W]`` in [-1, 1]; latents are ``[B, C, L, H/8, W/8]``.

Time: with temporal factor k, latent 0 covers frame 0 alone and latent i covers frames ``1+k(i-1) ... k*i``
(the start is padded with k-1 copies of frame 0). A clip of T frames gives ``L = 1 + ceil((T-1)/k)`` latents
(the end is padded by repeating the last frame) and decodes to ``1 + k(L-1)`` frames.
``timestamps(L)`` is the centre of each latent's frames in seconds, at the config's ``fps``.

With ``shortcut`` (after DC-AE's residual autoencoding), the first 12 latent channels carry a thumbnail: the
mean colour of each 4x4 pixel block over the latent's k frames, added to what the encoder computes; the decoder
adds that thumbnail, repeated back to full size, to its own output. The networks then learn only what the
thumbnail misses, which a freshly initialised model has no way to pass through otherwise.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from einops import rearrange, reduce, repeat
from torch import nn

from duetto.data.autoencoder import DiagonalGaussian, LatentAutoencoder, start_narrow
from duetto.data.errors import DuettoError

from .layers import CausalConv3d, Downsample, FrameNorm, ResBlock, Upsample, _groups

SPATIAL_FACTOR = 8
THUMB = 4                                   # shortcut: pixels per thumbnail cell (side)
THUMB_CHANNELS = 3 * (SPATIAL_FACTOR // THUMB) ** 2      # 12: three colours x 2 x 2 cells per latent position


@dataclass(frozen=True)
class VideoVAEConfig:
    patch_size: int = 4                     # space-to-depth first; then len(channel_mults) - 1 halvings
    base_channels: int = 48
    channel_mults: tuple = (1, 2)           # patch 4 x one halving = 8x8 spatial compression
    res_blocks: int = 1
    temporal_factor: int = 4                # 4 or 1
    latent_channels: int = 16
    fps: float = 25.0                       # the clock of timestamps()
    kl_weight: float = 1e-6
    ssim_weight: float = 0.2
    motion_weight: float = 0.0              # extra L1 weight on pixels that change between frames (losses.vae_loss)
    shortcut: bool = False                  # thumbnail in the first 12 latent channels (module docstring)
    latent_scale: float = 1.0               # latents = (mean - shift) * scale
    latent_shift: float = 0.0

    def __post_init__(self):
        if self.temporal_factor not in (1, 2, 4):
            raise DuettoError(f"temporal_factor must be 1, 2 or 4, not {self.temporal_factor}")
        if self.patch_size * 2 ** (len(self.channel_mults) - 1) != SPATIAL_FACTOR:
            raise DuettoError(f"patch_size x 2^(levels - 1) must be {SPATIAL_FACTOR}: "
                              f"{self.patch_size} with {len(self.channel_mults)} levels")
        if not (self.fps > 0 and self.latent_channels > 0 and self.base_channels > 0):
            raise DuettoError("fps, latent_channels and base_channels must be positive")
        if self.shortcut and self.latent_channels < THUMB_CHANNELS:
            raise DuettoError(f"shortcut needs at least {THUMB_CHANNELS} latent channels, not {self.latent_channels}")
        if self.motion_weight < 0:
            raise DuettoError("motion_weight must not be negative")


PRESETS = {
    # 64x64 on a CPU. Moving objects are a few per cent of the pixels of a synthetic scene: without the motion
    # weight a model trained for hours returned them as a still picture (the sync checker saw no motion). The
    # thumbnail shortcut made a fresh model 5 dB better after 600 updates (bench/vae_capacity.py), and frame by
    # frame (x1) kept moving objects 3 dB better than x4 after 400
    "tiny": VideoVAEConfig(motion_weight=20.0, shortcut=True),
    "tiny-x1": VideoVAEConfig(temporal_factor=1, motion_weight=20.0, shortcut=True),
    "base": VideoVAEConfig(patch_size=2, base_channels=96, channel_mults=(1, 2, 4), res_blocks=2,
                           latent_channels=16),
    "base-x1": VideoVAEConfig(patch_size=2, base_channels=96, channel_mults=(1, 2, 4), res_blocks=2,
                              latent_channels=16, temporal_factor=1),
}


def preset(name: str) -> VideoVAEConfig:
    if name not in PRESETS:
        raise DuettoError(f"unknown video VAE preset {name!r}: {', '.join(PRESETS)}")
    return PRESETS[name]


class _Stack(nn.Module):
    """Runs its layers in order, passing the cache to each."""

    def __init__(self, *layers):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x, cache=None):
        for layer in self.layers:
            x = layer(x, cache) if isinstance(layer, (CausalConv3d, ResBlock, Downsample, Upsample)) else layer(x)
        return x


def _stages(cfg: VideoVAEConfig) -> list[tuple[bool, bool]]:
    """(halve space, halve time) for each down stage, shallowest first. Time is halved at the deepest
    stages (cheapest); when there are more time halvings than spatial ones, time-only stages follow."""
    n_s, n_t = len(cfg.channel_mults) - 1, int(math.log2(cfg.temporal_factor))
    n = max(n_s, n_t)
    return [(i < n_s, i >= n - n_t) for i in range(n)]


class Encoder(nn.Module):
    """``[B, 3, T', H, W]`` (T' a multiple of the temporal factor) -> ``[B, 2C, T'/k, H/8, W/8]``."""

    def __init__(self, cfg: VideoVAEConfig):
        super().__init__()
        self.p = cfg.patch_size
        chans = [cfg.base_channels * m for m in cfg.channel_mults]
        stages = _stages(cfg)
        layers: list[nn.Module] = [CausalConv3d(3 * self.p ** 2, chans[0])]
        c = chans[0]
        for level in range(max(len(chans), len(stages))):
            c_out = chans[min(level, len(chans) - 1)]
            if level < len(chans):
                for _ in range(cfg.res_blocks):
                    layers.append(ResBlock(c, c_out))
                    c = c_out
            if level < len(stages):
                layers.append(Downsample(c, space=stages[level][0], time=stages[level][1]))
        layers += [ResBlock(c, c), FrameNorm(_groups(c), c), nn.SiLU(), CausalConv3d(c, 2 * cfg.latent_channels)]
        start_narrow(layers[-1].conv)
        self.net = _Stack(*layers)
        self.k, self.shortcut = cfg.temporal_factor, cfg.shortcut

    def forward(self, x, cache=None):
        h = self.net(rearrange(x, "b c t (h p1) (w p2) -> b (c p1 p2) t h w", p1=self.p, p2=self.p), cache)
        if not self.shortcut:
            return h
        thumb = thumbnail(x, self.k)
        return torch.cat([h[:, :THUMB_CHANNELS] + thumb, h[:, THUMB_CHANNELS:]], dim=1)


class Decoder(nn.Module):
    """``[B, C, L, h, w]`` -> ``[B, 3, k L, 8h, 8w]`` (the caller drops the k - 1 leading frames)."""

    def __init__(self, cfg: VideoVAEConfig):
        super().__init__()
        self.p = cfg.patch_size
        chans = [cfg.base_channels * m for m in cfg.channel_mults]
        stages = _stages(cfg)
        c = chans[-1]
        layers: list[nn.Module] = [CausalConv3d(cfg.latent_channels, c), ResBlock(c, c)]
        for level in reversed(range(max(len(chans), len(stages)))):
            if level < len(stages):
                layers.append(Upsample(c, space=stages[level][0], time=stages[level][1]))
            if level < len(chans):
                for _ in range(cfg.res_blocks):
                    layers.append(ResBlock(c, chans[level]))
                    c = chans[level]
        layers += [FrameNorm(_groups(c), c), nn.SiLU(), CausalConv3d(c, 3 * self.p ** 2)]
        self.net = _Stack(*layers)
        self.k, self.shortcut = cfg.temporal_factor, cfg.shortcut

    def forward(self, z, cache=None):
        x = rearrange(self.net(z, cache), "b (c p1 p2) t h w -> b c t (h p1) (w p2)", p1=self.p, p2=self.p)
        return x + unthumbnail(z[:, :THUMB_CHANNELS], self.k) if self.shortcut else x


def thumbnail(video: torch.Tensor, k: int) -> torch.Tensor:
    """``[B, 3, kL, H, W]`` -> ``[B, 12, L, H/8, W/8]``: the mean of each 4x4 block over each k frames, the
    2x2 cells under a latent position stacked on channels (colour, row, column)."""
    t = reduce(video, "b c (l k) (h s1) (w s2) -> b c l h w", "mean", k=k, s1=THUMB, s2=THUMB)
    return rearrange(t, "b c l (h q1) (w q2) -> b (c q1 q2) l h w", q1=2, q2=2)


def unthumbnail(z: torch.Tensor, k: int) -> torch.Tensor:
    """`thumbnail`'s inverse up to the block means: ``[B, 12, L, h, w]`` -> ``[B, 3, kL, 8h, 8w]``."""
    t = rearrange(z, "b (c q1 q2) l h w -> b c l (h q1) (w q2)", q1=2, q2=2)
    return repeat(t, "b c l h w -> b c (l k) (h s1) (w s2)", k=k, s1=THUMB, s2=THUMB)


class VideoVAE(LatentAutoencoder):
    config_class = VideoVAEConfig

    def __init__(self, config: VideoVAEConfig):
        super().__init__(config)
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)

    # -- the protocol --------------------------------------------------------------------------------
    @property
    def latent_channels(self) -> int:
        return self.config.latent_channels

    @property
    def temporal_factor(self) -> int:
        return self.config.temporal_factor

    @property
    def latents_per_second(self) -> float:
        return self.config.fps / self.config.temporal_factor

    def latent_length(self, frames: int) -> int:
        return 1 + -(-(frames - 1) // self.temporal_factor)

    def frame_count(self, latents: int) -> int:
        return 1 + self.temporal_factor * (latents - 1)

    def timestamps(self, n: int) -> np.ndarray:
        """Seconds: the centre of the frames each of ``n`` latents covers (latent 0: frame 0 alone)."""
        k, i = self.temporal_factor, np.arange(n, dtype=np.float64)
        centre = np.where(i == 0, 0.0, k * i - (k - 1) / 2)
        return centre / self.config.fps

    def encode_dist(self, video: torch.Tensor, cache: dict | None = None, first: bool = True) -> DiagonalGaussian:
        """``video [B, 3, T, H, W]`` in [-1, 1] -> the posterior over raw latents ``[B, C, L, H/8, W/8]``.
        With a ``cache`` (chunked use) only the ``first`` chunk is padded at the start; later chunks must
        hold a multiple of ``temporal_factor`` frames."""
        _check_video(video)
        k = self.temporal_factor
        if first:
            video = torch.cat([video[:, :, :1].expand(-1, -1, k - 1, -1, -1), video], dim=2)
        pad = -video.shape[2] % k
        if pad:
            video = torch.cat([video, video[:, :, -1:].expand(-1, -1, pad, -1, -1)], dim=2)
        return DiagonalGaussian(self.encoder(video, cache))

    def encode(self, video: torch.Tensor, sample: bool = False) -> torch.Tensor:
        d = self.encode_dist(video)
        return self.normalise(d.sample() if sample else d.mean)

    def decode_raw(self, z: torch.Tensor, cache: dict | None = None, first: bool = True) -> torch.Tensor:
        x = self.decoder(z, cache)
        return x[:, :, self.temporal_factor - 1:] if first else x

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Normalised latents ``[B, C, L, h, w]`` -> video ``[B, 3, 1 + k(L-1), 8h, 8w]`` (not clamped)."""
        return self.decode_raw(self.denormalise(z))

    def forward(self, video: torch.Tensor, sample: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """The training pass (goes through a DDP wrapper): ``(reconstruction [B, 3, T, H, W], KL)``."""
        post = self.encode_dist(video)
        rec = self.decode_raw(post.sample() if sample else post.mean)[:, :, : video.shape[2]]
        return rec, post.kl()

    # -- long clips in bounded memory --------------------------------------------------------------------
    @torch.no_grad()
    def chunked_encode(self, video: torch.Tensor, chunk_latents: int = 4) -> torch.Tensor:
        """Same as ``encode`` (means), ``chunk_latents`` latents at a time, carrying each causal
        convolution's last input frames from one chunk to the next."""
        k, cache, out = self.temporal_factor, {}, []
        t, first_n = video.shape[2], 1 + k * (chunk_latents - 1)
        out.append(self.encode_dist(video[:, :, :first_n], cache, first=True).mean)
        for s in range(first_n, t, k * chunk_latents):
            out.append(self.encode_dist(video[:, :, s: s + k * chunk_latents], cache, first=False).mean)
        return self.normalise(torch.cat(out, dim=2))

    @torch.no_grad()
    def chunked_decode(self, z: torch.Tensor, chunk_latents: int = 4) -> torch.Tensor:
        return torch.cat(list(self.decode_chunks(z, chunk_latents)), dim=2)

    @torch.no_grad()
    def decode_chunks(self, z: torch.Tensor, chunk_latents: int = 4):
        """``chunked_decode``'s parts in order (``[B, 3, frames, H, W]`` each), so a caller can convert or write each
        one and never hold a long clip's float frames."""
        raw, cache = self.denormalise(z), {}
        for s in range(0, raw.shape[2], chunk_latents):
            yield self.decode_raw(raw[:, :, s: s + chunk_latents], cache, first=(s == 0))


def _check_video(video: torch.Tensor):
    if video.ndim != 5 or video.shape[1] != 3:
        raise DuettoError(f"video must be [B, 3, T, H, W], got {tuple(video.shape)}")
    if video.shape[-1] % SPATIAL_FACTOR or video.shape[-2] % SPATIAL_FACTOR:
        raise DuettoError(f"height and width must be multiples of {SPATIAL_FACTOR}, got {tuple(video.shape[-2:])}")


def to_model_range(frames_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 ``[B, T, H, W, 3]`` -> float ``[B, 3, T, H, W]`` in [-1, 1]."""
    return frames_uint8.permute(0, 4, 1, 2, 3).float().div(127.5).sub(1.0)


def to_uint8(video: torch.Tensor) -> torch.Tensor:
    """float ``[B, 3, T, H, W]`` in [-1, 1] -> uint8 ``[B, T, H, W, 3]``."""
    return video.clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8).permute(0, 2, 3, 4, 1)
