"""Video reconstruction losses and metrics. Videos are ``[B, 3, T, H, W]`` in [-1, 1]."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange

from .vae import VideoVAEConfig


def _gauss(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - size // 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    return g / g.sum()


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean SSIM (Gaussian window 11, sigma 1.5, on [0, 1] intensities, per channel and frame, valid region
    only) of two videos ``[B, 3, T, H, W]`` in [-1, 1]."""
    x = rearrange((a + 1) / 2, "b c t h w -> (b t c) 1 h w")
    y = rearrange((b + 1) / 2, "b c t h w -> (b t c) 1 h w")
    g = _gauss().to(x)
    w = (g[:, None] * g[None, :])[None, None]
    mu_x, mu_y = F.conv2d(x, w), F.conv2d(y, w)
    sxx = F.conv2d(x * x, w) - mu_x ** 2
    syy = F.conv2d(y * y, w) - mu_y ** 2
    sxy = F.conv2d(x * y, w) - mu_x * mu_y
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (sxx + syy + c2))
    return s.mean()


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """PSNR in dB over the whole batch, on [0, 1] intensities (inputs in [-1, 1], clamped)."""
    mse = ((a.clamp(-1, 1) - b.clamp(-1, 1)) / 2).pow(2).mean()
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-10))


def moving(video: torch.Tensor, threshold: float = 0.1) -> torch.Tensor:
    """``[B, 1, T, H, W]`` 0/1: pixels whose colour changes by more than ``threshold`` (of the [-1, 1] range,
    in any channel) from the previous frame or to the next: where a moving object was, is and will be."""
    d = (video[:, :, 1:] - video[:, :, :-1]).abs().amax(1, keepdim=True) > threshold
    m = torch.zeros_like(video[:, :1], dtype=torch.bool)
    m[:, :, 1:] |= d
    m[:, :, :-1] |= d
    return m.to(video.dtype)


def moving_error(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """``(sum of squared errors, number of values)`` on [0, 1] intensities over the moving pixels of ``b``
    (`moving`), ``a`` clamped: pooled over clips, the moving-pixel PSNR is ``10 log10(number / sum)``."""
    m = moving(b)
    return float((((a.clamp(-1, 1) - b) / 2) ** 2 * m).sum()), float(m.sum()) * b.shape[1]


def moving_psnr(se: float, n: float) -> float:
    """PSNR (dB) from `moving_error`'s pooled sums; NaN when nothing moved."""
    return float(10 * math.log10(n / max(se, 1e-10))) if n else float("nan")


def vae_loss(model, video: torch.Tensor, config: VideoVAEConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted L1 + ssim_weight * (1 - SSIM) + kl_weight * KL on a sampled latent. The L1 weighs pixels that
    change between frames (`moving`) ``1 + motion_weight`` times the others, normalised to a mean weight of 1,
    so that small moving objects are not traded for a slightly better background. ``model`` is a `VideoVAE`,
    possibly wrapped (DDP): it is called, not reached into."""
    cfg = config
    rec, kl = model(video)
    err = (rec - video).abs()
    mask = moving(video)
    w = 1 + cfg.motion_weight * mask
    l1 = (err * w).mean() / w.mean()
    s = ssim(rec, video)
    loss = l1 + cfg.ssim_weight * (1 - s) + cfg.kl_weight * kl
    moving_l1 = (err * mask).sum() / (mask.sum() * 3).clamp_min(1)
    return loss, {"l1": err.mean().item(), "moving_l1": moving_l1.item(), "ssim": s.item(), "kl": kl.item()}
