"""A harmonic source for the shipped tiny audio VAE, trained decoder-side only (2026-12-07).

    python recipes/audio-pitch-decoder.py RUNS/shards/{speech,music,impacts} --out RUNS/vae-audio-tiny-pitch

The encoder is frozen, so the latents, their normalisation and every joint model trained on them stay as they
are; the decoder is fine-tuned and `duetto.audio.harmonic.HarmonicSource` (48 partials) trained beside it, on 1-s
windows of the clips (two of speech, one of music, one of impacts a batch): the VAE's own reconstruction loss on
the sum of the two (no waveform L1: a waveform term wants the phase of a pitch it cannot know), plus the source's
teaching terms (`harmonic_loss`: YIN's F0 and voicing, the clean partials' amplitudes). 3,000 updates, lr 3e-4 for
the decoder and 1e-3 for the source, EMA 0.99; about 15 minutes on one core of the 2-core CPU. Writes the VAE
folder (float16, like the shipped one) and ``OUT.log.jsonl`` beside it. Why and what it measured: ``samples/README.md``.
Not yet a `duetto-train vae` option: this script is the whole trainer.

Two options tried on 2026-12-08 (samples/README.md): ``--voicing-threshold 0.35`` teaches F0 and voicing where YIN
finds a pitch at 0.35 (the low, creaky espeak-ng men are voiced in 2-3 times as many frames, at the same pitch), and
``--train-encoder`` lets the teaching reach the latents (new latents: a joint model must be trained on them).
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("speech"), ap.add_argument("music"), ap.add_argument("impacts")
    ap.add_argument("--out", required=True)
    ap.add_argument("--vae", default=str(ROOT / "samples" / "vae-audio-tiny"))
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--clips", type=int, default=120, help="clips a family (default 120)")
    ap.add_argument("--harmonics", type=int, default=48)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--voicing-threshold", type=float, default=0.15,
                    help="YIN threshold of the F0 and voicing targets (default 0.15; 0.35 voices low, creaky voices)")
    ap.add_argument("--train-encoder", action="store_true",
                    help="train the encoder too (lr 1e-4, with the VAE's KL term): the F0 teaching reaches the "
                         "latents, which then differ from the shipped ones (joint models need retraining on them)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    from duetto.audio.harmonic import f0_targets, harmonic_amplitudes, harmonic_loss
    from duetto.audio.losses import ReconstructionLoss
    from duetto.audio.vae import AudioVAE
    from duetto.data.autoencoder import load_autoencoder
    from duetto.data.bank import load_bank
    base = load_autoencoder(a.vae).float()
    vae = AudioVAE(dataclasses.replace(base.config, harmonics=a.harmonics, wave_weight=0.0))
    missing, unexpected = vae.load_state_dict(base.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("harmonic.") for k in missing), (missing, unexpected)
    sr, hop, C = vae.sample_rate, vae.hop, vae.latent_channels
    banks = {f: load_bank([p], fps=25, size=16, sample_rate=sr, channels=1, min_seconds=1.0, max_clips=a.clips)
             for f, p in (("speech", a.speech), ("music", a.music), ("impacts", a.impacts))}
    groups = [{"params": vae.decoder.parameters(), "lr": 3e-4}, {"params": vae.harmonic.parameters(), "lr": 1e-3}]
    if a.train_encoder:
        groups.append({"params": vae.encoder.parameters(), "lr": 1e-4})
    else:
        for p in vae.encoder.parameters():
            p.requires_grad_(False)
    opt = torch.optim.AdamW(groups)
    recon = ReconstructionLoss.of(vae.config)
    ema = copy.deepcopy(vae)
    rng = np.random.default_rng(a.seed)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    log = open(out.with_name(out.name + ".log.jsonl"), "a")       # beside the folder: saving replaces the folder
    t0 = time.time()

    def window(bank):
        k = rng.integers(len(bank.audios))
        x = bank.audios[k]
        s = rng.integers(0, x.shape[-1] - sr + 1)
        return x[:, s: s + sr]

    for step in range(1, a.steps + 1):
        x = torch.from_numpy(np.stack([window(banks[f]) for f in ("speech", "speech", "music", "impacts")])).float()
        with torch.set_grad_enabled(a.train_encoder):
            post = vae.encode_dist(x)
            z = post.sample()
        with torch.no_grad():
            L = z.shape[-1]
            f0 = torch.from_numpy(np.stack([f0_targets(xi[0].astype(np.float64), sr, hop, L, a.voicing_threshold)
                                            for xi in x.numpy()])).float()
            amps = harmonic_amplitudes(x[:, 0], f0, hop, sr, a.harmonics)
        fr = vae.harmonic.frames(z)
        y = (vae.decoder(z) + vae.harmonic.render(fr))[..., : x.shape[-1]]
        rec, parts = recon(y, x)
        teach, tparts = harmonic_loss(fr, f0, amps)
        loss = rec + teach
        if a.train_encoder:
            kl = post.kl().mean()
            loss = loss + vae.config.kl_weight * kl
            tparts["kl"] = kl.item()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.decoder.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for pe, p in zip(ema.parameters(), vae.parameters()):
                pe.lerp_(p, 0.01)
        if step % 50 == 0:
            print(json.dumps({"step": step, "loss": loss.item(), **parts, **tparts, "s": round(time.time() - t0)}),
                  file=log, flush=True)
    ema.eval().save_pretrained(out, dtype=torch.float16)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
