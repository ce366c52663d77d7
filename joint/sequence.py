"""Sequence parallelism: one clip's tokens split by time across the ranks of a process group.

Each rank holds the full latents (the sampler is unchanged and runs on every rank) but runs the transformer on its
own time span of each stream: the video tokens of frames ``[T r / W, T (r + 1) / W)`` and the audio tokens of the
same share, so the activations, which are most of the memory on a long clip, are divided by the ranks.

- **Self-attention** (Ulysses): after the rotary angles, queries, keys and values go all-to-all from "my tokens,
  every head" to "every token, my heads", attention runs on whole sequences, and the result goes back
  (`heads_from_sequence`, `sequence_from_heads`). The heads must divide by the ranks.
- **Time-locked cross-attention**: a rank's queries need only the other stream's tokens within ``± window`` of its
  span: its own, plus a halo from each neighbour (`halo`), found from the token times (the same on every rank).
  Nothing else is gathered.
- **Caption attention** needs nothing: the caption tokens are on every rank.
- The output tokens are gathered once at the end (`gather`), so every rank returns the whole velocity.

``W = 1`` is the plain model. On gloo (CPUs) and NCCL (GPUs); the collectives here run without gradients
(sampling). The video frames and audio tokens must divide by the ranks: a clip that does not is a clear error.
"""
from __future__ import annotations

import torch
import torch.distributed as dist

from duetto.data.errors import DuettoError

from .attention import key_range


class SequenceParallel:
    """The process group a model's tokens are split over (``None``: the default group)."""

    def __init__(self, group=None):
        self.group = group
        self.rank, self.world = dist.get_rank(group), dist.get_world_size(group)

    def check(self, heads: int, frames: int, audio_tokens: int) -> None:
        if heads % self.world:
            raise DuettoError(f"sequence parallel over {self.world} processes: the model's {heads} attention heads do "
                              f"not split evenly (use a process count that divides {heads})")
        if frames % self.world or audio_tokens % self.world:
            raise DuettoError(f"sequence parallel over {self.world} processes: a clip of {frames} video latents and "
                              f"{audio_tokens} audio tokens does not split evenly (choose a length or process count "
                              "that divides both)")

    # -- exchanges -------------------------------------------------------------------------------------------
    def heads_from_sequence(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, h, l, d]`` (my tokens, every head) -> ``[B, h / W, W l, d]`` (every token, my heads)."""
        return torch.cat(self._all_to_all(x.chunk(self.world, dim=1)), dim=2)

    def sequence_from_heads(self, y: torch.Tensor) -> torch.Tensor:
        """``[B, h / W, W l, d]`` -> ``[B, h, l, d]``: the inverse of `heads_from_sequence`."""
        return torch.cat(self._all_to_all(y.chunk(self.world, dim=2)), dim=1)

    def _all_to_all(self, chunks) -> list[torch.Tensor]:
        parts = [p.contiguous() for p in chunks]
        out = [torch.empty_like(parts[0]) for _ in range(self.world)]
        try:
            dist.all_to_all(out, parts, group=self.group)
        except (RuntimeError, NotImplementedError) as e:
            raise DuettoError(f"sequence parallel needs all-to-all, which this process group's backend "
                              f"({dist.get_backend(self.group)}) does not do here: {str(e).splitlines()[0]}") from None
        return out

    def gather(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, l, D]`` of each rank -> ``[B, W l, D]`` in rank order."""
        out = [torch.empty_like(x) for _ in range(self.world)]
        dist.all_gather(out, x.contiguous(), group=self.group)
        return torch.cat(out, dim=1)


class Shard:
    """One forward pass's split: which tokens are this rank's, and the halos of the cross-modal blocks.

    ``video_times [B, Lv]`` and ``audio_times [B, La]`` are every token's times (the same on every rank);
    ``per_frame`` video tokens share a frame."""

    def __init__(self, sp: SequenceParallel, video_times: torch.Tensor, audio_times: torch.Tensor, per_frame: int,
                 window: float | None, heads: int):
        w, r = sp.world, sp.rank
        lv, la = video_times.shape[1], audio_times.shape[1]
        sp.check(heads, lv // per_frame, la)
        self.sp = sp
        self.video = slice(r * lv // w, (r + 1) * lv // w)
        self.audio = slice(r * la // w, (r + 1) * la // w)
        self.halos = {}
        if window is not None:       # the other stream's keys each rank's queries need, as [lo, hi) per rank
            self.halos["audio"] = self._plan(video_times, audio_times, window, lv, la)
            self.halos["video"] = self._plan(audio_times, video_times, window, la, lv)

    def _plan(self, qt, kt, window, lq, lk) -> dict:
        w = self.sp.world
        need = []
        for r in range(w):
            lo, hi = key_range(qt[:, r * lq // w: (r + 1) * lq // w], kt, window)
            need.append((int(lo.min()), int(hi.max())))
        own = [(r * lk // w, (r + 1) * lk // w) for r in range(w)]
        left = [o[0] - n[0] for n, o in zip(need, own)]
        right = [n[1] - o[1] for n, o in zip(need, own)]
        width = max([0] + left + right)
        if width > lk // w:
            raise DuettoError(f"sequence parallel over {w} processes: each rank's span is shorter than the "
                              "cross-modal window; use fewer processes for a clip this short")
        r = self.sp.rank
        lft, rgt = max(0, left[r]), max(0, right[r])
        return {"width": width, "left": lft, "right": rgt, "keys": slice(own[r][0] - lft, own[r][1] + rgt)}

    def key_slice(self, stream: str) -> slice:
        """The global token indices of the keys of ``stream`` a rank's cross-modal queries read (own + halo; all of
        them without a window)."""
        return self.halos[stream]["keys"] if stream in self.halos else slice(None)

    def halo(self, stream: str, x: torch.Tensor) -> torch.Tensor:
        """My tokens ``[B, l, D]`` of ``stream`` -> those my queries need: the neighbours' edges around my own
        (every rank's tokens for global cross-attention, which has no window)."""
        if stream not in self.halos:
            return self.sp.gather(x)
        plan, sp = self.halos[stream], self.sp
        if plan["width"] == 0 or sp.world == 1:
            return x
        k = plan["width"]
        edges = torch.cat([x[:, :k], x[:, -k:]], dim=1).contiguous()      # [B, 2k, D]: my head and my tail
        every = [torch.empty_like(edges) for _ in range(sp.world)]
        dist.all_gather(every, edges, group=sp.group)
        parts = []
        if plan["left"]:
            parts.append(every[sp.rank - 1][:, 2 * k - plan["left"]:])     # the previous rank's tail
        parts.append(x)
        if plan["right"]:
            parts.append(every[sp.rank + 1][:, : plan["right"]])           # the next rank's head
        return torch.cat(parts, dim=1)
