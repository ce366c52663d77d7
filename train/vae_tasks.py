"""Training tasks for the two autoencoders (the `Trainer`'s contract: ``model``, ``batch(step)``,
``loss(model, batch, step)``, ``evaluate(model, step)``, and for the audio GAN ``aux``/``aux_loss``).

Batches come from a `Bank` and depend only on ``(seed, step)``; evaluation runs on held-out clips.
"""
from __future__ import annotations

import numpy as np
import torch

from duetto.data.bank import Bank


class VideoVAETask:
    """Windows of ``frames`` frames (1 + k*n, so they fill whole latents); evaluation: PSNR and SSIM of the
    posterior mean's reconstruction on the first ``eval_frames`` frames of every held-out clip."""

    def __init__(self, model, train: Bank, held_out: Bank, *, batch_size: int = 4, frames: int = 17,
                 eval_frames: int = 33, seed: int = 0):
        from duetto.video.vae import to_model_range
        self.model, self.train, self.held_out = model, train, held_out
        self.batch_size, self.frames, self.eval_frames, self.seed = batch_size, frames, eval_frames, seed
        self.items_per_batch = batch_size * frames          # throughput in frames/s
        self._to_model = to_model_range

    def batch(self, step: int) -> dict:
        return {"video": self._to_model(self.train.video_batch(self.seed, step, self.batch_size, self.frames))}

    def loss(self, model, batch, step):
        from duetto.video.losses import vae_loss
        return vae_loss(model, batch["video"], self.model.config)

    @torch.no_grad()
    def evaluate(self, model, step) -> dict:
        return evaluate_video(model, self.held_out, self.eval_frames)


@torch.no_grad()
def evaluate_video(model, bank: Bank, frames: int) -> dict:
    """Mean PSNR (dB) and SSIM over the clips of ``bank`` (first ``frames`` frames of each)."""
    from duetto.video.losses import psnr, ssim
    from duetto.video.vae import to_model_range
    was_training = model.training
    model.eval()
    p, s = [], []
    for v in bank.videos:
        x = to_model_range(torch.from_numpy(v[None, :frames]))
        device = next(model.parameters()).device
        x = x.to(device)
        y = model.decode(model.encode(x))[:, :, : x.shape[2]]
        p.append(psnr(y, x).item())
        s.append(ssim(y, x).item())
    model.train(was_training)
    return {"psnr": float(np.mean(p)), "ssim": float(np.mean(s))}
