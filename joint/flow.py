"""Flow matching on the (video, audio) latent pair.

Convention (rectified flow): ``x_t = (1 - t) * x_0 + t * noise``, ``t = 0`` is data and ``t = 1`` noise; the
model predicts the velocity ``noise - x_0``. Each modality has its own flow time: shared most of the time;
sometimes drawn independently; sometimes one stream is given clean (``t = 0``), which teaches the same model
video-to-audio and audio-to-video. With ``cross_dropout`` some clips are denoised with the streams kept apart
(no cross-modal attention), which teaches the model the pass that cross-modal guidance compares against.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from duetto.data.errors import DuettoError


@dataclass(frozen=True)
class FlowConfig:
    logit_mean: float = 0.0          # logit-normal flow times: sigmoid(N(mean, std))
    logit_std: float = 1.0
    independent: float = 0.2         # share of clips whose two streams get independent flow times
    video_given: float = 0.05        # share of clips whose video is given clean (audio generated from it)
    audio_given: float = 0.05        # share of clips whose audio is given clean
    cross_dropout: float = 0.0       # share of clips denoised with the streams apart (joint.sampling.guided)
    change_weight: float = 0.0       # extra loss weight where the clean latents change in time (`change_weights`)
    high_noise: float = 0.0          # share of clips whose flow times are drawn near pure noise (`HIGH_NOISE_T`)
    prefix: float = 0.0              # share of clips whose first part is given clean and marked known (`PREFIX_SHARE`)

    def __post_init__(self):
        shares = (self.independent, self.video_given, self.audio_given)
        if not (all(0 <= s <= 1 for s in shares) and sum(shares) <= 1 and self.logit_std > 0):
            raise DuettoError("FlowConfig: shares must be in [0, 1] with a sum <= 1, logit_std > 0")
        if not 0 <= self.cross_dropout < 1:
            raise DuettoError("FlowConfig: cross_dropout must be in [0, 1)")
        if not 0 <= self.change_weight < float("inf"):
            raise DuettoError("FlowConfig: change_weight must be a finite number >= 0")
        if not 0 <= self.high_noise <= 1:
            raise DuettoError("FlowConfig: high_noise must be in [0, 1]")
        if not 0 <= self.prefix <= 1:
            raise DuettoError("FlowConfig: prefix must be in [0, 1]")


# Why a high-noise share: what is the same over a whole clip (a shirt's colour, an instrument's, a voice's pitch)
# can be read back from the noisy latents by averaging over many of them, down to flow times near 1 (measured on
# the shipped model, teacher-forced by `bench/listens.py` on 8 DEV speech clips: the shirt colour comes back from the
# clip's own latents at t = 0.95 in 6 of 8, and a caption with the colours swapped is followed in 2 of 8). Logit-normal times put 0.16 % of clips above
# 0.95, so the model learns to copy such attributes from its input and never from the caption; yet sampling decides
# them in its first steps, from pure noise, where only the conditions know them. How much it takes (2026-12-07,
# samples/README.md, duetto-tiny-v3): a quarter of 1,000 updates' clips moved nothing; 800 updates of speech clips all
# at high noise made the caption's shirt colour win at t = 1 (11 of 16) but taught faces to the other families; legs
# mixing a half, then a third, kept them apart (held-out shirt colour 8.3 -> 62.5 %).
HIGH_NOISE_T = 0.9                   # high-noise clips draw t uniformly in [HIGH_NOISE_T, 1]

# A given prefix (an extension's history, `joint.extend`): its length is drawn uniformly in this range of the clip's
# (both streams cut at the same place in seconds), its latents are clean and marked known, and only the rest is scored.
PREFIX_SHARE = (0.1, 0.6)

CHANGE_CAP = 5.0                     # a latent's change counts at most this many times its clip's mean change


def change_weights(x0: torch.Tensor, weight: float, times: torch.Tensor | None = None) -> torch.Tensor:
    """Per-latent loss weights for clean latents ``x0 [B, C, T, ...]`` (time on dim 2: video ``[B, C, T, h, w]``,
    audio ``[B, C, L]``) -> ``[B, 1, T, ...]``: ``1 + weight * min(m / mean(m), CHANGE_CAP)``, where ``m`` is
    how much the latent at that place changes from the one before it or to the one after it (mean |difference|
    over channels) and the mean is over the clip. With the latents' ``times`` (``[T]`` seconds), only neighbours
    one usual spacing apart count: a causal video VAE's latent 0 stands for one frame and latent 1 for ``k``, so
    their difference is partly a change of what a latent holds, not of the scene.

    Why: sync is decided by the few latents where something happens (an impact, a flash, an onset, a mouth
    opening); in a clip of mostly still background and steady sound, a plain mean-squared error spends the model's
    capacity on the rest. This weighs moving places and onsets up on each stream's own clock, as the video VAE's
    motion weight does for its pixels."""
    d = (x0[:, :, 1:] - x0[:, :, :-1]).abs().mean(1, keepdim=True)        # [B, 1, T-1, ...]
    if times is not None and x0.shape[2] > 2:
        dt = torch.diff(torch.as_tensor(times, dtype=torch.float64).reshape(-1, x0.shape[2])[0])
        usual = (dt - dt.median()).abs() <= 1e-6
        d = d * usual.to(d).view(1, 1, -1, *([1] * (x0.ndim - 3)))
    m = torch.zeros_like(x0[:, :1])
    m[:, :, 1:] = d                                                        # change into latent t
    m[:, :, :-1] = torch.maximum(m[:, :, :-1], d)                          # or out of it
    mean = m.flatten(1).mean(1).clamp_min(1e-8).view(-1, *([1] * (m.ndim - 1)))
    return 1 + weight * (m / mean).clamp(max=CHANGE_CAP)


def logit_normal(n: int, cfg: FlowConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    return torch.sigmoid(cfg.logit_mean + cfg.logit_std * torch.randn(n, generator=generator))


def flow_times(n: int, cfg: FlowConfig, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(t_video [n], t_audio [n])`` for a batch of ``n`` clips, following the shares of ``cfg``."""
    t_video = logit_normal(n, cfg, generator)
    t_audio = t_video.clone()
    u = torch.rand(n, generator=generator)
    indep = u < cfg.independent
    t_audio[indep] = logit_normal(int(indep.sum()), cfg, generator)
    video_given = (u >= cfg.independent) & (u < cfg.independent + cfg.video_given)
    audio_given = (u >= cfg.independent + cfg.video_given) & (u < cfg.independent + cfg.video_given + cfg.audio_given)
    t_video[video_given] = 0.0
    t_audio[audio_given] = 0.0
    if cfg.high_noise > 0:                        # drawn last, so a run without it keeps its times
        high = torch.rand(n, generator=generator) < cfg.high_noise
        t = HIGH_NOISE_T + (1 - HIGH_NOISE_T) * torch.rand(n, generator=generator)
        t_video = torch.where(high & (t_video > 0), t, t_video)
        t_audio = torch.where(high & (t_audio > 0), t, t_audio)
    return t_video, t_audio


def add_noise(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``(1 - t) x0 + t noise`` with ``t [B]`` broadcast over the other dimensions."""
    t = t.to(x0.dtype).view(-1, *([1] * (x0.ndim - 1)))
    return (1 - t) * x0 + t * noise


def flow_loss(model, video: torch.Tensor, audio: torch.Tensor, video_times, audio_times, *, cfg: FlowConfig,
              text=None, text_mask=None, generator: torch.Generator | None = None, audio_weight: float = 1.0,
              **conditions):
    """Mean-squared velocity error for each stream: ``(loss, {"video": float, "audio": float})``. A stream
    given clean (``t = 0``) has no target and is left out of its loss. ``conditions`` (speech, voice, music)
    go to the model as they are."""
    b = video.shape[0]
    t_video, t_audio = flow_times(b, cfg, generator)
    t_video, t_audio = t_video.to(video.device), t_audio.to(video.device)
    nv = torch.randn(video.shape, generator=generator).to(video)
    na = torch.randn(audio.shape, generator=generator).to(audio)
    if cfg.cross_dropout > 0:                     # drawn last, so a run without it keeps its noise
        conditions["cross_keep"] = (torch.rand(b, generator=generator) >= cfg.cross_dropout).to(video.device)
    xv, xa = add_noise(video, nv, t_video), add_noise(audio, na, t_audio)
    kv = ka = None
    if cfg.prefix > 0:                            # drawn after the rest, so a run without it keeps its draws
        kv, ka = known_prefix(b, video.shape[2], audio.shape[2], cfg.prefix, generator)
        kv, ka = kv.to(video.device), ka.to(video.device)
        xv = torch.where(kv[:, None, :, None, None], video, xv)
        xa = torch.where(ka[:, None, :], audio, xa)
        conditions.update(video_known=kv, audio_known=ka)
    pv, pa = model(xv, xa, t_video, t_audio, video_times, audio_times, text, text_mask, **conditions)
    lv = _clip_mse(pv, nv - video, video, cfg, video_times, None if kv is None else kv[:, None, :, None, None])
    la = _clip_mse(pa, na - audio, audio, cfg, audio_times, None if ka is None else ka[:, None, :])
    wv, wa = (t_video > 0).to(lv), (t_audio > 0).to(la)
    loss_v = (lv * wv).sum() / wv.sum().clamp_min(1)
    loss_a = (la * wa).sum() / wa.sum().clamp_min(1)
    return loss_v + audio_weight * loss_a, {"video": loss_v.item(), "audio": loss_a.item()}


def known_prefix(b: int, n_video: int, n_audio: int, share: float, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(video_known [b, n_video], audio_known [b, n_audio])`` bool: in ``share`` of the clips the first part (a
    `PREFIX_SHARE` fraction, at least one video latent and never all of them), cut at the same place of both
    streams (``k`` video latents and ``k * n_audio // n_video`` audio ones); nothing in the others."""
    chosen = torch.rand(b, generator=generator) < share
    lo, hi = PREFIX_SHARE
    frac = lo + (hi - lo) * torch.rand(b, generator=generator)
    k = (frac * n_video).round().clamp(1, max(1, n_video - 1)).long() * chosen
    ka = k * n_audio // n_video
    return torch.arange(n_video)[None] < k[:, None], torch.arange(n_audio)[None] < ka[:, None]


def _clip_mse(pred: torch.Tensor, target: torch.Tensor, x0: torch.Tensor, cfg: FlowConfig, times=None,
              known: torch.Tensor | None = None) -> torch.Tensor:
    """``[B]``: each clip's mean squared error, weighted by `change_weights` (a weighted mean) when
    ``cfg.change_weight`` > 0; latents where ``known`` (bool, broadcast to ``pred``) are left out."""
    se = F.mse_loss(pred, target, reduction="none")
    if not cfg.change_weight and known is None:
        return se.flatten(1).mean(1)
    w = change_weights(x0, cfg.change_weight, times) if cfg.change_weight else torch.ones_like(x0[:, :1])
    if known is not None:
        w = w * (~known).to(w.dtype)
    w = w.expand_as(se)
    return (se * w).flatten(1).sum(1) / w.flatten(1).sum(1).clamp_min(1e-8)
