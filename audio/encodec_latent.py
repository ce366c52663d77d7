"""A user's pretrained EnCodec as a frozen audio latent space: its encoder's output before quantisation is
the latent, its decoder decodes. Nothing is downloaded: the weights come from a local checkpoint.

    ae = EncodecLatent.from_encodec_checkpoint("encodec_24khz-d7cc33bc.th", encodec_preset("encodec_24khz"))
    ae.save_pretrained("models/encodec24")          # then load_autoencoder("models/encodec24") like any VAE

Audio is ``[B, C, N]`` in [-1, 1]; latents ``[B, dimension, ceil(N / hop)]`` (EnCodec's own end padding);
decoding gives ``L * hop`` samples. Latent ``i`` stands for samples ``[i * hop, (i + 1) * hop)``, and
``timestamps`` gives the centre of that span as for `AudioVAE`. With the causal 24 kHz model, latent ``i`` has
seen audio up to the end of its span and is heard from its start on.

Limits: no chunked encode/decode (the LSTM's reach is unbounded); ``sample`` is ignored (no posterior); the
48 kHz model's per-second loudness normalisation is not applied (the latents keep the input level).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from encodec.modules import SEANetDecoder, SEANetEncoder
from torch import nn

from duetto.data.autoencoder import LatentAutoencoder, load_state_strict

from .vae import WaveformLatents
from duetto.data.errors import DuettoError

NORMS = ("weight_norm", "time_group_norm", "none")


@dataclass(frozen=True)
class EncodecLatentConfig:
    sample_rate: int = 24000
    channels: int = 1
    n_filters: int = 32
    dimension: int = 128                # latent channels
    ratios: tuple = (8, 5, 4, 2)
    n_residual_layers: int = 1
    lstm: int = 2
    causal: bool = True
    norm: str = "weight_norm"           # as trained; weight norm is folded into plain weights on import
    latent_scale: float = 1.0           # latents = (embedding - shift) * scale
    latent_shift: float = 0.0

    def __post_init__(self):
        if self.norm not in NORMS:
            raise DuettoError(f"EncodecLatentConfig.norm must be one of {', '.join(NORMS)}, not {self.norm!r}")
        if not (math.isfinite(self.latent_scale) and self.latent_scale != 0 and math.isfinite(self.latent_shift)):
            raise DuettoError("EncodecLatentConfig.latent_scale must be finite and non-zero, latent_shift finite")
        if not self.ratios or min(self.ratios) < 1 or min(self.sample_rate, self.channels, self.dimension) < 1:
            raise DuettoError("EncodecLatentConfig: sample_rate, channels, dimension and ratios must be positive")


ENCODEC_PRESETS = {       # the two models `encodec` publishes (EncodecModel.encodec_model_24khz / _48khz)
    "encodec_24khz": EncodecLatentConfig(),
    "encodec_48khz": EncodecLatentConfig(sample_rate=48000, channels=2, causal=False, norm="time_group_norm"),
}


def encodec_preset(name: str) -> EncodecLatentConfig:
    if name not in ENCODEC_PRESETS:
        raise DuettoError(f"unknown EnCodec preset {name!r}: {', '.join(ENCODEC_PRESETS)}")
    return ENCODEC_PRESETS[name]


def _seanet(cfg: EncodecLatentConfig, norm: str) -> tuple[SEANetEncoder, SEANetDecoder]:
    kw = dict(channels=cfg.channels, dimension=cfg.dimension, n_filters=cfg.n_filters, ratios=list(cfg.ratios),
              n_residual_layers=cfg.n_residual_layers, lstm=cfg.lstm, causal=cfg.causal, norm=norm)
    with warnings.catch_warnings():             # encodec's old-style weight_norm is deprecated in torch
        warnings.simplefilter("ignore", FutureWarning)
        return SEANetEncoder(**kw), SEANetDecoder(**kw)


class EncodecLatent(WaveformLatents, LatentAutoencoder):
    """Frozen: parameters never require gradients and the module stays in eval mode."""

    config_class = EncodecLatentConfig

    def __init__(self, config: EncodecLatentConfig):
        super().__init__(config)
        self.encoder, self.decoder = _seanet(config, "none" if config.norm == "weight_norm" else config.norm)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True):
        return super().train(False)

    @classmethod
    def from_encodec_checkpoint(cls, path, config: EncodecLatentConfig | None = None) -> "EncodecLatent":
        """An `EncodecModel` state dict from a local ``.th``/``.pt`` (read with ``weights_only=True``) or
        ``.safetensors`` file -> the frozen latent space. Encoder and decoder keys must match ``config``
        exactly; the quantiser's are ignored."""
        config = config or encodec_preset("encodec_24khz")
        state = _read_state(Path(path))
        wanted = {k: v for k, v in state.items() if not k.startswith("quantizer.")}
        enc, dec = _seanet(config, config.norm)
        source = nn.ModuleDict({"encoder": enc, "decoder": dec})
        load_state_strict(source, wanted, f"{path}: not an EnCodec checkpoint for this config;")
        if config.norm == "weight_norm":        # fold g * v / |v| into plain weights
            for m in source.modules():
                if hasattr(m, "weight_g"):
                    nn.utils.remove_weight_norm(m)
        model = cls(config)
        model.load_state_dict({k: v.detach() for k, v in source.state_dict().items()}, strict=True)
        return model

    # -- the protocol --------------------------------------------------------------------------------
    @property
    def latent_channels(self) -> int:
        return self.config.dimension

    def encode(self, audio: torch.Tensor, sample: bool = False) -> torch.Tensor:
        """``audio [B, C, N]`` -> normalised pre-quantiser embeddings ``[B, dimension, ceil(N / hop)]``."""
        return self.normalise(self.encoder(self._check_audio(audio)))

    def decode(self, z: torch.Tensor, length: int | None = None) -> torch.Tensor:
        """Normalised latents ``[B, dimension, L]`` -> audio ``[B, C, L * hop]`` (or its first ``length``)."""
        if z.ndim != 3 or z.shape[1] != self.latent_channels or z.shape[-1] < 1:
            raise DuettoError(f"latents must be [B, {self.latent_channels}, L] with L >= 1, got {tuple(z.shape)}")
        x = self.decoder(self.denormalise(z))
        return x if length is None else x[..., :length]


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise DuettoError(f"{path}: no such checkpoint file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:                      # unpickling refusals, truncated files, wrong formats
        raise DuettoError(f"{path}: cannot read checkpoint ({type(e).__name__}: {str(e)[:100]})") from None
    if not (isinstance(state, dict) and all(isinstance(k, str) and torch.is_tensor(v) for k, v in state.items())):
        raise DuettoError(f"{path}: not a state dict of tensors")
    return state
