"""Attention with rotary angles and the time-locked window between the two streams.

The window is applied as a band, not a dense mask: with the keys in time order (both streams' tokens are), the keys
a query may attend are one contiguous run, and so are those of a chunk of consecutive queries; each chunk gathers
its run and attends over it (one batched call for all chunks). Cost and memory grow with the clip's length, not
its square; the band is found once per forward pass (`time_band`) and shared by every cross-modal block.
`time_window_mask` is the dense reference it matches.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

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


CHUNK = 32          # queries that share one run of keys in `banded_attention`


@dataclass(frozen=True)
class Band:
    """The keys each query may attend, for attention in chunks of ``chunk`` consecutive queries: chunk ``c`` reads
    the run of keys ``index [B, nC, K]`` (one contiguous run in key order, wide enough for all its queries) and
    ``mask [B, 1, nC, chunk, K]`` says which of them each of its queries may attend (queries past ``Lq`` pad the
    last chunk)."""
    index: torch.Tensor
    mask: torch.Tensor
    queries: int

    @property
    def chunk(self) -> int:
        return self.mask.shape[-2]

    def allowed(self) -> torch.Tensor:
        """The dense ``[B, Lq, Lk]`` boolean it stands for (tests, plots)."""
        b, n, k = self.index.shape
        lk = int(self.index.max()) + 1
        out = torch.zeros(b, n, self.chunk, lk, dtype=torch.long)
        idx = self.index[:, :, None, :].expand(b, n, self.chunk, k)
        out.scatter_add_(-1, idx, self.mask[:, 0].long())
        return (out > 0).reshape(b, n * self.chunk, lk)[:, : self.queries]


def key_range(query_times: torch.Tensor, key_times: torch.Tensor, window: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(lo, hi)`` ``[B, Lq]``: each query may attend keys ``lo <= j < hi`` (keys in time order), those within
    ``window`` seconds, or its nearest key (the first on a tie) when there is none, as `time_window_mask`."""
    qt, kt = query_times.double().contiguous(), key_times.double().contiguous()
    if bool((kt[:, 1:] < kt[:, :-1]).any()):
        raise ValueError("time_band needs keys in time order")
    lk = kt.shape[1]
    lo = torch.searchsorted(kt, qt - window - 1e-9)                         # first key at or after t - window
    hi = torch.searchsorted(kt, qt + window + 1e-9, right=True)             # first key after t + window
    empty = hi <= lo
    if bool(empty.any()):
        pos = torch.searchsorted(kt, qt).clamp(1, lk - 1) if lk > 1 else torch.zeros_like(lo)
        before, after = kt.gather(1, (pos - 1).clamp(min=0)), kt.gather(1, pos)
        nearest = torch.where((qt - before).abs() <= (after - qt).abs(), (pos - 1).clamp(min=0), pos)
        nearest = torch.searchsorted(kt, kt.gather(1, nearest))            # the first key at that time
        lo, hi = torch.where(empty, nearest, lo), torch.where(empty, nearest + 1, hi)
    return lo, hi


def time_band(query_times: torch.Tensor, key_times: torch.Tensor, window: float | None, chunk: int = CHUNK) -> Band | None:
    """The keys within ``window`` seconds of each query (``[B, Lq]``, ``[B, Lk]`` times, keys in time order), as
    `time_window_mask` allows them (a query with none keeps its nearest key). ``None`` without a window."""
    if window is None:
        return None
    lo, hi = key_range(query_times, key_times, window)
    b, lq = lo.shape
    lk = key_times.shape[1]
    n = -(-lq // chunk)
    pad = n * chunk - lq                                                    # padding queries repeat the last one
    lo = torch.cat([lo, lo[:, -1:].expand(b, pad)], 1).view(b, n, chunk)
    hi = torch.cat([hi, hi[:, -1:].expand(b, pad)], 1).view(b, n, chunk)
    start = lo.min(-1).values                                               # [B, nC]
    width = int((hi.max(-1).values - start).max())
    index = start[..., None] + torch.arange(width, device=lo.device)        # [B, nC, K]
    mask = (index[:, :, None, :] >= lo[..., None]) & (index[:, :, None, :] < hi[..., None])
    return Band(index.clamp(max=lk - 1), mask[:, None], lq)


def banded_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, band: Band) -> torch.Tensor:
    """``q [B, h, Lq, d]`` over the keys and values ``[B, h, Lk, d]`` its band allows -> ``[B, h, Lq, d]``:
    each chunk of queries attends to its own run of keys, one batched attention call for all chunks."""
    b, h, lq, d = q.shape
    n, kw, c = band.index.shape[1], band.index.shape[2], band.chunk
    q = rearrange(F.pad(q, (0, 0, 0, n * c - lq)), "b h (n c) d -> (b n) h c d", n=n)
    flat = band.index.reshape(b, 1, n * kw, 1).expand(b, h, n * kw, d)
    kg, vg = (rearrange(x.gather(2, flat), "b h (n k) d -> (b n) h k d", n=n) for x in (k, v))
    mask = rearrange(band.mask, "b one n c k -> (b n) one c k")
    y = F.scaled_dot_product_attention(q, kg, vg, attn_mask=mask)          # 4-D: the fused kernels take it
    return rearrange(y, "(b n) h c d -> b h (n c) d", b=b)[:, :, :lq]


class Attention(nn.Module):
    """Multi-head attention of ``x [B, Lq, dim]`` over ``context [B, Lk, context_dim]`` (``x`` itself when
    ``None``), with RMS-normalised queries and keys, optional rotary angles for each side and an optional
    boolean mask ``[B, 1, Lq, Lk]`` (True = may attend) or a `Band` of keys per query. ``exchange`` (self-attention
    under sequence parallelism, `joint.sequence.SequenceParallel`) trades tokens for heads around the attention."""

    def __init__(self, dim: int, heads: int, context_dim: int | None = None):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(context_dim or dim, 2 * dim)
        self.q_norm, self.k_norm = nn.RMSNorm(dim // heads), nn.RMSNorm(dim // heads)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None, *, q_rope=None, k_rope=None,
                mask: torch.Tensor | None = None, band: Band | None = None, exchange=None) -> torch.Tensor:
        context = x if context is None else context
        q = rearrange(self.q(x), "b l (h d) -> b h l d", h=self.heads)
        k, v = rearrange(self.kv(context), "b l (two h d) -> two b h l d", two=2, h=self.heads)
        q, k = self.q_norm(q), self.k_norm(k)
        if q_rope is not None:
            q = apply_rope(q, *q_rope)
        if k_rope is not None:
            k = apply_rope(k, *k_rope)
        if exchange is not None:            # sequence parallel: every token of my heads (joint.sequence)
            q, k, v = (exchange.heads_from_sequence(t) for t in (q, k, v))
        y = banded_attention(q, k, v, band) if band is not None else F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        if exchange is not None:
            y = exchange.sequence_from_heads(y)
        return self.out(rearrange(y, "b h l d -> b l (h d)"))
