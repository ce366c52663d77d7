"""One unconditional pass: what training drops to (`JointTask.batch`) is exactly what guidance subtracts
(`Pipeline.generate`'s unconditional pass), condition by condition; a "drop everything" share; captions without
their spoken words."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from duetto.joint.conditioning import MUSIC_DIM, VOICE_DIM, caption_without_words, phoneme_ids
from duetto.joint.conditions import drop, unconditional
from duetto.joint.config import preset
from duetto.joint.model import JointDiT
from duetto.joint.pipeline import GenerationConfig, Pipeline
from duetto.train.joint_task import JointTask

CAPTION = 'a man with red hair and a blue shirt says "hello there" in front of a navy background'
SPEECH = "hello there"


def _pipe():
    torch.manual_seed(0)
    pipe = Pipeline.untrained(preset("micro"), GenerationConfig(size=32, text_encoder="hashing-16", steps=2, seconds=1.0))
    with torch.no_grad():                          # every projection off zero, so each condition moves the output
        for p in pipe.model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return pipe


def _clip(pipe, key: str, caption: str, words: str | None):
    lay = pipe.layout(1.0)
    cfg = pipe.model.config
    g = torch.Generator().manual_seed(len(key))
    meta = {"family": "speech", "speech": {"transcript": words, "voice": "en-us"}} if words else {"family": "impacts"}
    return {"key": key, "caption": caption, "meta": meta,
            "video": torch.randn(cfg.video_channels, lay["n_video"], 4, 4, generator=g),
            "audio": torch.randn(cfg.audio_channels, lay["n_audio"], generator=g),
            "video_times": lay["video_times"], "audio_times": lay["audio_times"],
            "voice": torch.randn(VOICE_DIM, generator=g), "music": torch.randn(lay["n_audio"], MUSIC_DIM, generator=g)}


def test_drop_removes_each_condition_per_clip():
    cond = {"text": torch.randn(2, 3, 4), "text_mask": torch.tensor([[1, 1, 0], [1, 0, 0]], dtype=torch.bool),
            "speech": torch.tensor([[5, 6], [7, 0]]), "voice": torch.ones(2, 3), "music": torch.ones(2, 5, 2)}
    out = drop(cond, {"caption": torch.tensor([False, True]), "speech": torch.tensor([True, False]),
                      "voice": torch.tensor([False, True]), "music": torch.tensor([True, False])})
    assert out["text_mask"].tolist() == [[False, False, False], [True, False, False]]
    assert torch.equal(out["text"], cond["text"])                # tokens stay: only the mask says absent
    assert out["speech"].tolist() == [[5, 6], [0, 0]] and out["voice"].tolist() == [[0, 0, 0], [1, 1, 1]]
    assert out["music"][0].eq(1).all() and out["music"][1].eq(0).all()
    free = unconditional(cond)
    assert not free["text_mask"].any() and not free["speech"].any() and not free["voice"].any() and not free["music"].any()
    with pytest.raises(ValueError, match="unknown conditions"):
        drop(cond, {"colour": torch.ones(2, dtype=torch.bool)})


def test_a_missing_caption_is_the_masked_caption_training_drops_to():
    """``text=None`` (what sampling passed before) and a caption masked out (what training drops to) give the
    same pooled caption, ``text_pool(0)``: before, ``None`` pooled to zeros, a pass the model never saw."""
    pipe = _pipe()
    m = pipe.model
    text = torch.randn(2, 5, m.config.text_dim)
    _, _, pooled_none = m.text_context(None, None, 2)
    _, _, pooled_masked = m.text_context(text, torch.zeros(2, 5, dtype=torch.bool), 2)
    assert torch.equal(pooled_none, pooled_masked) and pooled_none.abs().sum() > 0
    lay = pipe.layout(1.0)
    v, a = torch.randn(2, m.config.video_channels, lay["n_video"], 4, 4), torch.randn(2, m.config.audio_channels, lay["n_audio"])
    t = torch.full((2,), 0.5)
    with torch.no_grad():
        x = m(v, a, t, t, lay["video_times"], lay["audio_times"], None, None)
        y = m(v, a, t, t, lay["video_times"], lay["audio_times"], text, torch.zeros(2, 5, dtype=torch.bool))
    assert all(torch.allclose(p, q, atol=1e-6, rtol=0) for p, q in zip(x, y))


def test_guidance_subtracts_the_pass_training_drops_to_bit_for_bit():
    """The pipeline's unconditional inputs for a prompt with words, a voice and a music reference are exactly a
    training batch's inputs for that clip with every condition dropped, and the model gives identical numbers."""
    pipe = _pipe()
    clip = _clip(pipe, "c0", CAPTION, SPEECH)
    task = JointTask(pipe.model, [clip], [], pipe.text_encoder, batch_size=3, caption_dropout=1.0, condition_dropout=1.0)
    b = task.batch(0)
    lay = pipe.layout(1.0)
    given = pipe.condition_inputs(CAPTION, 3, lay["audio_times"].numpy(), SPEECH,
                                  voice=np.random.default_rng(0).standard_normal((1, 16000)).astype(np.float32) * 0.1,
                                  music=np.random.default_rng(1).standard_normal((1, 16000)).astype(np.float32) * 0.1)
    free = unconditional(given)
    assert given["text_mask"].any() and given["voice"].abs().sum() > 0        # the conditional pass has them all
    for k in ("text", "text_mask", "speech", "voice"):
        assert torch.equal(free[k], b[k]), k
    assert not free["music"].any() and not b["music"].any() and free["music"].shape == b["music"].shape
    v, a = b["video"], b["audio"]
    t = torch.full((3,), 0.4)
    with torch.no_grad():
        ours = pipe.model(v, a, t, t, lay["video_times"], lay["audio_times"], **free)
        trained = pipe.model(v, a, t, t, b["video_times"], b["audio_times"],
                             **{k: b[k] for k in ("text", "text_mask", "speech", "voice", "music")})
        cond = pipe.model(v, a, t, t, lay["video_times"], lay["audio_times"], **given)
    assert all(torch.equal(p, q) for p, q in zip(ours, trained))
    assert not torch.allclose(cond[1], ours[1])                    # and the conditions do move the output


def test_drop_all_drops_every_condition_together():
    pipe = _pipe()
    clips = [_clip(pipe, f"c{i}", CAPTION, SPEECH) for i in range(3)]
    task = JointTask(pipe.model, clips, [], pipe.text_encoder, batch_size=8, caption_dropout=0.0,
                     condition_dropout=0.0, drop_all=0.25)
    rows = together = 0
    for step in range(60):
        b = task.batch(step)
        gone = [~b["text_mask"].any(1), b["speech"].eq(0).all(1), b["voice"].eq(0).all(1), b["music"].eq(0).flatten(1).all(1)]
        assert all(torch.equal(g, gone[0]) for g in gone)          # all four go together, or none
        rows, together = rows + len(gone[0]), together + int(gone[0].sum())
    assert 0.18 < together / rows < 0.32
    plain = JointTask(pipe.model, clips, [], pipe.text_encoder, batch_size=8, caption_dropout=0.0, condition_dropout=0.0)
    assert plain.batch(3)["text_mask"].any(1).all()
    with pytest.raises(Exception, match="drop_all"):
        JointTask(pipe.model, clips, [], pipe.text_encoder, drop_all=1.5)


def test_captions_lose_their_speakers_gender_in_a_share_of_clips():
    from duetto.joint.conditioning import caption_without_gender
    assert caption_without_gender(CAPTION).startswith("a person with red hair") and \
        caption_without_gender("a ball bounces") == "a ball bounces"
    pipe = _pipe()
    clips = [_clip(pipe, f"c{i}", CAPTION, SPEECH) for i in range(3)]
    task = JointTask(pipe.model, clips, [], pipe.text_encoder, batch_size=8, caption_dropout=0.0,
                     condition_dropout=0.0, caption_gender_dropout=0.5)
    ref, ref_mask = pipe.text_encoder([CAPTION, caption_without_gender(CAPTION)])
    neutral = n = 0
    for step in range(20):
        b = task.batch(step)
        for t, m in zip(b["text"], b["text_mask"]):
            k = 1 if m.sum() == ref_mask[1].sum() and torch.equal(t[: int(m.sum())], ref[1][: int(m.sum())]) else 0
            assert k or torch.equal(t[: int(m.sum())], ref[0][: int(ref_mask[0].sum())])   # one of the two captions
            neutral, n = neutral + k, n + 1
    assert 0.35 < neutral / n < 0.65
    off = JointTask(pipe.model, clips, [], pipe.text_encoder, batch_size=8, caption_dropout=0.0, condition_dropout=0.0)
    assert "text_no_gender" not in off.train                                 # older runs draw as they did


def test_captions_lose_their_spoken_words_in_a_share_of_clips():
    assert caption_without_words(CAPTION, SPEECH) == \
        "a man with red hair and a blue shirt speaks in front of a navy background"
    assert caption_without_words("a ball bounces", "") == "a ball bounces"
    assert caption_without_words("she says hi", "hello") == "she says hi"        # not quoted: unchanged
    pipe = _pipe()
    clips = [_clip(pipe, "s", CAPTION, SPEECH), _clip(pipe, "i", "a red ball bounces on a wooden floor", None)]
    task = JointTask(pipe.model, clips, [], pipe.text_encoder, batch_size=8, caption_dropout=0.0,
                     condition_dropout=0.0, caption_words_dropout=0.5)
    enc = pipe.text_encoder
    with_words, without = enc([CAPTION]), enc([caption_without_words(CAPTION, SPEECH)])
    seen = set()
    for step in range(20):
        b = task.batch(step)
        for text, mask, speech in zip(b["text"], b["text_mask"], b["speech"]):
            if speech.any():                                        # the speech clip: its phonemes always
                assert torch.equal(speech[speech > 0], torch.from_numpy(phoneme_ids(SPEECH)))
                n = int(mask.sum())
                which = "with" if torch.equal(text[:n], with_words[0][0]) else "without"
                if which == "without":
                    assert torch.equal(text[:n], without[0][0, :n]) and n == int(without[1].sum())
                seen.add(which)
    assert seen == {"with", "without"}


def test_training_places_the_phonemes_by_the_clips_word_times():
    from duetto.joint.conditioning import phoneme_track, timed_word_ids
    pipe = _pipe()
    model = JointDiT(replace(pipe.model.config, speech_track=True))
    clip = _clip(pipe, "s", CAPTION, SPEECH)
    clip["meta"]["speech"]["words"] = [{"word": "hello", "start": 0.2, "end": 0.5}, {"word": "there", "start": 0.7, "end": 0.9}]
    task = JointTask(model, [clip], [], pipe.text_encoder, batch_size=6, caption_dropout=0.0, condition_dropout=0.5)
    b = task.batch(1)
    expected = torch.from_numpy(phoneme_track(timed_word_ids(clip["meta"]), clip["audio_times"].double().numpy()))
    kept = b["speech"].any(1)
    assert 0 < int(kept.sum()) < 6                               # some rows keep their words, some drop them
    for row, k in zip(b["speech_track"], kept):
        assert torch.equal(row, expected if k else torch.zeros_like(expected))
    assert expected[clip["audio_times"] < 0.2].eq(0).all() and expected[(clip["audio_times"] > 0.21) & (clip["audio_times"] < 0.5)].all()
    loss, parts = task.loss(model, b, 1)
    assert torch.isfinite(loss)


def test_a_model_may_gain_the_speech_track_over_its_init(tmp_path):
    from duetto.train.cli import _init_from
    pipe = _pipe()
    pipe.model.save_pretrained(tmp_path / "old")
    grown = JointDiT(replace(pipe.model.config, speech_track=True))
    _init_from(grown, tmp_path / "old", tmp_path / "run")
    old = pipe.model.state_dict()
    for k, v in grown.state_dict().items():
        assert torch.equal(v, old[k]) if k in old else (k.startswith("track_in.") and not v.any()), k
    other = JointDiT(replace(pipe.model.config, depth=3, speech_track=True))
    with pytest.raises(Exception, match="a different model: depth"):
        _init_from(other, tmp_path / "old", tmp_path / "run2")


def test_a_model_may_gain_the_voice_pitch_over_its_init_and_its_delta_keeps_it(tmp_path):
    """voice_dim 64 -> 66: the old projection's columns kept, the pitch's at zero (the grown model starts as its
    init); latents encoded before are refused with a way out; a delta over the 64 base stores the wider matrix."""
    from duetto.joint.delta import save_delta_bundle
    from duetto.joint.pipeline import Pipeline
    from duetto.train.cli import _init_from
    from duetto.train.joint_task import taken_conditions
    pipe = _pipe()
    old_model = JointDiT(replace(pipe.model.config, voice_dim=64))
    old_model.voice_in.weight.data.normal_()
    old_model.save_pretrained(tmp_path / "old")
    grown = JointDiT(replace(pipe.model.config, voice_dim=66))
    _init_from(grown, tmp_path / "old", tmp_path / "run")
    w = grown.voice_in.weight
    assert w.shape[1] == 66 and torch.equal(w[:, :64], old_model.voice_in.weight) and not w[:, 64:].any()
    with pytest.raises(Exception, match="encode them again"):
        taken_conditions(grown.config, {"speech": torch.zeros(1, 0), "voice": torch.zeros(1, 64), "music": torch.zeros(1, 2, 14)})
    assert taken_conditions(old_model.config, {"speech": torch.zeros(1, 0), "voice": torch.ones(1, 66),
                                               "music": torch.zeros(1, 2, 14)})["voice"].shape == (1, 64)
    from duetto.train.joint_task import _voices
    with pytest.raises(Exception, match="encode them all again"):                 # old and new latents mixed
        _voices([{"voice": torch.zeros(64)}, {"voice": torch.zeros(66)}])
    base = Pipeline(old_model, pipe.video_vae, pipe.audio_vae, pipe.text_encoder, pipe.config)
    base.save(tmp_path / "base")
    with torch.no_grad():
        grown.voice_in.weight[:, 64:] = 0.5
    save_delta_bundle(tmp_path / "d", grown, tmp_path / "base", pipe.config, rank=4, dtype=None)
    loaded = Pipeline.load(tmp_path / "d").model
    assert loaded.config.voice_dim == 66 and torch.equal(loaded.voice_in.weight, grown.voice_in.weight)


def test_a_64_value_voice_model_samples_and_resumes_with_64(tmp_path):
    """Models from before the pitch joined the voice embedding are given its first 64 values when sampling, and a
    run begun with 64 resumes with 64 (``--voice-dim`` says otherwise)."""
    import json
    from types import SimpleNamespace

    from duetto.train.cli import _voice_dim
    pipe = _pipe()
    old = Pipeline(JointDiT(replace(pipe.model.config, voice_dim=64)), pipe.video_vae, pipe.audio_vae,
                   pipe.text_encoder, pipe.config)
    t = np.arange(16000) / 16000
    voice = (0.1 * np.sin(2 * np.pi * 120 * t))[None].astype(np.float32)
    lay = old.layout(1.0)
    assert old.condition_inputs(CAPTION, 2, lay["audio_times"].numpy(), voice=voice)["voice"].shape == (2, 64)
    assert pipe.condition_inputs(CAPTION, 2, lay["audio_times"].numpy(), voice=voice)["voice"].shape == (2, 66)
    a = SimpleNamespace(voice_dim=None, out=tmp_path)
    assert _voice_dim(a) == 66
    (tmp_path / "run.json").write_text(json.dumps({"config": {"model": {"voice_dim": 64}}}))
    assert _voice_dim(a) == 64 and _voice_dim(SimpleNamespace(voice_dim=66, out=tmp_path)) == 66


def test_a_model_may_gain_known_latents_over_its_init(tmp_path):
    from duetto.train.cli import _init_from
    pipe = _pipe()
    pipe.model.save_pretrained(tmp_path / "old")
    grown = JointDiT(replace(pipe.model.config, known_prefix=True, speech_track=True))
    _init_from(grown, tmp_path / "old", tmp_path / "run")
    old = pipe.model.state_dict()
    new = {k for k in grown.state_dict() if k not in old}
    assert {"known_video", "known_audio"} <= new and all(not grown.state_dict()[k].any() for k in new)


def test_training_gives_a_model_with_track_silence_the_silent_track_and_drops_it_to_zeros():
    from duetto.joint.conditioning import SILENCE
    pipe = _pipe()
    model = JointDiT(replace(pipe.model.config, speech_track=True, track_silence=True))
    clip = _clip(pipe, "s", CAPTION, SPEECH)
    clip["meta"]["speech"]["words"] = [{"word": "hello", "start": 0.2, "end": 0.5}, {"word": "there", "start": 0.7, "end": 0.9}]
    task = JointTask(model, [clip], [], pipe.text_encoder, batch_size=6, caption_dropout=0.0, condition_dropout=0.5)
    b = task.batch(1)
    at, kept = clip["audio_times"], b["speech"].any(1)
    assert 0 < int(kept.sum()) < 6
    for row, k in zip(b["speech_track"], kept):
        if k:        # silent before, between and after the words; the words' phonemes inside them
            assert row[at < 0.2].eq(SILENCE).all() and row[(at > 0.51) & (at < 0.7)].eq(SILENCE).all()
            assert row[at > 0.91].eq(SILENCE).all() and (row[(at > 0.21) & (at < 0.5)] != SILENCE).all()
        else:        # a dropped track is "not told", as in sampling's unconditional pass
            assert not row.any()
