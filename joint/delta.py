"""A bundle stored as the bundle beside it plus a weight difference (a distilled student of a shipped teacher).

A student starts from its teacher's weights and moves them little (the 4-step student of `duetto-tiny`: 0.08 % of the
weights' energy), so shipping it whole would double the bytes for a small change. A delta bundle holds

    BUNDLE/generation.json          its own sampling settings (`pipeline.GenerationConfig`)
    BUNDLE/delta/config.json        {"base": "duetto-tiny", "base_sha256": "...", "rank": 32}
    BUNDLE/delta/delta.safetensors  for each joint-model tensor that differs from the base's: the full tensor
                                    ``NAME``, or low-rank factors ``NAME.up`` [out, r] and ``NAME.down`` [r, in]
                                    whose product is added to the base's matrix

``base`` is a sibling folder's name (never a path), checked against the hash of its joint weights, so a delta is
applied only to the weights it was taken from; the VAEs and caption encoder are the base's. `Pipeline.load` reads
both kinds of bundle.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import torch

from duetto.data.autoencoder import WEIGHTS_NAME, atomic_folder, read_safetensors
from duetto.data.errors import DuettoError
from duetto.data.schema import load_json

DELTA_DIR = "delta"
DELTA_WEIGHTS = "delta.safetensors"
MAX_RANK = 1024
_BASE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def is_delta_bundle(folder) -> bool:
    return (Path(folder) / DELTA_DIR).is_dir()


def weights_sha256(bundle) -> str:
    """Hash of a whole bundle's joint weights file (what a delta was taken from)."""
    h = hashlib.sha256()
    with open(Path(bundle) / "joint" / WEIGHTS_NAME, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def low_rank(delta: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``delta`` [out, in] -> ``(up [out, r], down [r, in])``, the best rank-``r`` approximation (SVD)."""
    u, s, vh = torch.linalg.svd(delta.double(), full_matrices=False)
    return (u[:, :rank] * s[:rank]).float(), vh[:rank].float()


def take_delta(state: dict[str, torch.Tensor], base: dict[str, torch.Tensor], rank: int | None) -> dict[str, torch.Tensor]:
    """The tensors of ``state`` that differ from ``base``: low-rank factors for matrices where ``rank`` makes them
    smaller, the full tensor otherwise (``rank`` None: every changed tensor whole)."""
    if set(state) != set(base):
        raise DuettoError("the model and its base hold different tensors")
    out = {}
    for k, v in state.items():
        b = base[k]
        if v.shape != b.shape:
            raise DuettoError(f"{k}: shape {tuple(v.shape)} against the base's {tuple(b.shape)}")
        if torch.equal(v, b):
            continue
        d = v.float() - b.float()
        if rank is not None and d.ndim == 2 and rank * sum(d.shape) < d.numel():
            out[f"{k}.up"], out[f"{k}.down"] = low_rank(d, rank)
        else:
            out[k] = v
    return out


def apply_delta(state: dict[str, torch.Tensor], delta: dict[str, torch.Tensor], name: str) -> dict[str, torch.Tensor]:
    """``state`` (the base's tensors) with ``delta`` applied; any key or shape that does not fit is a `DuettoError`."""
    out = dict(state)
    for k, v in delta.items():
        if k.endswith(".down"):
            continue
        if k.endswith(".up"):
            key = k[: -len(".up")]
            down = delta.get(f"{key}.down")
            if key not in state or down is None or state[key].ndim != 2:
                raise DuettoError(f"{name}: factors {k} fit no matrix of the base")
            if v.ndim != 2 or down.ndim != 2 or (v.shape[0], down.shape[1]) != tuple(state[key].shape) \
                    or v.shape[1] != down.shape[0] or v.shape[1] > MAX_RANK:
                raise DuettoError(f"{name}: factors of {key} do not make its shape {tuple(state[key].shape)}")
            out[key] = (state[key].float() + v.float() @ down.float()).to(state[key].dtype)
        else:
            if k not in state or v.shape != state[k].shape:
                raise DuettoError(f"{name}: {k} is not a tensor of the base's shape")
            out[k] = v.to(state[k].dtype)
    orphans = [k for k in delta if k.endswith(".down") and f"{k[: -len('.down')]}.up" not in delta]
    if orphans:
        raise DuettoError(f"{name}: {orphans[0]} has no .up factor")
    return out


def save_delta_bundle(folder, model, base, config, rank: int | None, dtype: torch.dtype | None = torch.float16) -> Path:
    """Write ``model`` (a `JointDiT` of the base's shape) as a delta on bundle ``base``, which must sit beside
    ``folder``; ``config`` is the new bundle's `GenerationConfig`. Atomic like `save_bundle`."""
    import dataclasses

    from .model import JointDiT
    from .pipeline import GENERATION_NAME
    folder, base = Path(folder), Path(base)
    if folder.resolve().parent != base.resolve().parent:
        raise DuettoError(f"{folder}: a delta bundle sits beside its base ({base.resolve().parent})")
    if is_delta_bundle(base):
        raise DuettoError(f"{base}: itself a delta bundle (deltas do not chain)")
    if rank is not None and not 1 <= rank <= MAX_RANK:
        raise DuettoError(f"rank must be 1-{MAX_RANK}")
    base_model = JointDiT.from_pretrained(base / "joint")
    if base_model.config != model.config:
        raise DuettoError(f"{base}: its joint model's config differs from the model's")
    stored = lambda s: {k: v.detach().cpu().to(dtype if dtype is not None and v.is_floating_point() else v.dtype)  # noqa: E731
                        for k, v in s.items()}
    delta = stored(take_delta(model.state_dict(), base_model.state_dict(), rank))
    from safetensors.torch import save_file
    with atomic_folder(folder) as tmp:
        (tmp / DELTA_DIR).mkdir()
        meta = {"base": base.resolve().name, "base_sha256": weights_sha256(base), "rank": rank}
        (tmp / DELTA_DIR / "config.json").write_text(json.dumps(meta, indent=2) + "\n")
        save_file({k: v.contiguous() for k, v in delta.items()}, str(tmp / DELTA_DIR / DELTA_WEIGHTS))
        (tmp / GENERATION_NAME).write_text(json.dumps(dataclasses.asdict(config), indent=2) + "\n")
    return folder


def read_delta(folder) -> tuple[Path, dict[str, torch.Tensor]]:
    """``(base bundle folder, delta tensors)`` of a delta bundle, the base checked against its recorded hash."""
    folder = Path(folder)
    path = folder / DELTA_DIR / "config.json"
    if not path.is_file() or path.stat().st_size > 4096:
        raise DuettoError(f"{folder}/{DELTA_DIR}: no config.json (or one over 4 KiB)")
    meta = load_json(path.read_bytes(), str(path))
    name = meta.get("base") if isinstance(meta, dict) else None
    if not isinstance(name, str) or not _BASE_NAME.fullmatch(name) or name in (".", ".."):
        raise DuettoError(f"{path}: 'base' must name a bundle folder beside it")
    base = folder.resolve().parent / name
    if not (base / "joint" / WEIGHTS_NAME).is_file():
        raise DuettoError(f"{folder}: its base bundle {base} is missing")
    if is_delta_bundle(base):
        raise DuettoError(f"{base}: itself a delta bundle (deltas do not chain)")
    if weights_sha256(base) != meta.get("base_sha256"):
        raise DuettoError(f"{folder}: {base} is not the bundle this delta was taken from (its weights changed)")
    return base, read_safetensors(folder / DELTA_DIR / DELTA_WEIGHTS)
