"""Rotary position embeddings over seconds (shared by both streams) and over the video latent grid.

Each head's dimensions are split in three parts: ``time`` (rotated by the token's time in seconds, with the
same frequencies in both streams, so a video token and an audio token at the same instant share a phase),
``row`` and ``col`` (rotated by a video token's place on the latent grid; audio tokens and every token in
cross-modal attention use position 0 there, i.e. no rotation). Attention scores then depend on the
difference of two tokens' times, never on the times themselves.
"""
from __future__ import annotations

import math

import torch
from einops import rearrange

from .config import JointConfig


def split_dims(cfg: JointConfig) -> tuple[int, int, int]:
    """Rotated pairs per head for (time, row, col); they sum to ``head_dim / 2``."""
    pairs = cfg.head_dim // 2
    t = max(1, round(pairs * cfg.time_rope_share))
    r = (pairs - t) // 2
    return t, r, pairs - t - r


def time_frequencies(cfg: JointConfig) -> torch.Tensor:
    """Angular frequencies in rad/s, geometric from ``2*pi/rope_min_period`` down to ``2*pi/rope_max_period``
    (float64, ``[n_time_pairs]``)."""
    n = split_dims(cfg)[0]
    periods = torch.logspace(math.log10(cfg.rope_min_period), math.log10(cfg.rope_max_period), n, dtype=torch.float64)
    return 2 * math.pi / periods


def grid_frequencies(n: int, base: float = 100.0) -> torch.Tensor:
    """Radians per grid cell for ``n`` pairs: 1 down to ``1/base`` (float64)."""
    return base ** (-torch.arange(n, dtype=torch.float64) / max(n, 1))


def rope_angles(cfg: JointConfig, times: torch.Tensor, rows: torch.Tensor | None = None,
                cols: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(cos, sin)`` each ``[B, L, head_dim / 2]`` for tokens at ``times [B, L]`` seconds and grid places
    ``rows``/``cols [B, L]`` (``None``: position 0, no rotation). Angles are formed in float64."""
    nt, nr, nc = split_dims(cfg)
    t = times.to(torch.float64)[..., None] * time_frequencies(cfg).to(times.device)
    zeros = torch.zeros(*times.shape, nr + nc, dtype=torch.float64, device=times.device)
    if rows is None and cols is None:
        space = zeros
    else:
        r = rows.to(torch.float64)[..., None] * grid_frequencies(nr).to(times.device)
        c = cols.to(torch.float64)[..., None] * grid_frequencies(nc).to(times.device)
        space = torch.cat([r, c], dim=-1)
    angles = torch.cat([t, space], dim=-1)
    return angles.cos().float(), angles.sin().float()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate consecutive pairs of ``x [B, heads, L, head_dim]`` by the angles ``[B, L, head_dim / 2]``."""
    pairs = rearrange(x.float(), "b h l (n two) -> b h l n two", two=2)
    a, b = pairs[..., 0], pairs[..., 1]
    cos, sin = cos[:, None], sin[:, None]
    out = torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1)
    return rearrange(out, "b h l n two -> b h l (n two)").to(x.dtype)
