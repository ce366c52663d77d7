"""Captions that quote their words, as a user types them into `duetto generate`: the quoted words passed as the speech
(what `duetto generate` does when --speech is not given) against not passed (before it did), same model and seeds.
Phoneme error against the quoted words (`train.evaluate.spoken_words`), speech length over the words', lips in sync
within a frame (the sync checker following a face).

    python bench/quoted_words.py H/speech [--checkpoint BUNDLE] [--n 24]

H/speech: held-out speech shards (`duetto-data synth --family speech --n 24 --seconds 4 --seed 90000 --out H/speech`).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def captions(folder: Path, n: int) -> list[str]:
    """The first ``n`` captions of the shards in ``folder``, in order (`data.shards.iter_shard`; bad samples skipped)."""
    from duetto.data.schema import load_json
    from duetto.data.shards import Sample, iter_shard
    out = []
    for shard in sorted(folder.glob("*.tar")):
        out += [load_json(s.files["json"], s.name).get("caption", "") for s in iter_shard(shard)
                if isinstance(s, Sample)]
    return out[:n]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("shards", type=Path, help="a folder of speech shards (their captions quote the words)")
    ap.add_argument("--checkpoint", default=None, help="bundle (default: duetto generate's)")
    ap.add_argument("--n", type=int, default=24)
    a = ap.parse_args()
    import torch

    from duetto.align import measure_sync
    from duetto.data import console
    from duetto.joint.cli import bundle_path
    from duetto.joint.conditioning import quoted_words
    from duetto.joint.pipeline import Pipeline
    from duetto.train.evaluate import spoken_words
    torch.set_num_threads(2)
    bundle = bundle_path(Path(a.checkpoint) if a.checkpoint else None)
    pipe = Pipeline.load(bundle)
    got = {"not passed (before)": [], "passed (duetto generate now)": []}
    for i, cap in enumerate(captions(a.shards, a.n)):
        words = quoted_words(cap)
        if not words:
            continue
        for key, speech in zip(got, (None, words)):
            clip = pipe.generate(cap, seconds=4.0, seeds=[90000 + i], speech=speech)[0]
            s, r = spoken_words(clip, words), measure_sync(clip)
            got[key].append((s["phone_errors"], s["phones_asked"], s["speech_seconds"] / s["words_seconds"],
                             r.method == "speech" and r.offset_ms is not None and abs(r.offset_ms) <= 1000 / r.fps))
    rows = []
    for key, r in got.items():
        r = np.array(r, float)
        rows.append({"quoted words": key, "clips": len(r),
                     "phoneme error": f"{100 * r[:, 0].sum() / r[:, 1].sum():.1f} %",
                     "speech length / words'": f"{np.median(r[:, 2]):.2f}",
                     "lips in sync": f"{int(r[:, 3].sum())}/{len(r)}"})
    print(f"{bundle.name}, {a.shards}")
    print(console.table(rows, list(rows[0])))


if __name__ == "__main__":
    main()
