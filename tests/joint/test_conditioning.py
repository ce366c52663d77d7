"""Speech, voice and music conditions: what they hold, on the audio clock, and how the model takes them."""
import numpy as np
import pytest
import torch

from duetto.data.errors import DuettoError
from duetto.joint.conditioning import (MUSIC_DIM, PAD, SPEECH_VOCAB, UNK, VOICE_DIM, beat_times, music_features,
                                       pad_ids, phoneme_ids, phonemize, timed_word_ids, voice_embedding, window_ids)
from duetto.joint.config import JointConfig
from duetto.joint.model import JointDiT

SR = 16000


def test_words_become_phoneme_ids():
    assert phonemize("bat") != phonemize("pat")
    b, p = phoneme_ids("bat"), phoneme_ids("pat")
    assert len(b) == len(p) and (b != p).sum() == 1
    ids = phoneme_ids("the old man found a red key")
    assert ids.min() > UNK and ids.max() < SPEECH_VOCAB        # every symbol espeak-ng gives is in the table
    assert pad_ids([b, ids]).shape == (2, len(ids)) and pad_ids([b, ids])[0, len(b):].max() == PAD
    with pytest.raises(DuettoError, match="empty"):
        phoneme_ids("   ")


def test_timed_words_give_the_phonemes_of_a_window():
    meta = {"speech": {"transcript": "the old man", "voice": "en-us",
                       "words": [{"word": "the", "start": 0.1, "end": 0.2}, {"word": "old", "start": 0.3, "end": 0.5},
                                 {"word": "man", "start": 0.6, "end": 0.9}]}}
    words = timed_word_ids(meta)
    assert [(a, b) for a, b, _ in words] == [(0.1, 0.2), (0.3, 0.5), (0.6, 0.9)]
    assert np.array_equal(window_ids(words, 0.0, 1.0), phoneme_ids("the old man"))     # all: the transcript's ids
    gap = phoneme_ids("the old man")[len(words[0][2])]                                 # the word gap symbol
    assert np.array_equal(window_ids(words, 0.35, 0.8), np.concatenate([words[1][2], [gap], words[2][2]]))
    assert len(window_ids(words, 0.0, 0.1)) == 0                                       # no word's middle inside
    odd = {"speech": {**meta["speech"], "transcript": "the old man!", "words": meta["speech"]["words"][:2]}}
    assert np.array_equal(timed_word_ids(odd)[1][2], phoneme_ids("old"))               # unpaired: word by word
    assert timed_word_ids({"speech": {"transcript": "no times"}}) == [] == timed_word_ids(None)


def _harmonic(f0, seconds=1.0):
    t = np.arange(int(seconds * SR)) / SR
    return (0.1 * sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 8)))[None].astype(np.float32)


def test_voice_embedding_tells_pitch_apart():
    low, low2, high = (voice_embedding(_harmonic(f), SR) for f in (120, 125, 260))
    assert low.shape == (VOICE_DIM,) == (66,) and np.isfinite(low).all()
    assert np.linalg.norm(low - low2) < 0.5 * np.linalg.norm(low - high)
    # the pitch entries: log2(F0 / 150 Hz) and "has a pitch"; a 15 % error is 0.2 here
    assert abs(low[64] - np.log2(120 / 150)) < 0.03 and abs(high[64] - np.log2(260 / 150)) < 0.03
    assert low[65] == high[65] == 1.0
    noise = voice_embedding(np.random.default_rng(0).normal(0, 0.1, (1, SR)).astype(np.float32), SR)
    assert noise[64] == noise[65] == 0.0                                      # no pitch: not read as 150 Hz
    assert np.array_equal(voice_embedding(_harmonic(120), SR, 64), low[:64])  # older models: the spectrum alone
    with pytest.raises(DuettoError, match="66 values"):
        voice_embedding(_harmonic(120), SR, 65)
    with pytest.raises(DuettoError, match="silent"):
        voice_embedding(np.zeros((1, SR), np.float32), SR)


def test_music_features_sit_on_the_audio_clock():
    """Clicks at 120 bpm from 0.25 s: onset strength peaks in the latent whose time is nearest each click
    (latents every 20 ms), the beat pulse is high there, and an A gives chroma bin 9 (C = 0)."""
    x = np.zeros(4 * SR)
    clicks = 0.25 + 0.5 * np.arange(7)
    t = np.arange(int(0.05 * SR)) / SR
    for c in clicks:
        i = int(round(c * SR))
        x[i: i + len(t)] += np.sin(2 * np.pi * 440 * t) * np.exp(-t / 0.01)
    times = (np.arange(200) + 0.5) * 0.02                                   # audio latent centres
    f = music_features(x[None], SR, times)
    assert f.shape == (200, MUSIC_DIM)
    for c in clicks:
        near = np.abs(times - c) <= 0.06
        peak = times[near][np.argmax(f[near, 0])]
        assert abs(peak - c) <= 0.02, (c, peak)                             # a 40 ms slip fails this
        assert f[near, 1].max() > 0.5
    beats = beat_times(np.interp(np.arange(400) / 100 + 0.005, times, f[:, 0]))
    assert np.allclose(np.diff(beats), 0.5, atol=0.011)
    assert int(np.argmax(f[np.abs(times - clicks[0]) < 0.02, 2:].mean(0))) == 9


def test_model_takes_the_conditions_and_starts_without_them():
    torch.manual_seed(0)
    cfg = JointConfig(dim=32, depth=2, heads=2, cross_every=1, text_dim=16)
    m = JointDiT(cfg).eval()
    with torch.no_grad():                       # untrained but moving; the condition projections stay at zero
        for name, p in m.named_parameters():
            if not name.startswith(("voice_in", "music_in")):
                p.add_(torch.randn_like(p) * 0.05)
    v, a = torch.randn(2, 8, 3, 4, 4), torch.randn(2, 8, 10)
    t = torch.full((2,), 0.5)
    vt, at = torch.arange(3) * 0.16, torch.arange(10) * 0.04 + 0.02
    base = m(v, a, t, t, vt, at)
    music, voice = torch.randn(2, 10, cfg.music_dim), torch.randn(2, cfg.voice_dim)
    same = m(v, a, t, t, vt, at, voice=voice, music=music)                  # zero-initialised: no effect yet
    assert all(torch.equal(x, y) for x, y in zip(base, same))
    speech = torch.tensor([[5, 6, 7, 0], [8, 9, 0, 0]])
    with_speech = m(v, a, t, t, vt, at, speech=speech)
    padded = m(v, a, t, t, vt, at, speech=torch.nn.functional.pad(speech, (0, 3)))
    assert torch.allclose(with_speech[1], padded[1], atol=1e-6)             # padding is masked out
    assert not torch.allclose(with_speech[1], base[1])
    with torch.no_grad():
        m.music_in.weight.normal_()
    moved = m(v, a, t, t, vt, at, music=music)[1]
    assert not torch.allclose(moved, base[1])
    with pytest.raises(DuettoError, match="music must be"):
        m(v, a, t, t, vt, at, music=music[..., :5])
    with pytest.raises(DuettoError, match="voice must be"):
        m(v, a, t, t, vt, at, voice=voice[:1])


def test_words_that_look_like_options_are_spoken_not_obeyed(tmp_path):
    """``--speech=-f/some/file`` once made espeak-ng read that file as the words; now the words are spoken."""
    from duetto.data.errors import DuettoError
    from duetto.joint.conditioning import check_voice, phonemize
    secret = tmp_path / "words.txt"
    secret.write_text("banana\n")
    said = phonemize(f"-f{secret}")
    assert phonemize("banana") not in said and phonemize("slash") in said
    for bad in ("-f/etc/hostname", "en-us --stdin", ""):
        with pytest.raises(DuettoError, match="not an espeak-ng voice name"):
            check_voice(bad)
    assert check_voice("en-gb-x-rp+f3") == "en-gb-x-rp+f3"


def test_quoted_words_reads_a_captions_quote_and_a_requests_single_quotes():
    """One reader of quoted words: captions in double (or curly) quotes, apostrophes ignored; a request's single
    quotes when asked for (`joint.rewrite`); nothing quoted, or a quote past 200 characters: None."""
    from duetto.joint.conditioning import DOUBLE_QUOTES, quoted_words
    assert quoted_words('a man says "hello there" in a kitchen') == "hello there"
    assert quoted_words("a man says \u201c good morning \u201d") == "good morning"
    assert quoted_words("the man's dog says 'woof'") is None
    assert quoted_words("the man's dog says 'woof'", DOUBLE_QUOTES + "'") == "s dog says"   # why captions skip them
    assert quoted_words("say 'woof'", DOUBLE_QUOTES + "'") == "woof"
    assert quoted_words('says "' + "a" * 201 + '"') is None and quoted_words("no quote") is None
