"""How fast a video VAE design can learn: fit one synthetic clip and print PSNR and moving-pixel PSNR by update.

A design that cannot fit a single 9-frame clip quickly will not fit thousands on a CPU budget; this compares
designs (presets, with field overrides) in minutes before committing hours to one.

    python bench/vae_capacity.py --design tiny --design "tiny:patch_size=2,channel_mults=1-2-4,base_channels=32"
"""
from __future__ import annotations

import argparse
import dataclasses
import time

import torch


def design(spec: str):
    """``preset[:field=value,...]``; tuple values are written ``a-b-c``."""
    from duetto.video.vae import preset
    name, _, rest = spec.partition(":")
    cfg, changes = preset(name), {}
    for item in filter(None, rest.split(",")):
        key, value = item.split("=")
        old = getattr(cfg, key)
        changes[key] = tuple(type(old[0])(v) for v in value.split("-")) if isinstance(old, tuple) else type(old)(value)
    return dataclasses.replace(cfg, **changes)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--design", action="append", required=True, help="preset[:field=value,...] (repeatable)")
    p.add_argument("--steps", type=int, default=400, help="updates per design (default 400)")
    p.add_argument("--every", type=int, default=100, help="report every N updates (default 100)")
    p.add_argument("--family", default="impacts", help="synthetic family of the clip (default impacts)")
    p.add_argument("--seed", type=int, default=90001, help="scene seed (default 90001)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    p.add_argument("--posterior-mean", action="store_true",
                   help="train on the posterior mean instead of a sample (is the sampling noise what slows it?)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    from duetto.data.synth import SynthConfig, render
    from duetto.video.losses import moving_error, moving_psnr, psnr, vae_loss
    from duetto.video.vae import VideoVAE, to_model_range
    clip = render(a.family, a.seed, SynthConfig(seconds=2.0, fps=25, size=64, sample_rate=16000))
    x = to_model_range(torch.from_numpy(clip.video[None, 8:17]))
    rows = []
    for spec in a.design:
        cfg = design(spec)
        torch.manual_seed(0)
        model = VideoVAE(cfg)
        opt = torch.optim.Adam(model.parameters(), a.lr)
        params = sum(q.numel() for q in model.parameters()) / 1e6
        t0 = time.perf_counter()
        for step in range(1, a.steps + 1):
            loss, _ = vae_loss((lambda v: model(v, sample=False)) if a.posterior_mean else model, x, cfg)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step % a.every == 0 or step == a.steps:
                with torch.no_grad():
                    model.eval()
                    y = model.decode(model.encode(x))[:, :, : x.shape[2]].clamp(-1, 1)
                    model.train()
                rows.append((spec, f"{params:.2f}", step, f"{(time.perf_counter() - t0) / step:.2f}",
                             f"{psnr(y, x).item():.1f}", f"{moving_psnr(*moving_error(y, x)):.1f}"))
                print(" | ".join(map(str, rows[-1])), flush=True)
    head = ("design", "M params", "update", "s/update", "PSNR dB", "moving PSNR dB")
    print("\n| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(map(str, r)) + " |")


if __name__ == "__main__":
    main()
