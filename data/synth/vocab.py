"""Words and colours that scenes are built from; captions come from the same parameters."""
from __future__ import annotations

import numpy as np

COLOURS = {  # name -> RGB, bright enough to read on the dark backgrounds below
    "red": (210, 40, 40), "orange": (235, 130, 30), "yellow": (235, 210, 50), "green": (60, 170, 70),
    "teal": (40, 160, 150), "blue": (50, 90, 215), "purple": (140, 70, 190), "pink": (235, 120, 170),
    "white": (235, 235, 235), "grey": (150, 150, 150), "brown": (140, 90, 50), "gold": (210, 170, 60),
}
BACKGROUNDS = {  # name -> (wall, floor) RGB, kept dark so that events stand out
    "dark grey": ((45, 45, 50), (75, 75, 80)), "navy": ((20, 25, 60), (45, 50, 90)),
    "black": ((10, 10, 12), (40, 40, 42)), "dark green": ((20, 50, 30), (50, 75, 50)),
    "maroon": ((60, 20, 25), (90, 50, 50)), "charcoal": ((35, 38, 40), (60, 55, 50)),
    "deep purple": ((40, 20, 60), (70, 50, 90)), "slate blue": ((40, 55, 80), (70, 80, 100)),
    "brown": ((55, 40, 25), (90, 70, 50)), "dark teal": ((15, 50, 55), (40, 75, 80)),
}
NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}


def pick(rng: np.random.Generator, options):
    """A uniformly chosen element of a list/tuple/dict-keys, deterministic in ``rng``."""
    options = list(options)
    return options[int(rng.integers(len(options)))]


def article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def plural(noun: str, n: int) -> str:
    if n == 1:
        return noun
    return noun + ("es" if noun.endswith(("s", "sh", "ch", "x")) else "s")
