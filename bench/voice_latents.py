"""Does the voice reach the sound before the audio decoder? Pitch read from audio latents, not from decoded audio.

The voice figures of `duetto-train eval` (``voice_closer``, ``f0_within_15``) are read from decoded audio, and the
tiny audio VAE's decoder renders a 50 Hz buzz in place of the voice's pitch (`bench/voice.py`: F0 found in a
third of round-tripped utterances), so they cannot tell a model that ignores the voice reference from one whose
latents follow it. This bench reads pitch from the latents themselves:

1. **Probe.** A ridge regression from audio latents (each latent with two either side, and their squares) to log
   F0 (YIN at each latent's time, `duetto.audio.harmonic.f0_targets`) over the voiced latents of espeak-ng
   utterances (`bench/voice.py`'s voices and sentences, far and near pairs, ``--seed``); scored on utterances of
   the next seed: frame correlation, and each utterance's median within 15 % of the truth (the probe's ceiling).
2. **References.** The probe's median F0 on the two voice references' own latents, beside their true F0.
3. **Generated.** For the speech clips of the shards (caption, words and seed as `duetto-train eval` takes
   them), the bundle samples each clip three times on the same noise: no voice, voice A, voice B. The probe's
   median F0 over its loud latents (within 20 dB of the loudest, decoded) is compared: how often B's output
   reads higher than A's (A the lower reference), and by how much (median ratio B / A; the references' own ratio
   through the probe is the most to expect).

    python bench/voice_latents.py BUNDLE SHARDS... --voices LOW HIGH [--n 12] [--seed 11]

Measured 2026-12-07 (2-core CPU, DEV speech = seed 95000, ``--n 12``, the voices of ``recipes/conditioning.sh``, 77
and 280 Hz, 104 and 227 Hz through the probe; probe: frame correlation 0.81, utterance median within 15 % for 54 %):
``duetto-tiny-v3`` (replaced in samples/ by v4 the same day; in git history) reads higher with the high reference in
12 of 12 prompts, median ratio 1.30; ``samples/duetto-tiny`` in 12 of 12 too, but by a ratio of 1.03. The caption's
gender still pulls harder than the reference.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from voice import SR, say, sentence, voice_pairs  # noqa: E402

CONTEXT = 2          # latents either side in the probe's input
RIDGE = 10.0
LOUD_DB = 20.0


def features(z: np.ndarray) -> np.ndarray:
    """``z [C, L]`` -> ``[L, (2 CONTEXT + 1) C]``: each latent with its neighbours (edges repeated)."""
    L = z.shape[1]
    zp = np.pad(z, ((0, 0), (CONTEXT, CONTEXT)), mode="edge")
    return np.concatenate([zp[:, i: i + L] for i in range(2 * CONTEXT + 1)], 0).T


class Probe:
    def __init__(self, vae):
        self.vae = vae

    @torch.no_grad()
    def latents(self, x: np.ndarray) -> np.ndarray:
        return self.vae.encode(torch.from_numpy(np.asarray(x, np.float32))[None, None])[0].float().numpy()

    def utterances(self, seed: int, pairs: int):
        from duetto.audio.harmonic import f0_targets
        rng = np.random.default_rng(seed)
        out = []
        for kind in ("far", "near"):
            for va, vb in voice_pairs(kind, pairs, rng):
                for v in (va, vb):
                    x = say(sentence(rng), v, rng)
                    z = self.latents(x)
                    f = f0_targets(x, SR, self.vae.hop, z.shape[1])
                    ok = np.isfinite(f)
                    out.append((features(z)[ok], np.log(f[ok])))
        return out

    def design(self, X: np.ndarray) -> np.ndarray:
        Z = (X - self.mu) / self.sd
        return np.concatenate([Z, Z ** 2, np.ones((len(Z), 1))], 1)

    def fit(self, data):
        X = np.concatenate([x for x, _ in data])
        y = np.concatenate([t for _, t in data])
        self.mu, self.sd = X.mean(0), X.std(0) + 1e-6
        F = self.design(X)
        self.w = np.linalg.solve(F.T @ F + RIDGE * np.eye(F.shape[1]), F.T @ y)

    def hz(self, X: np.ndarray) -> np.ndarray:
        return np.exp(self.design(X) @ self.w)

    def score(self, data) -> dict:
        pred = [np.log(self.hz(x)) for x, _ in data]
        p, t = np.concatenate(pred), np.concatenate([t for _, t in data])
        med = [(np.median(a), np.median(b)) for a, (_, b) in zip(pred, data) if len(b) >= 5]
        return {"frames": len(t), "corr": float(np.corrcoef(p, t)[0, 1]),
                "within_15": float(np.mean([abs(np.exp(a - b) - 1) <= 0.15 for a, b in med])), "utterances": len(med)}

    def median_f0(self, z: np.ndarray, audio: np.ndarray) -> float:
        """The probe's median F0 over the latents whose decoded loudness is within `LOUD_DB` of the loudest."""
        n = z.shape[1]
        rms = np.sqrt(np.convolve(audio ** 2, np.ones(320) / 320, "same")[160::320] + 1e-12)
        rms = np.pad(rms, (0, max(0, n - len(rms))), constant_values=1e-6)[:n]
        loud = 20 * np.log10(rms) > 20 * np.log10(rms.max()) - LOUD_DB
        return float(np.median(self.hz(features(z))[loud]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bundle", help="a generation bundle")
    ap.add_argument("shards", nargs="+", help="speech clips (shards or folders): captions, words and seeds")
    ap.add_argument("--voices", nargs=2, required=True, metavar=("LOW", "HIGH"),
                    help="two voice references, the lower-pitched first")
    ap.add_argument("--n", type=int, default=12, help="speech clips at most (default 12)")
    ap.add_argument("--seed", type=int, default=11, help="the probe's utterances (scored on seed + 1; default 11)")
    ap.add_argument("--pairs", type=int, default=12, help="voice pairs a kind for the probe's fit (default 12)")
    a = ap.parse_args()
    from duetto.data import console
    from duetto.data.bank import load_bank
    from duetto.joint.conditioning import read_reference
    from duetto.joint.pipeline import Pipeline
    from duetto.train.evaluate import prompts_from_bank
    pipe = Pipeline.load(a.bundle)
    if pipe.audio_vae.sample_rate != SR:
        raise SystemExit(f"{a.bundle}: its audio VAE runs at {pipe.audio_vae.sample_rate} Hz; this bench needs {SR}")
    probe = Probe(pipe.audio_vae)
    probe.fit(probe.utterances(a.seed, a.pairs))
    ceiling = probe.score(probe.utterances(a.seed + 1, max(1, a.pairs // 2)))
    print(f"probe (latents -> log F0), utterances of seed {a.seed + 1}: frame correlation {ceiling['corr']:.3f}, "
          f"utterance median within 15 %: {100 * ceiling['within_15']:.0f} % of {ceiling['utterances']}")
    from duetto.audio.speaker import median_f0
    refs = [read_reference(p, SR) for p in a.voices]
    for name, r in zip(("low", "high"), refs):
        print(f"reference {name}: F0 {median_f0(r[0], SR):.0f} Hz, through the probe {probe.median_f0(probe.latents(r[0]), r[0]):.0f} Hz")
    lay = pipe.layout(pipe.config.seconds)
    bank = load_bank(a.shards, fps=lay["fps"], size=pipe.config.size, sample_rate=SR, channels=1, min_seconds=1.0)
    prompts = [p for p in prompts_from_bank(bank) if p.speech][: a.n]
    rows = []
    for p in prompts:
        got = {}
        for name, ref in (("none", None), ("low", refs[0]), ("high", refs[1])):
            _, za = pipe.sample(p.text, lay, [p.seed], speech=p.speech, speech_voice=p.speech_voice, voice=ref)
            audio = pipe.audio_vae.decode(za, length=lay["samples"])[0, 0].detach().float().numpy()
            got[name] = probe.median_f0(za[0].detach().float().numpy(), audio)
        rows.append({"seed": p.seed, "caption": p.text[:48], **{k: f"{v:.0f}" for k, v in got.items()},
                     "high / low": f"{got['high'] / got['low']:.2f}", "_r": got["high"] / got["low"]})
    print(console.table(rows, [k for k in rows[0] if not k.startswith("_")]))
    ratios = np.array([r["_r"] for r in rows])
    print(f"high reference reads higher than low: {int((ratios > 1).sum())} of {len(ratios)}; "
          f"median ratio {np.median(ratios):.2f}")


if __name__ == "__main__":
    main()
