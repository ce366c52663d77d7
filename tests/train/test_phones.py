"""The phoneme recognizer that scores generated speech: symbols, CTC reading, errors, saving, and (with the shipped
weights) that it hears the words of speech it never trained on and tells them from other words."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from duetto.data.errors import DuettoError
from duetto.train.phones import (SHIPPED, PhoneConfig, PhoneRecognizer, default_recognizer, greedy, log_mel,
                                 phoneme_error, reference_symbols, symbols)


def test_symbols_and_references_leave_out_what_takes_no_time():
    table = symbols()
    assert " " not in table and "ˈ" not in table and "ˌ" not in table and len(set(table)) == len(table)
    ref = reference_symbols("hello there")
    assert ref and all(ch in table for ch in ref) and "ˈ" not in ref
    assert PhoneConfig().vocab == len(table) + 1


def test_ctc_reading_merges_repeats_and_drops_blanks():
    t = symbols()
    assert greedy([0, 3, 3, 0, 3, 5, 5, 0]) == t[2] + t[2] + t[4]
    assert greedy([]) == "" and greedy([0, 0]) == ""


def test_phoneme_error_counts_edits():
    assert phoneme_error("abcd", "abcd") == (0, 4)
    assert phoneme_error("abcd", "abxd") == (1, 4)        # a substitution
    assert phoneme_error("abcd", "abd") == (1, 4)         # a deletion
    assert phoneme_error("abcd", "abcde") == (1, 4)       # an insertion
    assert phoneme_error("ab", "") == (2, 2)


def test_saved_weights_load_strictly_and_bad_audio_is_refused(tmp_path):
    torch.manual_seed(0)
    m = PhoneRecognizer(PhoneConfig(channels=16, hidden=8, layers=1)).eval()
    m.save_pretrained(tmp_path / "rec")
    back = PhoneRecognizer.from_pretrained(tmp_path / "rec").eval()
    x = np.random.default_rng(0).standard_normal(8000).astype(np.float32) * 0.1
    assert back.transcribe(x, 8000) == m.transcribe(x, 8000)
    assert log_mel(x, 8000).shape == (40, 101)            # 1 s at 16 kHz: a frame every 10 ms, centred
    with pytest.raises(DuettoError, match="finite"):
        log_mel(np.full(100, np.nan), 16000)
    with pytest.raises(DuettoError, match="longer than"):
        log_mel(np.zeros(16000 * 61, np.float32), 16000)


@pytest.mark.skipif(not (SHIPPED / "config.json").is_file(), reason="the shipped recognizer is absent")
def test_the_shipped_recognizer_hears_the_words_of_new_speech_clips():
    from duetto.data.synth import SynthConfig, render
    from duetto.joint.conditioning import clip_words
    rec = default_recognizer()
    clips = [render("speech", 93000 + i, SynthConfig(seconds=4)) for i in range(3)]
    own = other = total = 0
    for i, c in enumerate(clips):
        heard = rec.transcribe(c.audio, c.sample_rate)
        words, lang = clip_words(c.metadata)
        e, n = phoneme_error(reference_symbols(words, lang), heard)
        o, m = phoneme_error(reference_symbols(*clip_words(clips[(i + 1) % 3].metadata)), heard)
        own, other, total = own + e / n, other + o / m, total + 1
    assert own / total < 0.2 and other / total > 0.5
