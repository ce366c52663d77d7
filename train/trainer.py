"""The training loop every Duetto trainer shares: a `Task` says what to learn, the `Trainer` does the rest.

The trainer holds the model, its EMA, the optimiser (AdamW, linear warm-up, gradient clipping) and an
optional second module with its own optimiser (a GAN discriminator); it runs under `accelerate` (one CPU or
GPU process, or several with ``accelerate launch``), evaluates the EMA model, logs to ``log.jsonl`` and
TensorBoard, and writes checkpoints that resume exactly (`duetto.train.checkpoint`).

A run folder::

    run.json          resolved config, train config, git commit, versions; one entry per resume
    log.jsonl         one JSON object per logged step: step, loss, lr, grad_norm, items_per_s (the whole job's; each
                      process draws its own items, `duetto.data.draw`), items_per_s_process, global_batch, task logs,
                      eval/* metrics on evaluation steps, aux_loss / aux_grad_norm when the aux module stepped
    tb/               TensorBoard scalars (when tensorboard imports)
    checkpoints/      see `duetto.train.checkpoint`
    model/            the final EMA model (config.json + model.safetensors): what inference loads
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch
from torch import nn

from duetto.data.autoencoder import Pretrained
from duetto.data.errors import DuettoError
from duetto.data.lock import FolderLock
from duetto.data.media import atomic_write
from duetto.data.schema import load_json

from .checkpoint import (find_checkpoint, list_checkpoints, load_checkpoint, load_optimizer, preserve_rng, rng_state,
                         save_checkpoint, set_rng_state)
from .config import TrainConfig, git_commit
from .ema import EMA


class Task:
    """What the trainer trains: the protocol, with defaults for the optional parts (subclass it, or supply
    any object with the same attributes).

    - ``model``: the module the optimiser updates, usually a `Pretrained` (then checkpoints and the final
      ``model/`` folder are loadable with `load_autoencoder`).
    - ``batch(step)``: a dict of tensors for update ``step`` (1-based). It MUST depend only on ``step`` (and
      the task's own settings), so that a resumed run sees the same data. Under several processes every
      process calls it with the same step and takes its own slice of the job's draw (`duetto.data.draw`).
    - ``loss(model, batch, step)``: ``(scalar loss, {name: float})``. ``model`` is the prepared module
      (a DDP wrapper under several processes): call it; reach methods through ``accelerator.unwrap_model``.
      It may stash tensors in ``batch`` (e.g. a detached reconstruction) for ``aux_loss``.
    - ``evaluate(model, step)``: metrics of the EMA model (plain module, eval mode, no grad, RNG untouched),
      on the main process only.
    - ``aux`` and ``aux_loss(model, batch, step)``: a second module with its own AdamW, stepped after the
      model on the same batch; ``aux_loss`` returns None to skip a step (e.g. before a GAN warm-up ends).
    - ``items_per_batch``: items in one batch for the throughput figure (default: the first tensor's
      leading dimension).
    """

    model: nn.Module
    aux: nn.Module | None = None
    items_per_batch: int | None = None

    def batch(self, step: int) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def loss(self, model: nn.Module, batch: dict, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

    def evaluate(self, model: nn.Module, step: int) -> dict[str, float]:
        return {}

    def aux_loss(self, model: nn.Module, batch: dict, step: int) -> torch.Tensor | None:
        return None


def lr_factor(cfg: TrainConfig):
    """LR factor for update ``e + 1`` (LambdaLR counts from 0): linear up to 1 over ``cfg.warmup_steps``
    updates, then constant (``decay="none"``) or a half cosine down to ``cfg.min_lr_ratio`` at ``cfg.steps``."""
    warm, total, floor = cfg.warmup_steps, cfg.steps, cfg.min_lr_ratio

    def factor(e: int) -> float:
        step = e + 1
        if warm > 0 and step < warm:
            return step / warm
        if cfg.decay == "none" or total <= warm:
            return 1.0
        done = min(1.0, (step - warm) / (total - warm))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * done))
    return factor


class Trainer:
    """``Trainer(task, cfg, run_dir, resolved_config).fit()`` trains ``task`` for ``cfg.steps`` updates in
    ``run_dir``, resuming from the newest checkpoint there if any; returns the final ``model/`` folder."""

    def __init__(self, task, cfg: TrainConfig, run_dir, resolved_config: dict, *, progress: bool = True,
                 tensorboard: bool = True):
        from accelerate import Accelerator
        self.task, self.cfg, self.run_dir = task, cfg.check(), Path(run_dir)
        self.resolved_config = resolved_config
        self.progress, self.tensorboard = progress, tensorboard
        cuda = torch.cuda.is_available()
        mp = ("bf16" if cuda else "no") if cfg.mixed_precision == "auto" else cfg.mixed_precision
        self.accelerator = Accelerator(cpu=not cuda, mixed_precision=mp)
        self.step = 0

    # ------------------------------------------------------------------------------------------ the loop

    def fit(self) -> Path:
        """Train to ``cfg.steps`` (resuming from the run folder's newest checkpoint) and export; the folder is
        locked for the run (`duetto.data.lock`): a second training into it is refused, naming this one."""
        with FolderLock(self.run_dir, "training", enabled=self.accelerator.is_main_process):
            return self._fit()

    def _fit(self) -> Path:
        from accelerate.utils import set_seed
        from tqdm.auto import tqdm
        acc, cfg, task = self.accelerator, self.cfg, self.task
        model, aux = task.model, getattr(task, "aux", None)
        ckpt = find_checkpoint(self.run_dir)
        ema = EMA(model, cfg.ema_decay)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(cfg))
        aux_opt = None if aux is None else torch.optim.AdamW(aux.parameters(), lr=cfg.lr, betas=cfg.betas,
                                                             weight_decay=cfg.weight_decay)
        rng = None
        if ckpt is not None:
            try:
                self.step, rng = self._load(ckpt, model, ema, aux, opt, sched, aux_opt)
            except DuettoError as e:
                older = len(list_checkpoints(self.run_dir)) > 1
                raise DuettoError(f"{e}{f' (remove {ckpt} to resume from the one before)' if older else ''}") \
                    from None
            acc.print(f"resuming {self.run_dir} from {ckpt.name}")
        start = self.step
        log = RunLog(self.run_dir, start, acc.is_main_process, self.tensorboard)
        if acc.is_main_process:
            self._write_run_info(resumed=ckpt is not None)
        model, opt = acc.prepare(model, opt)
        if aux is not None:
            aux, aux_opt = acc.prepare(aux, aux_opt)
        ema.module.to(acc.device)
        if rng is not None:                     # last, so nothing above can draw from the restored streams
            set_rng_state(rng, str(ckpt / "trainer.json"))
        elif ckpt is None:
            set_seed(cfg.seed, device_specific=True)
        evaluate = getattr(task, "evaluate", None)
        aux_loss_fn = getattr(task, "aux_loss", None)
        bar = tqdm(total=cfg.steps, initial=start, disable=not (self.progress and acc.is_main_process),
                   desc=self.run_dir.name, dynamic_ncols=True)
        busy, items = 0.0, 0
        try:
            for step in range(start + 1, cfg.steps + 1):
                t0 = time.perf_counter()
                batch = {k: v.to(acc.device, non_blocking=True) if torch.is_tensor(v) else v
                         for k, v in task.batch(step).items()}
                model.train()
                opt.zero_grad(set_to_none=True)
                with acc.autocast():
                    loss, logs = task.loss(model, batch, step)
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise DuettoError(f"step {step}: the loss is {value}; the newest checkpoint in "
                                      f"{self.run_dir / 'checkpoints'} holds the last good weights")
                rec = {"step": step, "loss": value, "lr": opt.param_groups[0]["lr"]}
                acc.backward(loss)
                rec["grad_norm"] = float(acc.clip_grad_norm_(model.parameters(), cfg.grad_clip or math.inf))
                opt.step()
                sched.step()
                ema.update(acc.unwrap_model(model), step)
                if aux is not None and aux_loss_fn is not None:
                    aux.train()
                    aux_opt.zero_grad(set_to_none=True)
                    with acc.autocast():
                        aux_loss = aux_loss_fn(model, batch, step)
                    if aux_loss is not None:
                        acc.backward(aux_loss)
                        rec["aux_grad_norm"] = float(acc.clip_grad_norm_(aux.parameters(),
                                                                         cfg.grad_clip or math.inf))
                        aux_opt.step()
                        rec["aux_loss"] = float(aux_loss.detach())
                rec.update({k: float(v) for k, v in logs.items()})
                self.step = step
                busy += time.perf_counter() - t0
                items += _items(task, batch) * acc.num_processes
                bar.update(1)

                last = step == cfg.steps
                if evaluate is not None and ((cfg.eval_every and step % cfg.eval_every == 0) or last):
                    if acc.is_main_process:
                        with torch.no_grad(), preserve_rng(), acc.autocast():
                            rec.update({f"eval/{k}": float(v) for k, v in evaluate(ema.module, step).items()})
                    acc.wait_for_everyone()
                if step % cfg.log_every == 0 or last or any(k.startswith("eval/") for k in rec):
                    rec["items_per_s"] = items / busy if busy > 0 else 0.0      # the whole job's
                    rec["items_per_s_process"] = rec["items_per_s"] / acc.num_processes
                    rec["global_batch"] = _items(task, batch) * acc.num_processes
                    log.write(rec)
                    bar.set_postfix(loss=f"{value:.4g}", items_s=f"{rec['items_per_s']:.3g}")
                    busy, items = 0.0, 0
                if (cfg.ckpt_every and step % cfg.ckpt_every == 0) or last:
                    self._save(step, model, ema, aux, opt, sched, aux_opt)
        finally:
            bar.close()
            log.close()
        return self._export(ema)

    # -------------------------------------------------------------------------------- state on disk

    def _save(self, step, model, ema, aux, opt, sched, aux_opt):
        from accelerate.utils import gather_object
        acc = self.accelerator
        rngs = gather_object([rng_state()])     # one per process, in process order
        acc.wait_for_everyone()
        if acc.is_main_process:
            optim = {"optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                     "aux_optimizer": None if aux_opt is None else aux_opt.state_dict()}
            save_checkpoint(self.run_dir, step, model=acc.unwrap_model(model), ema=ema.module,
                            aux=None if aux is None else acc.unwrap_model(aux), optim_state=optim,
                            trainer_state={"rng": rngs, "num_processes": acc.num_processes,
                                           "torch": torch.__version__},
                            keep=self.cfg.keep_checkpoints)
        acc.wait_for_everyone()

    def _load(self, ckpt: Path, model, ema, aux, opt, sched, aux_opt) -> tuple[int, dict | None]:
        """Weights and optimiser state into the plain modules; returns (step, this process's RNG state)."""
        acc = self.accelerator
        optim, state = load_checkpoint(ckpt, model=model, ema=ema.module, aux=aux)
        name = str(ckpt / "optim.pt")
        if not {"optimizer", "scheduler", "aux_optimizer"} <= set(optim) \
                or (optim["aux_optimizer"] is None) != (aux_opt is None):
            raise DuettoError(f"{name}: not the optimiser state of this task")
        load_optimizer(name, opt, optim["optimizer"])
        load_optimizer(name, sched, optim["scheduler"])
        if aux_opt is not None:
            load_optimizer(name, aux_opt, optim["aux_optimizer"])
        rngs = state["rng"]
        if len(rngs) != acc.num_processes:
            acc.print(f"warning: {ckpt} was written by {len(rngs)} process(es), this run has "
                      f"{acc.num_processes}: random streams are reseeded, so the resume is not exact")
            from accelerate.utils import set_seed
            set_seed(self.cfg.seed + state["step"], device_specific=True)
            return state["step"], None
        return state["step"], rngs[acc.process_index]

    def _write_run_info(self, resumed: bool):
        path = self.run_dir / "run.json"
        plain = json.loads(json.dumps(self.resolved_config, default=str))
        now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        commit = git_commit()
        old = None
        if resumed and path.is_file():
            try:
                old = load_json(path.read_bytes(), str(path))
            except DuettoError:
                old = None
        if isinstance(old, dict):
            entry = {"step": self.step, "commit": commit, "time": now}
            if plain != old.get("config"):
                entry["config"] = plain
            if _jsonable(self.cfg.to_dict()) != old.get("train"):
                entry["train"] = self.cfg.to_dict()
            old.setdefault("resumes", []).append(entry)
            info = old
        else:
            import accelerate
            info = {"config": plain, "train": self.cfg.to_dict(), "commit": commit, "started": now,
                    "resumed_from": self.step if resumed else None, "torch": torch.__version__,
                    "accelerate": accelerate.__version__, "num_processes": self.accelerator.num_processes,
                    "mixed_precision": str(self.accelerator.mixed_precision), "resumes": []}
        atomic_write(path, (json.dumps(info, indent=2, default=str) + "\n").encode())

    def _export(self, ema: EMA) -> Path:
        """The EMA model as ``run_dir/model/``, written atomically by the main process."""
        out = self.run_dir / "model"
        acc = self.accelerator
        if acc.is_main_process:
            if isinstance(ema.module, Pretrained):
                ema.module.save_pretrained(out)
            else:
                from safetensors.torch import save_file
                out.mkdir(parents=True, exist_ok=True)
                state = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in ema.state_dict().items()}
                save_file(state, str(out / ".model.safetensors.tmp"))
                (out / ".model.safetensors.tmp").replace(out / "model.safetensors")
        acc.wait_for_everyone()
        return out


def _items(task, batch: dict) -> int:
    n = getattr(task, "items_per_batch", None)
    if n:
        return int(n)
    first = next((v for v in batch.values() if torch.is_tensor(v) and v.dim() > 0), None)
    return 0 if first is None else int(first.shape[0])


def _jsonable(x):
    return json.loads(json.dumps(x))


class RunLog:
    """``log.jsonl`` and TensorBoard, written by the main process only. On (re)start the JSON log keeps
    only complete lines for steps up to ``start``, so steps redone after a resume are not logged twice;
    TensorBoard purges them likewise."""

    def __init__(self, run_dir: Path, start: int, enabled: bool, tensorboard: bool = True):
        self.enabled, self.path, self.tb = enabled, run_dir / "log.jsonl", None
        if not enabled:
            return
        run_dir.mkdir(parents=True, exist_ok=True)
        kept = []
        if self.path.is_file():
            for line in self.path.read_text(errors="replace").splitlines():
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue                   # a line cut short by a crash
                if isinstance(rec, dict) and isinstance(rec.get("step"), int) and rec["step"] <= start:
                    kept.append(line)
        atomic_write(self.path, "".join(line + "\n" for line in kept).encode())
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                return
            self.tb = SummaryWriter(str(run_dir / "tb"), purge_step=start + 1 if start else None)

    def write(self, rec: dict):
        if not self.enabled:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(rec) + "\n")
        if self.tb is not None:
            for k, v in rec.items():
                if k != "step" and isinstance(v, (int, float)):
                    self.tb.add_scalar(k, v, rec["step"])

    def close(self):
        if self.tb is not None:
            self.tb.close()
            self.tb = None
