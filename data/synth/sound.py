"""Small sound synthesis helpers: every sound starts exactly at its onset sample."""
from __future__ import annotations

import numpy as np


def modal(sr: int, freqs, amps, decays, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Sum of exponentially decaying sinusoids (modal synthesis of a struck object), ``[n]``."""
    t = np.arange(int(seconds * sr)) / sr
    out = np.zeros_like(t)
    for f, a, d in zip(freqs, amps, decays):
        if f < 0.45 * sr:
            out += a * np.exp(-t / d) * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    return fade_out(out, int(0.2 * len(out)))


def fade_out(x: np.ndarray, n: int) -> np.ndarray:
    """Raised-cosine fade over the last ``n`` samples, so a cut-off tail makes no click."""
    if n > 0:
        x[-n:] *= 0.5 + 0.5 * np.cos(np.linspace(0, np.pi, n))
    return x


def click(sr: int, ms: float, rng: np.random.Generator, brightness: float = 0.5) -> np.ndarray:
    """A broadband contact transient: decaying noise, low-passed more when ``brightness`` is low."""
    n = max(4, int(ms * sr / 1000))
    noise = rng.standard_normal(n)
    if brightness < 1.0:  # one-pole low-pass
        a = 1.0 - brightness
        for i in range(1, n):
            noise[i] = (1 - a) * noise[i] + a * noise[i - 1]
    env = np.exp(-np.arange(n) / (n / 4))
    x = noise * env
    return x / (np.abs(x).max() + 1e-9)


def add_at(buf: np.ndarray, sound: np.ndarray, start: int, gain: float = 1.0):
    """Mix ``sound`` into ``buf`` from sample ``start`` (clipped at the end)."""
    if start >= len(buf):
        return
    n = min(len(sound), len(buf) - start)
    buf[start:start + n] += gain * sound[:n]


def normalise(buf: np.ndarray, peak: float = 0.7) -> np.ndarray:
    m = np.abs(buf).max()
    return (buf * (peak / m)).astype(np.float32) if m > 0 else buf.astype(np.float32)
