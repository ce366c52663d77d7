"""Does a joint model use the other stream, and its timing? Denoising loss given the other stream aligned,
shifted in time, or taken from another clip.

For each held-out clip (its first ``--seconds``, at the bundle's clocks) and each flow time in ``--times``,
one stream is noised (fixed noise per clip and time) and the other is given clean, as in video-to-audio
(``--given video``) and audio-to-video. The model's velocity error on the noised stream is measured with the
given stream

- **aligned**: the clip's own, on its own clock;
- **shifted**: the clip's own, rolled by ``--shift`` seconds (whole latents; the token times stay, so only
  the content moves against the clock);
- **other**: another clip's (the next one in the set).

A model that ignores the other stream (``--cross none``) gives the same loss for all three. A model that uses
what is in the other stream but not when it happens gives aligned = shifted < other. A time-locked model that
has learned sync gives aligned < shifted. The table prints the mean losses, the mean gap shifted - aligned
and the share of (clip, time) pairs where aligned is lower than shifted (the gaps are small against the
loss, so the share is the steadier figure).

    python bench/cross_modal.py BUNDLE... --clips SHARDS... [--given video|audio] [--shift 0.4] [--n 72]

The caption is given (guidance is not applied); the speech, voice and music conditions are not.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch


@torch.no_grad()
def losses(pipe, bank, *, given: str, shift: float, times: list[float], seconds: float, n: int | None) -> dict:
    from duetto.joint.flow import add_noise
    from duetto.joint.pipeline import _audio_tensor, _video_tensor
    lay = pipe.layout(seconds)
    vt, at = lay["video_times"], lay["audio_times"]
    m = pipe.model
    clips = list(range(len(bank)))[:n]
    zv = [pipe.video_vae.encode(_video_tensor(bank.videos[i], lay["frames"], pipe.config.size)) for i in clips]
    za = [pipe.audio_vae.encode(_audio_tensor(bank.audios[i], lay["samples"], pipe.audio_vae.channels)) for i in clips]
    # the given stream's latents and how many of them make --shift seconds (rounded to whole latents)
    given_z, noised_z = (zv, za) if given == "video" else (za, zv)
    per_s = (lay["n_video"] if given == "video" else lay["n_audio"]) / (lay["frames"] / lay["fps"])
    roll = int(round(shift * per_s))
    axis = 2                                                   # time: [B, C, T, h, w] and [B, C, L]
    out = {"aligned": [], "shifted": [], "other": []}
    g = torch.Generator().manual_seed(0)
    for j, i in enumerate(clips):
        tokens, mask = pipe.text_encoder([(bank.metas[i] or {}).get("caption") or ""])
        x0 = noised_z[j]
        for t in times:
            noise = torch.randn(x0.shape, generator=g)
            xt = add_noise(x0, noise, torch.tensor([t]))
            for name, z in (("aligned", given_z[j]), ("shifted", torch.roll(given_z[j], roll, dims=axis)),
                            ("other", given_z[(j + 1) % len(clips)])):
                if given == "video":
                    _, pred = m(z, xt, torch.zeros(1), torch.tensor([t]), vt, at, tokens, mask)
                else:
                    pred, _ = m(xt, z, torch.tensor([t]), torch.zeros(1), vt, at, tokens, mask)
                out[name].append(float(((pred - (noise - x0)) ** 2).mean()))
    return {k: np.asarray(v) for k, v in out.items()} | {"roll": roll, "per_s": per_s}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bundles", nargs="+", type=Path, help="generation bundles (duetto-train export of a joint run)")
    p.add_argument("--clips", nargs="+", required=True, help="held-out shards (folders, .tar, globs)")
    p.add_argument("--given", default="video", choices=["video", "audio"], help="the stream given clean (default video)")
    p.add_argument("--shift", type=float, default=0.4, help="seconds the given stream is rolled by (default 0.4)")
    p.add_argument("--times", default="0.3,0.6,0.9", help="flow times, comma-separated (default 0.3,0.6,0.9)")
    p.add_argument("--seconds", type=float, default=4.0, help="clip length (default 4)")
    p.add_argument("--n", type=int, default=None, help="at most this many clips (default all)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    from duetto.data.bank import load_bank
    from duetto.joint.pipeline import Pipeline
    times = [float(x) for x in a.times.split(",")]
    rows = []
    for b in a.bundles:
        pipe = Pipeline.load(b)
        lay = pipe.layout(a.seconds)
        bank = load_bank(a.clips, fps=lay["fps"], size=pipe.config.size, sample_rate=pipe.audio_vae.sample_rate,
                         channels=pipe.audio_vae.channels, min_seconds=lay["frames"] / lay["fps"])
        r = losses(pipe, bank, given=a.given, shift=a.shift, times=times, seconds=a.seconds, n=a.n)
        cfg = pipe.model.config
        cross = "none" if not cfg.cross_modal else ("global" if cfg.window is None else f"+-{cfg.window:g} s")
        gap = r["shifted"] - r["aligned"]
        rows.append((b.name, cross, len(r["aligned"]), r["aligned"].mean(), r["shifted"].mean(), r["other"].mean(),
                     gap.mean(), float((gap > 0).mean()), float((r["other"] > r["aligned"]).mean())))
        shift_s = r["roll"] / r["per_s"]
    print(f"given {a.given}, the other stream noised at flow times {a.times}; shifted = rolled by {shift_s:.3f} s")
    print("| bundle | cross-modal | (clip, time) pairs | loss aligned | loss shifted | loss other clip "
          "| shifted - aligned | aligned lower than shifted | aligned lower than other |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.4f} | {r[4]:.4f} | {r[5]:.4f} | {r[6]:+.4f} | {r[7]:.1%} | {r[8]:.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
