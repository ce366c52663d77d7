"""Time-base figures: write -> read round trips (our reader and a plain pts-based decode), synthetic
event recovery per family over many seeds (shard FLAC vs AAC audio), and the real clips. Prints tables.

    python bench/timing.py [--seeds 50] [--media ../shared/media]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from duetto.data import console, encode_clip, probe, read_clip, timebase
from duetto.data.events import check_events
from duetto.data.media import SHARD_AUDIO, decode_plain
from duetto.data.synth import FAMILIES, SynthConfig, render
from duetto.data.testsignals import click_flash_clip, click_time, flash_frame


def table(title, header, rows):
    print(f"\n{title}")
    print(console.table([dict(zip(header, map(str, r))) for r in rows], list(header)))


def round_trips():
    rows = []
    for suffix, codec in ((".mp4", "aac"), (".mp4", "flac"), (".mkv", None)):
        for fps, sr in ((25.0, 16000), (30000 / 1001, 44100), (15.0, 22050)):
            clip, t = click_flash_clip(fps=fps, sr=sr, frames=75, event_time=1.2345)
            data = encode_clip(clip, suffix, audio_codec=codec)
            back = read_clip(data)
            plain, psr, frames = decode_plain(data)
            flash = flash_frame(back.video)
            pflash = frames[flash_frame([f for _, f in frames])][0]
            rows.append((f"{suffix[1:]}/{codec or 'pcm'}", f"{fps:.3f}", sr,
                         f"{(click_time(back.audio, sr) - t) * 1000:+.2f}",
                         f"{(click_time(plain, psr) - t) * 1000:+.2f}",
                         flash - timebase.frame_of(t, fps), f"{(pflash - timebase.frame_of(t, fps) / fps) * 1000:+.1f}",
                         f"{(back.duration - clip.duration) * 1000:+.1f}"))
    table("write_clip -> read back: a click and a flash at t = 1.2345 s",
          ["format", "fps", "Hz", "click ms (read_clip)", "click ms (plain pts decode)", "flash frame err",
           "flash pts ms (plain)", "duration ms"], rows)


def families(seeds: int):
    cfg = SynthConfig(seconds=4.0, fps=25, size=64, sample_rate=16000)
    rows = []
    codecs = (SHARD_AUDIO, "aac")
    for family in FAMILIES:
        results = {c: [] for c in codecs}
        for seed in range(seeds):
            clip = render(family, seed, cfg)               # once per seed, encoded with each codec
            for codec in codecs:
                back = read_clip(encode_clip(clip, audio_codec=codec))
                results[codec].append(check_events(back.video, back.audio, back.fps, back.sample_rate, clip.metadata))
        for codec, rs in results.items():
            ev = sum(r["events"] for r in rs)
            rows.append((family, f"h264+{codec}", seeds, ev, f"{sum(r['audio_found'] for r in rs) / ev:.3f}",
                         f"{max(r['audio_max_err_ms'] or 0.0 for r in rs):.2f}",
                         f"{sum(r['video_found'] for r in rs) / ev:.3f}", sum(r["audio_extra"] for r in rs),
                         f"{sum(r['ok'] for r in rs)}/{seeds}"))
    table(f"synthetic events found by independent detectors ({seeds} seeds, 4 s, 64x64, 25 fps, 16 kHz)",
          ["family", "codec", "clips", "events", "audio within 10 ms", "worst audio ms", "video exact frame",
           "extra audio onsets", "clips all found"], rows)


def real(media: Path):
    if not media.is_dir():
        print(f"\n(real clips: {media} absent)")
        return
    rows = []
    for p in sorted(media.glob("*.mp4")):
        t = time.perf_counter()
        clip = read_clip(p, size=64)
        dt = time.perf_counter() - t
        pr = probe(p)
        rows.append((p.name, clip.n_frames, f"{clip.fps:.3f}", f"{clip.duration:.3f}", f"{pr.duration:.3f}",
                     clip.sample_rate, pr.channels, f"{pr.video_codec}+{pr.audio_codec}", f"{dt:.2f}"))
    table("real clips: read_clip(size=64)", ["clip", "frames", "fps", "seconds", "declared s", "Hz", "ch",
                                             "codecs", "read s"], rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=50, help="seeds per family (default 50)")
    ap.add_argument("--media", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "media",
                    help="folder of real clips (default ../shared/media)")
    a = ap.parse_args()
    round_trips()
    families(a.seeds)
    real(a.media)


if __name__ == "__main__":
    main()
