"""A harmonic source beside the audio VAE's decoder, so that a voice's pitch survives the latents.

Why: the tiny audio VAE's SEANet decoder, trained on spectral losses only, renders a 50 Hz comb (the latent rate)
in place of a voice's harmonics: through it, `bench/voice.py` finds an F0 in a sixth of the utterances and the
right one in none, although the latents carry the pitch (`bench/voice_latents.py`: a ridge probe reads log F0
from them with correlation 0.8). Trained decoder-only it did not learn to (a waveform-free fine-tune moved
nothing in 700 updates). A source-filter branch does: from the latents it predicts, per latent,

- ``log f0`` in ``[log fmin, log fmax]``, taught by YIN's F0 of the training audio (`f0_targets`);
- a voicing logit, taught by whether YIN finds a pitch there;
- a level and a distribution over ``harmonics`` partials, taught by the clean audio's amplitude at each
  multiple of the true F0 (`harmonic_amplitudes`),

and sums the partials of one phase-continuous oscillator (phase = running sum of F0 / sample rate; partials over
Nyquist left out). Its output is added to the decoder's; the decoder keeps the noise, the transients and the rest.
The phase is driven by the F0 *taught*, never by the reconstruction loss's gradient (through a sine that gradient
is noise), so F0 is ``detach``-ed where it makes the phase (DDSP, Engel et al. 2020; NSF, Wang et al. 2019).

Time base: latent ``i`` stands for samples ``[i hop, (i + 1) hop)`` and its frame values sit at its centre,
``(i + 0.5) hop`` samples; per-sample F0 and amplitudes are linear between centres (`upsample`).

Shapes: latents ``z [B, C, L]`` (raw, before the VAE's normalisation) -> audio ``[B, 1, L hop]``.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

BLOCK = 1 << 16          # samples synthesised at a time: memory bounded by BLOCK * harmonics on long clips
AMP_FFT = 4096           # zero-padded FFT of each latent's window for the amplitude targets
AMP_WEIGHT = 100.0       # the three teaching terms' weights (harmonic_loss), chosen on DEV utterances
VOICING_WEIGHT = 0.1


class HarmonicSource(nn.Module):
    def __init__(self, latent_channels: int, hop: int, sample_rate: int, harmonics: int = 48, width: int = 96,
                 fmin: float = 50.0, fmax: float = 500.0):
        super().__init__()
        self.hop, self.sample_rate, self.harmonics = hop, sample_rate, harmonics
        self.log_lo, self.log_hi = math.log(fmin), math.log(fmax)
        self.net = nn.Sequential(nn.GroupNorm(1, latent_channels), nn.Conv1d(latent_channels, width, 5, padding=2),
                                 nn.SiLU(), nn.Conv1d(width, width, 5, padding=2), nn.SiLU(),
                                 nn.Conv1d(width, width, 3, padding=1), nn.SiLU())
        self.head = nn.Conv1d(width, 3 + harmonics, 1)
        with torch.no_grad():
            self.head.bias[2].fill_(-1.0)        # a quiet start (softplus(-1) = 0.31 in all)

    def frames(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """``z [B, C, L]`` -> ``log_f0 [B, L]`` (natural log of Hz), ``voicing [B, L]`` (logit), ``amplitudes
        [B, harmonics, L]`` (each partial's peak amplitude, voicing applied)."""
        o = self.head(self.net(z))
        log_f0 = self.log_lo + (self.log_hi - self.log_lo) * torch.sigmoid(o[:, 0])
        level = F.softplus(o[:, 2]) * torch.sigmoid(o[:, 1])
        return {"log_f0": log_f0, "voicing": o[:, 1], "amplitudes": torch.softmax(o[:, 3:], dim=1) * level[:, None]}

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``z [B, C, L]`` -> ``[B, 1, L hop]``."""
        return self.render(self.frames(z))

    def render(self, fr: dict[str, torch.Tensor]) -> torch.Tensor:
        f0 = upsample(fr["log_f0"].detach().exp()[:, None], self.hop)[:, 0]           # [B, N] Hz
        phase = torch.cumsum(f0.double() / self.sample_rate, dim=-1)                     # cycles, float64: long clips
        amps = fr["amplitudes"]
        k = torch.arange(1, self.harmonics + 1, device=f0.device, dtype=f0.dtype)[:, None]
        out = []
        for s in range(0, f0.shape[-1], BLOCK):          # bounded memory; the phase runs on across blocks
            e = min(s + BLOCK, f0.shape[-1])
            a = upsample_span(amps, self.hop, s, e)                                       # [B, K, e - s]
            ph = 2 * math.pi * torch.remainder(phase[:, None, s:e] * k.double(), 1.0).to(f0.dtype)
            keep = (k * f0[:, None, s:e] < self.sample_rate / 2).to(f0.dtype)
            out.append((a * keep * torch.sin(ph)).sum(1))
        return torch.cat(out, dim=-1)[:, None]


def upsample(x: torch.Tensor, hop: int) -> torch.Tensor:
    """``[B, C, L]`` frame values at latent centres -> ``[B, C, L hop]`` per sample, linear between centres
    (sample ``n`` sits at ``(n + 0.5 - hop / 2) / hop`` latents; held flat before the first and after the last)."""
    return F.interpolate(x, scale_factor=hop, mode="linear", align_corners=False)


def upsample_span(x: torch.Tensor, hop: int, start: int, end: int) -> torch.Tensor:
    """`upsample` restricted to samples ``[start, end)``, computed from the few latents around them only."""
    lo, hi = max(0, start // hop - 1), min(x.shape[-1], -(-end // hop) + 1)
    y = upsample(x[..., lo:hi], hop)
    # the edges of a slice are held flat; inside [start, end) every sample has both neighbours in the slice
    return y[..., start - lo * hop: end - lo * hop]


def f0_targets(audio: np.ndarray, sample_rate: int, hop: int, n: int, threshold: float = 0.15) -> np.ndarray:
    """YIN's F0 (Hz; NaN where unvoiced) at each of ``n`` latents of ``hop`` samples of mono ``audio [N]``:
    the 10 ms frame whose 30 ms window (plus the longest period, 20 ms at 50 Hz) is centred nearest the
    latent's centre. `duetto.audio.speaker.f0_track` runs at 16 kHz; frame ``k`` starts at ``k`` x 10 ms.
    ``threshold``: YIN's (`f0_track`); a low, creaky voice (espeak-ng's men, 55-75 Hz) is voiced in 2-3 times as
    many frames at 0.35 as at 0.15, with the same median F0."""
    from duetto.audio.speaker import HOP, SAMPLE_RATE, f0_track
    f = f0_track(audio, sample_rate, threshold=threshold)
    if len(f) == 0:
        return np.full(n, np.nan)
    centre_s = (np.arange(n) + 0.5) * hop / sample_rate
    half = (480 + SAMPLE_RATE / 50) / 2 / SAMPLE_RATE            # a frame's centre after its start, seconds
    k = np.rint((centre_s - half) / (HOP / SAMPLE_RATE)).astype(int)
    out = f[np.clip(k, 0, len(f) - 1)]
    out[(k < 0) | (k >= len(f))] = np.nan
    return out


def harmonic_amplitudes(audio: torch.Tensor, f0: torch.Tensor, hop: int, sample_rate: int, harmonics: int,
                        window: int | None = None) -> torch.Tensor:
    """The peak amplitude of each partial ``k f0`` of ``audio [B, N]`` around each latent's centre: ``[B, harmonics,
    L]`` for ``f0 [B, L]`` (Hz; 0 or NaN where unvoiced gives 0). A Hann window of two latents centred on the
    latent, zero-padded to `AMP_FFT` points; the bin nearest each partial, scaled so a sine of amplitude 1 reads 1."""
    window = window or 2 * hop
    b, L = f0.shape
    x = F.pad(audio.double(), (window // 2 - hop // 2, window + L * hop))
    frames = x.unfold(-1, window, hop)[:, :L]                                       # [B, L, window]
    w = torch.hann_window(window, periodic=False, dtype=torch.float64, device=audio.device)
    spec = torch.fft.rfft(frames * w, n=AMP_FFT).abs() * 2 / w.sum()
    f = torch.nan_to_num(f0.double(), nan=0.0)
    k = torch.arange(1, harmonics + 1, dtype=torch.float64, device=audio.device)
    hz = k[None, None] * f[..., None]                                               # [B, L, K]
    bins = (hz * AMP_FFT / sample_rate).round().long().clamp(0, AMP_FFT // 2)
    amp = torch.gather(spec, -1, bins) * (f[..., None] > 0) * (hz < sample_rate / 2)
    return amp.to(audio.dtype).permute(0, 2, 1)


def harmonic_loss(fr: dict[str, torch.Tensor], f0: torch.Tensor, amplitudes: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """What teaches the source: L1 of log F0 over voiced latents, voicing cross-entropy, and the squared error of
    the partials' amplitudes (summed over partials; `AMP_WEIGHT`). ``f0 [B, L]`` Hz with NaN where unvoiced."""
    voiced = torch.isfinite(f0)
    target = torch.log(torch.nan_to_num(f0, nan=100.0))
    l_f0 = ((fr["log_f0"] - target).abs() * voiced).sum() / voiced.sum().clamp_min(1)
    l_v = F.binary_cross_entropy_with_logits(fr["voicing"], voiced.to(fr["voicing"].dtype))
    l_a = ((fr["amplitudes"] - amplitudes) ** 2).sum(1).mean()
    loss = l_f0 + VOICING_WEIGHT * l_v + AMP_WEIGHT * l_a
    return loss, {"f0": l_f0.item(), "voicing": l_v.item(), "partials": l_a.item()}
