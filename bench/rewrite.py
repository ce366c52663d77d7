"""Prompt rewriting on plain requests (not captions): does the caption the model receives name what was asked?

40 requests written for this bench (below), each labelled with the family, subject and colour a person asking would
expect (colour only where the request names one). For each, with and without `--rewrite`: the share whose caption
reads (`duetto.data.synth.attributes.caption_subject`, the parser the colour metric of `duetto-train eval` uses) as
the asked family, subject and colour. A caption the parser cannot read counts as a miss: the shipped model was
trained only on captions in the scene writer's style. This measures the caption, not the generated clip.

``--clips`` also generates, with the default bundle (seed 0), a clip for each request, from the request as written
and from its rewrite, and reads the clip (the clip-level figures):
- family and subject: a nearest-centroid reader (`SceneReader`) of the picture (mean frame at 16 x 16, where it
  moves at 8 x 8) and the sound (mean log spectrum in 24 bands), fitted on ground-truth scenes of each family and
  subject kind (seeds 96000+, passed through the bundle's VAEs like a generated clip); an impacts subject is read
  as the shape the scenes draw it (a ball or disc round, a block or cube square: the largest object's fill of its
  bounding box, the cut fitted on the same scenes); its ceiling, printed first, is its reading of other
  ground-truth scenes (seeds 97000+) through the same VAEs;
- colour, for the requests that name one: read where the asked family draws its subject
  (`duetto.data.synth.attributes.subject_colour`, what `duetto-train eval`'s colour_right uses; its ceiling on
  ground-truth clips is in ``python bench/attributes.py``).

    python bench/rewrite.py --clips [--checkpoint BUNDLE] [--per-kind 8]
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from duetto.data import console
from duetto.data.synth.attributes import caption_subject
from duetto.joint.rewrite import rewrite

# request, family, subject kind, colour (None: not named): bench/requests.jsonl, which `duetto-train eval --prompts
# bench/requests.jsonl --rewrite` reads too
REQUESTS_FILE = Path(__file__).with_name("requests.jsonl")
REQUESTS = [(d["prompt"], d["family"], d["subject"], d["colour"])
            for d in (json.loads(line) for line in REQUESTS_FILE.read_text().splitlines() if line.startswith("{"))]


def matches(caption: str, family: str, kind, colour) -> dict:
    s = caption_subject(caption)
    fam = s is not None and s["family"] == family
    return {"family": fam, "subject": fam and (kind is None or s["kind"] == kind),
            "colour": fam and (colour is None or s["colour"] == colour)}


KINDS = {"impacts": ["ball", "block", "disc", "cube"], "music": ["drums", "piano", "xylophone", "harp"],
         "speech": ["person"]}
SHAPE = {"ball": "round", "disc": "round", "block": "square", "cube": "square"}   # how the impacts scenes draw them


def subject_kind(family: str, kind):
    """The kind a picture can show: impacts objects as their drawn shape (a ball and a disc draw alike)."""
    return SHAPE.get(kind, kind) if family == "impacts" else kind


def fill_ratio(video) -> float:
    """Impacts scenes: the median over frames of the largest above-floor object's area over its bounding box's (a
    drawn circle fills pi/4 of it, a square all); NaN when no frame shows one of at least 9 pixels."""
    import numpy as np
    from scipy import ndimage
    from duetto.data.synth.attributes import impacts_foreground
    _, fg = impacts_foreground(video)               # what the colour reading votes with
    fills = []
    for m in fg:
        lab, n = ndimage.label(m)
        if not n:
            continue
        sizes = np.bincount(lab.ravel())[1:]
        k = int(np.argmax(sizes)) + 1
        if sizes[k - 1] < 9:
            continue
        sl = ndimage.find_objects(lab)[k - 1]
        fills.append(sizes[k - 1] / ((sl[0].stop - sl[0].start) * (sl[1].stop - sl[1].start)))
    return float(np.median(fills)) if fills else float("nan")


def scene_features(clip) -> "np.ndarray":
    """What the reader compares, three groups scaled to count alike: the layout of the mean frame's edges (horizontal
    and vertical luma gradients, 16 x 16 each: colours are left out, the scenes draw any subject in any colour),
    where the picture changes (8 x 8) and the mean log power of the sound in 24 log-spaced bands."""
    import numpy as np
    v = clip.video.astype(np.float32) / 255                                   # [T, H, W, 3]
    t, h, w, _ = v.shape
    g = v.mean(0).mean(-1)                                                    # [H, W] mean luma
    gx, gy = np.abs(np.diff(g, axis=1, append=g[:, -1:])), np.abs(np.diff(g, axis=0, append=g[-1:]))
    mean = np.concatenate([e.reshape(16, h // 16, 16, w // 16).mean((1, 3)).ravel() for e in (gx, gy)])
    moving = np.abs(np.diff(v.mean(-1), axis=0)).mean(0).reshape(8, h // 8, 8, w // 8).mean((1, 3)).ravel()
    a = clip.audio.mean(0)
    n = 512
    frames = np.lib.stride_tricks.sliding_window_view(a, n)[::256] * np.hanning(n)
    power = (np.abs(np.fft.rfft(frames, axis=-1)) ** 2).mean(0)               # [257]
    edges = np.unique(np.geomspace(2, len(power), 25).astype(int))
    bands = np.log10(np.array([power[lo:hi].mean() for lo, hi in zip(edges[:-1], edges[1:])]) + 1e-10)
    return [mean, moving, bands]


class SceneReader:
    """Nearest centroid of standardised features over ground-truth scenes: ``read(clip) -> (family, kind)``."""

    def __init__(self, clips_and_labels):
        import numpy as np
        feats = [scene_features(c) for c, _ in clips_and_labels]
        self.mu = [np.mean([f[g] for f in feats], 0) for g in range(3)]
        self.sd = [float(np.std(np.stack([f[g] for f in feats]) - self.mu[g])) + 1e-6 for g in range(3)]
        x = np.stack([self._x(f) for f in feats])
        labels = [(fam, subject_kind(fam, kind)) for _, (fam, kind) in clips_and_labels]
        self.labels = sorted(set(labels))
        self.centroids = np.stack([x[[lab == k for lab in labels]].mean(0) for k in self.labels])
        # impacts: round or square by the fill ratio, the threshold that reads the training scenes best
        fills = [(fill_ratio(c.video), kind) for (c, _), (fam, kind) in zip(clips_and_labels, labels)
                 if fam == "impacts"]
        fills = [(f, k) for f, k in fills if np.isfinite(f)]
        cands = sorted(f for f, _ in fills)
        self.fill_cut = max(cands, key=lambda t: sum((f >= t) == (k == "square") for f, k in fills)) if cands else 0.9

    def _x(self, f):
        import numpy as np
        return np.concatenate([(f[g] - self.mu[g]) / self.sd[g] / np.sqrt(len(f[g])) for g in range(3)])

    def read(self, clip) -> tuple[str, str]:
        import numpy as np
        d = ((self.centroids - self._x(scene_features(clip))) ** 2).sum(1)
        family, kind = self.labels[int(np.argmin(d))]
        if family == "impacts":
            f = fill_ratio(clip.video)
            kind = None if not np.isfinite(f) else "square" if f >= self.fill_cut else "round"
        return family, kind


def ground_truth(pipe, seeds, per_kind: int):
    """``[(clip through the bundle's VAEs, (family, kind))]``: ``per_kind`` scenes of each family and subject kind,
    the first seeds from ``seeds`` whose caption names that kind."""
    from eval_ceiling import round_trip
    from duetto.data.synth import SynthConfig, render, sample_caption
    cfg = SynthConfig(seconds=float(pipe.config.seconds), fps=pipe.video_vae.config.fps, size=pipe.config.size,
                      sample_rate=pipe.audio_vae.sample_rate)
    out = []
    for family, kinds in KINDS.items():
        want = {k: per_kind for k in kinds}
        for seed in seeds:
            if not any(want.values()):
                break
            subject = caption_subject(sample_caption(family, seed, cfg))
            kind = subject["kind"] if subject else None
            if want.get(kind, 0) > 0:
                want[kind] -= 1
                out.append((round_trip(pipe, render(family, seed, cfg)), (family, kind)))
    return out


def clip_rows(bundle, per_kind: int) -> list[dict]:
    from duetto.data.synth.attributes import colour_right, subject_colour
    from duetto.joint.pipeline import Pipeline
    pipe = Pipeline.load(bundle)
    reader = SceneReader(ground_truth(pipe, range(96000, 97000), per_kind))
    test = ground_truth(pipe, range(97000, 99000), per_kind)
    reads = [(lab, reader.read(c)) for c, lab in test]
    ceiling = [{"family": f, "scenes": sum(lab[0] == f for lab, _ in reads),
                "family right": sum(lab[0] == f == got[0] for lab, got in reads),
                "family and subject right": sum(lab[0] == f and got == (f, subject_kind(*lab)) for lab, got in reads)}
               for f in KINDS]
    print(f"scene reader ceiling: ground-truth scenes through the VAEs ({per_kind} of each subject kind, seeds "
          "97000+):")
    print(console.table(ceiling, list(ceiling[0])), flush=True)
    rows = []
    for request, family, kind, colour in REQUESTS:
        r = rewrite(request)
        row = {"request": request}
        for label, caption, speech in (("as written", request, None), ("--rewrite", r.caption, r.speech)):
            clip = pipe.generate(caption, seed=0, speech=speech)[0]
            got = reader.read(clip)
            row[f"{label} read"] = "/".join(got)
            row[f"{label} family"] = got[0] == family
            row[f"{label} subject"] = got[0] == family and (kind is None or got[1] == subject_kind(family, kind))
            if colour:
                subject = {"family": family, "kind": kind, "colour": colour, "colours": [colour]}
                row[f"{label} colour"] = colour_right(subject_colour(clip.video, subject), subject)
        rows.append(row)
        print(f"  {request!r}: as written {row['as written read']}, rewritten {row['--rewrite read']}", flush=True)
    return rows


def main():
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", action="store_true", help="also generate and read a clip for each request")
    ap.add_argument("--checkpoint", default=None, help="bundle for --clips (default: the default of duetto generate)")
    ap.add_argument("--per-kind", type=int, default=8, help="ground-truth scenes of each subject kind for the reader")
    a = ap.parse_args()
    assert len(REQUESTS) == 40
    rows, t = [], time.perf_counter()
    for label, use in (("as written", lambda r: r), ("--rewrite", lambda r: rewrite(r).caption)):
        got = [matches(use(r), f, k, c) for r, f, k, c in REQUESTS]
        named = [g for g, (_, _, _, c) in zip(got, REQUESTS) if c]
        rows.append({"prompt": label, "requests": len(got),
                     "family right": f"{sum(g['family'] for g in got) / len(got):.1%}",
                     "family and subject right": f"{sum(g['family'] and g['subject'] for g in got) / len(got):.1%}",
                     "colour right (of the named)": f"{sum(g['colour'] for g in named)}/{len(named)}"})
    print("the caption the model receives:")
    print(console.table(rows, list(rows[0])))
    print(f"({time.perf_counter() - t:.1f} s)")
    if a.clips:
        from duetto.joint.cli import DEFAULT_BUNDLE
        got = clip_rows(a.checkpoint or DEFAULT_BUNDLE, a.per_kind)
        table = []
        for label in ("as written", "--rewrite"):
            named = [g for g in got if f"{label} colour" in g]
            table.append({"prompt": label, "clips": len(got),
                          "family right": f"{sum(g[f'{label} family'] for g in got) / len(got):.1%}",
                          "family and subject right": f"{sum(g[f'{label} subject'] for g in got) / len(got):.1%}",
                          "colour right (of the named)": f"{sum(g[f'{label} colour'] for g in named)}/{len(named)}"})
        print(f"the generated clips ({a.checkpoint or DEFAULT_BUNDLE}, seed 0), read by the scene reader:")
        print(console.table(table, list(table[0])))


if __name__ == "__main__":
    main()
