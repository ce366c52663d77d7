"""Data throughput: synthetic clips/s per family, and loader clips/s for 2 s 64x64 25 fps 16 kHz
windows from shards with 0 and 2 DataLoader workers. Prints a table.

    python bench/data.py [--clips 24] [--batches 20]
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import torch
from torch.utils.data import DataLoader

from duetto.data import console
from duetto.data.loader import ClipWindows, collate
from duetto.data.shards import ShardWriter
from duetto.data.synth import FAMILIES, SynthConfig, render_sample, sample_caption


def bench_synth(family: str, n: int, cfg: SynthConfig, out: str) -> float:
    t = time.perf_counter()
    with ShardWriter(out, prefix=family, max_count=8) as w:
        for seed in range(n):
            w.write(*render_sample(family, seed, cfg))
    return n / (time.perf_counter() - t)


def distinct_captions(cfg: SynthConfig, counts=(("impacts", 1000), ("music", 1000), ("speech", 200))) -> str:
    caps = {f: {sample_caption(f, s, cfg) for s in range(n)} for f, n in counts}
    per = ", ".join(f"{f} {len(c)}/{n}" for (f, n), c in zip(counts, caps.values()))
    return f"distinct captions: {len(set().union(*caps.values()))} ({per} seeds)"


def bench_load(shards: str, workers: int, batches: int, batch_size: int = 8) -> float:
    ds = ClipWindows(shards, seconds=2.0, fps=25, size=64, sample_rate=16000, epochs=None)
    it = iter(DataLoader(ds, batch_size=batch_size, num_workers=workers, collate_fn=collate,
                         persistent_workers=False))
    next(it)                                  # start-up (worker spawn) is not throughput
    t = time.perf_counter()
    for _ in range(batches):
        next(it)
    rate = batches * batch_size / (time.perf_counter() - t)
    del it
    return rate


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=24, help="clips rendered per family (default 24)")
    ap.add_argument("--batches", type=int, default=20, help="batches of 8 timed per loader setting (default 20)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    cfg = SynthConfig(seconds=4.0, fps=25, size=64, sample_rate=16000)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; torch {torch.__version__}")
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for fam in FAMILIES:
            rows.append((f"synthesise + encode {fam} (4 s, 64x64, 25 fps, 16 kHz)", bench_synth(fam, a.clips, cfg, d)))
        for workers in (0, 2):
            rows.append((f"load 2 s 64x64 25 fps 16 kHz windows, {workers} workers", bench_load(d, workers, a.batches)))
    print(console.table([{"task": name, "clips/s": f"{rate:.1f}"} for name, rate in rows], ["task", "clips/s"]))
    print(distinct_captions(cfg))


if __name__ == "__main__":
    main()
