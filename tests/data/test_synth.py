"""Synthetic scenes: deterministic by seed, varied captions, and ground-truth event times that
independent detectors recover from the written mp4 (audio within 10 ms, picture on the exact frame)."""
import numpy as np
import pytest

from duetto.data import encode_clip, read_clip, timebase
from duetto.data.events import check_events
from duetto.data.media import SHARD_AUDIO
from duetto.data.synth import FAMILIES, SynthConfig, render, sample_caption

CFG = SynthConfig(seconds=4.0, fps=25, size=64, sample_rate=16000)


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_events_are_found_where_the_json_says_over_50_seeds(family):
    worst_ms, events = 0.0, 0
    for seed in range(50):
        clip = render(family, seed, CFG)
        back = read_clip(encode_clip(clip, audio_codec=SHARD_AUDIO))   # what a shard holds
        r = check_events(back.video, back.audio, back.fps, back.sample_rate, clip.metadata)
        assert r["events"] > 0, seed
        assert r["ok"], (family, seed, r)
        worst_ms, events = max(worst_ms, r["audio_max_err_ms"]), events + r["events"]
    assert worst_ms < 10.0
    print(f"{family}: {events} events over 50 seeds, worst audio error {worst_ms:.2f} ms, all on the exact frame")


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_render_is_deterministic_and_well_formed(family):
    cfg = SynthConfig(seconds=2.0, fps=25, size=32, sample_rate=16000)
    a, b, c = render(family, 5, cfg), render(family, 5, cfg), render(family, 6, cfg)
    np.testing.assert_array_equal(a.video, b.video)
    np.testing.assert_array_equal(a.audio, b.audio)
    assert a.metadata == b.metadata
    assert not np.array_equal(a.video, c.video)
    assert a.video.shape == (50, 32, 32, 3) and a.audio.shape == (1, 32000)
    m = a.metadata
    assert m["family"] == family and m["fps"] == 25 and m["sample_rate"] == 16000 and m["duration"] == 2.0
    lo, hi = cfg.event_window()
    times = [e["time"] for e in m["events"]]
    assert times == sorted(times) and all(lo <= t <= hi for t in times)
    assert all(e["frame"] == timebase.frame_of(e["time"], 25) for e in m["events"])
    assert np.all(np.diff(times) >= cfg.min_gap - 1e-9)
    assert m["caption"] == sample_caption(family, 5, cfg)


def test_event_frames_follow_the_frame_rate():
    """The same scene at 30 fps puts each event on round(t * 30): a 1-frame error would show."""
    clip = render("impacts", 3, SynthConfig(seconds=3.0, fps=30, size=32))
    r = check_events(clip.video, clip.audio, clip.fps, clip.sample_rate, clip.metadata)
    assert r["ok"] and all(e["frame"] == round(e["time"] * 30) for e in clip.metadata["events"])
    shifted = {**clip.metadata, "events": [{**e, "time": e["time"] + 1 / 30} for e in clip.metadata["events"]]}
    r = check_events(clip.video, clip.audio, clip.fps, clip.sample_rate, shifted)
    assert r["video_found"] == 0 and r["audio_found"] == 0


def test_speech_transcript_has_word_times():
    clip = render("speech", 11, CFG)
    sp = clip.metadata["speech"]
    words = sp["words"]
    assert sp["transcript"] == " ".join(w["word"] for w in words) and len(words) >= 2
    assert f'"{sp["transcript"]}"' in clip.metadata["caption"]
    for w, nxt in zip(words, words[1:]):
        assert w["start"] < w["end"] < nxt["start"]
    assert [e["time"] for e in clip.metadata["events"]] == [w["start"] for w in words]
    for w in words:   # sound inside each word, near-silence between words
        s, e = (timebase.sample_of(w[k], 16000) for k in ("start", "end"))
        assert np.abs(clip.audio[0, s:e]).max() > 0.05
    gap = clip.audio[0, timebase.sample_of(words[0]["end"], 16000) + 10: timebase.sample_of(words[1]["start"], 16000) - 1]
    assert np.abs(gap).max() < 0.01


def test_music_metadata_has_tempo_beats_and_notes():
    clip = render("music", 4, CFG)
    mu = clip.metadata["music"]
    assert 70 <= mu["tempo"] <= 160 and mu["instrument"] in clip.metadata["caption"]
    beats = np.diff(mu["beats"])
    np.testing.assert_allclose(beats, 60 / mu["tempo"], atol=1e-5)


def test_at_least_1000_distinct_captions_across_families():
    caps = {f: {sample_caption(f, s, CFG) for s in range(n)}
            for f, n in (("impacts", 600), ("music", 600), ("speech", 60))}
    assert len(caps["speech"]) == 60 and len(caps["impacts"]) > 550 and len(caps["music"]) > 550
    assert len(set().union(*caps.values())) >= 1000


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="even size"):
        render("impacts", 0, SynthConfig(size=33))
    with pytest.raises(ValueError, match="unknown family"):
        render("fireworks", 0)
