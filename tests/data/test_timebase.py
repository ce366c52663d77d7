import numpy as np
import pytest

from duetto.data import timebase


def test_frame_times_are_exact_seconds():
    assert timebase.frame_time(0, 25) == 0.0
    assert timebase.frame_time(25, 25) == pytest.approx(1.0)
    assert timebase.frame_time(1, 25) == pytest.approx(0.040)
    np.testing.assert_allclose(timebase.frame_time(np.arange(3), 30000 / 1001), [0, 1001 / 30000, 2002 / 30000])


def test_frame_of_is_nearest_frame_and_catches_one_frame_errors():
    assert timebase.frame_of(0.68, 25) == 17            # 17 * 0.04
    assert timebase.frame_of(0.68 + 0.019, 25) == 17    # within half a frame
    assert timebase.frame_of(0.68 + 0.021, 25) == 18
    assert timebase.frame_of(0.68 - 0.040, 25) == 16    # one frame early is a different frame
    assert list(timebase.frame_of(np.array([0.0, 0.04, 0.08]), 25)) == [0, 1, 2]


def test_sample_and_frame_counts():
    assert timebase.sample_of(0.5, 16000) == 8000
    assert timebase.n_frames(2.0, 25) == 50
    assert timebase.n_frames(8.008, 30000 / 1001) == 240
    assert timebase.n_samples_for_frames(50, 25, 16000) == 32000
    assert timebase.n_samples_for_frames(1, 30000 / 1001, 48000) == 1602  # 1601.6 -> nearest


def test_fps_fraction():
    assert timebase.fps_fraction(25.0) == 25
    assert timebase.fps_fraction(30000 / 1001) == timebase.Fraction(30000, 1001)
    assert timebase.fps_fraction(29.97) == timebase.Fraction(30000, 1001)
