"""Samplers as pure functions over the ``(video, audio)`` latent pair.

A model function maps ``(video, audio, t_video [B], t_audio [B]) -> (v_video, v_audio)`` velocities; it
closes over everything else (times in seconds, caption, conditions). Schedules are explicit lists of flow
times from 1 (noise) to 0 (data), stored with a checkpoint's config; nothing here assumes a step count.
A stream that is given (video-to-audio, audio-to-video) stays fixed: pass ``given_video``/``given_audio``.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from duetto.data.errors import DuettoError

Pair = tuple[torch.Tensor, torch.Tensor]
ModelFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], Pair]


def schedule(steps: int, shift: float = 1.0) -> list[float]:
    """``steps + 1`` flow times from 1 to 0, evenly spaced then warped by ``shift`` (``> 1`` spends more steps
    near the noise end): ``t' = shift t / (1 + (shift - 1) t)``."""
    if not (isinstance(steps, int) and steps >= 1) or not shift > 0:
        raise DuettoError(f"a schedule needs steps >= 1 and shift > 0, not {steps!r}, {shift!r}")
    ts = [1 - i / steps for i in range(steps + 1)]
    return [shift * t / (1 + (shift - 1) * t) for t in ts]


def _check(sigmas) -> list[float]:
    s = [float(x) for x in sigmas]
    if len(s) < 2 or any(not math.isfinite(x) for x in s) or any(b >= a for a, b in zip(s, s[1:])):
        raise DuettoError("a schedule must hold at least two finite, strictly decreasing flow times")
    return s


def _times(x: torch.Tensor, t: float, given: bool) -> torch.Tensor:
    return torch.full((x.shape[0],), 0.0 if given else t, device=x.device)


def _velocity(fn: ModelFn, v, a, t: float, given_video: bool, given_audio: bool) -> Pair:
    dv, da = fn(v, a, _times(v, t, given_video), _times(a, t, given_audio))
    return (torch.zeros_like(v) if given_video else dv), (torch.zeros_like(a) if given_audio else da)


@torch.no_grad()
def _integrate(fn: ModelFn, noise: Pair, sigmas, given_video, given_audio, callback, second_order: bool,
               known: Known | None = None) -> Pair:
    """Step along ``sigmas`` from ``noise`` (given streams start as given and stay so; ``known`` latents are
    pinned after every step)."""
    s = _check(sigmas)
    v = noise[0] if given_video is None else given_video
    a = noise[1] if given_audio is None else given_audio
    gv, ga = given_video is not None, given_audio is not None
    pin = (lambda v, a, t: (v, a)) if known is None else known.pin  # noqa: E731
    v, a = pin(v, a, s[0])
    for i, (t, t_next) in enumerate(zip(s, s[1:])):
        dv, da = _velocity(fn, v, a, t, gv, ga)
        pv, pa = v + (t_next - t) * dv, a + (t_next - t) * da
        if second_order and t_next > 0:
            dv2, da2 = _velocity(fn, pv, pa, t_next, gv, ga)
            pv, pa = v + (t_next - t) * (dv + dv2) / 2, a + (t_next - t) * (da + da2) / 2
        v, a = pin(pv, pa, t_next)
        if callback:
            callback(i, len(s) - 1)
    return v, a


class Known:
    """Latents known along the time axis (an extension's history): ``video`` [B, Cv, T, h, w] where ``video_mask``
    [T] is set, ``audio`` [B, Ca, L] where ``audio_mask`` [L] is. After every step those positions are set to the
    known latents noised to the step's flow time, ``(1 - t) x + t n`` with ``n`` the sampler's own starting noise
    there: the "replacement" way to inpaint with a flow model that was never trained for it (the model sees a clip
    whose known part is consistent with its time, and fills the rest to match). A mask may be a weight in [0, 1]
    instead of true/false: ``w`` of the known latent and ``1 - w`` of the sampler's own, a soft edge the sampler
    blends across.

    ``clean``: for a model trained with known latents (`JointDiT` ``known_prefix``), the known positions hold the
    clean latents at every step (the model is told which they are; a weight below 1 counts as not known)."""

    def __init__(self, video, video_mask, audio, audio_mask, noise: Pair, clean: bool = False):
        self.v, self.a, self.clean = video, audio, clean
        if clean:
            video_mask, audio_mask = video_mask >= 1, audio_mask >= 1
        self.mv = video_mask.to(video.dtype)[None, None, :, None, None]
        self.ma = audio_mask.to(audio.dtype)[None, None, :]
        self.nv, self.na = noise

    def pin(self, v, a, t: float) -> Pair:
        if self.clean:
            kv, ka = self.v.expand_as(v), self.a.expand_as(a)
        else:
            kv, ka = (1 - t) * self.v + t * self.nv, (1 - t) * self.a + t * self.na
        return self.mv * kv + (1 - self.mv) * v, self.ma * ka + (1 - self.ma) * a

    def masks(self, n: int) -> dict:
        """The model's ``video_known``/``audio_known`` inputs ``[n, T]``, ``[n, L]`` for ``n`` clips."""
        return {"video_known": (self.mv[0, 0, :, 0, 0] > 0)[None].expand(n, -1),
                "audio_known": (self.ma[0, 0] > 0)[None].expand(n, -1)}


def euler(fn: ModelFn, noise: Pair, sigmas, *, given_video: torch.Tensor | None = None,
          given_audio: torch.Tensor | None = None, callback=None, known: Known | None = None) -> Pair:
    """First-order steps ``x <- x + (t_next - t) v`` along ``sigmas``; one model call per step."""
    return _integrate(fn, noise, sigmas, given_video, given_audio, callback, second_order=False, known=known)


def heun(fn: ModelFn, noise: Pair, sigmas, *, given_video: torch.Tensor | None = None,
         given_audio: torch.Tensor | None = None, callback=None, known: Known | None = None) -> Pair:
    """Second-order (trapezoid) steps; two model calls per step except the last one into ``t = 0``."""
    return _integrate(fn, noise, sigmas, given_video, given_audio, callback, second_order=True, known=known)


SAMPLERS = {"euler": euler, "heun": heun}


def in_turn(passes: list[ModelFn], v, a, tv, ta) -> list[Pair]:
    """Run a guided step's model passes one after the other (`joint.parallel.across_ranks` spreads them)."""
    return [p(v, a, tv, ta) for p in passes]


def guided(cond: ModelFn, uncond: ModelFn, video_scale: float, audio_scale: float, apart: ModelFn | None = None,
           video_sync: float = 0.0, audio_sync: float = 0.0, max_t: float = 1.0, run=None) -> ModelFn:
    """Classifier-free guidance with a scale per stream: ``u + scale * (c - u)``. Scales of 1 call only
    ``cond``. (The calls are independent, so guidance parallelism can run them on different ranks.)

    Cross-modal guidance: ``apart`` is ``cond`` with the streams kept apart (no cross-modal attention); a sync
    scale ``w > 0`` adds ``w * (c - apart)`` to that stream, pushing it further along what the other stream
    changes in it: its timing, most of all.

    ``max_t``: guide only at flow times up to ``max_t`` (the larger of the two streams' times; a given stream
    sits at 0); at noisier times ``cond`` alone (one model pass). Guidance at the noisiest steps, where the
    layout of the picture is still being chosen, pushes it off the data (Kynkaenniemi et al. 2024, "Applying
    guidance in a limited interval"). With the tiny model, the picture guided at 6 at every step drew a field of
    coloured noise instead of a face in most speech clips; at 2 and up to 0.85, in a third (samples/README.md).

    ``run(passes, v, a, tv, ta)`` evaluates a step's passes (default `in_turn`); guidance parallelism gives one
    that runs them on different ranks."""
    if not 0 < max_t <= 1:
        raise DuettoError(f"guidance max_t must be in (0, 1], not {max_t!r}")
    if not (apart is not None and (video_sync or audio_sync)):
        apart, video_sync, audio_sync = None, 0.0, 0.0
    if video_scale == 1 and audio_scale == 1 and apart is None:
        return cond

    run = run or in_turn
    unguided = video_scale == 1 and audio_scale == 1

    def fn(v, a, tv, ta):
        if max(float(tv.max()), float(ta.max())) > max_t + 1e-6:     # (times arrive as float32)
            return cond(v, a, tv, ta)
        passes = [cond] + ([] if unguided else [uncond]) + ([] if apart is None else [apart])
        outs = run(passes, v, a, tv, ta)
        (cv, ca), rest = outs[0], outs[1:]
        gv, ga = cv, ca
        if not unguided:
            (uv, ua), rest = rest[0], rest[1:]
            gv, ga = uv + video_scale * (cv - uv), ua + audio_scale * (ca - ua)
        if apart is not None:
            pv, pa = rest[0]
            gv, ga = gv + video_sync * (cv - pv), ga + audio_sync * (ca - pa)
        return gv, ga
    return fn
