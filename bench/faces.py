"""How often the speech method's face finder finds a face, by how many overlapping detections it asks for.

Counts clips with a face in at least ``FACE_SHARE`` of the sampled frames (what ``measure_sync`` needs to
pick the speech method): synthetic clips of each family (4 s, 64x64, seeds from 90000, the held-out range),
and any video files given (generated clips, say). A face found in an impacts or music clip is a false one.

    python bench/faces.py [--seeds 60] [--neighbors 5,3] [CLIP.mp4 ...]
"""
from __future__ import annotations

import argparse

import numpy as np

from duetto.align.face import find_mouth
from duetto.align.measure import FACE_SHARE, analysis_input
from duetto.data import console
from duetto.data.synth import SynthConfig, render


def found(clip, neighbors: int) -> bool:
    _, share = find_mouth(np.asarray(analysis_input(clip)[0].luma, np.float32), min_share=FACE_SHARE, min_neighbors=neighbors)
    return share >= FACE_SHARE


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("clips", nargs="*", help="video files to count as well")
    p.add_argument("--seeds", type=int, default=60, help="synthetic clips per family (default 60)")
    p.add_argument("--neighbors", default="5,3", help="min_neighbors values to compare (default 5,3)")
    a = p.parse_args()
    values = [int(v) for v in a.neighbors.split(",")]
    cfg = SynthConfig(seconds=4, fps=25, size=64)
    sets = {f"synthetic {f}": [render(f, 90000 + s, cfg) for s in range(a.seeds)] for f in ("speech", "impacts", "music")}
    if a.clips:
        sets["given files"] = a.clips
    rows = [{"clips": name, "n": len(items), **{f"face found, {v} detections": sum(found(c, v) for c in items)
                                                  for v in values}} for name, items in sets.items()]
    print(console.table(rows, list(rows[0])))


if __name__ == "__main__":
    main()
