"""The eval's "did it do what it was told" figures on clips whose truth is known: a clip's own caption, words and
voice score right, another clip's score wrong; references are analysed once."""
from __future__ import annotations

import numpy as np
import pytest

from duetto.data.clip import Clip
from duetto.data.synth import SynthConfig, render
from duetto.data.synth.speech import speak_word
from duetto.joint.conditioning import clip_words
from duetto.train import evaluate as E


def _say(text: str, voice: str, pitch: int) -> np.ndarray:
    parts = [np.concatenate([speak_word(w, voice, 160, pitch, 16000), np.zeros(2400)]) for w in text.split()]
    return (np.concatenate(parts)[None] * 0.5).astype(np.float32)


def test_a_clip_scores_its_own_words_and_caption_and_not_another_clips():
    a, b = (render("speech", 93100 + i, SynthConfig(seconds=4)) for i in range(2))
    own = E.score(a, "speech", a.metadata["caption"], *clip_words(a.metadata)[:1], language=clip_words(a.metadata)[1])
    other = E.spoken_words(a, *clip_words(b.metadata))
    assert own["colour_right"] and own["phone_errors"] / own["phones_asked"] < 0.25
    assert other["phone_errors"] / other["phones_asked"] > 0.5
    assert 0.6 < own["speech_seconds"] / own["words_seconds"] < 1.6                 # it speaks as long as the words
    assert not E.caption_attributes(a, a.metadata["caption"].replace(own["colour_asked"] + " shirt",
                                                                     ("red" if own["colour_asked"] != "red" else "blue")
                                                                     + " shirt"))["colour_right"]


@pytest.mark.skipif(not __import__("importlib.util").util.find_spec("resemblyzer"), reason="resemblyzer's weights absent")
def test_a_voice_is_closer_to_its_own_reference_and_references_are_analysed_once():
    low, high = _say("the baker sold a warm coat", "en-us+m3", 10), _say("the baker sold a warm coat", "en-us+f4", 90)
    audio = _say("my sister found seven apples", "en-us+f4", 90)
    said = Clip(np.zeros((audio.shape[1] // 640, 8, 8, 3), np.uint8), audio[:, : audio.shape[1] // 640 * 640], 25.0, 16000)
    E._REFERENCES.clear()
    row = E.voice_match(said, high, low)
    assert row["voice_closer"] and row["voice_similarity"] > row["voice_other_similarity"]
    assert abs(row["f0_ratio"] - 1) < 0.15
    assert not E.voice_match(said, low, high)["voice_closer"]
    assert len(E._REFERENCES) == 2                                                  # two references, each once
