"""Atomic training checkpoints that resume exactly, and the RNG states they carry.

Layout (``run_dir/checkpoints/``)::

    step-00000100/
        model.safetensors     raw model state (what the optimiser updates)
        ema/                  the EMA model: config.json + model.safetensors for a `Pretrained` model
                              (loadable with `load_autoencoder`), else only model.safetensors
        aux.safetensors       the second module (e.g. a GAN discriminator), when the task has one
        optim.pt              optimiser(s) and scheduler state (torch.save; read with weights_only=True)
        trainer.json          {"format", "step", "rng": [one state per process], ...}
    latest                    "step-00000100": the newest checkpoint, for people and tools

A checkpoint is written into ``.step-00000100.tmp<pid>/``, every file is fsynced, and the folder is renamed
into place; only then is ``latest`` replaced (atomically). So every ``step-*`` folder is complete, and a
crash leaves at worst a ``.step-*.tmp*`` folder that the next save removes. Resume takes the newest
``step-*`` folder (``latest`` can lag it by one when a crash fell between the two renames).
"""
from __future__ import annotations

import base64
import json
import os
import random
import re
import shutil
from pathlib import Path

import numpy as np
import torch
from torch import nn

from duetto.data.autoencoder import WEIGHTS_NAME, Pretrained, load_state_strict, read_config, read_safetensors
from duetto.data.errors import DuettoError
from duetto.data.media import atomic_write
from duetto.data.schema import load_json

CHECKPOINTS = "checkpoints"
LATEST = "latest"
FORMAT = 1
_STEP_DIR = re.compile(r"step-(\d{8,})")


def step_name(step: int) -> str:
    return f"step-{step:08d}"


def list_checkpoints(run_dir) -> list[tuple[int, Path]]:
    """Complete checkpoints as ``(step, folder)``, oldest first."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := _STEP_DIR.fullmatch(p.name))]
    return sorted(found)


def find_checkpoint(run_dir) -> Path | None:
    """The newest complete checkpoint folder, or None for a fresh run."""
    found = list_checkpoints(run_dir)
    return found[-1][1] if found else None


# ---------------------------------------------------------------------------------------------- saving

def save_checkpoint(run_dir, step: int, *, model: nn.Module, ema: nn.Module, aux: nn.Module | None,
                    optim_state: dict, trainer_state: dict, keep: int) -> Path:
    """Write ``checkpoints/step-<step>/`` atomically, point ``latest`` at it, keep the newest ``keep``.
    Modules are the plain (unwrapped) ones. Call on the main process only."""
    from safetensors.torch import save_file
    root = Path(run_dir) / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    final = root / step_name(step)
    tmp = root / f".{final.name}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file(_cpu_state(model), str(tmp / WEIGHTS_NAME))
    if isinstance(ema, Pretrained):
        ema.save_pretrained(tmp / "ema")
    else:
        (tmp / "ema").mkdir()
        save_file(_cpu_state(ema), str(tmp / "ema" / WEIGHTS_NAME))
    if aux is not None:
        save_file(_cpu_state(aux), str(tmp / "aux.safetensors"))
    torch.save(optim_state, tmp / "optim.pt")
    (tmp / "trainer.json").write_text(json.dumps({"format": FORMAT, "step": step, **trainer_state}) + "\n")
    _fsync_tree(tmp)
    if final.exists():                              # only when a run is re-saved at the same step
        old = root / f".{final.name}.old{os.getpid()}"
        final.rename(old)
        shutil.rmtree(old)
    tmp.rename(final)
    _fsync(root)
    atomic_write(root / LATEST, f"{final.name}\n".encode())
    prune(run_dir, keep)
    return final


def prune(run_dir, keep: int):
    """Delete all but the newest ``keep`` checkpoints, and the leftovers of interrupted saves."""
    root = Path(run_dir) / CHECKPOINTS
    for _, path in list_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(path, ignore_errors=True)
    for path in root.glob(".step-*"):
        if path.is_dir() and not path.name.endswith(f".tmp{os.getpid()}"):
            shutil.rmtree(path, ignore_errors=True)


def _cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    # clone: safetensors refuses tensors that share memory (tied weights)
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in module.state_dict().items()}


def _fsync(path: Path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(folder: Path):
    for path in sorted(folder.rglob("*"), reverse=True):    # files before the folders holding them
        _fsync(path)
    _fsync(folder)


# --------------------------------------------------------------------------------------------- loading

def load_checkpoint(path, *, model: nn.Module, ema: nn.Module, aux: nn.Module | None) -> tuple[dict, dict]:
    """Load the weights of a checkpoint folder into the (plain) modules, strictly; return
    ``(optim_state, trainer_state)``. Anything missing, truncated or mismatched is a `DuettoError` naming
    the file."""
    path = Path(path)
    ema_dir = path / "ema"
    need = [path / WEIGHTS_NAME, ema_dir / WEIGHTS_NAME, path / "optim.pt", path / "trainer.json"]
    if aux is not None:
        need.append(path / "aux.safetensors")
    for f in need:
        if not f.is_file():
            raise DuettoError(f"{path}: incomplete checkpoint (no {f.relative_to(path)})")
    if aux is None and (path / "aux.safetensors").exists():
        raise DuettoError(f"{path / 'aux.safetensors'}: the checkpoint has a second module, the task has none")

    trainer_state = load_json((path / "trainer.json").read_bytes(), str(path / "trainer.json"))
    m = _STEP_DIR.fullmatch(path.name)
    if not isinstance(trainer_state, dict) or trainer_state.get("format") != FORMAT \
            or not isinstance(trainer_state.get("rng"), list) \
            or (m and trainer_state.get("step") != int(m.group(1))):
        raise DuettoError(f"{path / 'trainer.json'}: not a format-{FORMAT} trainer state for this folder")
    if isinstance(model, Pretrained):
        _, saved = read_config(ema_dir)
        if saved != model.config:
            raise DuettoError(f"{ema_dir / 'config.json'}: the checkpoint's model config differs from this "
                              f"run's ({saved} vs {model.config})")
    load_weights(path / WEIGHTS_NAME, model)
    load_weights(ema_dir / WEIGHTS_NAME, ema)
    if aux is not None:
        load_weights(path / "aux.safetensors", aux)
    try:
        optim_state = torch.load(path / "optim.pt", map_location="cpu", weights_only=True)
    except Exception as e:                          # unpickling raises many kinds on a damaged file
        raise DuettoError(f"{path / 'optim.pt'}: corrupt optimiser state ({type(e).__name__}: "
                          f"{str(e)[:100]})") from None
    if not isinstance(optim_state, dict):
        raise DuettoError(f"{path / 'optim.pt'}: not an optimiser state")
    return optim_state, trainer_state


def load_weights(file: Path, module: nn.Module):
    """Safetensors into ``module``, every key and shape checked."""
    load_state_strict(module, read_safetensors(file), str(file))


def load_optimizer(file_name: str, optimizer, state):
    """``optimizer.load_state_dict`` with a `DuettoError` when the saved state does not fit."""
    try:
        optimizer.load_state_dict(state)
    except (ValueError, KeyError, TypeError, RuntimeError) as e:
        raise DuettoError(f"{file_name}: optimiser state does not fit this model ({str(e)[:100]})") from None


# ------------------------------------------------------------------------------------------ RNG states

def rng_state() -> dict:
    """Python, NumPy, torch CPU and CUDA generator states as JSON-safe values (exact)."""
    version, words, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state = {"python": [version, list(words), gauss],
             "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(cached)],
             "torch": _b64(torch.get_rng_state())}
    if torch.cuda.is_available():
        state["cuda"] = [_b64(s) for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state: dict, source: str = "rng state"):
    """Restore what `rng_state` returned; `DuettoError` naming ``source`` when it is malformed."""
    try:
        version, words, gauss = state["python"]
        random.setstate((version, tuple(words), gauss))
        name, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
        torch.set_rng_state(_unb64(state["torch"]))
        if torch.cuda.is_available() and len(state.get("cuda", [])) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([_unb64(s) for s in state["cuda"]])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise DuettoError(f"{source}: malformed RNG state ({type(e).__name__}: {str(e)[:80]})") from None


class preserve_rng:
    """``with preserve_rng(): ...``: the body (evaluation, sampling) leaves every generator as it found it."""

    def __enter__(self):
        self.state = rng_state()

    def __exit__(self, *exc):
        set_rng_state(self.state)


def _b64(t: torch.Tensor) -> str:
    return base64.b64encode(t.cpu().numpy().tobytes()).decode("ascii")


def _unb64(s: str) -> torch.Tensor:
    return torch.tensor(list(base64.b64decode(s, validate=True)), dtype=torch.uint8)
