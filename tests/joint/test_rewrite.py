"""The embedded prompt rewriter: a request becomes a training-style caption carrying what the model knows."""
import json

import pytest

from duetto.data.errors import DuettoError
from duetto.data.synth.attributes import caption_subject
from duetto.joint.cli import main
from duetto.joint.rewrite import rewrite


@pytest.mark.parametrize("request_,family,kind,colour", [
    ("a green xylophone playing a happy song", "music", "xylophone", "green"),
    ("a red piano", "music", "piano", "red"),
    ("a blue ball bouncing on the floor", "impacts", "ball", "blue"),
    ('a woman in a yellow shirt says "see you soon"', "speech", "person", "yellow"),
])
def test_what_the_model_knows_is_kept_in_a_caption_it_can_read(request_, family, kind, colour):
    r = rewrite(request_)
    subject = caption_subject(r.caption)              # the caption parses as the scene writer's own
    assert r.family == family and subject and subject["family"] == family
    assert subject["kind"] == kind and subject["colour"] == colour, r.caption
    assert colour in r.kept


def test_quoted_words_are_said_and_unknown_things_are_named():
    r = rewrite('a man says "good night everyone"')
    assert r.speech == "good night everyone" and 'says "good night everyone"' in r.caption
    dog = rewrite("a dog barks in a park")
    assert {"dog", "barks", "park"} <= set(dog.dropped) and dog.kept == []
    with pytest.raises(DuettoError, match="empty"):
        rewrite("   ")
    with pytest.raises(DuettoError, match="at most 500"):
        rewrite("ball " * 200)


def test_rewrite_command_and_generate_with_rewrite(micro_bundle, tmp_path, capsys):
    assert main(["rewrite", "drums", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["family"] == "music" and "drum kit" in out["caption"]
    clip = tmp_path / "x.mp4"
    assert main(["generate", 'a person says "hello there"', "--rewrite", "-o", str(clip), "--checkpoint",
                 str(micro_bundle), "--quiet"]) == 0
    side = json.loads(clip.with_suffix(".json").read_text())
    assert side["request"] == 'a person says "hello there"' and side["speech"] == "hello there"
    assert 'says "hello there"' in side["caption"] and "caption:" in capsys.readouterr().err
