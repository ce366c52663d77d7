"""Speech: a face says a line spoken by espeak-ng; the mouth opens with the speech energy while a word
sounds, so each word's onset shows on the frame that holds it. The transcript carries word times."""
from __future__ import annotations

import io
import shutil
import subprocess
import wave
from functools import lru_cache

import numpy as np

from .. import timebase
from ..errors import DuettoError
from . import sound
from .base import SynthConfig, event, make_clip
from .canvas import Canvas, background
from .vocab import BACKGROUNDS, COLOURS, article, pick

ACCENTS = {"American": "en-us", "British": "en-gb", "Scottish": "en-gb-scotland",
           "Caribbean": "en-029", "Received Pronunciation": "en-gb-x-rp"}
VOICES = {"man": ["m1", "m2", "m3", "m4", "m5", "m6", "m7"], "woman": ["f1", "f2", "f3", "f4", "f5"]}
SKIN = {"pale": (240, 205, 180), "light": (225, 180, 145), "tan": (195, 145, 105),
        "brown": (150, 100, 70), "dark": (100, 65, 45)}
HAIR = {"black": (25, 20, 20), "brown": (90, 55, 30), "blond": (220, 190, 110), "red": (170, 70, 30),
        "grey": (160, 160, 160), "white": (235, 235, 230)}
SUBJECTS = ["the cat", "my brother", "a small dog", "the old man", "our teacher", "the baker", "my sister",
            "the pilot", "a farmer", "the children", "her friend", "the doctor", "a sailor", "the king",
            "my neighbour", "the girl", "the singer", "a tired student", "the driver", "grandma"]
VERBS = ["found", "painted", "carried", "opened", "watched", "dropped", "cleaned", "bought", "fixed",
         "sold", "lost", "wanted", "picked up", "showed me", "forgot", "noticed", "moved", "cooked",
         "counted", "followed"]
OBJECTS = ["the red box", "a blue door", "seven apples", "the garden gate", "a yellow kite", "the big drum",
           "a paper boat", "the heavy bag", "two green cups", "the silver key", "a broken clock",
           "the wooden chair", "nine bottles", "a warm coat", "the little bird", "a bright lamp",
           "the long rope", "four oranges", "the black hat", "a soft pillow"]
TAILS = ["", "", "this morning", "yesterday", "again", "at night", "very quickly", "in the rain",
         "before lunch", "on monday", "by the river", "after school"]
GREETINGS = ["hello there", "good morning everyone", "thank you very much", "see you later",
             "welcome back", "nice to meet you", "how are you today", "let us begin"]


def _espeak() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise DuettoError("espeak-ng is not installed: the speech family needs it "
                          "(`apt-get install espeak-ng`, or run `make setup`)")
    return exe


@lru_cache(maxsize=4096)
def speak_word(word: str, voice: str, speed: int, pitch: int, sample_rate: int) -> np.ndarray:
    """One word from espeak-ng at ``sample_rate``, trimmed so that it starts on its first audible
    sample (above 3% of its peak) with nothing before it, float ``[n]``."""
    out = subprocess.run([_espeak(), "-v", voice, "-s", str(int(speed)), "-p", str(int(pitch)), "--stdout", "--", word],
                         capture_output=True, check=False)
    if out.returncode != 0 or len(out.stdout) < 100:
        raise DuettoError(f"espeak-ng failed for voice {voice!r}: {out.stderr.decode(errors='replace').strip()}")
    with wave.open(io.BytesIO(out.stdout)) as w:
        sr = w.getframerate()
        x = np.frombuffer(w.readframes(1 << 30), np.int16).astype(np.float64) / 32768.0
    x = timebase.resample(x, sr, sample_rate)
    loud = np.flatnonzero(np.abs(x) > 0.03 * np.abs(x).max())
    x = x[loud[0]: loud[-1] + 1].copy()
    return sound.fade_out(x, min(len(x) // 4, int(0.01 * sample_rate)))


def _phrase(rng) -> str:
    if rng.uniform() < 0.15:
        return pick(rng, GREETINGS)
    return " ".join(w for w in (pick(rng, SUBJECTS), pick(rng, VERBS), pick(rng, OBJECTS), pick(rng, TAILS)) if w)


def _scene(rng, cfg: SynthConfig):
    gender = pick(rng, VOICES)
    return {"gender": gender, "accent": pick(rng, ACCENTS), "variant": pick(rng, VOICES[gender]),
            "speed": int(rng.integers(140, 186)), "pitch": int(rng.integers(10, 91)),
            "skin": pick(rng, SKIN), "hair": pick(rng, HAIR), "shirt": pick(rng, COLOURS),
            "background": pick(rng, BACKGROUNDS), "phrases": [_phrase(rng) for _ in range(6)],
            "x": float(rng.uniform(0.44, 0.56)), "lead": float(rng.uniform(0.15, 0.5)),
            "gaps": [float(rng.uniform(0.12, 0.25)) for _ in range(40)]}


def caption(scene, words: list[str]) -> str:
    said = " ".join(words)
    return (f"a {scene['gender']} with {scene['hair']} hair and {article(scene['shirt'])} {scene['shirt']} shirt "
            f"says \"{said}\" "
            f"in {article(scene['accent'])} {scene['accent']} accent in front of a {scene['background']} background")


def _line(scene, cfg: SynthConfig):
    """Lay a phrase's words on the clock: [(word, start, audio)]. The first candidate phrase that fits
    the clip whole is said; if none does, as much of the first as fits."""
    voice = f"{ACCENTS[scene['accent']]}+{scene['variant']}"
    lo, hi = cfg.event_window()
    first = None
    for phrase in scene["phrases"]:
        t, out, words = max(lo, scene["lead"]), [], phrase.split()
        for word, gap in zip(words, scene["gaps"]):
            x = speak_word(word, voice, scene["speed"], scene["pitch"], cfg.sample_rate)
            if t > hi or t + len(x) / cfg.sample_rate > cfg.duration - 0.05:
                break
            out.append((word, t, x))
            t += len(x) / cfg.sample_rate + max(gap, 4.6 / cfg.fps)   # the mouth rests >= 2 frames between words
        if len(out) == len(words):
            return out
        first = out if first is None else first
    return first


def _openness(words, audio: np.ndarray, cfg: SynthConfig) -> np.ndarray:
    """Mouth opening per frame in [0, 1]: 0 unless a word sounds during the frame's span
    ``[t - 1/(2 fps), t + 1/(2 fps))``; then driven by the loudest 5 ms of speech in it."""
    sr, half = cfg.sample_rate, 0.5 / cfg.fps
    peak = np.abs(audio).max() + 1e-9
    out = np.zeros(cfg.n_frames)
    for k in range(cfg.n_frames):
        t0, t1 = timebase.frame_time(k, cfg.fps) - half, timebase.frame_time(k, cfg.fps) + half
        for _, ws, x in words:
            we = ws + len(x) / sr
            if ws < t1 and we > t0:
                seg = audio[max(0, timebase.sample_of(max(t0, ws), sr)): timebase.sample_of(min(t1, we), sr) + 1]
                env = np.sqrt(np.convolve(seg ** 2, np.ones(80) / 80, "same").max()) if len(seg) else 0.0
                out[k] = max(out[k], 0.3 + 0.7 * np.tanh(2.5 * env / peak))   # smooth: no two equal frames
    return out


def _draw_face(canvas: Canvas, scene, opening: float):
    x = scene["x"]
    skin = SKIN[scene["skin"]]
    canvas.rect(x - 0.3, 0.86, x + 0.3, 1.05, COLOURS[scene["shirt"]])            # shoulders
    canvas.rect(x - 0.07, 0.72, x + 0.07, 0.9, skin)                               # neck
    canvas.ellipse(x, 0.36, 0.25, 0.24, HAIR[scene["hair"]])                       # hair
    canvas.ellipse(x, 0.47, 0.21, 0.28, skin)                                      # face
    for ex in (x - 0.085, x + 0.085):                                              # eyes
        canvas.ellipse(ex, 0.42, 0.045, 0.028, (245, 245, 245))
        canvas.circle(ex, 0.42, 0.02, (40, 30, 30))
    canvas.ellipse(x, 0.53, 0.022, 0.035, tuple(0.8 * c for c in skin))           # nose
    lips = (170, 60, 70)
    canvas.ellipse(x, 0.645, 0.1, 0.018 + 0.075 * opening, lips)                  # mouth
    if opening > 0:
        canvas.ellipse(x, 0.645, 0.08, 0.07 * opening, (45, 10, 15))


def render(seed: int, cfg: SynthConfig):
    """One speech scene, deterministic in ``seed``: the metadata holds the transcript with word times."""
    rng = np.random.default_rng([seed, 2])
    scene = _scene(rng, cfg)
    words = _line(scene, cfg)
    audio = rng.standard_normal(cfg.n_samples) * 1e-3
    for _, t, x in words:
        sound.add_at(audio, x, timebase.sample_of(t, cfg.sample_rate))
    audio = sound.normalise(audio)
    opening = _openness(words, audio, cfg)
    wall, floor = BACKGROUNDS[scene["background"]]
    bg = background(cfg.size, cfg.size, wall, floor)
    canvas = Canvas(cfg.size, cfg.size)
    frames = []
    for k in range(cfg.n_frames):
        _draw_face(canvas.fill(bg), scene, float(opening[k]))
        frames.append(canvas.frame())
    said = [w for w, _, _ in words]
    word_times = [{"word": w, "start": round(t, 6), "end": round(t + len(x) / cfg.sample_rate, 6)}
                  for w, t, x in words]
    meta = {"family": "speech", "caption": caption(scene, said),
            "events": [event(t, cfg, "word", word=w) for w, t, _ in words],
            "speech": {"transcript": " ".join(said), "words": word_times,
                       "voice": f"{ACCENTS[scene['accent']]}+{scene['variant']}",
                       "speed_wpm": scene["speed"], "pitch": scene["pitch"]}}
    return make_clip(frames, audio, cfg, meta)


def sample_caption(seed: int, cfg: SynthConfig) -> str:
    """The caption without rendering the picture (the words still need espeak-ng to know which fit)."""
    scene = _scene(np.random.default_rng([seed, 2]), cfg)
    return caption(scene, [w for w, _, _ in _line(scene, cfg)])
