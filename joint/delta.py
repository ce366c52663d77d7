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

With ``int8``, the low-rank factors are stored as int8 with a float16 scale per rank component (``NAME.up.scale``
and ``NAME.down.scale``, [r] each): half the bytes of float16 (``tests/joint/test_delta.py`` bounds the error of the
delta they make at 2 % of it).

A model may also have grown over its base (a fine-tuned teacher that gained the timed speech track, its silence, or
known latents: `joint.config.GROWABLE`): then ``delta/model.json`` holds its joint config, and the tensors the base lacks are
stored whole in the delta (every one of them, or loading refuses).
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
MODEL_NAME = "model.json"
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
    smaller, the full tensor otherwise (``rank`` None: every changed tensor whole); a tensor the base lacks (a grown
    layer) whole."""
    if set(base) - set(state):
        raise DuettoError("the model lacks tensors of its base")
    out = {}
    for k, v in state.items():
        if k not in base:
            out[k] = v
            continue
        b = base[k]
        if v.shape != b.shape and _widened(v.shape, b.shape):     # a layer that takes more inputs: whole
            out[k] = v
            continue
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


def quantize(x: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` [2-d] -> ``(int8 like x, float16 scale [x.shape[dim]])`` with ``x ~ q * scale`` along ``dim`` (the rank
    axis of a factor: 1 for ``up`` [out, r], 0 for ``down`` [r, in])."""
    scale = (x.float().abs().amax(1 - dim) / 127).clamp_min(1e-12)
    s = scale[None, :] if dim == 1 else scale[:, None]
    return (x.float() / s).round().clamp(-127, 127).to(torch.int8), scale.half()


def _factor(delta: dict[str, torch.Tensor], key: str, name: str) -> torch.Tensor | None:
    """A stored factor as float32 (int8 ones times their scale per rank component)."""
    x = delta.get(key)
    if x is None or x.dtype != torch.int8:
        return x
    dim = 1 if key.endswith(".up") else 0
    scale = delta.get(f"{key}.scale")
    if scale is None or scale.ndim != 1 or x.ndim != 2 or len(scale) != x.shape[dim]:
        raise DuettoError(f"{name}: the int8 factor {key} has no scale of its rank components")
    return x.float() * (scale.float()[None, :] if dim == 1 else scale.float()[:, None])


def _widened(shape, base_shape) -> bool:
    """Whether a tensor of ``shape`` is one of ``base_shape`` with more inputs (last dimension), as the voice's
    projection gained its pitch (`joint.config.GROWABLE`: ``voice_dim``)."""
    return len(shape) == len(base_shape) == 2 and shape[0] == base_shape[0] and shape[1] > base_shape[1]


def widen_state(state: dict[str, torch.Tensor], like: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with each matrix that ``like`` holds with more inputs given zero columns for them: a model grown
    over ``state``'s starts as it was (the new inputs add nothing)."""
    out = dict(state)
    for k, v in state.items():
        if k in like and _widened(like[k].shape, v.shape):
            out[k] = torch.cat([v, v.new_zeros(v.shape[0], like[k].shape[1] - v.shape[1])], dim=1)
    return out


def apply_delta(state: dict[str, torch.Tensor], delta: dict[str, torch.Tensor], name: str) -> dict[str, torch.Tensor]:
    """``state`` (the base's tensors) with ``delta`` applied; any key or shape that does not fit is a `DuettoError`."""
    out = dict(state)
    for k, v in delta.items():
        if k.endswith(".down") or k.endswith(".scale") and k[: -len(".scale")] in delta:
            continue
        if k.endswith(".up"):
            key = k[: -len(".up")]
            v, down = _factor(delta, k, name), _factor(delta, f"{key}.down", name)
            if key not in state or down is None or state[key].ndim != 2:
                raise DuettoError(f"{name}: factors {k} fit no matrix of the base")
            if v.ndim != 2 or down.ndim != 2 or (v.shape[0], down.shape[1]) != tuple(state[key].shape) \
                    or v.shape[1] != down.shape[0] or v.shape[1] > MAX_RANK:
                raise DuettoError(f"{name}: factors of {key} do not make its shape {tuple(state[key].shape)}")
            out[key] = (state[key].float() + v.float() @ down.float()).to(state[key].dtype)
        else:
            if k not in state or v.shape != state[k].shape and not _widened(v.shape, state[k].shape):
                raise DuettoError(f"{name}: {k} is not a tensor of the base's shape")
            out[k] = v.to(state[k].dtype)
    orphans = [k for k in delta if k.endswith(".down") and f"{k[: -len('.down')]}.up" not in delta]
    if orphans:
        raise DuettoError(f"{name}: {orphans[0]} has no .up factor")
    return out


def save_delta_bundle(folder, model, base, config, rank: int | None, dtype: torch.dtype | None = torch.float16,
                      int8: bool = False) -> Path:
    """Write ``model`` (a `JointDiT` of the base's shape, or grown over it) as a delta on bundle ``base``, which must
    sit beside ``folder``; ``config`` is the new bundle's `GenerationConfig`; ``int8``: low-rank factors in int8.
    Atomic like `save_bundle`."""
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
    grown = check_grown(base_model.config, model.config, str(base))
    stored = lambda s: {k: v.detach().cpu().to(dtype if dtype is not None and v.is_floating_point() else v.dtype)  # noqa: E731
                        for k, v in s.items()}
    delta = take_delta(model.state_dict(), base_model.state_dict(), rank)
    if int8:
        for k in [k for k in delta if k.endswith(".up") or k.endswith(".down")]:
            delta[k], delta[f"{k}.scale"] = quantize(delta[k], 1 if k.endswith(".up") else 0)
    delta = stored(delta)
    from safetensors.torch import save_file
    with atomic_folder(folder) as tmp:
        (tmp / DELTA_DIR).mkdir()
        meta = {"base": base.resolve().name, "base_sha256": weights_sha256(base), "rank": rank, "int8": int8}
        (tmp / DELTA_DIR / "config.json").write_text(json.dumps(meta, indent=2) + "\n")
        if grown:
            (tmp / DELTA_DIR / MODEL_NAME).write_text(json.dumps(dataclasses.asdict(model.config), indent=2) + "\n")
        save_file({k: v.contiguous() for k, v in delta.items()}, str(tmp / DELTA_DIR / DELTA_WEIGHTS))
        (tmp / GENERATION_NAME).write_text(json.dumps(dataclasses.asdict(config), indent=2) + "\n")
    return folder


def check_grown(base, config, name: str) -> list[str]:
    """The `joint.config.GROWABLE` fields ``config`` (a `JointConfig`) gained over ``base``'s; any other difference
    is a `DuettoError`."""
    import dataclasses

    from .config import grown_fields
    a, b = dataclasses.asdict(base), dataclasses.asdict(config)
    differ = [k for k in b if a.get(k) != b[k]]
    bad = [k for k in differ if k not in grown_fields(a, b)]
    if bad:
        raise DuettoError(f"{name}: its joint model's config differs from the model's ({', '.join(bad)})")
    return differ


def delta_model(base_model, folder, delta: dict[str, torch.Tensor]):
    """The delta bundle ``folder``'s `JointDiT`: ``base_model`` (its base's, loaded) moved by ``delta``, or, with a
    ``model.json``, a model grown over it (its extra tensors all from the delta)."""
    from duetto.data.autoencoder import config_from_dict, load_state_strict, weights_to_be_loaded

    from .config import JointConfig
    from .model import JointDiT
    name = str(Path(folder) / DELTA_DIR / DELTA_WEIGHTS)
    path = Path(folder) / DELTA_DIR / MODEL_NAME
    if not path.is_file():
        load_state_strict(base_model, apply_delta(base_model.state_dict(), delta, name), name)
        return base_model
    if path.stat().st_size > 16384:
        raise DuettoError(f"{path}: over 16 KiB")
    cfg = config_from_dict(JointConfig, load_json(path.read_bytes(), str(path)), str(path))
    check_grown(base_model.config, cfg, str(path))
    with weights_to_be_loaded():                 # every tensor comes from the base or the delta (checked below)
        model = JointDiT(cfg)
    mine, base_state = model.state_dict(), base_model.state_dict()
    base_state = {k: v for k, v in base_state.items() if k not in mine or v.shape == mine[k].shape}
    new = [k for k in mine if k not in base_state]           # layers the base lacks, or takes fewer inputs of
    missing = [k for k in new if k not in delta]
    if missing:
        raise DuettoError(f"{name}: holds no {missing[0]} (a layer its base lacks)")
    state = {**model.state_dict(), **base_state}
    load_state_strict(model, apply_delta(state, delta, name), name)
    return model.to(next(base_model.parameters()).dtype)


def read_delta(folder) -> tuple[Path, dict[str, torch.Tensor]]:
    """``(base bundle folder, delta tensors)`` of a delta bundle, the base checked against its recorded hash."""
    folder = Path(folder)
    return delta_base(folder), read_safetensors(folder / DELTA_DIR / DELTA_WEIGHTS)


def delta_base(folder) -> Path:
    """The base bundle folder of delta bundle ``folder``, checked against its recorded hash."""
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
    return base
