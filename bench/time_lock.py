"""The time-locked cross-modal block's cost against clip length: the band of keys per query (what the model runs)
against the dense ``[B, 1, Lq, Lk]`` mask it replaced, one cross-modal block of the ``tiny`` preset (random weights,
the shipped clocks: 25 video latents/s at 4 tokens each, 50 audio latents/s), forward pass, batch 1.

    python bench/time_lock.py [--seconds 4,16,64] [--threads 2] [--preset tiny]

Each case runs in a fresh process so its peak memory (resident on a CPU, allocated on a GPU) is its own.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

CASE = r"""
import json, time, torch
torch.set_num_threads({threads})
import duetto.joint.blocks as blocks
from duetto.joint.attention import time_band, time_window_mask
from duetto.joint.config import preset
from duetto.joint.rope import rope_angles
dev = "cuda" if torch.cuda.is_available() else "cpu"
cfg = preset({preset!r})
block = blocks.CrossModalBlock(cfg).to(dev).eval()
for p in block.parameters():
    torch.nn.init.normal_(p, std=0.02)
sec = {seconds}
vt = (torch.arange(int(25 * sec), dtype=torch.float64) / 25 + 0.02).repeat_interleave(4)[None].to(dev)
at = (torch.arange(int(50 * sec), dtype=torch.float64) / 50 + 0.01)[None].to(dev)
v, a = torch.randn(1, vt.shape[1], cfg.dim, device=dev), torch.randn(1, at.shape[1], cfg.dim, device=dev)
c = torch.randn(1, cfg.dim, device=dev)
vr, ar = rope_angles(cfg, vt), rope_angles(cfg, at)
dense = {dense}
if dense:        # the old path: a dense boolean mask built in every block, every pass
    def run():
        nv, na = block.video_norm(v), block.audio_norm(a)
        x = block.video_from_audio(nv, na, q_rope=vr, k_rope=ar, mask=time_window_mask(vt, at, cfg.window))
        y = block.audio_from_video(na, nv, q_rope=ar, k_rope=vr, mask=time_window_mask(at, vt, cfg.window))
        return x, y
else:
    def run():
        return block(v, a, c, c, vt, at, vr, ar, None,
                     (time_band(vt, at, cfg.window), time_band(at, vt, cfg.window)))
with torch.no_grad():
    run()
    if dev == "cuda":
        torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    for _ in range({repeats}):
        run()
    if dev == "cuda":
        torch.cuda.synchronize()
    dt = (time.perf_counter() - t) / {repeats}
peak = torch.cuda.max_memory_allocated() / 2**20 if dev == "cuda" else \
    int([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]) / 1024
print(json.dumps({{"ms": 1000 * dt, "peak_mb": peak, "video_tokens": vt.shape[1], "audio_tokens": at.shape[1],
                  "device": dev}}))
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", default="4,16,64", help="clip lengths (default 4,16,64)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    from duetto.data import console
    rows = []
    for sec in (float(s) for s in a.seconds.split(",")):
        row = {"clip s": f"{sec:g}"}
        for name, dense in (("band", False), ("dense mask", True)):
            code = CASE.format(threads=a.threads, preset=a.preset, seconds=sec, dense=dense, repeats=a.repeats)
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
            if out.returncode:
                row[f"{name} ms"] = "failed (" + out.stderr.strip().splitlines()[-1][:40] + ")"
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            row["tokens v/a"] = f"{r['video_tokens']}/{r['audio_tokens']}"
            row[f"{name} ms"] = f"{r['ms']:.1f}"
            row[f"{name} peak MB"] = f"{r['peak_mb']:.0f}"
            row["device"] = r["device"]
        rows.append(row)
    print(f"one cross-modal block of the {a.preset!r} preset, forward, batch 1, {a.threads} thread(s)")
    print(console.table(rows, list(dict.fromkeys(k for r in rows for k in r))))


if __name__ == "__main__":
    main()
