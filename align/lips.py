"""Faces and lips from real face models: BlazeFace finds the faces, MediaPipe's face mesh measures how far each
mouth is open, frame by frame, on a face tracked across the clip.

Both models ship inside mediapipe 0.10.21's wheel (tflite files, run offline through ``mp.solutions``; newer
wheels ship none). ``.ci/setup.sh`` installs it with ``--no-deps`` beside protobuf 6 (it declares numpy<2 and
jax, which it does not need for this). Where it is missing, `available` is False and the measurement falls back to
OpenCV's Haar cascade (`face.find_mouth`), and says so in its reason.

Coordinates are pixels of the luma frames given (``[T, H, W]`` uint8 or float); boxes are ``(y0, y1, x0, x1)``.
"""
from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

INNER_LIPS = (13, 14)            # face-mesh points: the middle of the upper and of the lower inner lip
FACE_SPAN = (10, 152)            # the top of the forehead and the chin: the face's height
LIP_RING = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 185, 40, 39, 37, 0, 267, 269, 270, 409)  # outer lips
DETECT_SAMPLES = 8               # frames, evenly spread, on which faces are looked for
MIN_SCORE = 0.5                  # BlazeFace detection score
MESH_SIDE = 256                  # a face's region is scaled so its longer side has this many pixels for the mesh
MESH_RATE = 12.5                 # Hz: the mesh runs on every k-th frame, k = round(fps / MESH_RATE) (25 fps: every 2nd);
                                 # the lips' syllable rhythm (< 8 Hz) survives, the cost halves (see `lip_opening`)
MAX_FACES = 3


@contextlib.contextmanager
def _quiet():
    """Silence the process's stderr (file descriptor 2) meanwhile: mediapipe's C++ side prints a protobuf notice
    on import and TFLite notices as each graph starts, harmless and not ours to print."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null, warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning)   # protobuf 6 on mediapipe's option protos
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@lru_cache(maxsize=1)
def _mp():
    with _quiet():
        import mediapipe as mp
    return mp


def available() -> bool:
    """Whether mediapipe (with its shipped face models) can be imported here."""
    try:
        return hasattr(_mp(), "solutions")
    except Exception:   # not installed, or a protobuf it cannot run with
        return False


@dataclass(frozen=True)
class Face:
    box: tuple[int, int, int, int]     # the face, median over the frames it was found in
    mouth: tuple[int, int, int, int]   # the mouth from the detector's mouth keypoint (a margin around the lips)
    share: float                       # of the sampled frames, those it was found in
    spread: tuple[int, int, int, int]  # every box it was found in, joined: where the face moves

    @property
    def height(self) -> int:
        return self.box[1] - self.box[0]

    def scaled(self, k: float) -> "Face":
        """The same face in a picture ``k`` times as large."""
        return Face(scaled(self.box, k), scaled(self.mouth, k), self.share, scaled(self.spread, k))


def scaled(box, k: float) -> tuple[int, int, int, int]:
    return tuple(int(round(v * k)) for v in box)


def _same_face(box, others) -> bool:
    """Whether ``box`` is one of ``others`` (boxes): their centres closer than half the other's width."""
    c = np.array([box[:2].mean(), box[2:].mean()])
    return any(np.linalg.norm(c - np.array([b[:2].mean(), b[2:].mean()])) < 0.5 * (b[3] - b[2]) for b in others)


def _rgb(frame: np.ndarray) -> np.ndarray:
    f = np.clip(frame, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.repeat(f[..., None], 3, axis=-1))


def _detect(images, model: int, give_up: int | None = None) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """Per image (luma, any sizes), each face as (box [y0, y1, x0, x1] pixels, mouth keypoint [y, x] pixels).
    ``give_up``: stop after this many images without a face (the rest count as without)."""
    mp = _mp()
    out = []
    with _quiet(), mp.solutions.face_detection.FaceDetection(model_selection=model,
                                                             min_detection_confidence=MIN_SCORE) as det:
        for f in images:
            if give_up is not None and sum(not found for found in out) >= give_up:
                out.append([])
                continue
            h, w = f.shape
            found = []
            for d in det.process(_rgb(f)).detections or []:
                b = d.location_data.relative_bounding_box
                m = d.location_data.relative_keypoints[3]          # 0, 1 eyes, 2 nose, 3 mouth, 4, 5 ears
                found.append((np.array([b.ymin * h, (b.ymin + b.height) * h, b.xmin * w, (b.xmin + b.width) * w]),
                              np.array([m.y * h, m.x * w])))
            out.append(found)
    return out


def _detect_tiled(frames, model: int = 0):
    """`_detect` on overlapping square tiles (two thirds of the shorter side, half a tile apart), merged per frame:
    the short-range model sees a face that fills a fifth of the frame's height as one that fills a third of a tile."""
    t, h, w = frames.shape
    side = max(32, 2 * min(h, w) // 3)
    step = side // 2
    ys = sorted({*range(0, max(h - side, 0) + 1, step), max(h - side, 0)})
    xs = sorted({*range(0, max(w - side, 0) + 1, step), max(w - side, 0)})
    at = [(k, y0, x0) for k in range(t) for y0 in ys for x0 in xs]
    found_all = _detect([frames[k, y0:y0 + side, x0:x0 + side] for k, y0, x0 in at], model)
    out = [[] for _ in range(t)]
    for (k, y0, x0), found in zip(at, found_all):
        off = np.array([y0, y0, x0, x0])
        for box, mouth in found:
            box = box + off
            if not _same_face(box, [b for b, _ in out[k]]):   # the same face seen from two tiles: once
                out[k].append((box, mouth + off[[0, 2]]))
    return out


TILED_SAMPLES = 1     # frames the tiled search (small faces) looks at: it costs a detection per tile (the mesh,
                      # which must then find the face in most frames, confirms it)
FULL_RANGE_SAMPLES = 4


def find_faces(y: np.ndarray, samples: int = DETECT_SAMPLES, min_share: float = 0.5) -> list[Face]:
    """Faces in luma frames ``[T, H, W]`` found in at least ``min_share`` of ``samples`` evenly spread frames,
    largest first (at most `MAX_FACES`). BlazeFace's short-range model (faces that fill much of the frame)
    looks first; where it finds none, the full-range one (on `FULL_RANGE_SAMPLES` frames); where that finds none
    either, the short-range one on overlapping tiles, on `TILED_SAMPLES` frames (a small face in a wide shot). A face is the same face in two
    frames when their centres are closer than half its width."""
    t, h, w = y.shape
    for model, tiled, n in ((0, False, samples), (1, False, FULL_RANGE_SAMPLES), (0, True, TILED_SAMPLES)):
        idx = np.linspace(0, t - 1, min(n, t)).round().astype(int)
        need = 1.0 if tiled else min_share
        per_frame = (_detect_tiled(y[idx], model) if tiled
                     else _detect(y[idx], model, give_up=len(idx) - int(np.ceil(need * len(idx))) + 1))
        tracks: list[list[tuple[np.ndarray, np.ndarray]]] = []
        for found in per_frame:
            for box, mouth in found:
                c = np.array([box[:2].mean(), box[2:].mean()])
                near = [k for k, tr in enumerate(tracks)
                        if np.linalg.norm(np.mean([[b[:2].mean(), b[2:].mean()] for b, _ in tr], 0) - c)
                        < 0.5 * (box[3] - box[2])]
                if near:
                    tracks[near[0]].append((box, mouth))
                else:
                    tracks.append([(box, mouth)])
        faces = []
        for tr in tracks:
            share = len(tr) / len(idx)
            if share < need:
                continue
            boxes = np.stack([b for b, _ in tr])
            box = np.median(boxes, 0)
            my, mx = np.median(np.stack([m for _, m in tr]), 0)
            fw, fh = box[3] - box[2], box[1] - box[0]
            mouth = (my - 0.15 * fh, my + 0.17 * fh, mx - 0.28 * fw, mx + 0.28 * fw)
            spread = (boxes[:, 0].min(), boxes[:, 1].max(), boxes[:, 2].min(), boxes[:, 3].max())
            faces.append(Face(_clip_box(box, h, w), _clip_box(mouth, h, w), share, _clip_box(spread, h, w)))
        if faces:
            return sorted(faces, key=lambda f: -(f.box[1] - f.box[0]) * (f.box[3] - f.box[2]))[:MAX_FACES]
    return []


def _clip_box(b, h: int, w: int) -> tuple[int, int, int, int]:
    y0, y1, x0, x1 = (int(round(v)) for v in b)
    y0, x0 = max(0, min(y0, h - 2)), max(0, min(x0, w - 2))
    return y0, max(y0 + 2, min(y1, h)), x0, max(x0 + 2, min(x1, w))


def mesh_stride(fps: float) -> int:
    return max(1, round(fps / MESH_RATE))


def lip_opening(y: np.ndarray, face: Face, stride: int = 1) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
    """The inner lips' opening over the face's height, per frame ``[T]`` (NaN where the mesh did not find the face
    and between the frames it ran on: every ``stride``-th), and the box of the lips with a margin (median over
    the frames), or None when the mesh found the face in under half of the frames it ran on.

    The mesh sees only the face's region (where it was found, with a margin), scaled to `MESH_SIDE`: a small face
    in a wide shot is enlarged, a frame-filling one shrunk, and nothing else in the picture costs time. It tracks
    the face from frame to frame (``static_image_mode=False``), finding it again when it is lost."""
    mp = _mp()
    import cv2
    t, h, w = y.shape
    y0, y1, x0, x1 = face.spread
    m = 0.3 * face.height
    y0, y1, x0, x1 = _clip_box((y0 - m, y1 + m, x0 - m, x1 + m), h, w)
    scale = MESH_SIDE / max(y1 - y0, x1 - x0)
    size = (max(8, round((x1 - x0) * scale)), max(8, round((y1 - y0) * scale)))
    aperture = np.full(t, np.nan)
    rings = []
    ran = range(0, t, stride)
    with _quiet(), mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1, refine_landmarks=False,
                                                   min_detection_confidence=MIN_SCORE) as mesh:
        for n, k in enumerate(ran):
            if n - len(rings) > 0.5 * len(ran) or (n >= 8 and not rings):   # not a face the mesh can read
                return aperture, None
            crop = cv2.resize(np.clip(y[k, y0:y1, x0:x1], 0, 255).astype(np.uint8), size,
                              interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
            res = mesh.process(_rgb(crop)).multi_face_landmarks
            if not res:
                continue
            lm = res[0].landmark
            pt = lambda i: np.array([lm[i].y * (y1 - y0) + y0, lm[i].x * (x1 - x0) + x0])  # noqa: E731 (frame px)
            height = np.linalg.norm(pt(FACE_SPAN[0]) - pt(FACE_SPAN[1]))
            if height > 1:
                aperture[k] = np.linalg.norm(pt(INNER_LIPS[0]) - pt(INNER_LIPS[1])) / height
                rings.append(np.stack([pt(i) for i in LIP_RING]))
    if len(rings) < 0.5 * len(ran):
        return aperture, None
    r = np.stack(rings)                              # [n, 20, (y, x)]
    ly0, lx0 = np.median(r.min(1), 0)
    ly1, lx1 = np.median(r.max(1), 0)
    lh, lw = ly1 - ly0, lx1 - lx0
    return aperture, _clip_box((ly0 - 0.3 * lh, ly1 + 0.3 * lh, lx0 - 0.15 * lw, lx1 + 0.15 * lw), h, w)
