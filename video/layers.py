"""Causal 3D building blocks for the video VAE. Tensors are ``[B, C, T, H, W]``.

Causal in time: output frame t depends on input frames <= t only, and normalisation is per frame, so a
clip can be processed in chunks with a cache (the last input frames of each causal convolution) and give
the same result as processing it whole. A cache is a plain dict passed down the forward calls; ``None``
means "the whole clip at once", and the start of the clip is padded by repeating its first frame.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


class CausalConv3d(nn.Module):
    """3D convolution, causal in time. Kernel ``(kt, k, k)``, stride ``(st, s, s)``; the input's T must be a
    multiple of ``st``. Output frame j sees input frames ``j*st - (kt - st) ... j*st + st - 1``."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, stride_t: int = 1, stride_s: int = 1,
                 kernel_t: int | None = None):
        super().__init__()
        kt = kernel if kernel_t is None else kernel_t
        self.pad_t = kt - stride_t
        self.stride_t = stride_t
        if self.pad_t < 0:
            raise ValueError("temporal kernel smaller than its stride")
        self.conv = nn.Conv3d(c_in, c_out, (kt, kernel, kernel), stride=(stride_t, stride_s, stride_s),
                              padding=(0, kernel // 2, kernel // 2))

    def forward(self, x: torch.Tensor, cache: dict | None = None) -> torch.Tensor:
        if x.shape[2] % self.stride_t:
            raise ValueError(f"{x.shape[2]} frames is not a multiple of the temporal stride {self.stride_t}")
        if self.pad_t:
            prev = None if cache is None else cache.get(self)
            if prev is None:                                   # start of the clip: repeat frame 0
                prev = x[:, :, :1].expand(-1, -1, self.pad_t, -1, -1)
            x = torch.cat([prev, x], dim=2)
            if cache is not None:
                cache[self] = x[:, :, -self.pad_t:].detach()
        return self.conv(x)


class FrameNorm(nn.GroupNorm):
    """GroupNorm over each frame on its own (so statistics never reach across time)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        y = super().forward(rearrange(x, "b c t h w -> (b t) c h w"))
        return rearrange(y, "(b t) c h w -> b c t h w", b=b)


def _groups(c: int) -> int:
    return next(g for g in (32, 16, 8, 4, 2, 1) if c % g == 0)


class ResBlock(nn.Module):
    """norm -> SiLU -> causal conv, twice, plus a (1x1 when the width changes) skip."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.norm1, self.conv1 = FrameNorm(_groups(c_in), c_in), CausalConv3d(c_in, c_out)
        self.norm2, self.conv2 = FrameNorm(_groups(c_out), c_out), CausalConv3d(c_out, c_out)
        self.skip = nn.Conv3d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, cache: dict | None = None) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)), cache)
        h = self.conv2(F.silu(self.norm2(h)), cache)
        return self.skip(x) + h


class Downsample(nn.Module):
    """Halve H and W when ``space``, T when ``time``: one causal strided convolution."""

    def __init__(self, c: int, space: bool = True, time: bool = False):
        super().__init__()
        self.conv = CausalConv3d(c, c, 3, stride_t=2 if time else 1, stride_s=2 if space else 1)

    def forward(self, x: torch.Tensor, cache: dict | None = None) -> torch.Tensor:
        return self.conv(x, cache)


class Upsample(nn.Module):
    """Double H and W when ``space`` (nearest, then a convolution), T when ``time``: a causal convolution
    makes two frames' worth of channels per frame, laid out in time (frame j -> frames 2j, 2j + 1)."""

    def __init__(self, c: int, space: bool = True, time: bool = False):
        super().__init__()
        self.r = 2 if time else 1
        self.space = space
        self.to_time = CausalConv3d(c, c * self.r) if time else None
        self.conv = CausalConv3d(c, c)

    def forward(self, x: torch.Tensor, cache: dict | None = None) -> torch.Tensor:
        if self.to_time is not None:
            x = rearrange(self.to_time(x, cache), "b (c r) t h w -> b c (t r) h w", r=self.r)
        if self.space:
            b = x.shape[0]
            x = F.interpolate(rearrange(x, "b c t h w -> (b t) c h w"), scale_factor=2.0, mode="nearest")
            x = rearrange(x, "(b t) c h w -> b c t h w", b=b)
        return self.conv(x, cache)
