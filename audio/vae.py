"""The audio VAE: waveform in, waveform out, `encodec`'s SEANet encoder/decoder around a Gaussian bottleneck.

Audio is ``[B, C, N]`` float in [-1, 1] at the config's ``sample_rate``; latents are ``[B, latent_channels, L]``
with ``L = ceil(N / hop)`` (the end is padded with zeros to a multiple of ``hop``) and decode to
``[B, C, L * hop]`` samples.

Time: latent ``i`` stands for samples ``[i * hop, (i + 1) * hop)``; ``timestamps(L)`` is the centre of that
span, ``(i + 0.5) * hop / sample_rate`` seconds. The convolutions are non-causal and padded (nearly)
symmetrically, so the latents a click at ``t`` reaches are centred on the one whose timestamp is nearest ``t``,
and the samples latent ``i`` reaches are centred on ``timestamps(L)[i]`` (tests/audio/test_audio_vae.py
measures both, with untrained weights).

Long clips: with ``lstm=0`` (the default) encoder and decoder see a finite window, so `chunked_encode` and
`chunked_decode` cut the clip into chunks with that window as overlap and give the one-shot result (to float
rounding) in memory bounded by the chunk size.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from encodec.modules import SEANetDecoder, SEANetEncoder
from encodec.modules.conv import SConv1d, SConvTranspose1d
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from duetto.data.autoencoder import DiagonalGaussian, LatentAutoencoder, ceil_div, start_narrow
from duetto.data.errors import DuettoError

from duetto.audio.harmonic import HarmonicSource


@dataclass(frozen=True)
class AudioVAEConfig:
    sample_rate: int = 16000
    channels: int = 1
    n_filters: int = 16                 # width of the first (full-rate) layer; doubles at each downsampling
    ratios: tuple = (8, 5, 4, 2)        # decoder upsampling order (the encoder runs them reversed); hop = product
    latent_channels: int = 8
    n_residual_layers: int = 1
    lstm: int = 0                       # LSTM layers at the bottleneck: > 0 makes the receptive field unbounded
    kl_weight: float = 1e-4
    mel_weight: float = 1.0             # log-mel L1 beside the multi-resolution STFT loss (losses.vae_loss)
    wave_weight: float = 10.0           # waveform L1 (losses.ReconstructionLoss)
    # FFT sizes of the training loss's multi-resolution STFT term, at 16 kHz (scaled to sample_rate). The 8 and
    # 16 ms windows see energy smeared ahead of a click, which the 32 ms and longer ones blur into the click itself
    stft_sizes: tuple = (128, 256, 512, 1024, 2048)
    harmonics: int = 0                  # > 0: a harmonic source beside the decoder (audio.harmonic), this many partials
    latent_scale: float = 1.0           # latents = (mean - shift) * scale
    latent_shift: float = 0.0

    def __post_init__(self):
        for name in ("sample_rate", "channels", "n_filters", "latent_channels"):
            v = getattr(self, name)
            if not (isinstance(v, int) and v > 0):
                raise DuettoError(f"AudioVAEConfig.{name} must be a positive integer, not {v!r}")
        if not self.ratios or not all(isinstance(r, int) and r > 0 for r in self.ratios):
            raise DuettoError(f"AudioVAEConfig.ratios must be positive integers, not {self.ratios!r}")
        if not self.stft_sizes or not all(isinstance(n, int) and n >= 16 for n in self.stft_sizes):
            raise DuettoError(f"AudioVAEConfig.stft_sizes must be integers >= 16, not {self.stft_sizes!r}")
        if not (isinstance(self.n_residual_layers, int) and self.n_residual_layers >= 0):
            raise DuettoError(f"AudioVAEConfig.n_residual_layers must be >= 0, not {self.n_residual_layers!r}")
        if not (isinstance(self.harmonics, int) and 0 <= self.harmonics <= 256):
            raise DuettoError(f"AudioVAEConfig.harmonics must be an integer in [0, 256], not {self.harmonics!r}")
        if not (isinstance(self.lstm, int) and self.lstm >= 0):
            raise DuettoError(f"AudioVAEConfig.lstm must be >= 0, not {self.lstm!r}")
        if not (math.isfinite(self.latent_scale) and self.latent_scale != 0 and math.isfinite(self.latent_shift)):
            raise DuettoError("AudioVAEConfig.latent_scale must be finite and non-zero, latent_shift finite")
        if not (self.kl_weight >= 0 and self.mel_weight >= 0 and self.wave_weight >= 0):
            raise DuettoError("AudioVAEConfig.kl_weight, mel_weight and wave_weight must be >= 0")


PRESETS = {
    # 16 kHz mono, hop 320 -> 50 latents/s of 8 channels; 1.4 M parameters, ~2x real time on 2 CPU cores
    "tiny": AudioVAEConfig(),
    # 48 kHz stereo, hop 960 -> 50 latents/s of 32 channels; 25.6 M parameters
    "base": AudioVAEConfig(sample_rate=48000, channels=2, n_filters=64, ratios=(8, 6, 5, 4), latent_channels=32,
                           n_residual_layers=2),
}


def preset(name: str) -> AudioVAEConfig:
    if name not in PRESETS:
        raise DuettoError(f"unknown audio VAE preset {name!r}: {', '.join(PRESETS)}")
    return PRESETS[name]


def _weight_norm_all(module: nn.Module) -> nn.Module:
    """Weight norm on every 1-d (transposed) convolution, as `encodec` does, but through
    ``torch.nn.utils.parametrizations`` so the module deep-copies (EMA) and saves plain tensors.

    Every filter starts with norm 1. With PyTorch's default init the signal fades layer by layer: measured on
    the tiny model, the decoder's output moved by 4e-5 (std) between the true latents and zeros, so it
    learnt to ignore them and settled on near-silence; with norm-1 filters it moves by 0.17 for input at 0.14."""
    for m in list(module.modules()):
        if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d)):
            weight_norm(m)
            with torch.no_grad():
                m.parametrizations.weight.original0.fill_(1.0)
    return module


def _conv_params(m) -> tuple[int, int, int]:
    conv = m.conv.conv if isinstance(m, SConv1d) else m.convtr.convtr
    return conv.kernel_size[0], conv.stride[0], conv.dilation[0]


def input_interval(net: nn.Module, lo: int, hi: int) -> tuple[int, int]:
    """The input positions ``[lo', hi']`` that outputs ``lo .. hi`` of a SEANet encoder or decoder depend on.

    Walks the (transposed) convolutions backwards with `encodec`'s non-causal padding (left pad
    ``total - total // 2``). Each residual block is treated as a chain of its convolutions, which can only
    widen the interval; LSTM layers are ignored (their reach is unbounded)."""
    for m in reversed(list(net.modules())):
        if isinstance(m, SConv1d):              # out j <- in [j*s - pl, j*s - pl + (k-1)d]
            k, s, d = _conv_params(m)
            total = (k - 1) * d - (s - 1)
            pl = total - total // 2
            lo, hi = lo * s - pl, hi * s - pl + (k - 1) * d
        elif isinstance(m, SConvTranspose1d):   # in i -> out [i*s - pl, i*s - pl + k - 1]
            k, s, _ = _conv_params(m)
            total = k - s
            pl = total - total // 2
            lo, hi = -((k - 1 - lo - pl) // s), (hi + pl) // s
    return lo, hi


def encoder_overlap(encoder: nn.Module, hop: int) -> int:
    """Latents of audio either side of a chunk that its encoding depends on."""
    a, b = input_interval(encoder, 0, 0)                    # samples that latent 0 sees
    return max(ceil_div(-a, hop), ceil_div(b - (hop - 1), hop), 0)


def decoder_overlap(decoder: nn.Module, hop: int) -> int:
    """Latents either side of a chunk that its decoding depends on."""
    a, b = input_interval(decoder, 0, hop - 1)              # latents that latent 0's samples hear
    return max(-a, b, 0)


class WaveformLatents:
    """The clock of an autoencoder over waveforms whose config has ``sample_rate``, ``channels`` and
    ``ratios`` (their product is the hop: samples per latent). Shared by `AudioVAE` and `EncodecLatent`."""

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def channels(self) -> int:
        return self.config.channels

    @property
    def hop(self) -> int:
        """Samples per latent."""
        return math.prod(self.config.ratios)

    @property
    def latents_per_second(self) -> float:
        return self.config.sample_rate / self.hop

    def latent_length(self, samples: int) -> int:
        return ceil_div(samples, self.hop)

    def sample_count(self, latents: int) -> int:
        return latents * self.hop

    def timestamps(self, n: int) -> np.ndarray:
        """Seconds ``[n]``: the centre of the ``hop`` samples each latent stands for."""
        return (np.arange(n, dtype=np.float64) + 0.5) * self.hop / self.config.sample_rate

    def _check_audio(self, audio: torch.Tensor) -> torch.Tensor:
        if audio.ndim != 3 or audio.shape[1] != self.channels or audio.shape[-1] < 1:
            raise DuettoError(f"audio must be [B, {self.channels}, N] with N >= 1, got {tuple(audio.shape)}")
        return audio

    def _pad(self, audio: torch.Tensor) -> torch.Tensor:
        """Check ``[B, C, N]`` and zero-pad the end to a multiple of ``hop``."""
        self._check_audio(audio)
        pad = -audio.shape[-1] % self.hop
        return nn.functional.pad(audio, (0, pad)) if pad else audio


class AudioVAE(WaveformLatents, LatentAutoencoder):
    config_class = AudioVAEConfig

    def __init__(self, config: AudioVAEConfig):
        super().__init__(config)
        common = dict(channels=config.channels, n_filters=config.n_filters, ratios=list(config.ratios),
                      n_residual_layers=config.n_residual_layers, lstm=config.lstm, norm="none")
        self.encoder = _weight_norm_all(SEANetEncoder(dimension=2 * config.latent_channels, **common))
        self.decoder = _weight_norm_all(SEANetDecoder(dimension=config.latent_channels, **common))
        start_narrow([m for m in self.encoder.modules() if isinstance(m, nn.Conv1d)][-1])
        self.harmonic = (HarmonicSource(config.latent_channels, self.hop, config.sample_rate, config.harmonics)
                         if config.harmonics else None)
        # latents of context each chunk needs on either side for chunked == one-shot (finite only without LSTM)
        self.encoder_overlap = encoder_overlap(self.encoder, self.hop)
        self.decoder_overlap = decoder_overlap(self.decoder, self.hop)

    # -- the protocol --------------------------------------------------------------------------------
    @property
    def latent_channels(self) -> int:
        return self.config.latent_channels

    def encode_dist(self, audio: torch.Tensor) -> DiagonalGaussian:
        """``audio [B, C, N]`` -> the posterior over raw latents ``[B, latent_channels, ceil(N / hop)]``."""
        return DiagonalGaussian(self.encoder(self._pad(audio)))

    def encode(self, audio: torch.Tensor, sample: bool = False) -> torch.Tensor:
        """``audio [B, C, N]`` in [-1, 1] -> normalised latents ``[B, latent_channels, ceil(N / hop)]``
        (the posterior mean, or a sample from it)."""
        d = self.encode_dist(audio)
        return self.normalise(d.sample() if sample else d.mean)

    def decode_raw(self, z: torch.Tensor) -> torch.Tensor:
        """Raw latents ``[B, latent_channels, L]`` -> audio ``[B, C, L * hop]`` (not clamped)."""
        _check_latents(z, self.latent_channels)
        x = self.decoder(z)
        return x if self.harmonic is None else x + self.harmonic(z)

    def forward(self, audio: torch.Tensor, sample: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """The training pass (goes through a DDP wrapper): ``(reconstruction [B, C, N], KL)``."""
        post = self.encode_dist(audio)
        return self.decode_raw(post.sample() if sample else post.mean)[..., : audio.shape[-1]], post.kl()

    def decode(self, z: torch.Tensor, length: int | None = None) -> torch.Tensor:
        """Normalised latents ``[B, latent_channels, L]`` -> audio ``[B, C, L * hop]`` (or the first ``length``
        samples), not clamped."""
        x = self.decode_raw(self.denormalise(z))
        return x if length is None else x[..., :length]

    # -- long clips in bounded memory --------------------------------------------------------------------
    @torch.no_grad()
    def chunked_encode(self, audio: torch.Tensor, chunk_latents: int = 50, sample: bool = False) -> torch.Tensor:
        """Same as ``encode``, ``chunk_latents`` latents at a time, each chunk encoded with
        ``encoder_overlap`` latents of audio on either side (then dropped). Without gradients."""
        if chunk_latents < 1:
            raise DuettoError(f"chunk_latents must be >= 1, not {chunk_latents}")
        x, hop, ov = self._pad(audio), self.hop, self.encoder_overlap
        n = x.shape[-1] // hop
        out = []
        for s in range(0, n, chunk_latents):
            e = min(s + chunk_latents, n)
            a, b = max(0, s - ov), min(n, e + ov)
            d = DiagonalGaussian(self.encoder(x[..., a * hop: b * hop]))     # [B, 2C, b - a] -> [B, C, b - a]
            out.append((d.sample() if sample else d.mean)[..., s - a: e - a])
        return self.normalise(torch.cat(out, dim=-1))

    @torch.no_grad()
    def chunked_decode(self, z: torch.Tensor, chunk_latents: int = 50, length: int | None = None) -> torch.Tensor:
        """Same as ``decode``, ``chunk_latents`` latents at a time with ``decoder_overlap`` latents of context
        on either side (the harmonic source, whose phase runs over the whole clip, in one pass of bounded memory).
        Without gradients."""
        if chunk_latents < 1:
            raise DuettoError(f"chunk_latents must be >= 1, not {chunk_latents}")
        raw, hop, ov = self.denormalise(z), self.hop, self.decoder_overlap
        _check_latents(raw, self.latent_channels)
        n = raw.shape[-1]
        out = []
        for s in range(0, n, chunk_latents):
            e = min(s + chunk_latents, n)
            a, b = max(0, s - ov), min(n, e + ov)
            y = self.decoder(raw[..., a:b])                                 # [B, C, (b - a) * hop]
            out.append(y[..., (s - a) * hop: (e - a) * hop])
        x = torch.cat(out, dim=-1)
        if self.harmonic is not None:
            x = x + self.harmonic(raw)
        return x if length is None else x[..., :length]



def _check_latents(z: torch.Tensor, channels: int):
    if z.ndim != 3 or z.shape[1] != channels or z.shape[-1] < 1:
        raise DuettoError(f"latents must be [B, {channels}, L] with L >= 1, got {tuple(z.shape)}")
