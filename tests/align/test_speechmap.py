"""The speech cue's band weights (align/speechmap.py): bands on the project's clock, a fit that recovers a known
map through each clip's own offset, and the weighted cue."""
import numpy as np
import pytest

from duetto.align import features as F
from duetto.align import speechmap


def test_speech_bands_place_a_tone_burst_in_its_band_and_its_blocks():
    """A 1 kHz burst from 1.00 to 1.50 s is loud in the band holding 1 kHz in blocks 100-149 (10 ms each: a 40 ms
    error moves four blocks) and 50 dB down elsewhere; a band far from it stays at its floor."""
    t = np.arange(3 * F.AUDIO_RATE) / F.AUDIO_RATE
    x = np.where((t >= 1.0) & (t < 1.5), 0.5 * np.sin(2 * np.pi * 1000 * t), 0.0)
    levels = F.speech_bands(x)
    assert levels.shape == (8, 300)
    band = int(np.searchsorted(F.SPEECH_BAND_EDGES, 1000)) - 1
    loud = np.flatnonzero(levels[band] > levels[band].max() - 6)
    assert abs(loud[0] - 100) <= 1 and abs(loud[-1] - 149) <= 1
    assert levels[band, 30] == pytest.approx(levels[band].max() - 50)
    assert levels[0].max() < levels[band].max() - 30


def test_fit_recovers_a_known_map_through_each_clips_own_offset():
    """Opening = a known weighting of the bands, shown 50-150 ms after the sound (a clip slightly out of sync),
    plus noise: the fit aligns each clip at its own offset and gets the weights back to within 0.05."""
    rng = np.random.default_rng(0)
    true = np.array([0.0, -0.2, -0.1, 0.5, 0.1, 0.3, 0.2, 0.0])
    pairs = []
    for lag in (5, 10, 15, -5):
        raw = rng.standard_normal((8, 1200))
        bands = np.stack([F.band_pass(b, 1.0, 8.0) for b in raw])
        bands = (bands - bands.mean(1, keepdims=True)) / bands.std(1, keepdims=True)
        opening = np.roll(true @ bands, lag) + 0.1 * rng.standard_normal(1200)
        pairs.append((bands, opening))
    w = np.array(speechmap.fit(pairs, ridge=1.0))
    assert np.abs(w / np.linalg.norm(w) - true / np.linalg.norm(true)).max() < 0.05
    cue = speechmap.audio_cue(pairs[0][0], w)
    assert cue.shape == (1200,) and np.corrcoef(np.roll(cue, 5), pairs[0][1])[0, 1] > 0.9
    with pytest.raises(ValueError, match="speech weights"):
        speechmap.audio_cue(pairs[0][0], w[:3])
