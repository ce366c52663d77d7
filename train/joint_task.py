"""Training task for the joint model: flow matching on whole latent clips read from latent shards.

Every clip must have the same latent shapes (the synthetic shards are all one length); their token times
come from the shards (the VAEs' ``timestamps``), never from indices. Captions are embedded once by the text
encoder; each is dropped with ``caption_dropout`` (for guidance). A batch depends only on ``(seed, step)``.
"""
from __future__ import annotations

import numpy as np
import torch

from duetto.data.errors import DuettoError
from duetto.joint.flow import FlowConfig, add_noise, flow_loss


class JointTask:
    def __init__(self, model, clips: list[dict], held_out: list[dict], text_encoder, *, batch_size: int = 8,
                 flow: FlowConfig = FlowConfig(), caption_dropout: float = 0.1, seed: int = 0):
        if not clips:
            raise DuettoError("no latent clips to train on")
        self.model, self.flow, self.batch_size, self.seed = model, flow, batch_size, seed
        self.caption_dropout = caption_dropout
        self.train = _stack(clips, text_encoder)
        self.held = _stack(held_out, text_encoder) if held_out else None
        self.items_per_batch = batch_size

    def batch(self, step: int) -> dict:
        rng = np.random.default_rng([self.seed, step])
        idx = torch.from_numpy(rng.integers(0, len(self.train["video"]), self.batch_size))
        keep = torch.from_numpy(rng.random(self.batch_size) >= self.caption_dropout)
        return {"video": self.train["video"][idx], "audio": self.train["audio"][idx],
                "text": self.train["text"][idx], "text_mask": self.train["text_mask"][idx] & keep[:, None],
                "noise_seed": int(rng.integers(0, 2 ** 62))}

    def loss(self, model, batch, step):
        d = self.train
        return flow_loss(model, batch["video"], batch["audio"], d["video_times"].to(batch["video"].device),
                         d["audio_times"].to(batch["video"].device), cfg=self.flow, text=batch["text"],
                         text_mask=batch["text_mask"], generator=torch.Generator().manual_seed(batch["noise_seed"]))

    @torch.no_grad()
    def evaluate(self, model, step) -> dict:
        """Velocity error on the held-out clips at flow times 0.25, 0.5 and 0.75 (both streams noised alike,
        fixed noise), per stream."""
        if self.held is None:
            return {}
        d, out = self.held, {"video": [], "audio": []}
        device = next(model.parameters()).device
        g = torch.Generator().manual_seed(1234)
        for t in (0.25, 0.5, 0.75):
            for i in range(0, len(d["video"]), 8):
                v, a = d["video"][i:i + 8].to(device), d["audio"][i:i + 8].to(device)
                nv, na = torch.randn(v.shape, generator=g).to(v), torch.randn(a.shape, generator=g).to(a)
                tt = torch.full((len(v),), t, device=device)
                pv, pa = model(add_noise(v, nv, tt), add_noise(a, na, tt), tt, tt, d["video_times"].to(device),
                               d["audio_times"].to(device), d["text"][i:i + 8].to(device), d["text_mask"][i:i + 8].to(device))
                out["video"].append(((pv - (nv - v)) ** 2).mean().item())
                out["audio"].append(((pa - (na - a)) ** 2).mean().item())
        return {f"flow_{k}": float(np.mean(v)) for k, v in out.items()}


def _stack(clips: list[dict], text_encoder) -> dict:
    """Clips of one shape -> stacked tensors, shared token times and embedded captions."""
    first = clips[0]
    for c in clips[1:]:
        if c["video"].shape != first["video"].shape or c["audio"].shape != first["audio"].shape:
            raise DuettoError(f"latent clips differ in shape ({c['key']}: {tuple(c['video'].shape)}, "
                              f"{tuple(c['audio'].shape)} vs {tuple(first['video'].shape)}, {tuple(first['audio'].shape)}); "
                              "encode clips of one length")
        if not (torch.equal(c["video_times"], first["video_times"]) and torch.equal(c["audio_times"], first["audio_times"])):
            raise DuettoError(f"{c['key']}: latent timestamps differ from {first['key']}'s")
    text, mask = text_encoder([c["caption"] for c in clips])
    return {"video": torch.stack([c["video"] for c in clips]), "audio": torch.stack([c["audio"] for c in clips]),
            "video_times": first["video_times"].double(), "audio_times": first["audio_times"].double(),
            "text": text.float(), "text_mask": mask.bool()}
