"""Prompt rewriting on plain requests (not captions): does the caption the model receives name what was asked?

40 requests written for this bench (below), each labelled with the family, subject and colour a person asking would
expect (colour only where the request names one). For each, with and without `--rewrite`: the share whose caption
reads (`duetto.data.synth.attributes.caption_subject`, the parser the colour metric of `duetto-train eval` uses) as
the asked family, subject and colour. A caption the parser cannot read counts as a miss: the shipped model was
trained only on captions in the scene writer's style. This measures the caption, not the generated clip.

    python bench/rewrite.py [--clips]

``--clips`` also generates, with the shipped model (seed 0), a clip for each request that names a colour, from the
request as written and from its rewrite, and reads the colour where the asked family draws its subject
(`duetto.data.synth.attributes.subject_colour`, what `duetto-train eval`'s colour_right uses): the clip-level
figure. Its ceiling on ground-truth clips is in ``python bench/attributes.py``.
"""
from __future__ import annotations

import time

from duetto.data import console
from duetto.data.synth.attributes import caption_subject
from duetto.joint.rewrite import rewrite

# request, family, subject kind, colour (None: not named)
REQUESTS = [
    ("a red ball bouncing", "impacts", "ball", "red"), ("bouncing balls", "impacts", "ball", None),
    ("a blue cube falls on the floor", "impacts", "cube", "blue"), ("drop a yellow block", "impacts", "block", "yellow"),
    ("wooden blocks hitting the ground", "impacts", "block", None), ("a purple disc clattering", "impacts", "disc", "purple"),
    ("a green glass ball drops", "impacts", "ball", "green"), ("something heavy falls", "impacts", None, None),
    ("a white cube tumbling", "impacts", "cube", "white"), ("two orange balls bounce", "impacts", "ball", "orange"),
    ("a metal ball hitting tiles", "impacts", "ball", None), ("a pink rubber ball", "impacts", "ball", "pink"),
    ("a stone falls onto concrete", "impacts", None, None), ("marbles dropping", "impacts", None, None),
    ("drums", "music", "drums", None), ("someone playing the piano", "music", "piano", None),
    ("a blue xylophone melody", "music", "xylophone", "blue"), ("a harp playing softly", "music", "harp", None),
    ("a red drum kit with a fast beat", "music", "drums", "red"), ("a green piano tune", "music", "piano", "green"),
    ("upbeat xylophone music", "music", "xylophone", None), ("a gold harp", "music", "harp", "gold"),
    ("a slow song on the piano", "music", "piano", None), ("drummer playing a rock beat", "music", "drums", None),
    ("a teal xylophone", "music", "xylophone", "teal"), ("jazz drums", "music", "drums", None),
    ("a cheerful tune", "music", None, None),
    ('a man says "good morning"', "speech", "person", None), ('a woman says "thank you very much"', "speech", "person", None),
    ("someone talking to the camera", "speech", "person", None),
    ('a man in a red shirt says "hello"', "speech", "person", "red"),
    ('a person in a blue shirt says "see you tomorrow"', "speech", "person", "blue"),
    ("a woman speaking", "speech", "person", None), ('a girl saying "nice to meet you"', "speech", "person", None),
    ("a man with a green shirt talking", "speech", "person", "green"), ('say "happy birthday"', "speech", "person", None),
    ("a news presenter speaking", "speech", "person", None), ('an old man says "where is my hat"', "speech", "person", None),
    ("a person in a yellow shirt says hi", "speech", "person", "yellow"), ('"welcome home"', "speech", "person", None),
]


def matches(caption: str, family: str, kind, colour) -> dict:
    s = caption_subject(caption)
    fam = s is not None and s["family"] == family
    return {"family": fam, "subject": fam and (kind is None or s["kind"] == kind),
            "colour": fam and (colour is None or s["colour"] == colour)}


def clip_colours(bundle: str = "samples/duetto-tiny") -> list[dict]:
    from duetto.data.synth.attributes import colour_right, subject_colour
    from duetto.joint.pipeline import Pipeline
    pipe = Pipeline.load(bundle)
    rows = []
    for request, family, kind, colour in REQUESTS:
        if not colour:
            continue
        subject = {"family": family, "kind": kind if family != "music" else
                   {"drums": "drums", "piano": "piano", "xylophone": "xylophone", "harp": "harp"}[kind],
                   "colour": colour, "colours": [colour]}
        r = rewrite(request)
        row = {"request": request}
        for label, caption, speech in (("as written", request, None), ("--rewrite", r.caption, r.speech)):
            clip = pipe.generate(caption, seed=0, speech=speech)[0]
            row[label] = colour_right(subject_colour(clip.video, subject), subject)
        rows.append(row)
        print(f"  {request!r}: as written {row['as written']}, rewritten {row['--rewrite']}", flush=True)
    return rows


def main():
    import sys
    assert len(REQUESTS) == 40
    rows, t = [], time.perf_counter()
    for label, use in (("as written", lambda r: r), ("--rewrite", lambda r: rewrite(r).caption)):
        got = [matches(use(r), f, k, c) for r, f, k, c in REQUESTS]
        named = [g for g, (_, _, _, c) in zip(got, REQUESTS) if c]
        rows.append({"prompt": label, "requests": len(got),
                     "family right": f"{sum(g['family'] for g in got) / len(got):.1%}",
                     "family and subject right": f"{sum(g['family'] and g['subject'] for g in got) / len(got):.1%}",
                     "colour right (of the named)": f"{sum(g['colour'] for g in named)}/{len(named)}"})
    print(console.table(rows, list(rows[0])))
    print(f"({time.perf_counter() - t:.1f} s)")
    if "--clips" in sys.argv[1:]:
        got = clip_colours()
        n = len(got)
        print(f"generated clips (shipped model, seed 0), the asked colour seen on the subject: as written "
              f"{sum(g['as written'] for g in got)}/{n}, --rewrite {sum(g['--rewrite'] for g in got)}/{n}")


if __name__ == "__main__":
    main()
