"""Which sound the lips follow: a linear map from speech band levels to the lips' opening, fitted on real talking clips.

The lips open for vowels and release plosives and fricatives; the voice's low band (its pitch and nasal murmur, 100-490
Hz) sounds with the mouth nearly closed as well. One loudness over 300-3400 Hz mixed the two, and on 5-12 s of real
speech it correlated 0.1-0.3 with the opening, as well as unrelated speech does by chance. Here each of
`N_BANDS` log-spaced band levels (`features.speech_bands`) is band-passed to the syllable rhythm and z-scored, and
their weighted sum is the audio cue of the speech method. The weights are a ridge regression of the mesh's lip
opening on the bands, pooled over real talking clips, each aligned at its own best offset within `ALIGN_S` of its
published sync (a clip published a little out of sync still teaches the right relation). `python
bench/sync_calibration.py` fits them leave one source out (each clip measured with weights its source never
touched) and on all clips for `WEIGHTS`.
"""
from __future__ import annotations

import numpy as np

from . import features as F

N_BANDS = 8
ALIGN_S = 0.2          # a training clip is aligned at its best offset within this of its published sync
RIDGE = 10.0           # L2 penalty of the fit, against the sum of squares of z-scored features (thousands of samples)

# Fitted by `python bench/sync_calibration.py` (2026-12-07) on the 10 talking clips of ../shared/media (see the module
# docstring): one weight per band of `features.SPEECH_BAND_EDGES` (100, 170, 289, 492, 837, 1423, 2420, 4116, 7000
# Hz), low to high: 492-837 Hz (first formants: the jaw opens for vowels) and 1.4-4.1 kHz (the lips release
# consonants) count; 289-492 Hz (the voice's pitch, heard with the mouth nearly shut) counts against.
WEIGHTS = (0.018, -0.018, -0.127, 0.284, -0.034, 0.134, 0.156, 0.03)


def _z(a: np.ndarray) -> np.ndarray:
    s = np.nanstd(a)
    return (a - np.nanmean(a)) / s if s > 1e-12 else np.zeros_like(a)


def band_cues(x: np.ndarray, grid: np.ndarray, start: int, stop: int, band=(1.0, 8.0)) -> np.ndarray:
    """The band levels of mono 16 kHz audio ``x`` on ``grid`` (seconds), band-passed to ``band`` Hz, cut to the
    sounding span ``[start, stop)`` (samples; NaN outside) and z-scored: ``[N_BANDS, len(grid)]``."""
    levels = F.speech_bands(x)
    t = F.audio_times(levels.shape[1], "onset")
    out = np.empty((len(levels), len(grid)))
    for i, lv in enumerate(levels):
        g = F.band_pass(F.on_grid(lv, t, grid), *band)
        g[(grid < start / F.RATE) | (grid >= stop / F.RATE)] = np.nan   # filtered whole, then cut to the sound
        out[i] = _z(g)
    return out


def audio_cue(bands: np.ndarray, weights=None) -> np.ndarray:
    """The weighted sum of `band_cues` ``[N_BANDS, n]`` -> ``[n]`` (NaN where any band is)."""
    w = np.asarray(WEIGHTS if weights is None else weights, np.float64)
    if w.shape != (len(bands),):
        raise ValueError(f"speech weights: {w.shape} for {len(bands)} bands")
    return np.einsum("b,bn->n", w, bands)


def fit(pairs, ridge: float = RIDGE) -> tuple[float, ...]:
    """Weights from ``pairs``: ``(bands [N_BANDS, n], opening [n])`` per clip on one grid, opening band-passed like
    the bands. Each clip is aligned at its best lag within `ALIGN_S` (the opening at ``t + lag`` against the sound
    at ``t``, by the plain mean of the bands, so the fit does not choose its own alignment), then all are pooled."""
    xs, ys = [], []
    for bands, opening in pairs:
        lag = _best_lag(bands.mean(axis=0), opening)      # (the bands are NaN together: outside the sound)
        o = np.full_like(opening, np.nan)
        if lag >= 0:
            o[: len(o) - lag] = opening[lag:]
        else:
            o[-lag:] = opening[: len(o) + lag]
        ok = np.isfinite(o) & np.isfinite(bands).all(0)
        if ok.sum() > F.RATE:
            xs.append(bands[:, ok].T)
            ys.append(_z(o[ok]))
    if not xs:
        raise ValueError("speech weights: no clip with a second of sound and a lip opening")
    x, y = np.concatenate(xs), np.concatenate(ys)
    w = np.linalg.solve(x.T @ x + ridge * np.eye(x.shape[1]), x.T @ y)
    return tuple(round(float(v), 3) for v in w)


def _best_lag(a: np.ndarray, v: np.ndarray) -> int:
    from .correlate import lag_curve
    return int(round(lag_curve(a, v, ALIGN_S, null_rolls=0).best_s * F.RATE))
