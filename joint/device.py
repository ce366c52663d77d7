"""Where and in what precision a model runs: ``--device auto|cpu|cuda[:N]`` and ``--dtype float32|bfloat16|float16``.

Both are checked before anything loads, so a bad choice is a one-line error, not a traceback after a minute of
loading. The dtype is the joint model's (where nearly all the compute is); the sampler keeps its latents in float32
(each step adds a small velocity to them) and the VAEs decode in float32.
"""
from __future__ import annotations

import re

import torch

from duetto.data.errors import DuettoError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(spec: str = "auto") -> torch.device:
    """``auto`` (the first GPU when there is one, else the CPU), ``cpu``, ``cuda`` or ``cuda:N``."""
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    m = re.fullmatch(r"cuda(?::(\d{1,3}))?", spec)
    if not m:
        raise DuettoError(f"--device {spec!r}: give auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise DuettoError(f"--device {spec}: this machine has no CUDA GPU that torch can use (try --device cpu)")
    index = int(m.group(1) or 0)
    if index >= torch.cuda.device_count():
        raise DuettoError(f"--device {spec}: this machine has {torch.cuda.device_count()} GPU(s), cuda:0 to "
                          f"cuda:{torch.cuda.device_count() - 1}")
    return torch.device("cuda", index)


def resolve_dtype(name: str = "float32", device: torch.device | None = None) -> torch.dtype:
    """``float32``, ``bfloat16`` or ``float16`` (float16 on a GPU only: CPU kernels for it are slow or missing)."""
    if name not in DTYPES:
        raise DuettoError(f"--dtype {name!r}: give {', '.join(DTYPES)}")
    if name == "float16" and device is not None and device.type == "cpu":
        raise DuettoError("--dtype float16 needs a GPU; on the CPU use bfloat16 or float32")
    return DTYPES[name]


def add_device_arguments(p) -> None:
    p.add_argument("--device", default="auto",
                   help="where to run: auto (a GPU when there is one), cpu, cuda or cuda:N (default auto)")
    p.add_argument("--dtype", default="float32", choices=tuple(DTYPES),
                   help="the joint model's precision (default float32; bfloat16 halves its memory)")


def from_arguments(a) -> tuple[torch.device, torch.dtype]:
    device = resolve_device(a.device)
    return device, resolve_dtype(a.dtype, device)
