"""The latent shard format (`duetto-data encode` writes it, `duetto.data.latents` reads it), and the record
of which autoencoder made a set of latents.

A latent shard is a webdataset tar; the sample ``KEY`` has five members:

=====================  ==============================  =====================================================
member                 dtype                           shape / content
=====================  ==============================  =====================================================
``KEY.video.npy``      float32 or float16              ``[C_v, L_v, h, w]``: normalised posterior means
``KEY.audio.npy``      float32 or float16              ``[C_a, L_a]``: normalised posterior means
``KEY.video_times.npy`` float64                        ``[L_v]``: seconds, ``video_vae.timestamps(L_v)``
``KEY.audio_times.npy`` float64                        ``[L_a]``: seconds, ``audio_vae.timestamps(L_a)``
``KEY.json``           UTF-8 JSON                      `FORMAT`, the source's metadata, what was encoded, VAEs
``KEY.voice.npy``      float32, optional               ``[VOICE_DIM]`` (64 before 2026-12-08): `voice_embedding`
``KEY.music.npy``      float32, optional               ``[L_a, MUSIC_DIM]``: `music_features` at the audio times
=====================  ==============================  =====================================================

``KEY.json``::

    {"format": "duetto-latents/1", "key": KEY, "dtype": "float32",
     "source": {"shard": "impacts-000000.tar", "key": KEY},
     "meta": {...the source sample's JSON, unchanged: caption, family, events (seconds), speech, music...},
     "video": {"fps", "size": [H, W], "source_frames", "frames", "seconds", "temporal_factor",
               "latents", "latents_per_second", "shape": [C_v, L_v, h, w]},
     "audio": {"sample_rate", "channels", "samples", "seconds", "padded_samples",
               "latents", "latents_per_second", "shape": [C_a, L_a]},
     "vae": {"video": RECORD, "audio": RECORD}}

Both streams start at 0 s of the source clip. ``frames`` (``1 + k (L_v - 1)`` for temporal factor ``k``: the
decoded clip's last ``source_frames - frames`` frames are dropped, so no latent stands for repeated padding
frames) span ``seconds = frames / fps``; ``samples = round(seconds * sample_rate)`` cover the same span, and the
audio VAE zero-pads ``padded_samples`` more to fill its last latent. A RECORD (`vae_record`) is the model's
class, its config and the SHA-256 of its weights.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json

import numpy as np

from .errors import DuettoError

FORMAT = "duetto-latents/1"
MEMBERS = ("json", "video.npy", "audio.npy", "video_times.npy", "audio_times.npy")
OPTIONAL = ("voice.npy", "music.npy")      # conditions computed from the clip's sound (duetto.joint.conditioning)
LATENT_DTYPES = {"float32": np.dtype("<f4"), "float16": np.dtype("<f2")}
TIME_DTYPE = np.dtype("<f8")
MAX_ARRAY_BYTES = 1 << 29             # 512 MiB per array: more than an hour of base-preset video latents
MAX_HEADER_BYTES = 4096


def weights_sha256(module) -> str:
    """SHA-256 over a module's state dict (names, dtypes, shapes, bytes, in name order): the same weights give
    the same hash however the file stored them."""
    import torch      # here, so that `duetto-data --help` does not pay for importing torch
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}\n".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()


# Config fields added after latents were first recorded, left out of a record at these values (what the model was
# before them), so latents encoded before a field existed still match the same model today.
LATER_FIELDS = {"harmonics": 0}


def vae_record(model) -> dict:
    """``{"class", "config", "weights_sha256"}`` of a `Pretrained` autoencoder, as JSON would give it back (a
    `LATER_FIELDS` field at its old value left out)."""
    cls = type(model)
    config = {k: v for k, v in dataclasses.asdict(model.config).items()
              if not (k in LATER_FIELDS and v == LATER_FIELDS[k])}
    rec = {"class": f"{cls.__module__}.{cls.__qualname__}", "config": config, "weights_sha256": weights_sha256(model)}
    return json.loads(json.dumps(rec))


def record_mismatch(got: dict, want: dict) -> str | None:
    """Why two VAE records differ (class, a config field, or the weights), or None when they are the same."""
    if got.get("class") != want.get("class"):
        return f"class {got.get('class')} is not {want.get('class')}"
    a, b = got.get("config") or {}, want.get("config") or {}
    diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    if diff:
        return f"config differs in {', '.join(diff[:3])}"
    if got.get("weights_sha256") != want.get("weights_sha256"):
        got, want = str(got.get("weights_sha256"))[:12], str(want.get("weights_sha256"))[:12]
        return f"weights sha256 {got}… is not {want}…"
    return None


def npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(a), allow_pickle=False)
    return buf.getvalue()


def read_npy(data: bytes, name: str, dtypes, ndim: int) -> np.ndarray:
    """An untrusted ``.npy``: header and size checked before anything is allocated, C order, one of ``dtypes``
    (little-endian numpy dtypes), ``ndim`` axes, every value finite. `DuettoError` naming ``name`` otherwise."""
    if len(data) > MAX_ARRAY_BYTES + MAX_HEADER_BYTES:
        raise DuettoError(f"{name}: array larger than {MAX_ARRAY_BYTES >> 20} MiB")
    f = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(f, max_header_size=MAX_HEADER_BYTES)
    except Exception as e:   # ValueError, EOFError, SyntaxError from a hostile header
        raise DuettoError(f"{name}: not a readable .npy array ({type(e).__name__}: {str(e)[:80]})") from None
    if dtype not in dtypes or fortran or len(shape) != ndim or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise DuettoError(f"{name}: expected a C-order {ndim}-d array of {'/'.join(d.name for d in dtypes)}, "
                          f"got {dtype} {shape}{' (Fortran order)' if fortran else ''}")
    count = int(np.prod(shape, dtype=object)) if shape else 1
    if count * dtype.itemsize != len(data) - f.tell():
        raise DuettoError(f"{name}: shape {shape} needs {count * dtype.itemsize} bytes of data, "
                          f"the member holds {len(data) - f.tell()}")
    a = np.frombuffer(data, dtype=dtype, count=count, offset=f.tell()).reshape(shape)
    if not np.isfinite(a).all():
        raise DuettoError(f"{name}: holds NaN or infinite values")
    return a.copy()                    # writable, owns its memory
