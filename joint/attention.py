"""Attention with rotary angles and the time-locked mask between the two streams."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from .rope import apply_rope


def time_window_mask(query_times: torch.Tensor, key_times: torch.Tensor, window: float | None) -> torch.Tensor | None:
    """Boolean ``[B, 1, Lq, Lk]``: True where ``|t_query - t_key| <= window`` seconds (``None``: no mask).

    A query with no key inside the window (a window narrower than the other stream's token spacing) keeps
    its nearest key, so no row of the softmax is empty."""
    if window is None:
        return None
    d = (query_times[:, :, None].double() - key_times[:, None, :].double()).abs()     # [B, Lq, Lk]
    allowed = d <= window + 1e-9
    nearest = torch.zeros_like(allowed).scatter_(-1, d.argmin(dim=-1, keepdim=True), True)
    return (allowed | nearest)[:, None]


class Attention(nn.Module):
    """Multi-head attention of ``x [B, Lq, dim]`` over ``context [B, Lk, context_dim]`` (``x`` itself when
    ``None``), with RMS-normalised queries and keys, optional rotary angles for each side and an optional
    boolean mask ``[B, 1, Lq, Lk]`` (True = may attend)."""

    def __init__(self, dim: int, heads: int, context_dim: int | None = None):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(context_dim or dim, 2 * dim)
        self.q_norm, self.k_norm = nn.RMSNorm(dim // heads), nn.RMSNorm(dim // heads)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None, *, q_rope=None, k_rope=None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        context = x if context is None else context
        q = rearrange(self.q(x), "b l (h d) -> b h l d", h=self.heads)
        k, v = rearrange(self.kv(context), "b l (two h d) -> two b h l d", two=2, h=self.heads)
        q, k = self.q_norm(q), self.k_norm(k)
        if q_rope is not None:
            q = apply_rope(q, *q_rope)
        if k_rope is not None:
            k = apply_rope(k, *k_rope)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.out(rearrange(y, "b h l d -> b l (h d)"))
