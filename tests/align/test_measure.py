"""Sync measurement: sign convention, known offsets on synthetic clips, presets, no-signal cases."""
import numpy as np
import pytest

from conftest import click_flash_clip, click_time
from duetto.align import measure_sync, tolerance
from duetto.align.shift import shift_audio
from duetto.data import Clip
from duetto.data.errors import DuettoError
from duetto.data.synth import SynthConfig, render

CFG = SynthConfig(seconds=4.0, fps=25, size=64, sample_rate=16000)


def test_presets_and_custom_tolerances():
    t = tolerance("ebu-r37")
    assert t.allows(40) and t.allows(-60) and not t.allows(41) and not t.allows(-61)
    assert tolerance("itu-detect").lead_ms == 45 and tolerance("itu-detect").lag_ms == 125
    assert tolerance("itu-accept").allows(90) and tolerance("atsc").allows(-45) and not tolerance("atsc").allows(16)
    c = tolerance("+20/-30")
    assert c.allows(20) and not c.allows(-31)
    with pytest.raises(DuettoError, match="unknown tolerance"):
        tolerance("loose")


def test_shift_audio_sound_ahead_means_earlier():
    clip, t = click_flash_clip(frames=50, event_frame=25)
    ahead = shift_audio(clip, 120)
    assert abs(click_time(ahead.audio, 16000) - (t - 0.120)) < 1e-3
    behind = shift_audio(clip, -80)
    assert abs(click_time(behind.audio, 16000) - (t + 0.080)) < 1e-3


@pytest.mark.parametrize("family", ["impacts", "music"])
def test_known_offsets_on_synthetic_clips_within_one_frame(family):
    for seed in range(3):
        clip = render(family, seed, CFG)
        for shift in (-240, -40, 0, 120):
            r = measure_sync(shift_audio(clip, shift))
            assert r.offset_ms is not None and abs(r.offset_ms - shift) <= 40, (family, seed, shift, r.offset_ms)
            assert r.method == "events"


def test_sign_follows_bt1359():
    clip = render("impacts", 1, CFG)
    assert measure_sync(shift_audio(clip, 200)).offset_ms > 150      # sound early: positive
    assert measure_sync(shift_audio(clip, -200)).offset_ms < -150    # sound late: negative


def test_verdicts_against_the_preset():
    clip = render("impacts", 2, CFG)
    r = measure_sync(shift_audio(clip, 120), preset="ebu-r37")
    assert r.verdict == "fail" and "outside ebu-r37" in r.reason
    r = measure_sync(clip, preset="itu-accept")
    assert r.verdict == "pass" and r.confidence >= 3.5


def test_no_signal_reasons():
    clip = render("impacts", 0, CFG)
    silent = Clip(video=clip.video, audio=np.zeros_like(clip.audio), fps=25, sample_rate=16000)
    assert measure_sync(silent).verdict == "no-signal" and "silence" in measure_sync(silent).reason
    still = Clip(video=np.repeat(clip.video[:1], clip.n_frames, 0), audio=clip.audio, fps=25, sample_rate=16000)
    r = measure_sync(still)
    assert r.verdict == "no-signal" and "static picture" in r.reason


def test_unrelated_audio_is_not_a_confident_offset():
    clips = [render("impacts", s, CFG) for s in range(4)] + [render("music", s, CFG) for s in range(4)]
    confident = 0
    for i, v in enumerate(clips):
        other = clips[(i + 3) % len(clips)]
        r = measure_sync(Clip(video=v.video, audio=other.audio, fps=25, sample_rate=16000))
        confident += r.verdict != "no-signal"
    assert confident <= 1


def test_drift_windows_on_a_long_clip():
    clip = render("impacts", 3, SynthConfig(seconds=12.0, fps=25, size=48))
    r = measure_sync(shift_audio(clip, 80))
    assert abs(r.offset_ms - 80) <= 40
    assert len(r.windows) == 5 and all(w["end"] - w["start"] == 4.0 for w in r.windows)
    good = [w for w in r.windows if w["confidence"] >= 3.5]
    assert sum(abs(w["offset_ms"] - 80) <= 40 for w in good) >= len(good) - 1   # 4 s windows are short
