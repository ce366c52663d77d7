"""Sampling across processes on ``torch.distributed`` (NCCL on GPUs, gloo on CPUs), launched with ``torchrun``.

    torchrun --nproc_per_node 3 -m duetto.joint.cli generate "a glass falls" -o glass.mp4     # guidance parallel
    torchrun --nproc_per_node 2 -m duetto.joint.cli generate "a drum beat" -n 8 -o drums.mp4  # clips split

Two ways to share the work, chosen by ``duetto generate --parallel`` (default: ``prompts`` when there are at least as
many clips as processes, else ``guidance``):

- **guidance**: a guided step's model passes (conditional, unconditional, streams apart) run on different ranks,
  pass ``i`` on rank ``i % world``, and each result is broadcast from its rank, so every rank holds the same guided
  velocity and integrates the same latents as one process would. Steps that take one pass (noisier than
  ``guidance_max_t``, or a student without guidance) run on every rank at once, with nothing to exchange.
- **prompts**: clip ``i`` of ``-n`` (seed ``seed + i``: the clip a single run with that seed gives, to float rounding)
  is made by rank
  ``i % world``, which writes it.

- **sequence**: every model pass runs with each stream's tokens split by time across the ranks (`joint.sequence`):
  the activations of a long clip are divided, at the price of exchanges in every attention layer.

The same code runs in one process (`sampling.in_turn`).
"""
from __future__ import annotations

import os

import torch

from duetto.data.errors import DuettoError

MODES = ("auto", "guidance", "prompts", "sequence")


def launched() -> bool:
    """Started by ``torchrun`` (or another launcher that sets ``WORLD_SIZE``) with more than one process."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        raise DuettoError(f"WORLD_SIZE={os.environ['WORLD_SIZE']!r} is not a process count") from None


def start(device: torch.device) -> tuple[int, int, torch.device]:
    """Join the launcher's process group (NCCL when ``device`` is a GPU, else gloo); returns ``(rank, world,
    device)``, the device being this rank's GPU (``LOCAL_RANK``) when the choice was a GPU."""
    import torch.distributed as dist
    if not launched():
        return 0, 1, device
    if device.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if local >= torch.cuda.device_count():
            raise DuettoError(f"rank {local} on this machine has no GPU of its own ({torch.cuda.device_count()} GPU(s))")
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        try:
            dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        except (RuntimeError, ValueError) as e:
            raise DuettoError(f"could not join the process group of this launch: {e}") from None
    return dist.get_rank(), dist.get_world_size(), device


def stop() -> None:
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def across_ranks():
    """A `sampling.guided` ``run`` that computes pass ``i`` on rank ``i % world`` and broadcasts it to all."""
    import torch.distributed as dist
    rank, world = dist.get_rank(), dist.get_world_size()

    def run(passes, v, a, tv, ta):
        if len(passes) == 1:
            return [passes[0](v, a, tv, ta)]
        outs = []
        for i, p in enumerate(passes):
            if i % world == rank:
                pv, pa = p(v, a, tv, ta)
                outs.append((pv.contiguous(), pa.contiguous()))
            else:
                outs.append((torch.empty_like(v, dtype=torch.float32), torch.empty_like(a, dtype=torch.float32)))
        for i, (pv, pa) in enumerate(outs):
            dist.broadcast(pv, src=i % world)
            dist.broadcast(pa, src=i % world)
        return outs
    return run


def free_port() -> int:
    """A TCP port nothing listens on now (for a launch's ``--master_port``)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_command(nproc: int, *args) -> list[str]:
    """``python -m torch.distributed.run`` with ``nproc`` processes on a free port, then ``args`` (a script, or
    ``-m module`` and its arguments): what the tests and benches launch."""
    import sys
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_port",
            str(free_port()), *map(str, args)]


def my_clips(n: int, rank: int, world: int) -> list[int]:
    """The clip indices of ``-n`` that rank ``rank`` makes."""
    return list(range(rank, n, world))


def choose(mode: str, n: int, world: int) -> str:
    if mode not in MODES:
        raise DuettoError(f"--parallel {mode!r}: give {', '.join(MODES)}")
    if mode == "auto":
        return "prompts" if n >= world else "guidance"
    return mode
