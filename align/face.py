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


DETECT_SIDE = 160   # frames are resized to this shorter side for the detector only
MIN_NEIGHBORS = 3   # overlapping detections a face needs: 5 missed a third of the generated faces; a false face in a
                    # frame or two is harmless, as a face must be found in most sampled frames (measure.FACE_SHARE)


def find_mouth(y: np.ndarray, samples: int = 8, min_share: float = 0.0,
               min_neighbors: int = MIN_NEIGHBORS) -> tuple[tuple[int, int, int, int] | None, float]:
    """Mouth box ``(y0, y1, x0, x1)`` in luma frames ``[T, H, W]`` and the fraction of sampled frames
    with a face. The box is the lower middle of the median face box: where a mouth is in a frontal face.
    Once so many sampled frames lack a face that the share cannot reach ``min_share``, it stops looking
    and gives ``(None, share so far)``: a clip without a face costs a few detections, not ``samples``.

    The detector sees each sampled frame at one working size (shorter side ``DETECT_SIDE``) with its
    histogram equalised, so what it finds depends on how much of the frame a face fills and not on the
    file's resolution or exposure: a face that fills a 64x64 clip is not left at the cascade's smallest
    (24-pixel) window, a dark face on a dark ground keeps its contrast, and a large frame costs no more
    than a small one. ``min_neighbors``: overlapping detections a face needs (``bench/faces.py`` compares values)."""
    import cv2
    t, h, w = y.shape
    idx = np.linspace(0, t - 1, min(samples, t)).round().astype(int)
    scale = DETECT_SIDE / min(h, w)
    size = (round(w * scale), round(h * scale))
    boxes = []
    for tried, i in enumerate(idx):
        if len(boxes) + len(idx) - tried < min_share * len(idx):
            return None, len(boxes) / len(idx)
        img = np.clip(y[i], 0, 255).astype(np.uint8)
        if scale != 1:
            img = cv2.resize(img, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        found = _cascade().detectMultiScale(cv2.equalizeHist(img), scaleFactor=1.1, minNeighbors=min_neighbors,
                                            minSize=(max(24, min(img.shape) // 8),) * 2)
        if len(found):
            boxes.append(max(found, key=lambda b: b[2] * b[3]))
    if not boxes:
        return None, 0.0
    fx, fy, fw, fh = np.median(np.asarray(boxes), axis=0) / scale
    box = (int(fy + 0.62 * fh), int(min(h, fy + 0.98 * fh)), int(fx + 0.22 * fw), int(fx + 0.78 * fw))
    return box, len(boxes) / len(idx)
