"""Caption attributes read back from pictures: the subject's colour of each family, right on rendered scenes,
wrong when the picture shows another colour, and no reading for captions outside the scenes' style."""
from __future__ import annotations

import numpy as np
import pytest

from duetto.data.synth import SynthConfig, render
from duetto.data.synth.attributes import caption_subject, chance, colour_right, nearest_colour, subject_colour
from duetto.data.synth.vocab import COLOURS

CFG = SynthConfig(seconds=1.0)


def test_captions_name_their_subject_and_its_colour():
    assert caption_subject('a woman with red hair and a teal shirt says "hi" in front of a navy background') == \
        {"family": "speech", "kind": "person", "colour": "teal"}
    assert caption_subject("a green xylophone plays a calm tune in C major at 90 bpm in front of a black background") == \
        {"family": "music", "kind": "xylophone", "colour": "green"}
    assert caption_subject("an orange drum kit plays a lively rhythm at 120 bpm")["kind"] == "drums"
    sub = caption_subject("a large blue rubber ball and two small red glass cubes fall onto a stone floor")
    assert sub["family"] == "impacts" and sub["colour"] == "blue" and sub["colours"] == ["blue", "red"]
    assert chance(sub) == pytest.approx(2 / 12) and colour_right("red", sub) and not colour_right("gold", sub)
    assert caption_subject("a dog barks in a park") is None


@pytest.mark.parametrize("family", ["speech", "music", "impacts"])
def test_rendered_scenes_show_the_colour_their_caption_names(family):
    for seed in range(6):
        clip = render(family, 7100 + seed, CFG)
        subject = caption_subject(clip.metadata["caption"])
        assert subject is not None and subject["family"] == family
        assert colour_right(subject_colour(clip.video, subject), subject), (seed, clip.metadata["caption"])


def test_another_colour_in_the_picture_reads_as_wrong():
    clip = render("speech", 7100, CFG)
    subject = caption_subject(clip.metadata["caption"])
    other = "blue" if subject["colour"] != "blue" else "red"
    video = clip.video.copy()
    h, w = video.shape[1:3]
    video[:, int(0.88 * h):, int(0.25 * w): int(0.75 * w)] = COLOURS[other]          # a shirt of another colour
    assert subject_colour(video, subject) == other and not colour_right(subject_colour(video, subject), subject)
    assert nearest_colour((60, 165, 75)) == "green" and nearest_colour(np.multiply(COLOURS["red"], 0.6), 0.6) == "red"
