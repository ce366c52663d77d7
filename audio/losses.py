"""Audio reconstruction and adversarial losses, and the metrics of evaluation reports.

Audio is ``[B, C, N]``; every spectral loss folds channels into the batch. FFT sizes are set at 16 kHz and
scaled with the sample rate (to the nearest power of two), so a loss means the same at 16 and 48 kHz.

- `MultiResolutionSTFTLoss`: spectral convergence + log-magnitude L1, FFT 512/1024/2048 at 16 kHz.
- Log terms are floored 60 dB below the reference's peak (`log_floored`), so near-silence does not dominate.
- `MelLoss`: L1 between log-mel spectrograms (FFT 1024 at 16 kHz; 64 mels up to 24 kHz, 128 above).
- GAN: `make_discriminator` builds `encodec`'s multi-scale STFT discriminator; `discriminator_loss` (hinge),
  `generator_losses` (hinge + feature matching).
- `vae_loss(model, audio, config)`: what one VAE training step minimises before any GAN term.
- `reconstruction_metrics(x, y, sr)`: plain floats for reports.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
import torchaudio
from einops import rearrange
from encodec.msstftd import MultiScaleSTFTDiscriminator
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from duetto.data.errors import DuettoError

REFERENCE_RATE = 16000
STFT_SIZES = (512, 1024, 2048)       # at REFERENCE_RATE: the reported distance (training sets its own sizes)
MEL_FFT = 1024                       # at REFERENCE_RATE
DISC_FFTS = (1024, 2048, 512)        # encodec's, at 24 kHz
EPS = 1e-5
DYNAMIC_RANGE_DB = 60.0              # log-magnitude terms ignore what lies this far below the reference's peak


def log_floored(y: torch.Tensor, x: torch.Tensor, range_db: float = DYNAMIC_RANGE_DB) -> tuple[torch.Tensor, torch.Tensor]:
    """``log`` of two magnitude spectrograms ``[B, F, T]`` (``y`` the reconstruction, ``x`` the reference),
    both floored at ``range_db`` below the reference's peak per item. Without a floor the log terms weigh a
    near-silent window as much as a loud one, and a model that outputs -60 dB noise sits in a local minimum
    (measured on the tiny audio VAE: no progress for hundreds of steps)."""
    floor = (x.detach().amax(dim=(1, 2), keepdim=True) * 10 ** (-range_db / 20)).clamp_min(EPS)
    return torch.maximum(y, floor).log(), torch.maximum(x, floor).log()


def scaled_fft(n_fft: int, sample_rate: int, reference: int = REFERENCE_RATE) -> int:
    """``n_fft`` at ``reference`` Hz -> the power of two nearest the same duration at ``sample_rate``."""
    return 2 ** max(4, round(math.log2(n_fft * sample_rate / reference)))


def _fold(x: torch.Tensor) -> torch.Tensor:
    if x.ndim != 3:
        raise DuettoError(f"audio must be [B, C, N], got {tuple(x.shape)}")
    return rearrange(x, "b c n -> (b c) n")


class MultiResolutionSTFTLoss(nn.Module):
    """Mean over FFT sizes of spectral convergence ``||S_y - S_x||_F / ||S_y||_F`` plus the mean absolute
    difference of log magnitudes. Hann windows, hop = FFT / 4; zero for identical inputs."""

    def __init__(self, sample_rate: int, fft_sizes: tuple | None = None):
        """``fft_sizes`` at 16 kHz, scaled to ``sample_rate`` (default `STFT_SIZES`)."""
        super().__init__()
        self.fft_sizes = tuple(dict.fromkeys(scaled_fft(n, sample_rate) for n in fft_sizes or STFT_SIZES))
        for n in self.fft_sizes:
            self.register_buffer(f"window_{n}", torch.hann_window(n), persistent=False)

    def _mag(self, x: torch.Tensor, n: int) -> torch.Tensor:
        s = torch.stft(x, n, hop_length=n // 4, window=getattr(self, f"window_{n}"), center=True,
                       pad_mode="constant", return_complex=True)           # [B*C, n/2+1, frames]
        return s.abs()

    def forward(self, x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``x_hat``, ``x [B, C, N]`` (reconstruction, reference) -> scalar."""
        a, b = _fold(x_hat), _fold(x)
        total = a.new_zeros(())
        for n in self.fft_sizes:
            ma, mb = self._mag(a, n), self._mag(b, n)
            sc = torch.linalg.norm(mb - ma) / torch.linalg.norm(mb).clamp_min(EPS)
            la, lb = log_floored(ma, mb)
            total = total + sc + (la - lb).abs().mean()
        return total / len(self.fft_sizes)


class MelLoss(nn.Module):
    """L1 between floored log-mel spectrograms (magnitude, not power); zero for identical inputs."""

    def __init__(self, sample_rate: int, n_fft: int | None = None, n_mels: int | None = None):
        super().__init__()
        n_fft = n_fft or scaled_fft(MEL_FFT, sample_rate)
        n_mels = n_mels or (64 if sample_rate <= 24000 else 128)
        self.mel = torchaudio.transforms.MelSpectrogram(sample_rate=sample_rate, n_fft=n_fft, hop_length=n_fft // 4,
                                                        n_mels=n_mels, power=1.0, center=True, pad_mode="constant")

    def forward(self, x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        a, b = log_floored(self.mel(_fold(x_hat)), self.mel(_fold(x)))    # [B*C, n_mels, frames]
        return (a - b).abs().mean()


class ReconstructionLoss(nn.Module):
    """Multi-resolution STFT + ``mel_weight`` * log-mel L1 + ``wave_weight`` * waveform L1:
    ``(loss, {"stft": float, "mel": float, "wave": float})``. The waveform term holds the output's level and
    the timing of transients while the spectral terms are still far off (measured on the tiny model: it left
    the noise floor sooner with it)."""

    def __init__(self, sample_rate: int, mel_weight: float = 1.0, wave_weight: float = 0.0,
                 fft_sizes: tuple | None = None):
        super().__init__()
        self.stft = MultiResolutionSTFTLoss(sample_rate, fft_sizes)
        self.mel = MelLoss(sample_rate)
        self.mel_weight, self.wave_weight = mel_weight, wave_weight

    @classmethod
    def of(cls, config) -> ReconstructionLoss:
        """The training loss an `AudioVAEConfig` names (its weights and STFT sizes)."""
        return cls(config.sample_rate, config.mel_weight, config.wave_weight, config.stft_sizes)

    def forward(self, x_hat: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        stft, mel, wave = self.stft(x_hat, x), self.mel(x_hat, x), (x_hat - x).abs().mean()
        loss = stft + self.mel_weight * mel + self.wave_weight * wave
        return loss, {"stft": stft.item(), "mel": mel.item(), "wave": wave.item()}


def vae_loss(model, audio: torch.Tensor, config, recon: ReconstructionLoss | None = None
             ) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
    """Reconstruction of ``audio [B, C, N]`` from a sampled latent + ``kl_weight`` * KL, for an `AudioVAE`
    (possibly DDP-wrapped: it is called, not reached into) with ``config``; also returns the reconstruction.
    Pass ``recon`` (built once) to avoid rebuilding the spectrogram modules every step."""
    recon = recon or ReconstructionLoss.of(config).to(audio.device)
    x_hat, kl = model(audio)
    rec, parts = recon(x_hat, audio)
    return rec + config.kl_weight * kl, {**parts, "kl": kl.item()}, x_hat


# -- adversarial -------------------------------------------------------------------------------------------
def make_discriminator(sample_rate: int, channels: int = 1, filters: int = 32) -> MultiScaleSTFTDiscriminator:
    """`encodec`'s multi-scale STFT discriminator with its FFT sizes scaled from 24 kHz to ``sample_rate``
    (inputs need at least the largest FFT size of samples). Weight norm as in `encodec`, but through
    ``torch.nn.utils.parametrizations`` so the module deep-copies."""
    ffts = [scaled_fft(n, sample_rate, reference=24000) for n in DISC_FFTS]
    disc = MultiScaleSTFTDiscriminator(filters, in_channels=channels, n_ffts=ffts, hop_lengths=[n // 4 for n in ffts],
                                       win_lengths=ffts, norm="none")
    for sub in disc.discriminators:
        for conv in list(sub.convs)[1:] + [sub.conv_post]:          # encodec leaves the first conv plain
            weight_norm(conv.conv)
    return disc


def discriminator_loss(disc: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Hinge loss, mean over scales: ``relu(1 - D(real)) + relu(1 + D(fake))``; ``fake`` is detached."""
    logits_real, _ = disc(real)
    logits_fake, _ = disc(fake.detach())
    terms = [F.relu(1 - r).mean() + F.relu(1 + f).mean() for r, f in zip(logits_real, logits_fake)]
    return sum(terms) / len(terms)


def generator_losses(disc: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(adversarial, feature_matching)`` for the generator, means over scales.

    Adversarial: hinge ``relu(1 - D(fake))``. Feature matching: for each layer of each scale,
    ``|f_fake - f_real| / mean|f_real|`` (the real features are detached), as in EnCodec."""
    with torch.no_grad():
        _, fmaps_real = disc(real)
    logits_fake, fmaps_fake = disc(fake)
    adv = sum(F.relu(1 - f).mean() for f in logits_fake) / len(logits_fake)
    fm_terms = [(ff - fr).abs().mean() / fr.abs().mean().clamp_min(EPS)
                for fr_scale, ff_scale in zip(fmaps_real, fmaps_fake) for fr, ff in zip(fr_scale, ff_scale)]
    return adv, sum(fm_terms) / len(fm_terms)


# -- evaluation --------------------------------------------------------------------------------------------
@torch.no_grad()
def reconstruction_metrics(x: torch.Tensor, y: torch.Tensor, sample_rate: int) -> dict[str, float]:
    """Reference ``x`` and reconstruction ``y``, ``[B, C, N]`` or ``[C, N]`` (the longer is cut to the
    shorter) -> ``{"log_mel_l1": ..., "multires_stft": ...}`` as floats (lower is better, 0 when equal)."""
    x, y = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32).to(x.device)
    x = x[None] if x.ndim == 2 else x
    y = y[None] if y.ndim == 2 else y
    if x.shape[:-1] != y.shape[:-1]:
        raise DuettoError(f"reconstruction_metrics: shapes {tuple(x.shape)} and {tuple(y.shape)} differ")
    n = min(x.shape[-1], y.shape[-1])
    x, y = x[..., :n], y[..., :n]
    return {"log_mel_l1": float(MelLoss(sample_rate).to(x.device)(y, x)),
            "multires_stft": float(MultiResolutionSTFTLoss(sample_rate).to(x.device)(y, x))}
