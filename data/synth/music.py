"""Music: an instrument plays a tune at a tempo; each note's key, bar, string or drum head lights up
and moves on the frame of its onset, and its sound starts on the onset sample."""
from __future__ import annotations

import math

import numpy as np

from .. import timebase
from . import sound
from .base import SynthConfig, event, make_clip, spaced
from .canvas import Canvas, background
from .vocab import BACKGROUNDS, COLOURS, article, pick

INSTRUMENTS = ("piano", "xylophone", "drums", "harp")
N_VOICES = {"piano": 10, "xylophone": 8, "drums": 3, "harp": 7}   # keys / bars / drums / strings
DRUMS = ("kick drum", "snare drum", "tom")
KEYS = {"C": 60, "D": 62, "E": 64, "F": 65, "G": 67, "A": 69, "B flat": 70}
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
FEEL = ("a cheerful", "a gentle", "a lively", "a simple", "a bouncy", "a calm", "a steady")


def _scene(rng, cfg: SynthConfig):
    inst = pick(rng, INSTRUMENTS)
    bpm = int(rng.integers(70, 161))
    step = 60.0 / bpm / 2                         # eighth notes
    lo, hi = cfg.event_window()
    t0 = lo + float(rng.uniform(0, step))
    density = float(rng.uniform(0.45, 0.9))
    notes, times = [], []
    n_voices = N_VOICES[inst]
    for j in range(int((hi - t0) / step) + 1):
        t = t0 + j * step
        if t <= hi and (rng.uniform() < density or not notes) and spaced(times, t, cfg.min_gap):
            voice = int(rng.integers(n_voices))
            notes.append((t, voice))
            times.append(t)
    return {"instrument": inst, "bpm": bpm, "key": pick(rng, KEYS), "mode": pick(rng, SCALES),
            "colour": pick(rng, COLOURS), "background": pick(rng, BACKGROUNDS), "feel": pick(rng, FEEL),
            "notes": notes, "beats": [t0 + 2 * j * step for j in range(int((hi - t0) / (2 * step)) + 1)]}


def _midi(scene, voice: int) -> int:
    scale = SCALES[scene["mode"]]
    return KEYS[scene["key"]] + 12 * (voice // 7) + scale[voice % 7]


def caption(scene) -> str:
    what = "rhythm" if scene["instrument"] == "drums" else f"tune in {scene['key']} {scene['mode']}"
    name = "drum kit" if scene["instrument"] == "drums" else scene["instrument"]
    return (f"{article(scene['colour'])} {scene['colour']} {name} plays {scene['feel']} {what} at {scene['bpm']} bpm "
            f"in front of a {scene['background']} background")


def _note_sound(scene, voice: int, sr: int, rng) -> np.ndarray:
    inst = scene["instrument"]
    tick = sound.click(sr, 3.0, rng, 1.0)   # hammer, mallet, pluck or stick: a broadband contact
    if inst == "drums":
        t = np.arange(int(0.4 * sr)) / sr
        kind = DRUMS[voice % 3]
        if kind == "snare drum":
            body = rng.standard_normal(len(t)) * np.exp(-t / 0.09) + 0.5 * np.sin(2 * np.pi * 190 * t) * np.exp(-t / 0.05)
        else:
            f_start, f_end = (110, 45) if kind == "kick drum" else (220, 130)
            f = f_end + (f_start - f_end) * np.exp(-t / 0.04)
            body = np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / 0.18)
        body = sound.fade_out(body, len(body) // 5)
    else:
        f0 = 440.0 * 2 ** ((_midi(scene, voice) - 69) / 12)
        if inst == "piano":
            ratios, amps, decays = range(1, 7), [1 / n ** 1.2 for n in range(1, 7)], [0.9 / n for n in range(1, 7)]
        elif inst == "xylophone":
            ratios, amps, decays = (1.0, 3.93, 9.2), (1.0, 0.4, 0.15), (0.35, 0.1, 0.04)
            f0 *= 2
        else:  # harp
            ratios, amps, decays = range(1, 9), [1 / n for n in range(1, 9)], [1.2 / n for n in range(1, 9)]
        body = sound.modal(sr, [f0 * r for r in ratios], amps, decays, 1.2, rng)
    body = body / (np.abs(body).max() + 1e-9)
    body[: len(tick)] += 0.8 * tick
    return body


def _layout(inst: str, n: int):
    """Each voice's rectangle (x0, y0, x1, y1) or drum (cx, cy, r)."""
    if inst == "piano":
        w = 0.8 / n
        return [(0.1 + i * w + 0.004, 0.45, 0.1 + (i + 1) * w - 0.004, 0.8) for i in range(n)]
    if inst == "xylophone":
        w = 0.8 / n
        return [(0.1 + i * w + 0.01, 0.3 + 0.02 * i, 0.1 + (i + 1) * w - 0.01, 0.8 - 0.02 * i) for i in range(n)]
    if inst == "drums":
        return [(0.22, 0.62, 0.15), (0.5, 0.52, 0.12), (0.78, 0.62, 0.13)][:n]
    w = 0.7 / (n - 1)
    return [(0.15 + i * w, 0.15, 0.15 + i * w, 0.85) for i in range(n)]


def _draw(canvas: Canvas, scene, shape, glow: float, kick: float):
    inst, colour = scene["instrument"], np.asarray(COLOURS[scene["colour"]], np.float32)
    lit = tuple(colour + (255 - colour) * min(1.0, glow))
    if inst == "piano":
        x0, y0, x1, y1 = shape
        canvas.rect(x0, y0 + 0.03 * kick, x1, y1 + 0.03 * kick, (230, 230, 225))
        if glow > 0.01:
            canvas.rect(x0, y0 + 0.03 * kick, x1, y1 + 0.03 * kick, lit, 0.9 * min(1.0, glow))
        canvas.rect(x0, y1 + 0.03 * kick - 0.02, x1, y1 + 0.03 * kick, colour)
    elif inst == "xylophone":
        x0, y0, x1, y1 = shape
        canvas.rect(x0, y0 + 0.02 * kick, x1, y1 + 0.02 * kick, lit)
    elif inst == "drums":
        cx, cy, r = shape
        canvas.rect(cx - r, cy, cx + r, cy + 0.25, tuple(0.6 * colour))
        canvas.ellipse(cx, cy, r * (1 + 0.1 * kick), 0.35 * r * (1 + 0.1 * kick), (215, 210, 200))
        if glow > 0.01:
            canvas.ellipse(cx, cy, r, 0.35 * r, (255, 255, 240), min(1.0, glow))
    else:  # harp string
        x0, y0, _, y1 = shape
        wob = 0.012 * kick
        canvas.rect(x0 - 0.006 - wob, y0, x0 + 0.006 + wob, y1, lit)


def render(seed: int, cfg: SynthConfig):
    """One music scene, deterministic in ``seed``: metadata lists every note onset and the beats."""
    rng = np.random.default_rng([seed, 3])
    scene = _scene(rng, cfg)
    sr = cfg.sample_rate
    audio = rng.standard_normal(cfg.n_samples) * 1e-3
    for t, voice in scene["notes"]:
        sound.add_at(audio, _note_sound(scene, voice, sr, rng), timebase.sample_of(t, sr), float(rng.uniform(0.6, 1.0)))
    audio = sound.normalise(audio)
    shapes = _layout(scene["instrument"], N_VOICES[scene["instrument"]])
    struck = [(timebase.frame_of(t, cfg.fps), v) for t, v in scene["notes"]]
    wall, floor = BACKGROUNDS[scene["background"]]
    bg = background(cfg.size, cfg.size, wall, floor)
    canvas = Canvas(cfg.size, cfg.size)
    frames = []
    for k in range(cfg.n_frames):
        canvas.fill(bg)
        if scene["instrument"] == "harp":
            canvas.rect(0.1, 0.1, 0.9, 0.15, COLOURS[scene["colour"]])
            canvas.rect(0.1, 0.85, 0.9, 0.9, COLOURS[scene["colour"]])
        for i, shape in enumerate(shapes):
            ages = [(k - kf) / cfg.fps for kf, v in struck if v == i and kf <= k]
            age = min(ages) if ages else math.inf
            _draw(canvas, scene, shape, math.exp(-age / 0.06), math.exp(-age / 0.08))
        frames.append(canvas.frame())
    inst = scene["instrument"]
    label = (lambda v: DRUMS[v % 3]) if inst == "drums" else (lambda v: _midi(scene, v))
    events = [event(t, cfg, "note", voice=v, **({"drum": label(v)} if inst == "drums" else {"pitch": label(v)}))
              for t, v in scene["notes"]]
    meta = {"family": "music", "caption": caption(scene), "events": events,
            "music": {"instrument": inst, "tempo": scene["bpm"], "key": f"{scene['key']} {scene['mode']}",
                      "beats": [round(b, 6) for b in scene["beats"]]}}
    return make_clip(frames, audio, cfg, meta)


def sample_caption(seed: int, cfg: SynthConfig) -> str:
    return caption(_scene(np.random.default_rng([seed, 3]), cfg))
