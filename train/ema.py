"""Exponential moving average of a model's weights: what gets evaluated and saved for inference."""
from __future__ import annotations

import copy

import torch
from torch import nn

from duetto.data.autoencoder import Pretrained


class EMA:
    """After each `update`, every floating parameter follows ``ema = decay * ema + (1 - decay) * param``;
    buffers (and non-float parameters) are copied as they are. Starts equal to the model.

    The average lives in ``self.module``: a plain copy of the model in eval mode with gradients off. A
    `Pretrained` model is copied by building a fresh instance from its config and loading its state (a deep
    copy fails on modules with hook-based ``weight_norm``); the build does not touch the global RNG."""

    def __init__(self, model: nn.Module, decay: float):
        if not 0 <= decay < 1:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = float(decay)
        if isinstance(model, Pretrained):
            with torch.random.fork_rng(devices=[]):
                module = type(model)(model.config)
            module.load_state_dict(model.state_dict(), strict=True)
        else:
            module = copy.deepcopy(model)
        self.module = module.to(next(model.parameters()).device).eval().requires_grad_(False)
        self._names = [n for n, _ in model.named_parameters()]
        if self._names != [n for n, _ in self.module.named_parameters()]:
            raise ValueError("EMA copy does not have the model's parameters")

    @torch.no_grad()
    def update(self, model: nn.Module):
        """One step of the average towards ``model`` (the plain module, not a DDP wrapper)."""
        params = dict(model.named_parameters())
        for name, e in self.module.named_parameters():
            p = params[name].detach()
            if e.is_floating_point():
                e.lerp_(p.to(e.dtype), 1.0 - self.decay)
            else:
                e.copy_(p)
        buffers = dict(model.named_buffers())
        for name, e in self.module.named_buffers():
            e.copy_(buffers[name])

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]):
        self.module.load_state_dict(state, strict=True)
