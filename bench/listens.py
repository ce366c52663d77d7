"""Does a joint model read the caption's colour, or copy it from its noisy input? Teacher-forced, in seconds.

For each captioned clip of the shards (synthetic scenes whose caption names the subject's colour), the clip's
latents are noised to flow time ``t`` and the model's clean-latent guess (``x_t - t v``) is decoded twice: with
the true caption, and with every colour word swapped for another (a fixed random permutation per clip). The
subject's colour is then read where the scenes draw it (`duetto.data.synth.attributes`):

- *kept*: the true caption's guess shows the true colour (the input or the caption can give it);
- *follows*: the swapped caption's guess shows the swapped colour (only the caption can give it).

A model that listens follows the caption at high ``t``; one that copies its input keeps the true colour however
the caption is changed. At ``t = 1`` the input is pure noise, so *kept* and *follows* both measure the caption
alone. Chance is about 1 in 12 (the impacts reader counts any object's colour, so more there).

    python bench/listens.py BUNDLE SHARDS... [--n 8] [--t 0.6,0.95,1.0] [--seed 0]

Measured on ``samples/duetto-tiny`` (DEV = seeds 95000+, ``--n 8``, the default times, 2026-12-06): speech kept
8/8, 6/8, 1/8 at t = 0.6, 0.95, 1 and followed 0/8, 2/8, 0/8; music kept 6/8, 1/8, 0/8 and followed 0/8 throughout:
the model copies colour from its input and ignores the caption's (why `joint.flow.FlowConfig.high_noise` exists;
``samples/duetto-tiny-v2`` reads the same). The impacts reader is uninformative on blurred guesses (1/8 kept at 0.6).
``duetto-tiny-v3`` (2026-12-07; replaced in samples/ by v4 that day, in git history; ``--n 16 --t 0.9,1.0``, DEV
speech and music): speech at t = 1 kept 11/16, followed 4/16 (v2: 0/16, 2/16); music at t = 1 kept 2/16, followed
1/16: the shirt comes from the caption now, the instrument's colour still does not.
"""
from __future__ import annotations

import argparse
import re


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bundle", help="a generation bundle")
    ap.add_argument("shards", nargs="+", help="captioned synthetic clips (shards or folders of them)")
    ap.add_argument("--n", type=int, default=8, help="clips per family at most (default 8)")
    ap.add_argument("--t", default="0.6,0.95,1.0", help="flow times, comma separated (default 0.6,0.95,1.0)")
    ap.add_argument("--seed", type=int, default=0, help="noise and colour swaps (default 0)")
    a = ap.parse_args()
    import numpy as np
    import torch

    from duetto.data.bank import load_bank
    from duetto.data.synth.attributes import caption_subject, subject_colour
    from duetto.data.synth.vocab import COLOURS
    from duetto.joint.pipeline import Pipeline, _audio_tensor, _video_tensor
    from duetto.video.vae import to_uint8

    ts = [float(x) for x in a.t.split(",")]
    if not ts or not all(0 < t <= 1 for t in ts) or not 1 <= a.n <= 1000:
        ap.error("--t takes flow times in (0, 1], --n 1-1000")
    torch.set_grad_enabled(False)
    pipe = Pipeline.load(a.bundle)
    model = pipe.model.float()
    lay = pipe.layout(pipe.config.seconds)
    names = list(COLOURS)
    word = re.compile(r"\b(" + "|".join(sorted(names, key=len, reverse=True)) + r")\b")
    rng = np.random.default_rng(a.seed)
    rows = {}                                            # (family, t) -> [kept, follows, clips]
    for shard in a.shards:
        bank = load_bank([shard], fps=lay["fps"], size=pipe.config.size, sample_rate=pipe.audio_vae.sample_rate,
                         channels=pipe.audio_vae.channels, min_seconds=lay["frames"] / lay["fps"], max_clips=4 * a.n)
        done = 0
        for i, meta in enumerate(bank.metas):
            caption = (meta or {}).get("caption") or ""
            subject = caption_subject(caption)
            if subject is None or done >= a.n:
                continue
            done += 1
            swap = {c: names[(names.index(c) + int(rng.integers(1, len(names)))) % len(names)]
                    for c in set(word.findall(caption))}
            swapped = word.sub(lambda m: swap[m.group(1)], caption)
            other = caption_subject(swapped)
            zv = pipe.video_vae.encode(_video_tensor(bank.videos[i], lay["frames"], pipe.config.size))
            za = pipe.audio_vae.encode(_audio_tensor(bank.audios[i], lay["samples"], pipe.audio_vae.channels))
            g = torch.Generator().manual_seed(a.seed * 100003 + i)
            nv, na = torch.randn(zv.shape, generator=g), torch.randn(za.shape, generator=g)
            for t in ts:
                xv, xa, tt = (1 - t) * zv + t * nv, (1 - t) * za + t * na, torch.full((1,), t)
                seen = []
                for text in (caption, swapped):
                    tokens, mask = pipe.text_encoder([text])
                    v, _ = model(xv, xa, tt, tt, lay["video_times"], lay["audio_times"], text=tokens, text_mask=mask)
                    frames = to_uint8(pipe.video_vae.decode(xv - t * v))[0, : lay["frames"]].numpy()
                    seen.append(subject_colour(frames, subject))
                row = rows.setdefault((subject["family"], t), [0, 0, 0])
                row[0] += seen[0] in subject.get("colours", [subject["colour"]])
                row[1] += seen[1] in other.get("colours", [other["colour"]])
                row[2] += 1
    print(f"{a.bundle}: the subject's colour read from the model's clean guess, teacher-forced\n")
    print("| family | t | kept (true caption -> true colour) | follows (swapped caption -> swapped colour) |")
    print("|---|---|---|---|")
    for (family, t), (kept, follows, n) in sorted(rows.items()):
        print(f"| {family} | {t:g} | {kept}/{n} | {follows}/{n} |")


if __name__ == "__main__":
    main()
