"""Flicker of saved clips, per family: the typical pixel's frame-to-frame change of luma (0-255,
`duetto.train.evaluate.flicker`), averaged over the clips of each folder. For the clips `duetto-train eval --out
DIR` wrote (``DIR/clips/NNNN-FAMILY.mp4``), so runs evaluated before the report carried flicker can be compared.
H.264 smooths some of the shimmer, so these read lower than the report's figure (taken before encoding).

    python bench/flicker.py EVAL_DIR...
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from duetto.data import console, read_clip
from duetto.train.evaluate import flicker


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dirs", nargs="+", type=Path, help="folders written by duetto-train eval --out")
    a = ap.parse_args()
    rows = []
    for d in a.dirs:
        paths = sorted((d / "clips").glob("*.mp4"))
        if not paths:
            raise SystemExit(f"bench/flicker.py: no clips in {d / 'clips'}")
        by_family: dict[str, list[float]] = {}
        for p in paths:
            family = p.stem.split("-", 1)[-1]
            by_family.setdefault(family, []).append(flicker(read_clip(p).video))
        row = {"eval": d.name, **{f: f"{np.mean(v):.2f}" for f, v in sorted(by_family.items())},
               "all": f"{np.mean([x for v in by_family.values() for x in v]):.2f}"}
        rows.append(row)
    cols = list(dict.fromkeys(k for r in rows for k in r))
    print(console.table([{c: r.get(c, "") for c in cols} for r in rows], cols))


if __name__ == "__main__":
    main()
