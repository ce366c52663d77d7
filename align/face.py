"""Mouth region from OpenCV's frontal-face Haar cascade (shipped inside the opencv-python 4.x wheels)."""
from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=1)
def _cascade():
    import cv2
    c = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    if c.empty():
        raise RuntimeError("OpenCV's frontal-face cascade is missing (opencv-python-headless 5.x dropped them)")
    return c


DETECT_SIDE = 192   # smaller frames are enlarged to this shorter side for the detector only


def find_mouth(y: np.ndarray, samples: int = 8) -> tuple[tuple[int, int, int, int] | None, float]:
    """Mouth box ``(y0, y1, x0, x1)`` in luma frames ``[T, H, W]`` and the fraction of sampled frames
    with a face. The box is the lower middle of the median face box: where a mouth is in a frontal face.

    The cascade scans windows from 24 pixels up; a face that fills a small frame (a 64x64 clip) is then near
    its smallest scale, where it finds faces in only some frames. Such frames are enlarged first (the box is
    given back in the frame's own pixels)."""
    import cv2
    t, h, w = y.shape
    idx = np.linspace(0, t - 1, min(samples, t)).round().astype(int)
    up = max(1.0, DETECT_SIDE / min(h, w))
    boxes = []
    for i in idx:
        img = np.clip(y[i], 0, 255).astype(np.uint8)
        if up > 1:
            img = cv2.resize(img, (round(w * up), round(h * up)), interpolation=cv2.INTER_LINEAR)
        found = ()
        for view in (img, cv2.equalizeHist(img)):      # equalised: a dark face on a dark ground
            found = _cascade().detectMultiScale(view, scaleFactor=1.1, minNeighbors=5,
                                                minSize=(max(24, min(img.shape) // 8),) * 2)
            if len(found):
                break
        if len(found):
            boxes.append(max(found, key=lambda b: b[2] * b[3]))
    if not boxes:
        return None, 0.0
    fx, fy, fw, fh = np.median(np.asarray(boxes), axis=0) / up
    box = (int(fy + 0.62 * fh), int(min(h, fy + 0.98 * fh)), int(fx + 0.22 * fw), int(fx + 0.78 * fw))
    return box, len(boxes) / len(idx)
