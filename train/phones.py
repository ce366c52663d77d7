"""A small phoneme recognizer for the synthetic speech: are the requested words spoken?

Speech in ``[N]`` / ``[C, N]`` at any rate -> the espeak-ng phoneme symbols it says (`PhoneRecognizer.transcribe`),
scored against the symbols of the words asked for by `phoneme_error` (edits over the reference's symbols). Every
clip of the speech family is voiced by espeak-ng with exact phoneme labels, so the recognizer is trained on them
(`recipes/phone_recognizer.py`), with CTC, on their sound as it is and through the shipped audio VAE (what a
generated clip comes through); its ceiling on held-out clips is printed by ``python bench/eval_ceiling.py``.

Model (`PhoneConfig`): log-mel ``[40, F]`` (25 ms windows, 10 ms hop, 16 kHz) -> two 1-D convolutions (the second
of stride 2: 20 ms frames) -> a bidirectional GRU -> per frame, a distribution over the blank (0) and the
sounding symbols of `joint.conditioning.PHONE_SYMBOLS` (stress marks and word gaps left out). Saved as
``config.json`` + ``model.safetensors`` and loaded strictly (`duetto.data.autoencoder.Pretrained`).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from duetto.data import timebase
from duetto.data.autoencoder import Pretrained
from duetto.data.errors import DuettoError

SAMPLE_RATE = 16000
MAX_SECONDS = 60.0
SILENT = " ˈˌ"                                          # symbols that take no time: not recognised, not scored


def symbols() -> str:
    """The recognised symbols, in id order (id = 1 + position; 0 is CTC's blank)."""
    from duetto.joint.conditioning import PHONE_SYMBOLS
    return "".join(s for s in PHONE_SYMBOLS if s not in SILENT)


@dataclass(frozen=True)
class PhoneConfig:
    n_mels: int = 40
    channels: int = 128
    hidden: int = 128
    layers: int = 2
    vocab: int = 1 + len(symbols())


class PhoneRecognizer(Pretrained):
    config_class = PhoneConfig

    def __init__(self, config: PhoneConfig):
        super().__init__(config)
        c = config
        self.conv = nn.Sequential(nn.Conv1d(c.n_mels, c.channels, 5, padding=2), nn.GELU(),
                                  nn.Conv1d(c.channels, c.channels, 5, stride=2, padding=2), nn.GELU())
        self.rnn = nn.GRU(c.channels, c.hidden, num_layers=c.layers, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * c.hidden, c.vocab)

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        """Log-mels ``[B, n_mels, F]`` -> log-probabilities ``[B, ceil(F / 2), vocab]``."""
        x = self.conv(mels).transpose(1, 2)                  # [B, F', channels]
        x, _ = self.rnn(x)
        return self.out(x).log_softmax(-1)

    @torch.no_grad()
    def transcribe(self, audio, sample_rate: int) -> str:
        """The symbols heard in ``audio`` (``[N]`` or ``[C, N]`` float), by greedy CTC decoding."""
        logp = self(torch.from_numpy(log_mel(audio, sample_rate))[None].to(next(self.parameters())))[0]
        return greedy(logp.argmax(-1).tolist())


def greedy(best: list[int]) -> str:
    """CTC's greedy reading of the most likely id per frame: repeats merged, blanks (0) dropped, ids to symbols."""
    table = symbols()
    return "".join(table[i - 1] for k, i in enumerate(best) if i and (k == 0 or i != best[k - 1]))


def log_mel(audio, sample_rate: int) -> np.ndarray:
    """``[40, F]`` float32 log-mel of mono 16 kHz speech (frame k centred on 10 k ms), normalised to the loudest
    frame (so the level of a clip does not matter); at most `MAX_SECONDS`."""
    import torchaudio
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim == 2:
        x = x.mean(0)
    if x.ndim != 1 or not len(x) or not np.isfinite(x).all():
        raise DuettoError(f"speech must be finite [N] or [C, N] samples, got shape {np.shape(audio)}")
    if len(x) > MAX_SECONDS * sample_rate:
        raise DuettoError(f"speech of {len(x) / sample_rate:.0f} s is longer than {MAX_SECONDS:.0f} s")
    x = timebase.resample(x, sample_rate, SAMPLE_RATE)
    mel = torchaudio.transforms.MelSpectrogram(SAMPLE_RATE, n_fft=400, hop_length=160, n_mels=40, f_min=60.0,
                                               f_max=7600.0)(torch.from_numpy(x.astype(np.float32)))
    db = 10 * torch.log10(mel + 1e-10)
    return ((db - db.max()) / 20 + 2).clamp_min(-2).numpy().astype(np.float32)        # 0 dB peak -> 2, floor -2


def reference_symbols(words: str, language: str = "en-us") -> str:
    """The sounding symbols of ``words`` as espeak-ng says them in ``language``: what a clip should say."""
    from duetto.joint.conditioning import phonemize
    keep = set(symbols())
    return "".join(ch for ch in phonemize(words, language) if ch in keep)


def phoneme_error(reference: str, heard: str) -> tuple[int, int]:
    """``(edits, len(reference))``: the Levenshtein distance between two symbol strings."""
    prev = list(range(len(heard) + 1))
    for i, r in enumerate(reference, 1):
        cur = [i]
        for j, h in enumerate(heard, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h)))
        prev = cur
    return prev[-1], len(reference)


SHIPPED = Path(__file__).resolve().parents[1] / "samples" / "phone-recognizer"


@lru_cache(maxsize=1)
def default_recognizer() -> PhoneRecognizer:
    """The shipped recognizer (``samples/phone-recognizer``), loaded once."""
    if not (SHIPPED / "config.json").is_file():
        raise DuettoError(f"{SHIPPED}: the phoneme recognizer is missing (train it: python recipes/phone_recognizer.py)")
    return PhoneRecognizer.from_pretrained(SHIPPED).eval()
