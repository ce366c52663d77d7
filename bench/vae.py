"""Autoencoder speed and memory: video frames/s and audio seconds/s for encode + decode, and the peak
resident memory of a 60-second 64x64 clip run through the chunked paths (each case in a fresh process, so
the peak is its own). Speed and memory do not depend on the weights: untrained `tiny` models are used.

    python bench/vae.py [--seconds 60] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

CASE = r"""
import json, sys, time, torch
torch.set_num_threads({threads})
kind, preset, seconds = {kind!r}, {preset!r}, {seconds}
torch.manual_seed(0)
with torch.no_grad():
    if kind == "video":
        from duetto.video.vae import VideoVAE, preset as p
        m = VideoVAE(p(preset)).eval()
        x = torch.rand(1, 3, int(seconds * m.config.fps), 64, 64) * 2 - 1
        t = time.perf_counter(); z = m.chunked_encode(x, 4); y = m.chunked_decode(z, 4); dt = time.perf_counter() - t
        rate = x.shape[2] / dt
    else:
        from duetto.audio.vae import AudioVAE, preset as p
        m = AudioVAE(p(preset)).eval()
        x = torch.rand(1, m.config.channels, int(seconds * m.config.sample_rate)) * 2 - 1
        t = time.perf_counter(); z = m.chunked_encode(x, 50); y = m.chunked_decode(z, 50); dt = time.perf_counter() - t
        rate = seconds / dt
peak = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(json.dumps({{"rate": rate, "seconds_taken": dt, "peak_mb": int(peak) / 1024, "latents": list(z.shape)}}))
"""


def run(kind: str, preset: str, seconds: float, threads: int) -> dict:
    code = CASE.format(kind=kind, preset=preset, seconds=seconds, threads=threads)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0, help="clip length (default 60)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    a = ap.parse_args()
    from duetto.data import console
    rows = []
    for kind, preset in (("video", "tiny"), ("video", "tiny-x1"), ("audio", "tiny")):
        r = run(kind, preset, a.seconds, a.threads)
        unit = "frames/s" if kind == "video" else "audio s/s"
        rows.append({"model": f"{kind} {preset}", "clip": f"{a.seconds:g} s" + (" 64x64 25 fps" if kind == "video" else ""),
                     "encode+decode s": f"{r['seconds_taken']:.1f}", "speed": f"{r['rate']:.1f} {unit}",
                     "peak memory MB": f"{r['peak_mb']:.0f}", "latents": "x".join(map(str, r["latents"]))})
    print(console.table(rows, list(rows[0])))


if __name__ == "__main__":
    main()
