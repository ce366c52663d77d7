"""What `duetto-train eval` gives on clips that are in sync by construction: the ceiling of its figures.

The eval's sync and event figures come from detectors (the sync checker, onset and visual-event finders), not
from ground truth, so even real clips do not score 100 %. This scores held-out synthetic clips as they are
and after a round trip through a bundle's two VAEs (what a perfect joint model could at best give back), with
the very scoring `duetto-train eval` applies to generated clips, per family.

    python bench/eval_ceiling.py --clips SHARDS... [--checkpoint BUNDLE] [--n 72] [--seconds 4]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch


@torch.no_grad()
def round_trip(pipe, clip):
    """``clip`` encoded and decoded by the bundle's VAEs (the frames and samples the bundle's layout keeps)."""
    import numpy as np

    from duetto.data.clip import Clip
    from duetto.joint.pipeline import _audio_tensor, _video_tensor
    from duetto.video.vae import to_uint8
    lay = pipe.layout(len(clip.video) / clip.fps)
    v = pipe.video_vae.decode(pipe.video_vae.encode(_video_tensor(clip.video, lay["frames"], pipe.config.size)))
    a = pipe.audio_vae.decode(pipe.audio_vae.encode(_audio_tensor(clip.audio, lay["samples"], pipe.audio_vae.channels)),
                              length=lay["samples"])
    return Clip(np.ascontiguousarray(to_uint8(v)[0, : lay["frames"]].numpy()),
                np.ascontiguousarray(a.clamp(-1, 1)[0].float().numpy()), clip.fps, clip.sample_rate)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clips", nargs="+", required=True, help="held-out shards (as duetto-train eval --clips)")
    p.add_argument("--checkpoint", type=Path, default=Path(__file__).resolve().parents[1] / "samples" / "duetto-tiny",
                   help="bundle whose VAEs, frame size and clip length are used (default: the shipped one)")
    p.add_argument("--n", type=int, default=72, help="at most this many clips (default 72)")
    p.add_argument("--seconds", type=float, default=None, help="clip length (default: the bundle's)")
    a = p.parse_args(argv)
    if a.n < 1:
        p.error("--n must be at least 1")
    from tqdm import tqdm

    from duetto.data import console
    from duetto.data.bank import load_bank
    from duetto.data.clip import Clip
    from duetto.joint.conditioning import clip_words
    from duetto.joint.pipeline import Pipeline
    from duetto.train.evaluate import score, summarise
    pipe = Pipeline.load(a.checkpoint)
    lay = pipe.layout(a.seconds or pipe.config.seconds)
    bank = load_bank(a.clips, fps=lay["fps"], size=pipe.config.size, sample_rate=pipe.audio_vae.sample_rate,
                     channels=pipe.audio_vae.channels, min_seconds=lay["frames"] / lay["fps"], progress=False)
    rows = {"held-out clips": [], "through the VAEs": []}
    for i in tqdm(range(min(a.n, len(bank.keys))), desc="score", unit="clip"):
        fam = (bank.metas[i] or {}).get("family", "all")
        clip = Clip(bank.videos[i][: lay["frames"]], bank.audios[i][:, : lay["samples"]], bank.fps, bank.sample_rate)
        for name, c in (("held-out clips", clip), ("through the VAEs", round_trip(pipe, clip))):
            meta = bank.metas[i] or {}
            words, language = clip_words(meta)
            rows[name].append({"key": bank.keys[i], "family": fam,
                               **score(c, fam, meta.get("caption"), words or None, language=language)})
    if not bank.keys:
        print("no clips of the bundle's length in --clips", file=sys.stderr)
        return 2
    table = [{"set": name, **row} for name, rs in rows.items() for row in summarise(rs)]
    print(console.table(table, console.columns(table)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
