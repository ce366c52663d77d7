"""Autoencoder quality and time: what a trained video VAE and audio VAE keep of held-out clips.

For every clip (decoded at the VAEs' clocks, 64x64 and 16 kHz mono for the `tiny` models, trimmed to whole
video latents) it encodes and decodes picture and sound and prints, per set of clips:

- video PSNR (dB) and SSIM of the reconstruction, PSNR over the moving pixels only (pooled over the set's clips;
  `duetto.video.losses.moving`), and motion kept: the median over clips of the reconstruction's
  mean frame-to-frame change over the original's (1 = all motion kept, 0 = a still picture);
- audio log-mel L1 and multi-resolution STFT distance;
- onsets kept: the share of onsets found in the original (at the metadata's event times when the clip has
  them, otherwise every onset the detector finds) that the reconstruction has within 10 ms;
- sync kept: the share of clips whose offset, measured by ``measure_sync`` on the reconstruction, is within one
  frame (40 ms at 25 fps) of the offset measured on the original (clips where either gives no signal are
  counted apart, original and reconstruction separately; the method found on the original is used for both).

    python bench/vae_quality.py --video-vae DIR --audio-vae DIR --set synthetic SHARDS... --set real FILES...
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch


def _sets(argv_sets: list[list[str]]) -> dict[str, list[str]]:
    out = {}
    for spec in argv_sets:
        if len(spec) < 2:
            raise SystemExit("--set needs a name and at least one source")
        out[spec[0]] = spec[1:]
    return out


@torch.no_grad()
def round_trip(vvae, avae, video_u8: np.ndarray, audio: np.ndarray):
    """(video uint8 [T,H,W,3], audio float32 [C,N]) through both VAEs (posterior mean), trimmed to whole video
    latents; returns the trimmed originals and their reconstructions."""
    from duetto.data import timebase
    from duetto.video.vae import to_model_range, to_uint8
    k = vvae.temporal_factor
    t = 1 + k * ((len(video_u8) - 1) // k)
    n = timebase.n_samples_for_frames(t, vvae.config.fps, avae.sample_rate)
    video_u8, audio = video_u8[:t], audio[:, :n]
    x = to_model_range(torch.from_numpy(video_u8[None]))
    y = vvae.chunked_decode(vvae.chunked_encode(x))[:, :, :t]
    a = torch.from_numpy(np.ascontiguousarray(audio[None]))
    b = avae.decode(avae.encode(a), length=a.shape[-1])
    return video_u8, audio, to_uint8(y)[0].numpy(), b[0].numpy().astype(np.float32), (x, y, a, b)


def evaluate(vvae, avae, bank, tol: float = 0.010) -> dict:
    from duetto.align.measure import measure_sync
    from duetto.audio.losses import reconstruction_metrics
    from duetto.data.clip import Clip
    from duetto.data.events import audio_onsets
    from duetto.train.vae_tasks import onsets_kept
    from duetto.video.losses import moving_error, moving_psnr, psnr, ssim
    sr, fps = avae.sample_rate, vvae.config.fps
    rows = {"psnr": [], "ssim": [], "log_mel_l1": [], "multires_stft": []}
    kept = total = 0
    moving_se = moving_n = 0.0
    motion = []                    # mean frame-to-frame change of the reconstruction / of the original
    sync_ok, sync_n, none_orig, none_rec, sync_err = 0, 0, 0, 0, []
    for v, a, meta in zip(bank.videos, bank.audios, bank.metas):
        v, a, v2, a2, (x, y, at, bt) = round_trip(vvae, avae, v, a)
        rows["psnr"].append(psnr(y, x).item())
        rows["ssim"].append(ssim(y, x).item())
        e, k = moving_error(y, x)
        moving_se, moving_n = moving_se + e, moving_n + k
        m = reconstruction_metrics(at, bt, sr)
        rows["log_mel_l1"].append(m["log_mel_l1"])
        rows["multires_stft"].append(m["multires_stft"])
        dur = a.shape[1] / sr
        truth = np.array([e["time"] for e in meta.get("events", []) if 0.05 < e["time"] < dur - 0.05])
        if not len(truth):
            found = audio_onsets(a, sr)
            truth = found[(found > 0.05) & (found < dur - 0.05)]
        k, n = onsets_kept(a, a2, sr, truth, tol)
        kept, total = kept + k, total + n
        motion.append(float(np.abs(np.diff(v2.astype(np.float32), axis=0)).mean()
                            / max(np.abs(np.diff(v.astype(np.float32), axis=0)).mean(), 1e-6)))
        r0 = measure_sync(Clip(v, a, fps, sr))
        if r0.offset_ms is None:
            none_orig += 1
            continue
        r1 = measure_sync(Clip(v2, a2, fps, sr), method=r0.method)
        if r1.offset_ms is None:
            none_rec += 1
            continue
        sync_n += 1
        sync_err.append(abs(r1.offset_ms - r0.offset_ms))
        sync_ok += int(sync_err[-1] <= 1000 / fps)
    out = {k: float(np.mean(v)) for k, v in rows.items()}
    out.update(clips=len(bank), moving_psnr=moving_psnr(moving_se, moving_n), motion_kept=float(np.median(motion)), onsets=total, onsets_within_10ms=kept / total if total else float("nan"),
               sync_compared=sync_n, sync_no_signal_original=none_orig, sync_no_signal_reconstruction=none_rec,
               sync_within_1_frame=sync_ok / sync_n if sync_n else float("nan"),
               sync_median_change_ms=float(np.median(sync_err)) if sync_err else float("nan"))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--video-vae", required=True, help="trained video VAE folder")
    p.add_argument("--audio-vae", required=True, help="trained audio VAE folder")
    p.add_argument("--set", action="append", nargs="+", required=True, metavar="NAME SOURCE",
                   help="a named set of clips: shards, shard folders or media files (repeatable)")
    p.add_argument("--size", type=int, default=64, help="frame size (default 64)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    from duetto.audio.vae import AudioVAE
    from duetto.data.bank import load_bank
    from duetto.video.vae import VideoVAE
    vvae, avae = VideoVAE.from_pretrained(a.video_vae), AudioVAE.from_pretrained(a.audio_vae)
    results = {}
    for name, sources in _sets(a.set).items():
        bank = load_bank(sources, fps=vvae.config.fps, size=a.size, sample_rate=avae.sample_rate,
                         channels=avae.channels, min_seconds=1.0)
        results[name] = evaluate(vvae, avae, bank)
    if a.json:
        print(json.dumps(results, indent=2))
        return 0
    cols = [("clips", "{:d}"), ("psnr", "{:.2f}"), ("ssim", "{:.3f}"), ("moving_psnr", "{:.2f}"), ("motion_kept", "{:.2f}"), ("log_mel_l1", "{:.3f}"),
            ("multires_stft", "{:.3f}"), ("onsets", "{:d}"), ("onsets_within_10ms", "{:.1%}"),
            ("sync_compared", "{:d}"), ("sync_no_signal_original", "{:d}"),
            ("sync_no_signal_reconstruction", "{:d}"), ("sync_within_1_frame", "{:.1%}"),
            ("sync_median_change_ms", "{:.1f}")]
    print("| set | " + " | ".join(c for c, _ in cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for name, r in results.items():
        print(f"| {name} | " + " | ".join(f.format(r[c]) for c, f in cols) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
