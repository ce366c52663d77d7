"""Caption attributes read back: the main subject's colour, from a caption and from a picture.

The synthetic scenes draw their subject where this module looks for it, in the colour their caption names
(`vocab.COLOURS`), so a generated clip can be asked "is the requested colour the one drawn?":

- speech: the shirt (``"... and a blue shirt says ..."``), read in the shoulders' rectangle at the bottom of the
  frame (`speech._draw_face`);
- music: the instrument (``"a green xylophone plays ..."``): the xylophone's bars, the harp's frame bars, the drum
  shells (drawn at 0.6 of the colour) or the piano's key-bottom strip (`music._draw`, `music._layout`);
- impacts: the objects (``"a large red rubber ball and a small blue glass cube ..."``); each frame's pixels above
  the floor that differ from that frame's wall vote for their nearest colour; the most voted colour is the
  reading, right when it is the colour of one of the objects named (the largest or longest seen wins the vote).

A reading is the nearest `COLOURS` entry to the median colour of the region (by RGB distance); ``None`` when the
region is empty. Ceilings on ground-truth clips: ``python bench/attributes.py``.
"""
from __future__ import annotations

import re

import numpy as np

from .impacts import FLOOR_Y                   # the floor line of the impacts scenes, a fraction of the height
from .vocab import COLOURS

_NAMES = list(COLOURS)
_RGB = np.asarray([COLOURS[c] for c in _NAMES], np.float32)              # [K, 3]
_WORD = "|".join(sorted(_NAMES, key=len, reverse=True))
_INSTRUMENT = {"drum kit": "drums", "piano": "piano", "xylophone": "xylophone", "harp": "harp"}


def caption_subject(caption: str) -> dict | None:
    """``{"family", "kind", "colour"}`` of a caption in the synthetic scenes' style, or ``None`` when it names
    no subject colour this module can read (free-form prompts)."""
    c = " ".join(caption.lower().split())
    m = re.search(rf"\b({_WORD}) shirt\b", c)
    if m:
        return {"family": "speech", "kind": "person", "colour": m.group(1)}
    m = re.match(rf"(?:a|an) ({_WORD}) (drum kit|piano|xylophone|harp) plays\b", c)
    if m:
        return {"family": "music", "kind": _INSTRUMENT[m.group(2)], "colour": m.group(1)}
    objects = re.findall(rf"\b(?:small|medium|large) ({_WORD}) \w+ (ball|block|disc|cube)", c)
    if objects and re.match(r"(?:a|an|one|two|three|four|five|six) ", c):
        return {"family": "impacts", "kind": objects[0][1], "colour": objects[0][0],
                "colours": sorted({colour for colour, _ in objects})}
    return None


def colour_right(reading: str | None, subject: dict) -> bool:
    """Whether ``reading`` is the subject's colour (for impacts: the colour of one of the objects named, since the
    reading is whichever object shows most; `chance` says what guessing gives)."""
    return reading is not None and reading in subject.get("colours", [subject["colour"]])


def chance(subject: dict) -> float:
    """The chance that a colour drawn uniformly from `COLOURS` counts as right for ``subject``."""
    return len(subject.get("colours", [subject["colour"]])) / len(_NAMES)


def nearest_colour(rgb, scale: float = 1.0) -> str:
    """The `COLOURS` name nearest to ``rgb`` (3 values, 0..255), the palette taken at ``scale`` of itself."""
    d = ((_RGB * scale - np.asarray(rgb, np.float32)) ** 2).sum(1)
    return _NAMES[int(np.argmin(d))]


def _region(video: np.ndarray, y0: float, y1: float, x0: float, x1: float) -> np.ndarray:
    """The pixels ``[n, 3]`` (float) of every frame of ``video [T, H, W, 3]`` inside the normalised box."""
    _, h, w, _ = video.shape
    r0, r1 = int(round(y0 * h)), max(int(round(y0 * h)) + 1, int(round(y1 * h)))
    c0, c1 = int(round(x0 * w)), max(int(round(x0 * w)) + 1, int(round(x1 * w)))
    return video[:, r0:r1, c0:c1].reshape(-1, 3).astype(np.float32)


def _music_colour(video: np.ndarray, kind: str) -> str:
    if kind == "xylophone":                        # bars span 0.3-0.8 (outer) to 0.44-0.66 (inner) of the height
        return nearest_colour(np.median(_region(video, 0.46, 0.64, 0.12, 0.88), 0))
    if kind == "harp":                             # the frame's top and bottom bars
        px = np.concatenate([_region(video, 0.105, 0.145, 0.12, 0.88), _region(video, 0.855, 0.895, 0.12, 0.88)])
        return nearest_colour(np.median(px, 0))
    if kind == "drums":                            # shells below the heads, at 0.6 of the colour
        px = np.concatenate([_region(video, 0.70, 0.84, 0.12, 0.32), _region(video, 0.70, 0.84, 0.68, 0.88),
                             _region(video, 0.62, 0.74, 0.42, 0.58)])
        return nearest_colour(np.median(px, 0), 0.6)
    # piano: the strip along the keys' bottom edge (0.78-0.80 of the height; 0.03 lower while a key is down)
    return nearest_colour(np.median(_region(video, 0.78, 0.80, 0.12, 0.88), 0))


def impacts_foreground(video: np.ndarray, min_distance: float = 60.0) -> tuple[np.ndarray, np.ndarray]:
    """An impacts scene's objects: ``(above [T, h', W, 3] float, mask [T, h', W])``, the frames above the floor and
    the pixels there that stand out from their frame's wall (the median of its top quarter) and are not a contact
    flash (near white, brighter than any colour)."""
    _, h, _, _ = video.shape
    above = video[:, : int(FLOOR_Y * h) - 1].astype(np.float32)                 # [T, h', W, 3]
    wall = np.median(above[:, : max(1, h // 4)].reshape(len(video), -1, 3), 1)  # [T, 3]: the top quarter
    fg = np.linalg.norm(above - wall[:, None, None], axis=-1) > min_distance
    return above, fg & (above.min(-1) < 240)


def _impacts_colour(video: np.ndarray, min_distance: float = 60.0) -> str | None:
    """The colour most of the above-floor pixels that stand out from their frame's wall vote for."""
    above, fg = impacts_foreground(video, min_distance)
    px = above[fg]
    if not len(px):
        return None
    votes = np.bincount(np.argmin(((px[:, None] - _RGB[None]) ** 2).sum(-1), 1), minlength=len(_NAMES))
    return _NAMES[int(np.argmax(votes))]


def shirt_rgb(video: np.ndarray) -> np.ndarray:
    """The median colour ``[3]`` (0..255) of a speech scene's shirt in ``video`` (uint8 ``[T, H, W, 3]``): the
    shoulders, x +- 0.3 around a face at 0.44-0.56, from 0.86 of the height down (read from 0.90)."""
    return np.median(_region(video, 0.90, 1.0, 0.30, 0.70), 0)


def subject_colour(video: np.ndarray, subject: dict) -> str | None:
    """The colour read from ``video`` (uint8 ``[T, H, W, 3]``) where ``subject`` (`caption_subject`) is drawn."""
    if subject["family"] == "speech":
        return nearest_colour(shirt_rgb(video))
    if subject["family"] == "music":
        return _music_colour(video, subject["kind"])
    return _impacts_colour(video)
