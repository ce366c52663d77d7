"""One protocol for the video and audio autoencoders, their Gaussian bottleneck, and saving/loading.

Both VAEs are `Pretrained` modules with a frozen dataclass config. On disk a model is a folder with
``config.json`` (``{"class": "duetto.video.vae.VideoVAE", "config": {...}}``) and ``model.safetensors``;
`load_autoencoder(dir)` reads any of them, strictly (a missing or unexpected key is an error).

Latents returned by ``encode`` are normalised, ``(mean - latent_shift) * latent_scale``, with the two
constants stored in the config (never in code); ``decode`` undoes that. ``timestamps(n)`` gives the seconds
of the centre of the span each of ``n`` latents covers: the clock the joint model uses.

This lives in `duetto.data` (the first area) so that latent caches can be written without the data
area importing the later ``audio``/``video`` areas: the class is resolved from ``config.json`` by name,
and only classes inside ``duetto.`` are accepted.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from .errors import DuettoError
from .schema import load_json

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
MAX_CONFIG_BYTES = 1 << 20


@runtime_checkable
class Autoencoder(Protocol):
    """What the joint model, the latent caches and the trainers rely on."""

    config: Any

    @property
    def latent_channels(self) -> int: ...
    @property
    def latents_per_second(self) -> float: ...
    def encode(self, x: torch.Tensor, sample: bool = False) -> torch.Tensor: ...
    def decode(self, z: torch.Tensor) -> torch.Tensor: ...
    def timestamps(self, n: int) -> np.ndarray: ...
    def save_pretrained(self, directory) -> Path: ...


class DiagonalGaussian:
    """The KL bottleneck: ``params [B, 2C, ...]`` split into mean and log-variance (clamped)."""

    def __init__(self, params: torch.Tensor):
        self.mean, logvar = params.chunk(2, dim=1)
        self.logvar = logvar.clamp(-30.0, 20.0)

    def sample(self) -> torch.Tensor:
        return self.mean + torch.randn_like(self.mean) * torch.exp(0.5 * self.logvar)

    def kl(self) -> torch.Tensor:
        """KL to a standard normal, averaged over every element."""
        return 0.5 * (self.mean.pow(2) + self.logvar.exp() - 1.0 - self.logvar).mean()


INIT_LOGVAR = -6.0


def start_narrow(conv: nn.Module, logvar: float = INIT_LOGVAR) -> nn.Module:
    """Set the bias of the log-variance half of the convolution that outputs the posterior's parameters
    ``[2C]`` to ``logvar``, so training starts near a plain autoencoder (noise std ``exp(logvar / 2)``, 0.05).
    With the default zero bias the sampled latent starts as unit noise that swamps the mean; at a small KL
    weight the decoder then learns to ignore the latent for hundreds of steps (measured on the audio VAE:
    no drop in the spectral losses in 125 steps, KL about 0.001)."""
    with torch.no_grad():
        c = conv.bias.shape[0] // 2
        conv.bias[c:] = logvar
    return conv


@contextmanager
def atomic_folder(directory):
    """Write a folder atomically: yields a fresh temporary folder beside ``directory`` that replaces it when
    the block ends without an error (a crash leaves the old folder, or none, never half of one)."""
    directory = Path(directory)
    tmp = directory.with_name(f".{directory.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = directory.with_name(f".{directory.name}.old{os.getpid()}")
    if directory.exists():
        directory.rename(old)
    tmp.rename(directory)
    shutil.rmtree(old, ignore_errors=True)


class Pretrained(nn.Module):
    """Base for modules saved as ``config.json`` + ``model.safetensors``. Subclasses set ``config_class``
    and take their config as the only constructor argument."""

    config_class: ClassVar[type]

    def __init__(self, config):
        super().__init__()
        if not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} needs a {self.config_class.__name__}, got {type(config).__name__}")
        self.config = config

    def save_pretrained(self, directory, dtype: torch.dtype | None = None) -> Path:
        """Write the folder atomically: a crash leaves the old folder (or none), never half of one.
        ``dtype`` (e.g. ``torch.float16`` for shipped weights) stores floating tensors in that type; loading
        casts them back to the module's own type."""
        from safetensors.torch import save_file
        directory = Path(directory)
        cls = type(self)
        meta = {"class": f"{cls.__module__}.{cls.__qualname__}", "config": dataclasses.asdict(self.config)}
        state = {k: v.detach().cpu().to(dtype if dtype is not None and v.is_floating_point() else v.dtype).contiguous()
                 for k, v in self.state_dict().items()}
        with atomic_folder(directory) as tmp:
            (tmp / CONFIG_NAME).write_text(json.dumps(meta, indent=2) + "\n")
            save_file(state, str(tmp / WEIGHTS_NAME))
        return directory

    @classmethod
    def from_pretrained(cls, directory, map_location: str = "cpu"):
        model = load_autoencoder(directory, map_location)
        if not isinstance(model, cls):
            raise DuettoError(f"{directory}: holds a {type(model).__name__}, not a {cls.__name__}")
        return model


class LatentAutoencoder(Pretrained):
    """A `Pretrained` autoencoder whose config carries ``latent_scale`` and ``latent_shift``."""

    def normalise(self, raw: torch.Tensor) -> torch.Tensor:
        """Raw latents -> what ``encode`` returns: ``(raw - latent_shift) * latent_scale``."""
        return (raw - self.config.latent_shift) * self.config.latent_scale

    def denormalise(self, z: torch.Tensor) -> torch.Tensor:
        return z / self.config.latent_scale + self.config.latent_shift


def read_config(directory) -> tuple[type, Any]:
    """(class, config) named by ``directory/config.json``; a clear `DuettoError` for anything wrong."""
    directory = Path(directory)
    path = directory / CONFIG_NAME
    if not path.is_file():
        raise DuettoError(f"{directory}: not a model folder (no {CONFIG_NAME})")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise DuettoError(f"{path}: larger than {MAX_CONFIG_BYTES >> 10} KiB")
    meta = load_json(path.read_bytes(), str(path))
    if not isinstance(meta, dict) or not isinstance(meta.get("class"), str) or not isinstance(meta.get("config"), dict):
        raise DuettoError(f"{path}: expected {{\"class\": ..., \"config\": {{...}}}}")
    name = meta["class"]
    if not name.startswith("duetto.") or name.count(".") < 2:
        raise DuettoError(f"{path}: class {name!r} is not a Duetto model")
    module, _, attr = name.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        raise DuettoError(f"{path}: unknown model class {name!r}") from None
    if not (isinstance(cls, type) and issubclass(cls, Pretrained)):
        raise DuettoError(f"{path}: {name!r} is not a saved-model class")
    return cls, config_from_dict(cls.config_class, meta["config"], str(path))


def config_from_dict(config_class, values: dict, name: str = "config"):
    """A frozen dataclass from JSON values: unknown or missing fields are errors; lists become tuples."""
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    unknown = set(values) - set(fields)
    if unknown:
        raise DuettoError(f"{name}: unknown config field(s) {sorted(unknown)} for {config_class.__name__}")
    vals = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    try:
        cfg = config_class(**vals)
    except (TypeError, ValueError) as e:
        raise DuettoError(f"{name}: bad {config_class.__name__} ({e})") from None
    return cfg


def read_safetensors(file, map_location: str = "cpu") -> dict[str, torch.Tensor]:
    """A safetensors file's tensors; a `DuettoError` naming the file when it is unreadable."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    try:
        return load_file(str(file), device=map_location)
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise DuettoError(f"{file}: corrupt weights ({str(e)[:100]})") from None


@contextmanager
def weights_to_be_loaded():
    """Build modules whose every weight is about to be overwritten by a strict load: ``torch.nn.init``'s in-place
    initialisers do nothing inside (the tensors keep whatever memory they got), which saves the random draws
    (MiniLM: 0.15 s of a 0.37 s load). Only for modules followed by `load_state_strict`, which checks every key."""
    names = [n for n in dir(nn.init) if n.endswith("_") and not n.startswith("_")]
    saved = {n: getattr(nn.init, n) for n in names}
    for n in names:
        setattr(nn.init, n, lambda tensor, *args, **kwargs: tensor)
    try:
        yield
    finally:
        for n, f in saved.items():
            setattr(nn.init, n, f)


def load_state_strict(module: nn.Module, state: dict[str, torch.Tensor], name: str):
    """``module.load_state_dict(state, strict=True)``, but a missing or unexpected key or a wrong shape is a
    one-line `DuettoError` that starts with ``name`` (the file)."""
    own = module.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or unexpected:
        raise DuettoError(f"{name}: does not match {type(module).__name__} "
                          f"(missing {missing[:3]}{'...' if len(missing) > 3 else ''}, "
                          f"unexpected {unexpected[:3]}{'...' if len(unexpected) > 3 else ''})")
    bad = [k for k in own if own[k].shape != state[k].shape]
    if bad:
        raise DuettoError(f"{name}: wrong shape for {bad[0]} ({tuple(state[bad[0]].shape)} vs {tuple(own[bad[0]].shape)})")
    module.load_state_dict(state, strict=True)


def load_autoencoder(directory, map_location: str = "cpu"):
    """Any saved Duetto model folder -> the module, in eval mode, weights checked key by key and shape by shape."""
    directory = Path(directory)
    cls, cfg = read_config(directory)
    weights = directory / WEIGHTS_NAME
    if not weights.is_file():
        raise DuettoError(f"{directory}: no {WEIGHTS_NAME}")
    state = read_safetensors(weights, map_location)
    with weights_to_be_loaded():
        model = cls(cfg)
    load_state_strict(model, state, str(weights))
    return model.eval()


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)
