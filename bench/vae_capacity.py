"""How fast a video VAE design can learn: fit synthetic clips and print PSNR and moving-pixel PSNR by update.

A design that cannot fit a single 9-frame clip quickly will not fit thousands on a CPU budget; this compares
designs (presets, with field overrides) in minutes before committing hours to one. With ``--clips N`` it trains
on random 9-frame windows of N clips (batch ``--batch``, the three families in turn) and also scores the same
windows of ``--held-out`` clips from other seeds, which is where a design that only memorises shows it.

    python bench/vae_capacity.py --design tiny --design "tiny:patch_size=2,channel_mults=1-2-4,base_channels=32"
    python bench/vae_capacity.py --design tiny --design tiny-x1 --clips 96 --held-out 24 --steps 600 --lr 3e-4
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
        if isinstance(old, tuple):
            changes[key] = tuple(type(old[0])(v) for v in value.split("-"))
        else:
            changes[key] = value.lower() in ("1", "true", "yes") if isinstance(old, bool) else type(old)(value)
    return dataclasses.replace(cfg, **changes)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--design", action="append", required=True, help="preset[:field=value,...] (repeatable)")
    p.add_argument("--steps", type=int, default=400, help="updates per design (default 400)")
    p.add_argument("--every", type=int, default=100, help="report every N updates (default 100)")
    p.add_argument("--family", default="impacts", help="synthetic family of the clip (default impacts; one clip)")
    p.add_argument("--clips", type=int, default=1, help="training clips; more than 1 cycles the three families")
    p.add_argument("--held-out", type=int, default=0, help="clips from other seeds scored but never trained on")
    p.add_argument("--batch", type=int, default=4, help="windows per update when --clips > 1 (default 4)")
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
    cfg = SynthConfig(seconds=2.0, fps=25, size=64, sample_rate=16000)
    families = ("impacts", "music", "speech")

    def clips(n, seed):
        names = [a.family] if a.clips == 1 else [families[i % 3] for i in range(n)]
        return torch.cat([to_model_range(torch.from_numpy(render(f, seed + i, cfg).video[None]))
                          for i, f in enumerate(names)])                # [N, 3, 50, 64, 64]

    train = clips(a.clips, a.seed)
    held = clips(a.held_out, a.seed + 10_000) if a.held_out else None
    gen = torch.Generator().manual_seed(0)

    def batch():
        if a.clips == 1:
            return train[:, :, 8:17]
        idx = torch.randint(len(train), (a.batch,), generator=gen)
        start = torch.randint(train.shape[2] - 8, (a.batch,), generator=gen)
        return torch.stack([train[i, :, s:s + 9] for i, s in zip(idx.tolist(), start.tolist())])

    def score(model, videos):
        """PSNR and moving-pixel PSNR of frames 8-16 of up to 32 clips."""
        x = videos[:32, :, 8:17]
        with torch.no_grad():
            model.eval()
            y = torch.cat([model.decode(model.encode(v[None]))[:, :, :9] for v in x]).clamp(-1, 1)
            model.train()
        return f"{psnr(y, x).item():.1f}", f"{moving_psnr(*moving_error(y, x)):.1f}"

    rows = []
    for spec in a.design:
        vcfg = design(spec)
        torch.manual_seed(0)
        model = VideoVAE(vcfg)
        opt = torch.optim.Adam(model.parameters(), a.lr)
        params = sum(q.numel() for q in model.parameters()) / 1e6
        t0 = time.perf_counter()
        for step in range(1, a.steps + 1):
            loss, _ = vae_loss((lambda v: model(v, sample=False)) if a.posterior_mean else model, batch(), vcfg)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step % a.every == 0 or step == a.steps:
                sec = (time.perf_counter() - t0) / step
                rows.append((spec, f"{params:.2f}", step, f"{sec:.2f}", *score(model, train),
                             *(score(model, held) if held is not None else ("", ""))))
                print(" | ".join(map(str, rows[-1])), flush=True)
    head = ("design", "M params", "update", "s/update", "PSNR dB", "moving PSNR dB", "held-out PSNR",
            "held-out moving PSNR")
    print("\n| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(map(str, r)) + " |")


if __name__ == "__main__":
    main()
