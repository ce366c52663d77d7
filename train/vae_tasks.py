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
        from duetto.data.draw import process
        rank, world = process()
        return {"video": self._to_model(self.train.video_batch(self.seed, step, self.batch_size, self.frames, rank, world))}

    def loss(self, model, batch, step):
        from duetto.video.losses import vae_loss
        return vae_loss(model, batch["video"], self.model.config)

    @torch.no_grad()
    def evaluate(self, model, step) -> dict:
        return evaluate_video(model, self.held_out, self.eval_frames)


@torch.no_grad()
def evaluate_video(model, bank: Bank, frames: int) -> dict:
    """Mean PSNR (dB) and SSIM over the clips of ``bank`` (first ``frames`` frames of each), and the PSNR over
    the moving pixels only (`duetto.video.losses.moving`, all clips pooled): whether moving objects survive."""
    from duetto.video.losses import moving_error, moving_psnr, psnr, ssim
    from duetto.video.vae import to_model_range
    was_training = model.training
    model.eval()
    p, s, se, n = [], [], 0.0, 0.0
    for v in bank.videos:
        x = to_model_range(torch.from_numpy(v[None, :frames]))
        device = next(model.parameters()).device
        x = x.to(device)
        y = model.decode(model.encode(x))[:, :, : x.shape[2]]
        p.append(psnr(y, x).item())
        s.append(ssim(y, x).item())
        e, k = moving_error(y, x)
        se, n = se + e, n + k
    model.train(was_training)
    out = {"psnr": float(np.mean(p)), "ssim": float(np.mean(s))}
    if n:
        out["moving_psnr"] = moving_psnr(se, n)
    return out


class AudioVAETask:
    """Windows of ``seconds``; multi-resolution STFT + log-mel + KL, and after ``gan_start`` updates the
    multi-scale STFT discriminator (``aux``) with hinge and feature-matching terms. Evaluation: log-mel L1,
    multi-resolution STFT distance, and the share of the held-out clips' metadata events whose onset is
    found again in the reconstruction within 10 ms."""

    def __init__(self, model, train: Bank, held_out: Bank, *, batch_size: int = 4, seconds: float = 1.0,
                 gan_start: int = 2000, adv_weight: float = 0.1, fm_weight: float = 1.0, eval_seconds: float = 4.0,
                 seed: int = 0):
        from duetto.audio.losses import ReconstructionLoss, make_discriminator
        cfg = model.config
        self.model, self.train, self.held_out, self.seed = model, train, held_out, seed
        self.batch_size, self.samples = batch_size, int(round(seconds * cfg.sample_rate))
        self.gan_start, self.adv_weight, self.fm_weight, self.eval_seconds = gan_start, adv_weight, fm_weight, eval_seconds
        self.items_per_batch = batch_size * seconds          # audio seconds per second
        self.recon = ReconstructionLoss.of(cfg)
        self.aux = make_discriminator(cfg.sample_rate, cfg.channels)

    def batch(self, step: int) -> dict:
        from duetto.data.draw import process
        rank, world = process()
        return {"audio": self.train.audio_batch(self.seed, step, self.batch_size, self.samples, rank, world)}

    def loss(self, model, batch, step):
        from duetto.audio.losses import generator_losses, vae_loss
        self.recon = self.recon.to(batch["audio"].device)
        loss, logs, x_hat = vae_loss(model, batch["audio"], self.model.config, self.recon)
        if step > self.gan_start:
            adv, fm = generator_losses(self.aux, batch["audio"], x_hat)
            loss = loss + self.adv_weight * adv + self.fm_weight * fm
            logs = {**logs, "adv": adv.item(), "fm": fm.item()}
        batch["fake"] = x_hat.detach()
        return loss, logs

    def aux_loss(self, model, batch, step):
        from duetto.audio.losses import discriminator_loss
        if step <= self.gan_start:
            return None
        return discriminator_loss(self.aux, batch["audio"], batch["fake"])

    @torch.no_grad()
    def evaluate(self, model, step) -> dict:
        return evaluate_audio(model, self.held_out, self.eval_seconds)


@torch.no_grad()
def evaluate_audio(model, bank: Bank, seconds: float, tol: float = 0.010) -> dict:
    """Mean log-mel L1 and multi-resolution STFT distance over the first ``seconds`` of each clip, and the
    share of metadata events (``meta["events"][i]["time"]``, source seconds) found again within ``tol``
    in the reconstruction by `duetto.data.events.audio_onsets` (only events the detector finds in the
    original count)."""
    from duetto.audio.losses import reconstruction_metrics
    was_training = model.training
    model.eval()
    sr = model.config.sample_rate
    device = next(model.parameters()).device
    mel, stft, kept, total = [], [], 0, 0
    for a, meta in zip(bank.audios, bank.metas):
        x = torch.from_numpy(a[None, :, : int(seconds * sr)]).to(device)
        y = model.decode(model.encode(x), length=x.shape[-1])
        m = reconstruction_metrics(x, y, sr)
        mel.append(m["log_mel_l1"])
        stft.append(m["multires_stft"])
        truth = np.array([e["time"] for e in meta.get("events", []) if e["time"] < x.shape[-1] / sr - 0.05])
        k, n = onsets_kept(x[0].cpu().numpy(), y[0].cpu().numpy(), sr, truth, tol)
        kept, total = kept + k, total + n
    model.train(was_training)
    out = {"log_mel_l1": float(np.mean(mel)), "multires_stft": float(np.mean(stft))}
    if total:
        out["onsets_within_10ms"] = kept / total
    return out


def onsets_kept(original: np.ndarray, recon: np.ndarray, sr: int, truth: np.ndarray, tol: float = 0.010):
    """``(kept, total)``: of the ``truth`` times (s) whose onset `duetto.data.events.audio_onsets` finds in
    ``original [C, N]`` (within 50 ms), how many it also finds in ``recon`` within ``tol`` of the original's."""
    from duetto.data.events import audio_onsets, match
    if not len(truth):
        return 0, 0
    seen, _ = match(audio_onsets(original, sr), truth, 0.05)
    found, _ = match(audio_onsets(recon, sr), truth, 0.05)
    ok = ~np.isnan(seen)
    return int((np.abs(found[ok] - seen[ok]) <= tol).sum()), int(ok.sum())


@torch.no_grad()
def calibrate_latents(model, inputs: list[torch.Tensor]):
    """Set the config's ``latent_shift`` and ``latent_scale`` so that the posterior means of ``inputs`` (each
    a batch the model encodes: video ``[B, 3, T, H, W]`` in [-1, 1] or audio ``[B, C, N]``) have mean 0 and
    standard deviation 1 over every element: the scale the joint model's flow matching assumes. Returns
    ``(shift, scale)``; the model is changed in place (save it again to keep them)."""
    import dataclasses
    was_training = model.training
    model.eval()
    raw = torch.cat([model.encode_dist(x).mean.flatten() for x in inputs])
    model.train(was_training)
    shift, std = float(raw.mean()), float(raw.std())
    scale = 1.0 / max(std, 1e-6)
    model.config = dataclasses.replace(model.config, latent_shift=shift, latent_scale=scale)
    return shift, scale


def training_bank(run: dict, progress: bool = False) -> tuple[Bank, Bank]:
    """``(train, held out)``: the clips of a VAE run, from its resolved config (``run.json``'s ``config``)."""
    from duetto.data.bank import load_bank
    if run["modality"] == "video":                  # the sound is not used: decode it cheaply
        rate, channels, min_seconds = 16000, 1, run["frames"] / run["fps"]
    else:
        rate, channels, min_seconds = run["model"]["sample_rate"], run["model"]["channels"], run["seconds"]
    bank = load_bank(run["data"], fps=run["fps"], size=run["size"], sample_rate=rate, channels=channels,
                     min_seconds=min_seconds, max_clips=run.get("max_clips"), progress=progress)
    held = run.get("held_out") or 0
    return bank.split(held) if held > 0 and len(bank) > 1 else (bank, bank)


def save_calibrated(model, modality: str, train: Bank, out, dtype: torch.dtype | None = None) -> tuple[float, float]:
    """`calibrate_latents` on the first clips of ``train``, then save ``model`` to ``out``; ``(shift, scale)``."""
    shift, scale = calibrate_latents(model, calibration_inputs(modality, train))
    model.save_pretrained(out, dtype)
    return shift, scale


def calibration_inputs(modality: str, bank: Bank, clips: int = 32, frames: int = 33, seconds: float = 4.0):
    """The first ``frames`` frames (video, model range) or ``seconds`` (audio) of up to ``clips`` clips of
    ``bank``, one batch each."""
    from duetto.video.vae import to_model_range
    if modality == "video":
        return [to_model_range(torch.from_numpy(v[None, :frames])) for v in bank.videos[:clips]]
    n = int(round(seconds * bank.sample_rate))
    return [torch.from_numpy(np.ascontiguousarray(a[None, :, :n])) for a in bank.audios[:clips]]
