"""What a training run is: the optimiser, schedule and bookkeeping settings every trainer shares, and the
source commit a run records beside its resolved config."""
from __future__ import annotations

import dataclasses
import math
import subprocess
from dataclasses import dataclass
from pathlib import Path

from duetto.data.autoencoder import config_from_dict
from duetto.data.errors import DuettoError

MIXED_PRECISION = ("auto", "no", "bf16")
DECAYS = ("none", "cosine")
SOURCE_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class TrainConfig:
    """Steps count updates: step ``k`` is the k-th optimiser update (1-based). A ``*_every`` of 0 means never
    (checkpoints and evaluation still happen once, at the last step)."""

    steps: int = 10_000
    lr: float = 1e-4
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 500            # linear from lr / warmup_steps at step 1 to lr at step warmup_steps
    decay: str = "none"                # after warm-up: "none" (constant lr) or "cosine" (down to min_lr_ratio * lr at steps)
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0             # max global grad norm; 0 = no clipping (the norm is still logged)
    ema_decay: float = 0.999           # ema = decay * ema + (1 - decay) * weights, after every step
    eval_every: int = 1000
    ckpt_every: int = 1000
    log_every: int = 50
    keep_checkpoints: int = 3
    seed: int = 0
    mixed_precision: str = "auto"      # auto: bf16 autocast only when CUDA is available; "no"; "bf16"

    @classmethod
    def from_dict(cls, values: dict, name: str = "train config") -> TrainConfig:
        """From JSON values (unknown or mistyped fields are `DuettoError`s), checked."""
        cfg = config_from_dict(cls, values, name)
        cfg.check()
        return cfg

    def check(self) -> TrainConfig:
        """Raise `DuettoError` naming the first nonsense value; return self."""
        def is_int(v):
            return isinstance(v, int) and not isinstance(v, bool)

        def is_num(v):
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

        ints = {"steps": 1, "warmup_steps": 0, "eval_every": 0, "ckpt_every": 0, "log_every": 1,
                "keep_checkpoints": 1, "seed": 0}
        for name, low in ints.items():
            v = getattr(self, name)
            if not is_int(v) or v < low:
                raise DuettoError(f"train config: {name} must be an integer >= {low} (got {v!r})")
        if not is_num(self.lr) or self.lr <= 0:
            raise DuettoError(f"train config: lr must be a positive number (got {self.lr!r})")
        for name in ("weight_decay", "grad_clip"):
            v = getattr(self, name)
            if not is_num(v) or v < 0:
                raise DuettoError(f"train config: {name} must be a number >= 0 (got {v!r})")
        if self.decay not in DECAYS:
            raise DuettoError(f"train config: decay must be one of {', '.join(DECAYS)} (got {self.decay!r})")
        if not is_num(self.min_lr_ratio) or not 0 <= self.min_lr_ratio <= 1:
            raise DuettoError(f"train config: min_lr_ratio must be in [0, 1] (got {self.min_lr_ratio!r})")
        if not is_num(self.ema_decay) or not 0 <= self.ema_decay < 1:
            raise DuettoError(f"train config: ema_decay must be in [0, 1) (got {self.ema_decay!r})")
        b = self.betas
        if not (isinstance(b, tuple) and len(b) == 2 and all(is_num(x) and 0 <= x < 1 for x in b)):
            raise DuettoError(f"train config: betas must be two numbers in [0, 1) (got {b!r})")
        if self.mixed_precision not in MIXED_PRECISION:
            raise DuettoError(f"train config: mixed_precision must be one of {', '.join(MIXED_PRECISION)} "
                              f"(got {self.mixed_precision!r})")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def git_commit(root: Path = SOURCE_ROOT) -> str:
    """``git rev-parse HEAD`` of the source tree, with ``+dirty`` when ``git status --porcelain`` lists
    anything; ``"unknown"`` outside git (an installed wheel) or without git."""
    def git(*args) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30,
                              check=True).stdout.strip()
    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() != root.resolve():
            return "unknown"           # e.g. an installed copy that happens to sit inside some other repository
        head = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "") if head else "unknown"


def data_paths(paths) -> list[str]:
    """Data paths as a run records them: absolute, so that resuming with the same data given another way
    (relative from another folder, or absolute) is the same run."""
    import os
    return [os.path.abspath(os.fspath(p)) for p in paths]
