"""The confidence's model (logistic fit, probability, choice between methods, calibration table) and the lag
search over alternative picture regions."""
import numpy as np
import pytest

from duetto.align import calibration as C
from duetto.align.correlate import lag_curve
from duetto.align.features import RATE


def test_fit_recovers_a_known_logistic_model():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 3))
    true = np.array([-0.5, 2.0, -1.0, 0.5])
    p = 1 / (1 + np.exp(-(true[0] + x @ true[1:])))
    y = rng.random(4000) < p
    w = np.array(C.fit(x, y, l2=1e-6, nonneg=False))
    assert np.abs(w - true).max() < 0.2, w
    free = np.array(C.fit(x, y, l2=1e-6))                  # the negative slope's feature left out, the rest refitted
    assert free[2] == 0 and free[1] > 1.5 and free[3] > 0.2, free
    # counting every example twice is the same as a weight of 2
    assert np.allclose(C.fit(np.vstack([x, x]), np.concatenate([y, y])), C.fit(x, y, np.full(len(y), 2.0)), atol=1e-6)


def test_probability_rises_with_the_margin_and_decide_takes_the_surer_reading():
    w = {"events": (-2.0, 1.0, 0.5, 0.2), "lips": (-1.0, 1.0, 0.5, 0.2), "mouth": (-3.0, 1.0, 0.5, 0.2)}
    lo, hi = C.probability("events", 0.02, 0.3, 2.0, w), C.probability("events", 0.2, 0.3, 2.0, w)
    assert 0 < lo < hi < 1
    readings = {"events": {"margin": 0.05, "peak": 0.3, "z": 2.0, "face": ""},
                "speech": {"margin": 0.2, "peak": 0.3, "z": 2.0, "face": "mesh"}}
    method, p = C.decide(readings, w)
    assert method == "speech" and p == pytest.approx(C.probability("lips", 0.2, 0.3, 2.0, w))
    assert C.kind("speech", "blazeface") == "mouth" and C.kind("speech", "haar") == "mouth"
    assert C.decide({}, w) == (None, 0.0)


def test_calibration_table_counts_by_bin():
    t = C.table(np.array([0.1, 0.2, 0.6, 0.95, 0.97]), np.array([False, True, True, True, False]))
    assert [r["readings"] for r in t] == [2, 0, 1, 0, 2]
    assert t[0]["within_2_frames"] == 0.5 and t[1]["within_2_frames"] is None and t[4]["within_2_frames"] == 0.5


def test_lag_curve_picks_the_region_that_matches_and_the_null_picks_too():
    """One of 9 regions shows the sound 80 ms after it is heard (sound ahead); the others are noise. The pick finds it and its offset.
    With no region related, picking the best of 9 does not make the reading look surer than one region would:
    each null roll picks its own best region."""
    rng = np.random.default_rng(1)
    n = 8 * RATE
    audio = np.zeros(n)
    audio[rng.choice(n - 50, 14, replace=False)] = 1.0
    regions = rng.random((9, n)) * 0.3
    regions[4] += np.roll(audio, 8)
    c = lag_curve(np.broadcast_to(audio, regions.shape), regions, 0.6, pick=True)
    assert c.row == 4 and c.best_s == pytest.approx(0.08, abs=0.006) and c.confidence > 5 and c.margin > 0.2
    noise = rng.random((9, n))
    many = lag_curve(np.broadcast_to(audio, noise.shape), noise, 0.6, pick=True)
    assert many.confidence < 3.0
