"""The phonemes on the audio clock: where each falls (to the latent, in seconds), the timing generation plans with
espeak-ng, the model's zero-initialised way in, and what training and sampling give it."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from duetto.data.errors import DuettoError
from duetto.joint.conditioning import GAP, LEAD, _ID, phoneme_track, phonemize, planned_words, timed_word_ids
from duetto.joint.conditions import unconditional
from duetto.joint.config import JointConfig, preset
from duetto.joint.model import JointDiT

TIMES = (np.arange(100) + 0.5) / 50                  # 2 s of 50 Hz audio latents, each at the centre of its 20 ms


def _words(start: float):
    meta = {"speech": {"transcript": "big drum", "voice": "en-us",
                       "words": [{"word": "big", "start": start, "end": start + 0.3},
                                 {"word": "drum", "start": start + 0.5, "end": start + 0.9}]}}
    return timed_word_ids(meta)


def test_each_word_s_phonemes_share_its_span_in_order():
    track = phoneme_track(_words(0.4), TIMES)
    sounding = [_ID[ch] for ch in phonemize("big") if ch not in " ˈˌ"]
    first = np.flatnonzero(track)[0]
    assert TIMES[first] == pytest.approx(0.41) and TIMES[first - 1] < 0.4          # starts with the word, not before
    assert list(dict.fromkeys(track[(TIMES >= 0.4) & (TIMES < 0.7)])) == sounding
    assert not track[(TIMES >= 0.7) & (TIMES < 0.9)].any()                          # the gap is silent
    assert track[(TIMES >= 0.9) & (TIMES < 1.3)].all() and not track[TIMES >= 1.3].any()


def test_a_40_ms_slip_of_the_word_times_moves_the_track_by_two_latents():
    a, b = phoneme_track(_words(0.4), TIMES), phoneme_track(_words(0.44), TIMES)
    assert np.flatnonzero(b)[0] - np.flatnonzero(a)[0] == 2
    assert np.array_equal(a[:-2][a[:-2] > 0], b[2:][b[2:] > 0])


def test_generation_plans_the_words_as_the_speech_scenes_say_them():
    words = planned_words("hello there my friend")
    assert len(words) == 4 and words[0][0] == pytest.approx(LEAD)
    for (_, end, _), (start, _, _) in zip(words, words[1:]):
        assert start - end == pytest.approx(GAP)
    spans = [b - a for a, b, _ in words]
    assert all(0.15 < d < 0.8 for d in spans)                     # espeak-ng's length of each word alone
    longer = planned_words("hello there my friend how are you today")
    assert longer[-1][1] > words[-1][1] + 1.0                     # more words take longer
    assert planned_words("-f/etc/hostname")[0][1] > LEAD          # a word like an option is still only words


def _model(track: bool) -> JointDiT:
    torch.manual_seed(0)
    return JointDiT(replace(preset("micro"), speech_track=track, text_dim=16))


def test_the_track_starts_as_if_absent_and_then_moves_the_sound():
    m = _model(True)
    with torch.no_grad():                      # off the zero-initialised output layers, but the track still at zero
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.05)
        m.track_in.weight.zero_()
        m.phone_embed.weight[0].zero_()        # the padding id stays at zero, as training keeps it
    b, lat = 2, 50
    v, a = torch.randn(b, 8, 3, 4, 4), torch.randn(b, 8, lat)
    t, vt, at = torch.full((b,), 0.5), torch.arange(3) * 0.16, torch.arange(lat) * 0.02
    track = torch.from_numpy(phoneme_track(_words(0.2), at.numpy()))[None].expand(b, -1)
    with torch.no_grad():
        plain = m(v, a, t, t, vt, at)
        same = m(v, a, t, t, vt, at, speech_track=track)
        assert all(torch.equal(x, y) for x, y in zip(plain, same))              # zero-initialised
        m.track_in.weight.normal_(0, 0.1)
        moved = m(v, a, t, t, vt, at, speech_track=track)
        silent = m(v, a, t, t, vt, at, speech_track=torch.zeros_like(track))
    assert not torch.allclose(moved[1], plain[1]) and torch.allclose(silent[1], plain[1], atol=1e-6)
    with pytest.raises(DuettoError, match="speech_track must be"):
        m(v, a, t, t, vt, at, speech_track=track[:, :10])
    with pytest.raises(DuettoError, match="without the timed speech track"):
        _model(False)(v, a, t, t, vt, at, speech_track=track)
    with pytest.raises(DuettoError, match="speech_track"):
        JointConfig(speech_vocab=0, speech_track=True)


def test_generation_gives_the_track_and_the_unconditional_pass_drops_it():
    from duetto.joint.pipeline import GenerationConfig, Pipeline
    torch.manual_seed(0)
    pipe = Pipeline.untrained(replace(preset("micro"), speech_track=True),
                              GenerationConfig(size=32, text_encoder="hashing-16", steps=2, seconds=1.0))
    with torch.no_grad():
        for p in pipe.model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    at = pipe.layout(1.0)["audio_times"].numpy()
    given = pipe.condition_inputs("a man speaks", 2, at, "hi")
    assert given["speech_track"].shape == (2, len(at)) and given["speech_track"].any()
    assert not unconditional(given)["speech_track"].any()
    hi = pipe.generate("a man speaks", speech="hi", seed=3)[0].audio
    longer = pipe.generate("a man speaks", speech="hello there my friend", seed=3)[0].audio
    assert np.abs(hi - longer).max() > 1e-3                     # only the words changed, and the sound did


def test_a_track_with_silence_says_where_nothing_is_said_and_not_told_stays_zero():
    from duetto.joint.conditioning import SILENCE
    plain, silent = phoneme_track(_words(0.4), TIMES), phoneme_track(_words(0.4), TIMES, silence=True)
    words = plain > 0
    assert np.array_equal(silent[words], plain[words])                 # the words as before
    assert (silent[~words] == SILENCE).all() and SILENCE not in plain[words]
    assert silent[(TIMES >= 0.7) & (TIMES < 0.9)].tolist() == [SILENCE] * 10      # the 0.2 s gap: 10 latents
    assert silent[TIMES >= 1.3].tolist() == [SILENCE] * int((TIMES >= 1.3).sum())  # after the last word
    assert not phoneme_track([], TIMES, silence=True).any()            # no words at all: not told
    with pytest.raises(DuettoError, match="track_silence"):
        replace(preset("micro"), track_silence=True)                    # needs the track


def test_generation_and_training_give_the_silent_track_to_a_model_that_has_it(tmp_path):
    from duetto.joint.conditioning import SILENCE
    from duetto.joint.pipeline import GenerationConfig, Pipeline
    from duetto.train.cli import _init_from
    pipe = Pipeline.untrained(replace(preset("micro"), speech_track=True, track_silence=True),
                              GenerationConfig(size=32, text_encoder="hashing-16", steps=2, seconds=2.0))
    at = pipe.layout(2.0)["audio_times"].numpy()
    track = pipe.condition_inputs("a man speaks", 1, at, "hi")["speech_track"][0]
    assert track[at < 0.25].eq(SILENCE).all() and track[at > 1.5].eq(SILENCE).all() and (track != SILENCE).any()
    assert not unconditional(pipe.condition_inputs("a man speaks", 1, at, "hi"))["speech_track"].any()
    old = JointDiT(replace(pipe.model.config, track_silence=False))
    old.save_pretrained(tmp_path / "old")
    _init_from(pipe.model, tmp_path / "old", tmp_path / "run")            # an --init model may be retaught
