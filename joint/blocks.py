"""The joint model's blocks: one stream's transformer block, and the time-locked bridge between the streams.

Both are modulated adaLN-zero style from a conditioning vector ``c [B, dim]`` (flow time + pooled caption):
at initialisation every gated branch adds zero, so a block starts as the identity.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .attention import Attention, time_band
from .config import JointConfig


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``x [B, L, dim]`` scaled and shifted per clip by ``[B, dim]`` vectors."""
    return x * (1 + scale[:, None]) + shift[:, None]


def zero_linear(d_in: int, d_out: int, bias: bool = True) -> nn.Linear:
    layer = nn.Linear(d_in, d_out, bias=bias)
    nn.init.zeros_(layer.weight)
    if bias:
        nn.init.zeros_(layer.bias)
    return layer


class FlowTimeEmbedding(nn.Module):
    """Flow time ``t [B]`` in [0, 1] -> ``[B, dim]``: sinusoids of ``1000 t`` through a two-layer MLP."""

    def __init__(self, dim: int, freqs: int = 128):
        super().__init__()
        self.register_buffer("freqs", torch.exp(-math.log(10_000) * torch.arange(freqs) / freqs), persistent=False)
        self.mlp = nn.Sequential(nn.Linear(2 * freqs, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        a = 1000 * t.float()[:, None] * self.freqs.float()
        return self.mlp(torch.cat([a.cos(), a.sin()], dim=-1).to(self.mlp[0].weight.dtype))


class StreamBlock(nn.Module):
    """``x [B, L, dim]``: self-attention (rotary over time and grid), attention to the caption tokens, MLP."""

    def __init__(self, cfg: JointConfig):
        super().__init__()
        d = cfg.dim
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(d, cfg.heads)
        self.norm_text = nn.LayerNorm(d, eps=1e-6)
        self.text_attn = Attention(d, cfg.heads)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        hidden = int(d * cfg.mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, d))
        self.ada = nn.Sequential(nn.SiLU(), zero_linear(d, 6 * d))

    def forward(self, x, c, rope, text, text_mask, exchange=None):
        sh1, sc1, g1, sh2, sc2, g2 = self.ada(c).chunk(6, dim=-1)
        x = x + g1[:, None] * self.attn(modulate(self.norm1(x), sh1, sc1), q_rope=rope, k_rope=rope, exchange=exchange)
        x = x + self.text_attn(self.norm_text(x), text, mask=text_mask)
        return x + g2[:, None] * self.mlp(modulate(self.norm2(x), sh2, sc2))


class CrossModalBlock(nn.Module):
    """Bidirectional time-locked attention: video tokens attend to audio tokens within ``window`` seconds of
    their own time and audio tokens to video tokens likewise; both directions read the streams as they were
    before this block. Rotary angles here are the time part only, so scores depend on time differences."""

    def __init__(self, cfg: JointConfig):
        super().__init__()
        d = cfg.dim
        self.window = cfg.window
        self.video_norm = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.audio_norm = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.video_from_audio = Attention(d, cfg.heads)
        self.audio_from_video = Attention(d, cfg.heads)
        self.video_ada = nn.Sequential(nn.SiLU(), zero_linear(d, 3 * d))
        self.audio_ada = nn.Sequential(nn.SiLU(), zero_linear(d, 3 * d))

    def forward(self, v, a, cv, ca, video_times, audio_times, video_rope, audio_rope, keep=None, bands=None,
                shard=None, key_ropes=None):
        """``v [B, Lv, dim]``, ``a [B, La, dim]``, their conditioning ``[B, dim]``, token times ``[B, L]`` (s)
        and time-only rotary angles -> the updated ``(v, a)``. ``keep [B]`` (bool): clips whose streams meet
        here; for the others the block is the identity (``None``: all meet). ``bands``: the window's
        ``(video -> audio, audio -> video)`` `attention.Band`s when the caller found them once for every block.
        Under sequence parallelism (``shard``, `joint.sequence.Shard`) ``v`` and ``a`` are this rank's tokens; the
        keys each direction reads are its own plus the neighbours' halo, with ``key_ropes`` ``(audio, video)``."""
        shv, scv, gv = self.video_ada(cv).chunk(3, dim=-1)
        sha, sca, ga = self.audio_ada(ca).chunk(3, dim=-1)
        if keep is not None:
            if not keep.any():
                return v, a
            k = keep.to(gv.dtype)[:, None]
            gv, ga = gv * k, ga * k
        nv, na = modulate(self.video_norm(v), shv, scv), modulate(self.audio_norm(a), sha, sca)
        if bands is None:
            bands = time_band(video_times, audio_times, self.window), time_band(audio_times, video_times, self.window)
        ka, kv, ra, rv = na, nv, audio_rope, video_rope
        if shard is not None:
            ka, kv = shard.halo("audio", na), shard.halo("video", nv)
            ra, rv = key_ropes
        to_audio = self.video_from_audio(nv, ka, q_rope=video_rope, k_rope=ra, band=bands[0])
        to_video = self.audio_from_video(na, kv, q_rope=audio_rope, k_rope=rv, band=bands[1])
        return v + gv[:, None] * to_audio, a + ga[:, None] * to_video


class FinalLayer(nn.Module):
    """adaLN-modulated norm and a zero-initialised projection back to patch values."""

    def __init__(self, dim: int, out: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.ada = nn.Sequential(nn.SiLU(), zero_linear(dim, 2 * dim))
        self.proj = zero_linear(dim, out)

    def forward(self, x, c):
        shift, scale = self.ada(c).chunk(2, dim=-1)
        return self.proj(modulate(self.norm(x), shift, scale))
