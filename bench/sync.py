"""Sync-check speed: seconds per clip and real-time factor by resolution (decode + analysis), on the
real clips in ../shared/media and synthetic clips. Prints a table.

    python bench/sync.py [--media ../shared/media]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from duetto.align import measure_sync
from duetto.data import probe, write_clip
from duetto.data.synth import SynthConfig, render


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--media", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "media")
    a = ap.parse_args()
    paths = sorted(a.media.glob("*.mp4")) if a.media.is_dir() else []
    with tempfile.TemporaryDirectory() as d:
        for size in (64, 256):
            paths.append(write_clip(Path(d) / f"synth_{size}.mp4", render("impacts", 0, SynthConfig(seconds=8, size=size))))
        rows = []
        for p in paths:
            pr = probe(p)
            measure_sync(p)                     # warm-up (imports, cascade load)
            t = time.perf_counter()
            r = measure_sync(p)
            dt = time.perf_counter() - t
            rows.append((p.name, f"{pr.width}x{pr.height}", f"{pr.duration:.1f}", f"{dt:.2f}", f"{pr.duration / dt:.1f}x",
                         r.method))
    print(f"machine: {os.cpu_count()} cores")
    hdr = ("clip", "resolution", "seconds", "check s", "real-time factor", "method")
    w = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(hdr)]
    print("  ".join(h.ljust(w[i]) for i, h in enumerate(hdr)))
    print("  ".join("-" * x for x in w))
    for r in sorted(rows, key=lambda r: int(r[1].split("x")[1])):
        print("  ".join(v.ljust(w[i]) for i, v in enumerate(r)))


if __name__ == "__main__":
    main()
