"""A toy task for tests of the training base: a tiny `Pretrained` MLP (with dropout, so the global RNG
matters) regressing a fixed random function, and an optional critic trained as the second module.

From a shell (the SIGKILL test runs it this way)::

    python -m duetto.train.testing RUN_DIR --steps 12 --ckpt-every 2 --sleep 0.05 --aux
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from duetto.data.autoencoder import Pretrained
from duetto.data.errors import DuettoError

from .config import TrainConfig
from .trainer import Task, Trainer


@dataclass(frozen=True)
class ToyConfig:
    dim_in: int = 4
    hidden: int = 16
    dim_out: int = 2
    dropout: float = 0.1


class ToyMLP(Pretrained):
    """``x (B, dim_in) -> (B, dim_out)``: Linear, GELU, Dropout, Linear."""

    config_class = ToyConfig

    def __init__(self, config: ToyConfig):
        super().__init__(config)
        self.net = nn.Sequential(nn.Linear(config.dim_in, config.hidden), nn.GELU(), nn.Dropout(config.dropout),
                                 nn.Linear(config.hidden, config.dim_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)                                                   # (B, dim_out)


class ToyTask(Task):
    """Regress ``y = sin(x @ W)`` for a fixed random ``W``; batch ``step`` is drawn from a generator seeded
    by ``step``. With ``aux_from`` set, a linear critic learns to predict each sample's squared error from
    the (detached) prediction, from step ``aux_from`` on. ``sleep`` seconds per batch make a slow run."""

    def __init__(self, config: ToyConfig = ToyConfig(), batch_size: int = 8, seed: int = 0,
                 aux_from: int | None = None, sleep: float = 0.0):
        self.config, self.batch_size, self.seed, self.aux_from, self.sleep = config, batch_size, seed, aux_from, sleep
        g = torch.Generator().manual_seed(seed)
        self.weight = torch.randn(config.dim_in, config.dim_out, generator=g)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.model = ToyMLP(config)
            self.aux = None if aux_from is None else nn.Linear(config.dim_out, 1)
        self.eval_batch = self._draw(torch.Generator().manual_seed(seed - 1), 32)

    def _draw(self, g: torch.Generator, n: int) -> dict[str, torch.Tensor]:
        x = torch.randn(n, self.config.dim_in, generator=g)                  # (B, dim_in)
        return {"x": x, "y": torch.sin(x @ self.weight)}                     # y: (B, dim_out)

    def batch(self, step: int) -> dict[str, torch.Tensor]:
        if self.sleep:
            time.sleep(self.sleep)
        return self._draw(torch.Generator().manual_seed(self.seed * 1_000_003 + step), self.batch_size)

    def loss(self, model, batch, step):
        pred = model(batch["x"])
        batch["pred"] = pred.detach()                                        # for aux_loss
        loss = F.mse_loss(pred, batch["y"])
        return loss, {"mae": float((pred.detach() - batch["y"]).abs().mean())}

    def evaluate(self, model, step):
        pred = model(self.eval_batch["x"])
        return {"mse": float(F.mse_loss(pred, self.eval_batch["y"]))}

    def aux_loss(self, model, batch, step):
        if self.aux is None or step < self.aux_from:
            return None
        err = (batch["pred"] - batch["y"]).pow(2).sum(1, keepdim=True)       # (B, 1)
        return F.mse_loss(self.aux(batch["pred"]), err)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Train the toy task (for tests of duetto.train).")
    p.add_argument("run_dir")
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--ckpt-every", type=int, default=2)
    p.add_argument("--log-every", type=int, default=1)
    p.add_argument("--sleep", type=float, default=0.0)
    p.add_argument("--aux", action="store_true", help="train the critic from step 3")
    a = p.parse_args(argv)
    cfg = toy_config(steps=a.steps, ckpt_every=a.ckpt_every, log_every=a.log_every)
    task = ToyTask(aux_from=3 if a.aux else None, sleep=a.sleep)
    try:
        Trainer(task, cfg, a.run_dir, {"task": "toy", "aux": a.aux}, progress=False, tensorboard=False).fit()
    except DuettoError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def kill_at_checkpoint(cmd: list[str], run, *, settle: float = 0.0, timeout: float = 120.0) -> None:
    """Start ``cmd`` (a training command writing ``run``) and SIGKILL it once its first checkpoint is on disk
    (``settle`` seconds later): what the resume-after-a-crash tests do."""
    import signal
    import subprocess
    from pathlib import Path
    latest = Path(run) / "checkpoints" / "latest"
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + timeout
        while not latest.exists():
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, f"no checkpoint within {timeout:g} s"
            time.sleep(0.01)
        time.sleep(settle)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def toy_config(**kw) -> TrainConfig:
    """Settings under which the toy task learns in a few steps."""
    base = dict(steps=6, lr=1e-2, warmup_steps=2, grad_clip=1.0, ema_decay=0.9, eval_every=3, ckpt_every=3,
                log_every=1, keep_checkpoints=3, seed=0, mixed_precision="no")
    return TrainConfig(**{**base, **kw})


if __name__ == "__main__":
    # run the importable module's main, so that saved models name duetto.train.testing.ToyMLP, not __main__
    from duetto.train.testing import main as _main
    sys.exit(_main())
