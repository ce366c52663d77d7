"""Anti-aliased 2-D drawing on numpy RGB frames, in normalised coordinates (x, y in [0, 1], y down).

Shapes are drawn by signed distance: coverage = clip(0.5 - distance_in_pixels, 0, 1), so edges are
smooth at any resolution and the same scene renders at 64x64 or 512x512.
"""
from __future__ import annotations

import numpy as np


class Canvas:
    def __init__(self, height: int, width: int):
        self.h, self.w = height, width
        self.scale = float(min(height, width))  # pixels per normalised unit
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        self.x = (xs + 0.5) / width   # pixel centres, normalised
        self.y = (ys + 0.5) / height
        self.img = np.zeros((height, width, 3), np.float32)

    def fill(self, background: np.ndarray):
        """Start a frame from a prepared background ``[H, W, 3]`` float (0..255)."""
        self.img[:] = background
        return self

    def _blend(self, dist_px: np.ndarray, color, alpha: float = 1.0):
        cov = np.clip(0.5 - dist_px, 0.0, 1.0) * alpha
        self.img += cov[..., None] * (np.asarray(color, np.float32) - self.img)

    def ellipse(self, cx, cy, rx, ry, color, alpha=1.0):
        # approximate signed distance of an ellipse, in pixels
        dx, dy = (self.x - cx) * self.w, (self.y - cy) * self.h
        ax, ay = max(rx * self.w, 0.3), max(ry * self.h, 0.3)
        k = np.sqrt((dx / ax) ** 2 + (dy / ay) ** 2)
        self._blend((k - 1.0) * min(ax, ay), color, alpha)

    def circle(self, cx, cy, r, color, alpha=1.0):
        """A circle of radius ``r`` (fraction of the shorter side)."""
        self.ellipse(cx, cy, r * self.scale / self.w, r * self.scale / self.h, color, alpha)

    def rect(self, x0, y0, x1, y1, color, alpha=1.0):
        cx, cy = (x0 + x1) / 2 * self.w, (y0 + y1) / 2 * self.h
        hx, hy = abs(x1 - x0) / 2 * self.w, abs(y1 - y0) / 2 * self.h
        dx = np.abs(self.x * self.w - cx) - hx
        dy = np.abs(self.y * self.h - cy) - hy
        outside = np.sqrt(np.maximum(dx, 0) ** 2 + np.maximum(dy, 0) ** 2)
        self._blend(outside + np.minimum(np.maximum(dx, dy), 0), color, alpha)

    def ring(self, cx, cy, r, width, color, alpha=1.0):
        d = np.sqrt(((self.x - cx) * self.w) ** 2 + ((self.y - cy) * self.h) ** 2)
        self._blend(np.abs(d - r * self.scale) - width * self.scale / 2, color, alpha)

    def frame(self) -> np.ndarray:
        return np.clip(self.img + 0.5, 0, 255).astype(np.uint8)


def background(h: int, w: int, top, bottom=None, horizon: float | None = None) -> np.ndarray:
    """A flat, two-tone (wall/floor split at ``horizon``) or vertical-gradient background."""
    top = np.asarray(top, np.float32)
    bottom = top if bottom is None else np.asarray(bottom, np.float32)
    y = (np.arange(h, dtype=np.float32)[:, None] + 0.5) / h
    if horizon is None:
        mix = np.broadcast_to(y, (h, w))
    else:
        mix = np.broadcast_to(np.clip((y - horizon) * h + 0.5, 0, 1), (h, w))
    return top + mix[..., None] * (bottom - top)
