"""Train the phoneme recognizer that scores generated speech (`duetto.train.phones`), on synthetic speech clips.

Each clip's label is the espeak-ng phoneme symbols of its transcript in its own accent; the recognizer learns from
each clip's sound as it is and after a round trip through the audio VAE (the sound a generated clip comes
through), with CTC. A twentieth of the clips (every 20th key) is kept out and its phoneme error printed as
training goes; the ceiling on other held-out clips is ``python bench/eval_ceiling.py --clips HELD_OUT/*``.

    python recipes/phone_recognizer.py SPEECH_SHARDS... --out samples/phone-recognizer [--steps 3000]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch


def examples(shards, vae_dir: Path):
    """``(log-mels, label ids, tag)`` for every speech clip of ``shards``, as it is and through the VAE."""
    from tqdm import tqdm

    from duetto.data.autoencoder import load_autoencoder
    from duetto.data.bank import load_bank
    from duetto.joint.conditioning import clip_words
    from duetto.train.phones import SAMPLE_RATE, log_mel, reference_symbols, symbols
    bank = load_bank(shards, fps=25, size=64, sample_rate=SAMPLE_RATE, channels=1, min_seconds=1.0, progress=True)
    vae = load_autoencoder(vae_dir).eval()
    ids = {s: 1 + i for i, s in enumerate(symbols())}
    out = []
    for key, audio, meta in tqdm(list(zip(bank.keys, bank.audios, bank.metas)), desc="features", unit="clip"):
        words, language = clip_words(meta)
        if not words:
            continue
        label = np.asarray([ids[s] for s in reference_symbols(words, language)], np.int64)
        with torch.no_grad():
            x = torch.from_numpy(audio[None].astype(np.float32))
            vae_audio = vae.decode(vae.encode(x), length=x.shape[-1])[0].clamp(-1, 1).numpy()
        out.append((log_mel(audio, SAMPLE_RATE), label, key))
        out.append((log_mel(vae_audio, SAMPLE_RATE), label, key))
    return out


def batch(items):
    mels = torch.nn.utils.rnn.pad_sequence([torch.from_numpy(m.T) for m, _, _ in items], batch_first=True,
                                           padding_value=-2.0).transpose(1, 2)          # [B, 40, F]
    lengths = torch.tensor([(m.shape[1] + 1) // 2 for m, _, _ in items])
    labels = torch.cat([torch.from_numpy(lab) for _, lab, _ in items])
    return mels, lengths, labels, torch.tensor([len(lab) for _, lab, _ in items])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("shards", nargs="+", help="speech shards (duetto-data synth --family speech)")
    ap.add_argument("--out", type=Path, required=True, help="folder for config.json + model.safetensors")
    ap.add_argument("--vae", type=Path, default=Path(__file__).resolve().parents[1] / "samples" / "vae-audio-tiny")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    from duetto.train.phones import PhoneConfig, PhoneRecognizer, greedy, phoneme_error, symbols
    torch.manual_seed(a.seed)
    data = examples(a.shards, a.vae)
    keys = sorted({k for _, _, k in data})
    dev_keys = set(keys[::20])
    train = [d for d in data if d[2] not in dev_keys]
    dev = [d for d in data if d[2] in dev_keys]
    model = PhoneRecognizer(PhoneConfig())
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=1e-2)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, a.lr, total_steps=a.steps, pct_start=0.05)
    ctc = torch.nn.CTCLoss(zero_infinity=True)
    rng = np.random.default_rng(a.seed)
    table = symbols()
    t0 = time.time()
    for step in range(1, a.steps + 1):
        model.train()
        mels, lengths, labels, label_lengths = batch([train[i] for i in rng.integers(0, len(train), a.batch_size)])
        loss = ctc(model(mels).transpose(0, 1), labels, lengths, label_lengths)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        sched.step()
        if step % 250 == 0 or step == a.steps:
            model.eval()
            edits = total = 0
            for m, lab, _ in dev:
                with torch.no_grad():
                    heard = greedy(model(torch.from_numpy(m)[None])[0].argmax(-1).tolist())
                e, n = phoneme_error("".join(table[i - 1] for i in lab), heard)
                edits, total = edits + e, total + n
            print(f"step {step}: ctc {loss.item():.3f}, dev phoneme error {edits / total:.3f} "
                  f"({len(dev)} clips), {time.time() - t0:.0f} s", flush=True)
    model.eval().save_pretrained(a.out, torch.float16)
    print(f"saved {a.out}")


if __name__ == "__main__":
    main()
