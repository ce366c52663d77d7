"""Long clips window by window (joint.extend): the window arithmetic on the latent clocks, the kept history, the
lengths in seconds, and the command."""
import json

import numpy as np
import pytest
import torch

from duetto.data import read_clip
from duetto.data.errors import DuettoError
from duetto.joint.cli import main
from duetto.joint.extend import extend, plan, windows
from duetto.joint.pipeline import Pipeline
from duetto.joint.sampling import Known


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """The micro bundle of conftest with the shipped VAEs' clock: one video latent a frame (tiny-x1)."""
    from conftest import MICRO_GENERATION
    from duetto.joint.config import preset
    torch.manual_seed(0)
    pipe = Pipeline.untrained(preset("micro"), MICRO_GENERATION, video_preset="tiny-x1")
    with torch.no_grad():
        for p in pipe.model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return pipe.save(tmp_path_factory.mktemp("bundle") / "micro-x1")


@pytest.fixture(scope="module")
def pipe(bundle):
    return Pipeline.load(bundle)                # a 1 s window, 25 video and 50 audio latents a second


def test_a_vae_of_several_frames_a_latent_is_refused(micro_bundle):
    with pytest.raises(DuettoError, match="one latent a frame"):
        plan(Pipeline.load(micro_bundle), 0.4)


def test_windows_keep_whole_latents_of_both_streams(pipe):
    p = plan(pipe, 0.4)
    assert (p.video_window, p.audio_window, p.video_history, p.audio_history) == (25, 50, 10, 20)
    assert p.step_s == pytest.approx(0.6)
    assert windows(3.4, p) == pytest.approx([0.0, 0.6, 1.2, 1.8, 2.4])           # ends 1, 1.6, 2.2, 2.8, 3.4 s
    assert windows(2.0, p, start=1.5) == pytest.approx([1.1])                     # a 1.5 s clip to 2.1 s
    assert windows(2.2, p, start=1.5) == pytest.approx([1.1, 1.7])                # ... and on to 2.7 s
    for bad in (0.0, 1.0, 2.5):
        with pytest.raises(DuettoError, match="--history"):
            plan(pipe, bad)
    with pytest.raises(DuettoError, match="whole number of latents"):
        plan(pipe, 0.41)                                                          # 10.25 video latents


def test_known_latents_come_out_as_they_went_in():
    torch.manual_seed(0)
    v, a = torch.randn(1, 2, 6, 2, 2), torch.randn(1, 3, 12)
    noise = torch.randn_like(v), torch.randn_like(a)
    k = Known(v, torch.arange(6) < 2, a, torch.arange(12) < 4, noise)
    x = torch.zeros_like(v), torch.zeros_like(a)
    pv, pa = k.pin(*x, 0.0)
    assert torch.equal(pv[:, :, :2], v[:, :, :2]) and torch.equal(pa[:, :, :4], a[:, :, :4])
    assert torch.equal(pv[:, :, 2:], x[0][:, :, 2:]) and torch.equal(pa[:, :, 4:], x[1][:, :, 4:])
    pv, _ = k.pin(*x, 0.25)
    assert torch.allclose(pv[:, :, :2], 0.75 * v[:, :, :2] + 0.25 * noise[0][:, :, :2])


def test_an_extended_clip_has_the_length_asked_and_keeps_what_was_given(pipe):
    first = extend(pipe, "a ball drops", seconds=2.2, history=0.4, seed=3)
    assert first.n_frames == 55 and first.audio.shape == (1, 35200) and first.duration == pytest.approx(2.2)
    assert first.video.dtype == np.uint8 and np.isfinite(first.audio).all()
    again = extend(pipe, "a ball drops", seconds=2.2, history=0.4, seed=3)
    assert np.array_equal(first.video, again.video)                               # a seed gives the same clip
    longer = extend(pipe, "a ball drops", seconds=3.4, history=0.4, seed=4, start=first)
    assert longer.n_frames == 85 and longer.audio.shape[1] == 54400
    assert np.array_equal(longer.video[:55], first.video)                          # the given clip, frame for frame
    fade = int(0.02 * 16000)
    assert np.array_equal(longer.audio[:, : 35200 - fade], first.audio[:, : 35200 - fade])
    assert not np.array_equal(longer.video[55:60], longer.video[50:55])            # and something new after it


def test_each_window_is_told_the_words_that_fall_in_it():
    teacher = Pipeline.load("samples/duetto-tiny")
    if not teacher.model.config.speech_vocab:
        pytest.skip("the shipped model takes no words")
    from duetto.joint import conditioning as C
    times = teacher.layout(4.0)["audio_times"].numpy()
    words = "one two three four five six seven eight nine ten eleven twelve thirteen"
    planned = C.planned_words(words)
    assert planned[-1][1] > 4.0                                    # more words than one window holds
    whole = teacher.condition_inputs("a man speaks", 1, times, speech=words)["speech"][0]
    late = teacher.condition_inputs("a man speaks", 1, times, speech=words, offset=4.0)
    assert torch.equal(late["speech"][0], torch.from_numpy(C.window_ids(planned, 4.0, 8.0)))
    assert len(late["speech"][0]) < len(whole)
    if "speech_track" in late:                                     # the track on the window's own clock
        assert torch.equal(late["speech_track"][0], torch.from_numpy(C.phoneme_track(planned, times + 4.0)))


def test_the_commands(bundle, tmp_path, capsys):
    short = tmp_path / "short.mp4"
    assert main(["generate", "a ball drops", "-o", str(short), "--checkpoint", str(bundle), "--quiet",
                 "--seconds", "1.6", "--history", "0.4"]) == 0            # beyond the 1 s window: extended
    assert read_clip(short).n_frames == 40
    (tmp_path / "short.json").write_text(json.dumps({"caption": "a ball drops"}))
    out = tmp_path / "long.mp4"
    assert main(["extend", str(short), "--seconds", "2.8", "-o", str(out), "--checkpoint", str(bundle),
                 "--history", "0.4", "--quiet", "--history-method", "replace"]) == 0   # the caption from the sidecar
    c = read_clip(out)
    assert c.n_frames == 70 and c.audio.shape[1] == 44800
    assert main(["extend", str(short), "--seconds", "1.0", "-o", str(tmp_path / "x.mp4"),
                 "--checkpoint", str(bundle)]) == 2
    assert "already lasts 1.60 s" in capsys.readouterr().err
    assert main(["extend", str(out), "--seconds", "4", "-o", str(tmp_path / "x.mp4"),
                 "--checkpoint", str(bundle)]) == 2                  # no sidecar, no --prompt
    assert "give --prompt" in capsys.readouterr().err
    assert not (tmp_path / "x.mp4").exists()


def test_the_seam_measures_see_a_jump_and_a_click_and_not_a_typical_boundary():
    from duetto.train.evaluate import seam_picture, seam_sound
    rng = np.random.default_rng(0)
    video = np.clip(128 + np.cumsum(rng.normal(0, 1, (100, 1, 1, 1)), 0) + rng.normal(0, 2, (100, 16, 16, 3)), 0, 255)
    video = video.astype(np.uint8)
    cut = video.copy()
    cut[50:] = np.clip(cut[50:].astype(int) + 60, 0, 255)                 # the picture jumps at frame 50
    assert seam_picture(cut, [50]) == 100.0
    assert 10 < seam_picture(video, [50]) < 90                            # a typical boundary
    sr = 16000
    audio = (0.1 * np.sin(2 * np.pi * 220 * np.arange(4 * sr) / sr))[None].astype(np.float32)
    clicked = audio.copy()
    clicked[:, 2 * sr:] += 0.3                                            # a step at 2 s: a click
    assert seam_sound(clicked, sr, [2 * sr]) > 95
    assert seam_sound(audio, sr, [2 * sr]) < 95


def test_drift_is_how_far_the_picture_wandered_from_its_first_window():
    from duetto.train.evaluate import drift
    still = np.full((100, 8, 8, 3), 90, np.uint8)
    assert drift(still, 25) == 0.0
    fading = still.copy()
    fading[:, :, :, 0] = np.linspace(90, 190, 100).astype(np.uint8)[:, None, None]    # red rises by 100 over 4 s
    first, last = np.linspace(90, 190, 100).astype(np.uint8)[[range(25), range(75, 100)]].mean(1)
    assert drift(fading, 25) == pytest.approx((last - first) / 3, abs=0.01)         # one channel of three moved


def test_eval_scores_extended_clips_window_by_window(bundle, tmp_path, capsys):
    from duetto.train.cli import main as train_main
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("\n".join(json.dumps({"prompt": "a ball drops", "family": "impacts", "seed": s}) for s in (1, 2)))
    assert train_main(["eval", str(bundle), "--prompts", str(prompts), "--extend", "1.6", "--history", "0.4",
                       "--n", "2", "--json", "--no-progress"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["windows"] for r in report["rows"]] == [2, 2] and report["settings"]["extend"] == 1.6
    assert report["settings"]["anchor"] == pytest.approx(0.16)     # the default, 40 % of a 0.4 s history
    summary = report["summary"][-1]
    assert {"seam_picture_pct", "seam_drift_pct", "seam_sound_pct", "event_windows_in_sync"} <= set(summary)
    assert train_main(["eval", str(bundle), "--prompts", str(prompts), "--extend", "1.6", "--seconds", "1"]) == 2
    capsys.readouterr()
    assert train_main(["eval", str(bundle), "--prompts", str(prompts), "--anchor", "0.1"]) == 2
    assert capsys.readouterr().err.strip().endswith("--anchor goes with --extend")


def test_the_history_ends_softly():
    from duetto.joint.extend import _weights
    w, n = _weights(10, 6, 2.0)
    assert n == 2 and w.tolist() == pytest.approx([1, 1, 1, 1, 2 / 3, 1 / 3, 0, 0, 0, 0])
    w, n = _weights(10, 6, 0.0)
    assert n == 0 and w.tolist() == [1] * 6 + [0] * 4
    assert _weights(10, 6, 50.0)[1] == 3                                   # at most half the history


def test_a_window_after_the_last_word_is_told_nothing_to_say():
    """The words end before a later window starts: that window gets padding (speech absent), not an empty
    sequence (which crashed the model's pooling: a 32 s extension of a 20-word sentence)."""
    teacher = Pipeline.load("samples/duetto-tiny")
    if not teacher.model.config.speech_vocab:
        pytest.skip("the shipped model takes no words")
    times = teacher.layout(4.0)["audio_times"].numpy()
    late = teacher.condition_inputs("a man speaks", 1, times, speech="hello there", offset=20.0)
    assert late["speech"].shape == (1, 1) and int(late["speech"][0, 0]) == 0
    lay = teacher.layout(4.0)
    zv, za = teacher.sample("a man speaks", lay, [0], speech="hello there", offset=20.0, steps=1)
    assert torch.isfinite(zv).all() and torch.isfinite(za).all()


def test_a_model_trained_with_known_latents_is_told_the_history_and_keeps_it_clean(tmp_path):
    """``known_prefix``: the known vectors start at zero (the model is the one it grew from), the masks reach the
    model in every pass (guided ones too), and the history stays the clean latents at every step."""
    from dataclasses import replace

    from conftest import MICRO_GENERATION
    from duetto.joint.config import preset
    torch.manual_seed(0)
    pipe = Pipeline.untrained(replace(preset("micro"), known_prefix=True), MICRO_GENERATION, video_preset="tiny-x1")
    m = pipe.model
    with torch.no_grad():
        for name, p in m.named_parameters():
            if not name.startswith("known_"):
                p.add_(torch.randn_like(p) * 0.05)
    v, a = torch.randn(1, m.config.video_channels, 6, 8, 8), torch.randn(1, m.config.audio_channels, 12)
    t, vt, at = torch.full((1,), 0.7), torch.arange(6) / 25, torch.arange(12) / 50
    kv, ka = (torch.arange(6) < 2)[None], (torch.arange(12) < 4)[None]
    with torch.no_grad():
        plain = m(v, a, t, t, vt, at)
        assert all(torch.equal(x, y) for x, y in zip(plain, m(v, a, t, t, vt, at, video_known=kv, audio_known=ka)))
        m.known_video.fill_(1.0), m.known_audio.fill_(1.0)
        marked = m(v, a, t, t, vt, at, video_known=kv, audio_known=ka)
        assert not torch.equal(marked[0], plain[0]) and not torch.equal(marked[1], plain[1])
    with pytest.raises(DuettoError, match=r"video_known must be \[1, 6\]"):
        m(v, a, t, t, vt, at, video_known=kv[:, :5])
    with pytest.raises(DuettoError, match="without known latents"):
        Pipeline.untrained(preset("micro"), MICRO_GENERATION, video_preset="tiny-x1").model(v, a, t, t, vt, at,
                                                                                             video_known=kv)
    seen, given = [], {}
    forward = m.forward

    def spy(video, audio, *args, **kw):
        seen.append((kw.get("video_known"), kw.get("audio_known")))
        given.setdefault("v", []).append(video[:, :, :10].clone())
        return forward(video, audio, *args, **kw)
    m.forward = spy
    first = extend(pipe, "a ball drops", seconds=1.6, history=0.4, seed=1, steps=3)
    assert first.duration == pytest.approx(1.6)
    window = [s for s in seen if s[0] is not None]
    assert window and len(window) == len(seen) // 2          # two windows; the first one knows nothing
    # the history is 10 video latents (0.4 s), its last 5 blended (BLEND_S) and so regenerated: 5 known, 10 of sound
    assert all(k[0].shape == (1, 25) and k[0][0, :5].all() and not k[0][0, 5:].any() for k in window)
    assert all(k[1].shape == (1, 50) and k[1][0, :10].all() and not k[1][0, 10:].any() for k in window)
    history = given["v"][len(window):]                       # the second window's passes: the same clean history
    assert all(torch.equal(h[:, :, :5], history[0][:, :, :5]) for h in history)
    assert not torch.equal(history[0][:, :, 5:], history[-1][:, :, 5:])          # the rest is being denoised
    # --history-method replace: the same model is not told, and its history is put back noised at every step
    seen.clear(), given.clear()
    extend(pipe, "a ball drops", seconds=1.6, history=0.4, seed=1, steps=3, method="replace")
    assert seen and all(s == (None, None) for s in seen)
    history = given["v"][len(seen) // 2:]
    assert not torch.equal(history[0][:, :, :5], history[-1][:, :, :5])       # noised to each step's flow time
    with pytest.raises(DuettoError, match="--history-method must be one of auto, replace"):
        extend(pipe, "a ball drops", seconds=1.6, history=0.4, method="clean")


def test_the_anchor_keeps_the_clips_first_picture_in_every_window(pipe, monkeypatch):
    """--anchor: each window's history is [the clip's first picture | its newest picture], and the newest sound."""
    calls, sample = [], pipe.sample

    def spy(*args, known=None, **kw):
        out = sample(*args, known=known, **kw)
        calls.append((known, out))
        return out
    monkeypatch.setattr(pipe, "sample", spy)
    extend(pipe, "a ball drops", seconds=2.2, history=0.4, seed=1, steps=2, anchor=0.08, blend=0.0)
    (first, (v0, a0)), (second, _), (third, _) = [(k, o) for k, o in calls]
    assert first is None
    kv, mv, ka, ma = second
    assert torch.equal(kv[:, :, :2], v0[:, :, :2])             # 0.08 s = 2 video latents from the clip's start
    assert torch.equal(kv[:, :, 2:10], v0[:, :, -8:])          # then the newest 0.32 s of picture
    assert torch.equal(ka[:, :, :20], a0[:, :, -20:])          # the sound's history is its newest 0.4 s
    assert mv[:10].all() and not mv[10:].any() and ma[:20].all() and not ma[20:].any()
    assert torch.equal(third[0][:, :, :2], v0[:, :, :2])       # the same anchor in every later window
    calls.clear()
    extend(pipe, "a ball drops", seconds=1.6, history=0.4, seed=1, steps=2, anchor=0, blend=0.0)
    (_, (v0, _)), (second, _) = calls
    assert torch.equal(second[0][:, :, :10], v0[:, :, -10:])   # no anchor: the newest 0.4 s only
    calls.clear()
    extend(pipe, "a ball drops", seconds=1.6, history=0.4, seed=1, steps=2, blend=0.0)
    (_, (v0, _)), (second, _) = calls                          # the default: 40 % of a 0.4 s history, 4 latents
    assert torch.equal(second[0][:, :, :4], v0[:, :, :4]) and torch.equal(second[0][:, :, 4:10], v0[:, :, -6:])
    for bad in (0.3, -0.1, float("nan")):
        with pytest.raises(DuettoError, match=r"--anchor must be between 0 and 40% of the history \(0.16 s\), not"):
            extend(pipe, "a ball drops", seconds=1.6, history=0.4, anchor=bad)


def test_a_bad_anchor_is_one_line_before_anything_loads(tmp_path, capsys):
    for argv in (["generate", "a ball", "--seconds", "8", "-o", str(tmp_path / "a.mp4")],
                 ["extend", str(tmp_path / "missing.mp4"), "--seconds", "8", "-o", str(tmp_path / "a.mp4")]):
        assert main([*argv, "--history", "0.4", "--anchor", "0.3", "--checkpoint", str(tmp_path / "none")]) == 2
        err = capsys.readouterr().err.strip()
        assert err.endswith("--anchor must be between 0 and 40% of the history (0.16 s), not 0.3") and "\n" not in err
