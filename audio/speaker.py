"""Voice metric for 16 kHz speech: "is the output's voice the reference's?", in two parts.

* A speaker embedding: `SpeakerEncoder`, a re-implementation of resemblyzer 0.1.4's voice encoder (GE2E:
  3-layer LSTM, hidden 256, over 40 mel bands; linear 256 -> 256, ReLU, L2-normalised) that loads its
  shipped ``pretrained.pt``. The front end follows resemblyzer: volume raised to -30 dBFS (never lowered),
  long silences cut (here by an energy rule instead of webrtcvad), a librosa-style power mel spectrogram
  (25 ms Hann window, 10 ms hop, 40 Slaney bands, no log), partial windows of 160 frames (1.6 s) every 77
  frames (resemblyzer's ``rate=1.3``, about 50 % overlap; the last one kept if 75 % covered), and the
  utterance embedding is the normalised mean of the partial ones. Compare two with `similarity` (cosine).
* `median_f0`: the median pitch (Hz) over voiced frames from a YIN tracker in numpy, 50-500 Hz.

Audio is float ``[N]`` or ``[C, N]`` (channels are averaged) at any rate (resampled to 16 kHz), at most
`MAX_SECONDS` long. The resemblyzer package itself is never imported (its code needs webrtcvad, librosa and
a removed scipy module); only its weights file is read.
"""
from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from duetto.data import timebase
from duetto.data.errors import DuettoError

SAMPLE_RATE = 16000
N_FFT, HOP, N_MELS = 400, 160, 40            # 25 ms window, 10 ms hop at 16 kHz
PARTIAL_FRAMES, PARTIAL_STEP, MIN_COVERAGE = 160, 77, 0.75
TARGET_DBFS = -30.0
VAD_WINDOW, VAD_AVERAGE, VAD_DILATE = 480, 8, 7     # 30 ms windows; moving average; dilation width
VAD_RANGE_DB, VAD_FLOOR_DBFS = 40.0, -70.0          # voice: within 40 dB of the loudest window, above -70 dBFS
MAX_SECONDS = 60.0
EMBED_DIM = 256


def _mono16k(audio, sample_rate) -> np.ndarray:
    """Any ``[N]`` / ``[C, N]`` array or tensor at ``sample_rate`` -> float64 ``[N']`` mono at 16 kHz."""
    if isinstance(audio, torch.Tensor):
        audio = audio.detach().cpu().double().numpy()
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim not in (1, 2) or x.shape[-1] == 0:
        raise DuettoError(f"voice metric: audio must be a non-empty [N] or [C, N] array, not shape {x.shape}")
    if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise DuettoError(f"voice metric: sample_rate must be a positive integer, not {sample_rate!r}")
    if x.shape[-1] / sample_rate > MAX_SECONDS:
        raise DuettoError(f"voice metric: audio is {x.shape[-1] / sample_rate:.1f} s long; at most "
                          f"{MAX_SECONDS:g} s is measured (cut it first)")
    if not np.isfinite(x).all():
        raise DuettoError("voice metric: audio holds NaN or infinite samples")
    return timebase.resample(x.mean(axis=0) if x.ndim == 2 else x, int(sample_rate), SAMPLE_RATE)


def mel_filterbank(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """librosa's default mel filters (Slaney mel scale, Slaney area norm, 0 Hz to sr/2): ``[n_mels, n_fft//2+1]``."""
    step = np.log(6.4) / 27                   # Slaney: linear (200/3 Hz a mel) below 1 kHz, log above
    top = 15.0 + np.log(sr / 2 / 1000.0) / step if sr / 2 >= 1000 else sr / 2 / (200.0 / 3)
    m = np.linspace(0.0, top, n_mels + 2)
    edges = np.where(m >= 15.0, 1000.0 * np.exp(step * (m - 15.0)), m * (200.0 / 3))
    ramps = edges[:, None] - np.linspace(0, sr / 2, n_fft // 2 + 1)[None, :]
    lower, upper = -ramps[:-2] / np.diff(edges)[:-1, None], ramps[2:] / np.diff(edges)[1:, None]
    return np.maximum(0, np.minimum(lower, upper)) * (2.0 / (edges[2:] - edges[:-2]))[:, None]


def mel_spectrogram(wav: np.ndarray) -> np.ndarray:
    """16 kHz ``[N]`` -> power mel spectrogram ``[1 + N // 160, 40]`` float32, as resemblyzer's
    ``librosa.feature.melspectrogram`` (centred frames, zero padding as librosa >= 0.10, periodic Hann)."""
    x = np.pad(np.asarray(wav, dtype=np.float64), N_FFT // 2)
    frames = np.lib.stride_tricks.sliding_window_view(x, N_FFT)[::HOP]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)
    power = np.abs(np.fft.rfft(frames * window, axis=-1)) ** 2
    return (power @ mel_filterbank().T).astype(np.float32)


def preprocess(audio, sample_rate) -> np.ndarray:
    """resemblyzer's ``preprocess_wav`` without webrtcvad: mono 16 kHz, volume raised to -30 dBFS (RMS),
    long silences cut. A 30 ms window is voice if its RMS is within 40 dB of the loudest window's and
    above -70 dBFS; then resemblyzer's smoothing (moving average of 8 windows, rounded) and dilation (7 wide,
    so +-3 windows): a long gap keeps about 0.1 s at either end. Returns float64 ``[N']``; raises
    `DuettoError` if nothing is loud enough."""
    from scipy.ndimage import binary_dilation
    x = _mono16k(audio, sample_rate)
    rms = np.sqrt(np.mean(x ** 2))
    if rms > 0 and 20 * np.log10(rms) < TARGET_DBFS:
        x = x * 10 ** ((TARGET_DBFS - 20 * np.log10(rms)) / 20)
    x = x[: len(x) - len(x) % VAD_WINDOW]
    if len(x) == 0:
        raise DuettoError(f"voice metric: audio shorter than one {VAD_WINDOW / SAMPLE_RATE * 1000:.0f} ms window")
    db = 10 * np.log10(np.mean(x.reshape(-1, VAD_WINDOW) ** 2, axis=1) + 1e-20)
    flags = (db > db.max() - VAD_RANGE_DB) & (db > VAD_FLOOR_DBFS)
    w = VAD_AVERAGE
    padded = np.concatenate((np.zeros((w - 1) // 2), flags, np.zeros(w // 2)))
    mask = np.round(np.convolve(padded, np.ones(w) / w, "valid")).astype(bool)
    mask = binary_dilation(mask, np.ones(VAD_DILATE, bool)) if mask.any() else mask
    if not mask.any():
        raise DuettoError("voice metric: no speech found (the audio is silent or too short)")
    return x[np.repeat(mask, VAD_WINDOW)]


def partial_slices(n_samples: int) -> list[slice]:
    """resemblyzer's ``compute_partial_slices(n, rate=1.3, min_coverage=0.75)``: mel-frame slices of 160
    frames every 77 frames; the last is dropped when under 75 % covered unless it is the only one."""
    n_frames = int(np.ceil((n_samples + 1) / HOP))
    out = [slice(i, i + PARTIAL_FRAMES)
           for i in range(0, max(1, n_frames - PARTIAL_FRAMES + PARTIAL_STEP + 1), PARTIAL_STEP)]
    if (n_samples - out[-1].start * HOP) / (PARTIAL_FRAMES * HOP) < MIN_COVERAGE and len(out) > 1:
        out = out[:-1]
    return out


def default_weights_path() -> Path:
    """``pretrained.pt`` inside the installed resemblyzer package (found without importing it)."""
    spec = importlib.util.find_spec("resemblyzer")
    for loc in (spec.submodule_search_locations or []) if spec is not None else []:
        if (Path(loc) / "pretrained.pt").is_file():
            return Path(loc) / "pretrained.pt"
    raise DuettoError("speaker encoder: resemblyzer's pretrained.pt is not installed "
                      "(`pip install resemblyzer==0.1.4`) and no weights path was given")


class SpeakerEncoder(nn.Module):
    """resemblyzer 0.1.4's voice encoder. ``forward(mels [B, T, 40]) -> [B, 256]`` unit vectors (all entries
    >= 0, so the cosine of two embeddings lies in [0, 1]). ``similarity_weight`` / ``similarity_bias`` are
    GE2E's training-time scale and bias, unused here; they exist so that the checkpoint loads strictly."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(N_MELS, 256, 3, batch_first=True)
        self.linear = nn.Linear(256, EMBED_DIM)
        self.relu = nn.ReLU()
        self.similarity_weight = nn.Parameter(torch.tensor([10.0]))
        self.similarity_bias = nn.Parameter(torch.tensor([-5.0]))

    @classmethod
    def pretrained(cls, path=None) -> "SpeakerEncoder":
        """The encoder with weights from ``path`` (default: resemblyzer's ``pretrained.pt``), in eval mode.
        The file is ``{"model_state": state_dict, ...}`` or a bare state dict, read with ``weights_only``;
        a missing, unexpected or mis-shaped key is a `DuettoError`."""
        path = Path(path) if path is not None else default_weights_path()
        if not path.is_file():
            raise DuettoError(f"{path}: speaker-encoder weights not found")
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:      # noqa: BLE001 - any unreadable file is the user's to fix
            raise DuettoError(f"{path}: not a readable torch checkpoint ({type(e).__name__})") from None
        state = ckpt.get("model_state", ckpt) if isinstance(ckpt, dict) else None
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise DuettoError(f"{path}: expected a state dict of tensors (or {{'model_state': ...}})")
        model = cls()
        want = model.state_dict()
        missing, unexpected = sorted(set(want) - set(state)), sorted(set(state) - set(want))
        if missing or unexpected:
            raise DuettoError(f"{path}: speaker-encoder keys differ: missing {missing[:3]}, "
                              f"unexpected {unexpected[:3]}")
        bad = [k for k in want if tuple(state[k].shape) != tuple(want[k].shape)]
        if bad:
            raise DuettoError(f"{path}: {bad[0]} has shape {tuple(state[bad[0]].shape)}, "
                              f"expected {tuple(want[bad[0]].shape)}")
        model.load_state_dict(state, strict=True)
        return model.eval()

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(mels)
        e = self.relu(self.linear(hidden[-1]))
        return e / e.norm(dim=1, keepdim=True).clamp_min(1e-12)

    @torch.no_grad()
    def embed(self, audio, sample_rate: int) -> np.ndarray:
        """Speech ``[N]`` / ``[C, N]`` at ``sample_rate`` -> utterance embedding ``[256]`` float32 unit vector."""
        wav = preprocess(audio, sample_rate)
        slices = partial_slices(len(wav))
        wav = np.pad(wav, (0, max(0, slices[-1].stop * HOP - len(wav))))
        mel, p = mel_spectrogram(wav), next(self.parameters())
        mels = torch.from_numpy(np.stack([mel[s] for s in slices])).to(p.device, p.dtype)
        raw = self(mels).mean(dim=0).double().cpu().numpy()
        return (raw / max(np.linalg.norm(raw), 1e-12)).astype(np.float32)


@lru_cache(maxsize=1)
def default_encoder() -> SpeakerEncoder:
    """The shipped resemblyzer weights, loaded once."""
    return SpeakerEncoder.pretrained()


def embed(audio, sample_rate: int, encoder: SpeakerEncoder | None = None) -> np.ndarray:
    """Speaker embedding ``[256]`` (unit vector) of speech ``[N]`` / ``[C, N]`` at ``sample_rate``."""
    return (encoder or default_encoder()).embed(audio, sample_rate)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two embeddings (in [0, 1] for this encoder's non-negative ones)."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if a.shape != b.shape:
        raise DuettoError(f"similarity: embeddings differ in size ({a.size} vs {b.size})")
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))


def f0_track(audio, sample_rate: int, fmin: float = 50.0, fmax: float = 500.0, threshold: float = 0.15,
             range_db: float = 35.0) -> np.ndarray:
    """YIN pitch (de Cheveigné & Kawahara 2002) every 10 ms at 16 kHz: ``[F]`` Hz, NaN where unvoiced.
    Frame k covers samples ``[160 k, 160 k + 30 ms + 1 / fmin]``. The period is the first lag in
    ``[sr / fmax, sr / fmin]`` whose cumulative-mean-normalised difference dips under ``threshold``, taken
    at that dip's local minimum with parabolic refinement; a minimum in the last two lags (``ceil(sr / fmin)``)
    is not trusted. A frame is voiced if such a dip exists and its RMS is within ``range_db`` of the loudest
    frame's (and above -70 dBFS)."""
    if not 0 < fmin < fmax <= SAMPLE_RATE / 4:
        raise DuettoError(f"f0: need 0 < fmin < fmax <= {SAMPLE_RATE // 4} Hz, got {fmin}, {fmax}")
    x = _mono16k(audio, sample_rate)
    w, t_lo, t_hi = 480, int(SAMPLE_RATE // fmax), int(np.ceil(SAMPLE_RATE / fmin))
    size = w + t_hi + 2
    if len(x) < size:
        return np.zeros(0)
    nfft = 1 << int(np.ceil(np.log2(size + w)))
    all_frames = np.lib.stride_tricks.sliding_window_view(x, size)[::HOP]
    f0, energy = np.full(len(all_frames), np.nan), np.zeros(len(all_frames))
    lags = np.arange(t_hi + 2)
    for c in range(0, len(all_frames), 512):       # bounded memory on long audio
        fr = all_frames[c: c + 512]
        r = np.fft.irfft(np.fft.rfft(fr, nfft) * np.conj(np.fft.rfft(fr[:, :w], nfft)), nfft)[:, : t_hi + 2]
        cs = np.concatenate((np.zeros((len(fr), 1)), np.cumsum(fr ** 2, axis=1)), axis=1)
        d = np.maximum(cs[:, [w]] + cs[:, lags + w] - cs[:, lags] - 2 * r, 0.0)
        cm = np.cumsum(d[:, 1:], axis=1)
        dn = np.concatenate((np.ones((len(fr), 1)), d[:, 1:] * lags[1:] / np.maximum(cm, 1e-12)), axis=1)
        energy[c: c + len(fr)] = cs[:, w] / w
        below = dn[:, t_lo: t_hi + 1] < threshold
        first = np.where(below.any(axis=1), t_lo + below.argmax(axis=1), -1)
        for i in np.flatnonzero(first > 0):
            t = first[i]
            while t < t_hi and dn[i, t + 1] < dn[i, t]:
                t += 1
            if t >= t_hi - 1:       # a dip at the range's end: the period may be longer (e.g. a 50 Hz buzz)
                continue
            a, b, e = dn[i, t - 1: t + 2]
            den = a - 2 * b + e
            shift = float(np.clip(0.5 * (a - e) / den, -1, 1)) if den > 0 else 0.0
            f0[c + i] = SAMPLE_RATE / (t + shift)
    db = 10 * np.log10(energy + 1e-20)
    f0[(db < db.max() - range_db) | (db < -70.0)] = np.nan
    return f0


def median_f0(audio, sample_rate: int, fmin: float = 50.0, fmax: float = 500.0, min_voiced: int = 5) -> float:
    """Median pitch in Hz over the voiced 10 ms frames of `f0_track`; NaN if fewer than ``min_voiced`` are
    voiced (silence, noise, audio under ~0.1 s, or a voice that lost its periodicity)."""
    f0 = f0_track(audio, sample_rate, fmin, fmax)
    return float(np.nanmedian(f0)) if np.isfinite(f0).sum() >= max(1, min_voiced) else float("nan")
