"""Confidence as a probability: how often a reading like this one is within two frames of the truth.

A lag curve's peak says how well sound and picture match at the best offset; on its own it does not say whether
that offset is right. Three numbers of the curve do (`correlate.LagCurve`): ``margin`` (the peak less the best
rival offset more than two frames away: periodic content, a drummer's steady beat, gives rivals as good as the
peak), ``peak`` itself, and ``z`` (the peak against the peaks of unrelated, rolled audio). A logistic model of
them per kind of reading, fitted on a development split of clips with known offsets (`fit`; ``bench/sync_calibration.py``
fits it and prints the table below), turns them into the share of such readings that were within two frames.

The kinds: ``events`` (onsets against motion ends), ``lips`` (speech against a face mesh's lips) and ``mouth``
(speech against a mouth box from a face detector, no mesh).
"""
from __future__ import annotations

import numpy as np

FEATURES = ("margin", "peak", "z")
MIN_CONFIDENCE = 0.61  # below this a reading is "no usable sync signal" (chosen by bench/sync_calibration.py)
Z_CAP = 10.0          # z beyond this adds nothing (a synthetic clip's z of 30 is no surer than 10)

# Fitted by `python bench/sync_calibration.py` (2026-12-07, seventh session: refitted when `eval` began reading small
# faces from the file, as `check` does; first 2026-12-06) on the 20 real clips of ../shared/media and 40 synthetic
# ones: intercept, then the FEATURES' slopes. Its leave-one-source-out table is the align/README.md's; the "mouth"
# kind had too few readings of its own and shares the lips' examples; slopes that came out negative were left out
# (`fit`'s ``nonneg``): the peak, for lips and mouth, and z for the mouth.
WEIGHTS = {
    "events": (-2.861, 0.081, 0.409, 0.357),
    "lips": (-1.309, 1.100, 0.000, 0.084),
    "mouth": (-1.475, 1.051, 0.000, 0.000),
}


def kind(method: str, face: str) -> str:
    return "events" if method == "events" else "lips" if face == "mesh" else "mouth"


def features(margin: float, peak: float, z: float) -> np.ndarray:
    """On comparable scales (margin and peak are tenths; z is capped at `Z_CAP`), so one penalty suits all."""
    return np.array([10 * margin, 10 * peak, min(max(z, -Z_CAP), Z_CAP)], dtype=np.float64)


def probability(kind_: str, margin: float, peak: float, z: float, weights=None) -> float:
    """The calibrated confidence in [0, 1] of one reading."""
    w = np.asarray((weights or WEIGHTS)[kind_], dtype=np.float64)
    s = w[0] + features(margin, peak, z) @ w[1:]
    return float(1 / (1 + np.exp(-np.clip(s, -30, 30))))


def fit(x: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None, l2: float = 1.0, iters: int = 200,
        nonneg: bool = True) -> tuple[float, ...]:
    """Logistic regression (Newton's method, an L2 penalty on the slopes) of labels ``y [N]`` (1: within two
    frames) on features ``x [N, len(FEATURES)]``, each example counted ``weight [N]`` times (default 1):
    ``(intercept, *slopes)``. ``nonneg``: a feature whose slope comes out negative is left out and the rest
    refitted (a larger margin, peak or z never makes a reading less likely right; with few readings of a kind the
    unconstrained fit can say otherwise)."""
    x = np.asarray(x, np.float64)
    use = np.ones(x.shape[1], bool)
    while True:
        w = _newton(x[:, use], np.asarray(y, np.float64),
                    np.ones(len(y)) if weight is None else np.asarray(weight, np.float64), l2, iters)
        full = np.zeros(x.shape[1] + 1)
        full[0], full[1:][use] = w[0], w[1:]
        if not nonneg or (full[1:] >= 0).all():
            return tuple(float(v) for v in full)
        use &= full[1:] > 0


def _newton(x, y, c, l2, iters) -> np.ndarray:
    a = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(a.shape[1])
    pen = np.full(a.shape[1], l2)
    pen[0] = 0.0
    for _ in range(iters):
        p = 1 / (1 + np.exp(-np.clip(a @ w, -30, 30)))
        grad = a.T @ (c * (p - y)) + pen * w
        hess = (a * (c * p * (1 - p))[:, None]).T @ a + np.diag(pen) + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def table(confidence: np.ndarray, correct: np.ndarray, edges=(0.0, 0.25, 0.5, 0.75, 0.9, 1.0001)) -> list[dict]:
    """Calibration by bin: for each confidence range, how many readings and the share within two frames."""
    confidence, correct = np.asarray(confidence, float), np.asarray(correct, bool)
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (confidence >= lo) & (confidence < hi)
        out.append({"confidence": f"{lo:.2f}-{min(hi, 1):.2f}", "readings": int(sel.sum()),
                    "within_2_frames": round(float(correct[sel].mean()), 3) if sel.any() else None})
    return out


def decide(readings: dict, weights=None) -> tuple[str | None, float]:
    """Which reading to report and its calibrated confidence: of ``readings`` (method -> ``{margin, peak, z,
    face}``), the one most likely within two frames. ``(None, 0.0)`` when there is none."""
    best, p_best = None, -1.0
    for method, r in readings.items():
        p = probability(kind(method, r.get("face", "")), r["margin"], r["peak"], r["z"], weights)
        if p > p_best:
            best, p_best = method, p
    return best, max(p_best, 0.0)
