"""Impacts: objects fall and bounce on a floor; every contact flashes and makes a sound whose timbre
follows the object's material and size (modal synthesis) and whose loudness follows its speed."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import timebase
from . import sound
from .base import SynthConfig, event, make_clip, spaced
from .canvas import Canvas, background
from .vocab import BACKGROUNDS, COLOURS, NUMBER_WORDS, article, pick, plural

# name -> (mode frequency ratios, base frequency range in Hz, decay s, restitution, click brightness)
MATERIALS = {
    "metal": ((1.0, 2.76, 5.40, 8.93), (500, 1100), 0.55, 0.55, 0.9),
    "glass": ((1.0, 2.32, 4.25, 6.63), (1100, 2200), 0.30, 0.45, 1.0),
    "wooden": ((1.0, 2.57, 4.21), (250, 550), 0.07, 0.50, 0.6),
    "stone": ((1.0, 1.93, 3.12), (150, 380), 0.045, 0.35, 0.5),
    "rubber": ((1.0, 2.10), (90, 200), 0.03, 0.75, 0.25),
    "plastic": ((1.0, 2.40, 4.90), (400, 850), 0.05, 0.60, 0.7),
    "ceramic": ((1.0, 2.60, 4.60, 7.10), (850, 1700), 0.15, 0.40, 0.9),
}
SHAPES = ("ball", "block", "disc", "cube")   # ball/disc draw round, block/cube square
SIZES = {"small": (0.045, 1.4), "medium": (0.065, 1.0), "large": (0.09, 0.72)}  # radius, pitch factor
FLOORS = {"tile": 1.0, "wooden": 0.55, "concrete": 0.7, "stone": 0.8}  # click brightness
VERBS = ("falls and bounces on", "drops onto", "is dropped onto", "bounces on", "falls onto", "hits")
FLOOR_Y = 0.84
GRAVITY = 6.0        # normalised units / s^2 (the frame is about a metre tall)


@dataclass(frozen=True)
class Body:
    shape: str
    size: str
    colour: str
    material: str
    x: float
    height: float      # drop height above the resting position, normalised
    t_drop: float

    @property
    def radius(self) -> float:
        return SIZES[self.size][0]

    def bounces(self, gap: float) -> list[tuple[float, float]]:
        """(time, speed) of each floor contact; bounces stop once they come closer than ``gap``."""
        e = MATERIALS[self.material][3]
        v = math.sqrt(2 * GRAVITY * self.height)
        t = self.t_drop + math.sqrt(2 * self.height / GRAVITY)
        out = [(t, v)]
        while len(out) < 4:
            v *= e
            t += 2 * v / GRAVITY
            if 2 * v / GRAVITY < 1.5 * gap:
                break
            out.append((t, v))
        return out

    def lift(self, t: float, contacts) -> float:
        """Height of the body's bottom above the floor at time ``t`` (normalised units)."""
        if t <= self.t_drop:
            return self.height
        t1, _ = contacts[0]
        if t <= t1:
            return max(0.0, self.height - 0.5 * GRAVITY * (t - self.t_drop) ** 2)
        for (ta, va), (tb, _) in zip(contacts, contacts[1:]):
            if ta < t <= tb:
                v_up = va * MATERIALS[self.material][3]
                dt = t - ta
                return max(0.0, v_up * dt - 0.5 * GRAVITY * dt * dt)
        return 0.0


def _scene(rng: np.random.Generator, cfg: SynthConfig):
    lo, hi = cfg.event_window()
    n = int(rng.integers(1, 4))
    slots = rng.permutation(np.linspace(0.2, 0.8, 3))
    bodies, times = [], []
    for i in range(n):
        for _ in range(30):   # find a drop that keeps every contact apart from the others
            b = Body(shape=pick(rng, SHAPES), size=pick(rng, SIZES), colour=pick(rng, COLOURS),
                     material=pick(rng, MATERIALS), x=float(slots[i] + rng.uniform(-0.04, 0.04)),
                     height=float(rng.uniform(0.2, 0.55)), t_drop=float(rng.uniform(0.0, hi - 0.2)))
            ts = [t for t, _ in b.bounces(cfg.min_gap)]
            if ts[0] >= lo and ts[-1] <= hi and all(spaced(times, t, cfg.min_gap) for t in ts):
                bodies.append(b)
                times += ts
                break
    if not bodies:   # always at least one contact: a short drop that lands inside the window
        h = 0.25
        t_contact = lo + (hi - lo) * float(rng.uniform(0, 0.5))
        bodies.append(Body("ball", "medium", pick(rng, COLOURS), "rubber", 0.5, h,
                           t_contact - math.sqrt(2 * h / GRAVITY)))
    return {"bodies": bodies, "floor": pick(rng, FLOORS), "background": pick(rng, BACKGROUNDS),
            "verb": pick(rng, VERBS)}


def caption(scene) -> str:
    groups: dict[tuple, int] = {}
    for b in scene["bodies"]:
        k = (b.size, b.colour, b.material, b.shape)
        groups[k] = groups.get(k, 0) + 1
    parts = []
    for (size, colour, material, shape), c in groups.items():
        words = f"{size} {colour} {material} {plural(shape, c)}"
        parts.append(f"{NUMBER_WORDS[c]} {words}" if c > 1 else f"{article(size)} {words}")
    subject = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    plural_subject = len(scene["bodies"]) > 1
    verb = scene["verb"]
    if plural_subject:
        verb = {"falls and bounces on": "fall and bounce on", "drops onto": "drop onto",
                "is dropped onto": "are dropped onto", "bounces on": "bounce on",
                "falls onto": "fall onto", "hits": "hit"}[verb]
    return f"{subject} {verb} a {scene['floor']} floor in front of a {scene['background']} wall"


def _sound(scene, cfg: SynthConfig, rng: np.random.Generator, contacts) -> np.ndarray:
    sr = cfg.sample_rate
    buf = rng.standard_normal(cfg.n_samples) * 1e-3          # faint room tone
    v_ref = math.sqrt(2 * GRAVITY * 0.55)
    floor_bright = FLOORS[scene["floor"]]
    for b, cs in contacts:
        ratios, (f_lo, f_hi), decay, _, bright = MATERIALS[b.material]
        f0 = float(rng.uniform(f_lo, f_hi)) * SIZES[b.size][1]
        amps = [1.0 / (1 + i) * float(rng.uniform(0.6, 1.0)) for i in range(len(ratios))]
        decays = [decay / (1 + 0.6 * i) for i in range(len(ratios))]
        for t, v in cs:
            loud = 0.25 + 0.75 * min(1.0, v / v_ref)
            ring = sound.modal(sr, [f0 * r for r in ratios], amps, decays, min(1.5, 6 * decay), rng)
            tick = sound.click(sr, 4.0, rng, 0.5 * (bright + floor_bright))
            hit = np.concatenate([tick, np.zeros(max(0, len(ring) - len(tick)))])[: max(len(ring), len(tick))]
            hit[: len(ring)] += 0.6 * ring / (np.abs(ring).max() + 1e-9)
            sound.add_at(buf, hit, timebase.sample_of(t, sr), loud)
    return sound.normalise(buf)


def _draw_body(canvas: Canvas, b: Body, lift: float, squash=(1.0, 1.0)):
    """``b`` with its bottom ``lift`` above the floor, stretched by ``squash`` (x, y) on a contact."""
    sx, sy = squash
    r = b.radius
    cy = FLOOR_Y - lift - r * sy
    if b.shape in ("ball", "disc"):
        canvas.ellipse(b.x, cy, r * sx, r * sy, COLOURS[b.colour])
    else:
        canvas.rect(b.x - r * sx, cy - r * sy, b.x + r * sx, cy + r * sy, COLOURS[b.colour])


def render(seed: int, cfg: SynthConfig):
    """One impacts scene, deterministic in ``seed``: a `Clip` whose metadata lists every contact."""
    rng = np.random.default_rng([seed, 1])
    scene = _scene(rng, cfg)
    contacts = [(b, b.bounces(cfg.min_gap)) for b in scene["bodies"]]
    wall, floor = BACKGROUNDS[scene["background"]]
    canvas = Canvas(cfg.size, cfg.size)
    bg = background(cfg.size, cfg.size, wall, floor, horizon=FLOOR_Y)
    hits = [(b, timebase.frame_of(t, cfg.fps), v) for b, cs in contacts for t, v in cs]
    v_ref = math.sqrt(2 * GRAVITY * 0.55)
    frames = []
    for k in range(cfg.n_frames):
        canvas.fill(bg)
        tk = timebase.frame_time(k, cfg.fps)
        for b, kf, v in hits:                  # contact flashes, behind the bodies
            if k >= kf:
                age = (k - kf) / cfg.fps
                a = 0.95 * math.exp(-age / 0.05) * (0.55 + 0.45 * min(1.0, v / v_ref))
                if a > 0.02:
                    canvas.circle(b.x, FLOOR_Y, b.radius * 1.9, (255, 250, 220), a)
                    canvas.ring(b.x, FLOOR_Y, b.radius * (1.9 + 12 * age), 0.015, (255, 255, 255), a)
        for b, cs in contacts:
            on_contact = any(kf == k for bb, kf, _ in hits if bb is b)
            lift = 0.0 if on_contact else b.lift(tk, cs)
            _draw_body(canvas, b, lift, (1.3, 0.7) if on_contact else (1.0, 1.0))
        frames.append(canvas.frame())
    audio = _sound(scene, cfg, rng, contacts)
    events = [event(t, cfg, "impact", object=f"{b.colour} {b.material} {b.shape}", speed=round(v, 3))
              for b, cs in contacts for t, v in cs]
    meta = {"family": "impacts", "caption": caption(scene), "events": events,
            "impacts": {"floor": scene["floor"], "background": scene["background"],
                        "objects": [{"shape": b.shape, "size": b.size, "colour": b.colour,
                                     "material": b.material} for b in scene["bodies"]]}}
    return make_clip(frames, audio, cfg, meta)


def photographed(seed: int, cfg: SynthConfig, exposure: str = "centred", sub: int = 8):
    """``render``'s scene as a camera would film it, for checking the sync checker on footage it was not shaped
    on: no contact flash or squash, the bodies where the physics puts them, and each frame the mean of ``sub``
    instants over an exposure of a whole frame (motion blur) centred on the frame's time (``"centred"``) or
    starting at it (``"from pts"``: a camera whose timestamps mark the start of the exposure), or one instant
    at the frame's time (``"instant"``). The sound is ``render``'s."""
    if exposure not in ("instant", "centred", "from pts"):
        raise ValueError(f"exposure {exposure!r}: instant, centred or from pts")
    rng = np.random.default_rng([seed, 1])
    scene = _scene(rng, cfg)
    contacts = [(b, b.bounces(cfg.min_gap)) for b in scene["bodies"]]
    wall, floor = BACKGROUNDS[scene["background"]]
    bg = background(cfg.size, cfg.size, wall, floor, horizon=FLOOR_Y)
    canvas, frames = Canvas(cfg.size, cfg.size), []
    for k in range(cfg.n_frames):
        tk = timebase.frame_time(k, cfg.fps)
        start = tk - (0.5 / cfg.fps if exposure == "centred" else 0.0)
        instants = [tk] if exposure == "instant" else start + (np.arange(sub) + 0.5) / (sub * cfg.fps)
        acc = np.zeros((cfg.size, cfg.size, 3), np.float32)
        for t in instants:
            canvas.fill(bg)
            for b, cs in contacts:
                _draw_body(canvas, b, b.lift(t, cs))
            acc += canvas.frame()
        frames.append((acc / len(instants)).round().astype(np.uint8))
    meta = {"family": "impacts", "caption": caption(scene), "events": [
        event(t, cfg, "impact", speed=round(v, 3)) for _, cs in contacts for t, v in cs]}
    return make_clip(frames, _sound(scene, cfg, rng, contacts), cfg, meta)


def sample_caption(seed: int, cfg: SynthConfig) -> str:
    """The caption of ``render(seed, cfg)`` without rendering it."""
    return caption(_scene(np.random.default_rng([seed, 1]), cfg))
