"""Lag search: cross-correlation of an audio feature with a picture feature (Pearson per lag, weighted by
the overlap), sub-sample peak, and a confidence against unrelated sound."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft

from .features import RATE


# Correlation subtracted per second of lag: between two equally good peaks (periodic content: a metronomic
# beat matches the sound one period off as well as it matches it in place) the smaller offset wins. 0.05/s
# costs the edge of a +-0.6 s search 0.03 of correlation, against peaks of 0.3-0.8 in clips in sync.
LAG_PRIOR = 0.05
RIVAL_S = 0.08            # seconds: a rival peak is at least this far (two frames at 25 fps) from the best


@dataclass(frozen=True)
class LagCurve:
    lags_s: np.ndarray      # [L] candidate offsets in seconds (positive: sound ahead of picture)
    corr: np.ndarray        # [L] overlap-weighted correlation at each lag (mean over cues, less the lag prior)
    best_s: float           # sub-sample peak
    peak: float             # `corr` at the peak
    confidence: float       # z-score of the peak against the peaks of rolled (unrelated) audio
    margin: float = 0.0     # `peak` less the best correlation more than `RIVAL_S` from it (a rival offset)
    row: int = 0            # with ``pick``: the row (alternative) the peak came from


def _z(x: np.ndarray) -> np.ndarray:
    if not np.isfinite(x).any():
        return np.full_like(x, np.nan)
    m = np.nanmean(x)
    s = np.nanstd(x)
    return (x - m) / s if s > 1e-12 else np.zeros_like(x)


def lag_curve(audio_feat: np.ndarray, video_feat: np.ndarray, search_s: float = 0.6,
              null_rolls: int = 24, pick: bool = False) -> LagCurve:
    """Both features on the same ``RATE`` grid (NaN where undefined): ``[n]``, or ``[P, n]`` for ``P`` cues
    (pairs of an audio and a picture feature), whose curves are averaged. The sound is ahead by ``d`` when
    the picture shows at ``t + d`` what the audio has at ``t``: corr(d) = mean_t a(t) * v(t + d).

    Confidence is a z-score of the peak against a null: the best correlation within the same search
    range when the audio features are circularly rolled by at least a second (unrelated sound), over
    ``null_rolls`` rolls (the same rolls for every cue). Unrelated audio scores near 0; a real match
    scores high.

    ``pick``: the ``P`` rows are alternatives (the same audio feature against regions of the picture): the row
    with the highest peak is taken, and each null roll takes its own best row, so that choosing among many
    regions does not make unrelated sound look matched."""
    audio_feat, video_feat = np.atleast_2d(audio_feat), np.atleast_2d(video_feat)
    if audio_feat.shape != video_feat.shape:
        raise ValueError(f"lag_curve: {audio_feat.shape} audio cues against {video_feat.shape} picture cues")
    n = audio_feat.shape[-1]
    shifts = np.linspace(RATE, n - RATE, null_rolls).astype(int) if n > 2 * RATE + null_rolls else []
    cues = []
    for af, vf in zip(audio_feat, video_feat):
        a = _z(af)                       # rolling keeps the values, so one z-score serves every roll
        cue, lags = _curves(np.stack([a] + [np.roll(a, int(r)) for r in shifts]), _z(vf), search_s)
        cues.append(cue)
    # the mean over the cues defined at each lag: a cue that is flat or missing there (a still mouth, a
    # silent stretch of a window) leaves the decision to the others instead of voiding it
    cues = np.stack(cues)                                  # [P, R, L]
    if pick:
        best_rows = np.argmax(np.where(np.isfinite(cues), cues, -np.inf).max(axis=2), axis=0)   # [R]
        curves = cues[best_rows, np.arange(cues.shape[1])]     # [R, L]: each roll's best row
    else:
        have = np.isfinite(cues)
        with np.errstate(invalid="ignore"):
            curves = np.where(have, cues, 0.0).sum(0) / have.sum(0)
    curves = curves - LAG_PRIOR * np.abs(lags) / RATE      # between equal peaks, the smaller offset
    corr = curves[0]
    c = np.nan_to_num(corr, nan=-1.0)
    k = int(np.argmax(c))
    frac = 0.0
    if 0 < k < len(c) - 1:   # parabola through the peak and its neighbours
        den = c[k - 1] - 2 * c[k] + c[k + 1]
        frac = 0.5 * (c[k - 1] - c[k + 1]) / den if den < 0 else 0.0
    null = np.asarray([np.nanmax(x) for x in curves[1:] if np.isfinite(x).any()])
    conf = float((c[k] - null.mean()) / (null.std() + 1e-3)) if len(null) > 3 else 0.0
    far = np.abs(lags - lags[k]) > RIVAL_S * RATE
    margin = float(c[k] - c[far].max()) if far.any() else 0.0
    row = int(best_rows[0]) if pick else 0
    return LagCurve(lags / RATE, corr, float((lags[k] + frac) / RATE), float(c[k]), conf, margin, row)


def _curves(a: np.ndarray, v: np.ndarray, search_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Pearson correlation of each audio feature ``a [R, n]`` (z-scored, NaN where undefined) with the
    picture feature ``v [n]`` shifted by every lag in +-search_s, over their common valid samples, times
    the share of the clip that overlap is: ``(corr [R, L], lags [L])``. Exact masked cross-correlation
    sums, all R rows in one batch of FFTs."""
    ma, mv = ~np.isnan(a), ~np.isnan(v)
    a0, v0 = np.where(ma, a, 0.0), np.where(mv, v, 0.0)
    ma, mv = ma.astype(float), mv.astype(float)
    n = a.shape[-1]
    max_lag = min(int(round(search_s * RATE)), n - 1)
    lags = np.arange(-max_lag, max_lag + 1)
    size = sfft.next_fast_len(2 * n - 1, real=True)
    A = sfft.rfft(np.stack([ma, a0, a0 * a0], axis=1), size)          # [R, 3, F] audio side
    V = sfft.rfft(np.stack([mv, v0, v0 * v0]), size)                  # [3, F] picture side

    def xc(i, j):   # sum_t p[t] * q[t + lag] for each lag, p the audio term i, q the picture term j
        return sfft.irfft(np.conj(A[:, i]) * V[j], size)[:, lags % size]

    cnt = np.round(xc(0, 0))
    sx, sy = xc(1, 0), xc(0, 1)
    sxx, syy, sxy = xc(2, 0), xc(0, 2), xc(1, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sxy - sx * sy / cnt
        var = (sxx - sx * sx / cnt) * (syy - sy * sy / cnt)
        corr = np.where((cnt > RATE // 2) & (var > 1e-12), cov / np.sqrt(np.maximum(var, 1e-12)), np.nan)
    # weight each lag by the share of the clip it compares (the biased estimator): two equally good
    # peaks, as periodic content gives, resolve towards the lag backed by more of the clip
    return corr * cnt / n, lags
