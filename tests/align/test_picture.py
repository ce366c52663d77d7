"""The picture side of the sync features: repeated frames of a frame-rate conversion, and small moving
subjects in large still frames."""
from dataclasses import replace

import numpy as np
import pytest

from duetto.align import measure_sync
from duetto.align import features as F
from duetto.align.shift import shift_audio
from duetto.data.clip import luma
from duetto.data.synth import SynthConfig, render

from test_measure import stopping_bar_clip


def moving_blob(n: int, fps: float) -> np.ndarray:
    """Luma ``[n, 24, 96]`` of a soft blob that moves all the time at changing speed (sub-pixel positions)."""
    t = np.arange(n) / fps
    x = 32 + 16 * np.sin(2 * np.pi * 0.7 * t) + 6 * np.sin(2 * np.pi * 1.9 * t)
    blob = np.exp(-0.5 * ((np.arange(96)[None] - x[:, None]) / 4) ** 2)
    return np.repeat((30 + 190 * blob)[:, None, :], 24, axis=1).astype(np.float32)


@pytest.mark.parametrize("src, out", [(25, 30), (25, 50), (15, 50), (24, 30000 / 1001)])
def test_a_conversions_repeated_frames_are_found(src, out):
    """Each output frame shows the latest source frame; the repeats are found, apart from a few frames where
    the blob turns and a source frame barely differs from the one before."""
    idx = np.floor(np.arange(int(8 * out)) * src / out + 1e-9).astype(int)
    y = moving_blob(idx.max() + 1, src)[idx]
    found = F.repeated_frames(F.frame_change(y))
    repeats = np.r_[False, idx[1:] == idx[:-1]]
    assert (found & repeats).sum() >= 0.85 * repeats.sum(), (found.sum(), repeats.sum())
    assert (found & ~repeats).sum() <= 0.05 * len(y), np.flatnonzero(found & ~repeats)


def test_native_frames_and_pauses_are_not_repeats():
    """At its own rate nothing repeats; synthetic scenes rest between events (faces between words, still
    frames between a metronome's flashes) at no conversion's cadence, and nothing is removed from them."""
    assert not F.repeated_frames(F.frame_change(moving_blob(200, 25))).any()
    for fps in (15, 25):
        for family in ("music", "speech"):
            for seed in range(6):
                y = luma(render(family, seed, SynthConfig(seconds=4, fps=fps, size=64)).video).astype(np.float32)
                assert not F.repeated_frames(F.frame_change(y)).any(), (family, seed, fps)


def test_a_small_moving_subject_in_a_still_frame_is_measured():
    """A 48x64 scene in the corner of a 360x640 still frame: the frame's mean change is tiny, but it is not a
    static picture (a speaker in a wide shot read 'static picture: nothing moves')."""
    clip = stopping_bar_clip(25.0)
    video = np.full((clip.n_frames, 360, 640, 3), 30, np.uint8)
    video[:, 40:88, 500:564] = clip.video
    wide = replace(clip, video=video)
    for shift in (0, 80):
        r = measure_sync(shift_audio(wide, shift), method="events")
        assert r.verdict != "no-signal", r.reason
        assert abs(r.offset_ms - shift) <= 20, r.offset_ms


def test_frame_motion_is_the_mean_change_and_the_busiest_tile():
    """frame_motion (in-place chunks) against the plain definition: the mean |change| per frame and the largest
    mean |change| inside any of 8 x 8 tiles, on a picture whose only motion is one tile's corner (sizes that 8 does
    not divide, more frames than a chunk)."""
    from duetto.align.features import frame_motion
    rng = np.random.default_rng(1)
    y = np.full((70, 45, 83), 100, np.float32)
    y[:, :5, :10] += rng.integers(0, 60, (70, 5, 10))            # one 5 x 10 tile moves, the rest is still
    change, peak = frame_motion(y, chunk=16)
    d = np.abs(np.diff(y.astype(np.float64), axis=0))
    assert np.allclose(change, d.mean(axis=(1, 2)))
    assert peak == pytest.approx(d[:, :5, :10].mean(axis=(1, 2)).max())
