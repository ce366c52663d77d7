"""Which clips a training step uses, when one job runs as several processes.

The job draws ``per_process * world`` distinct clips for step ``step`` from ``np.random.default_rng([seed, step])``
(distinct while the set is large enough) and each process takes its own slice: processes never train on the same
clip in a step, and 2 processes of ``B/2`` draw exactly the clips 1 process of ``B`` draws. What a task draws per
clip from numpy (dropped conditions, crop windows) is drawn for the whole job and sliced alike; the noise and flow
times each process draws from its own seed (the task's noise seed plus its rank), so 2 x B/2 matches 1 x B in its
clips and conditions, and in its noise only in distribution. A process knows its place from ``accelerate`` (one
process: ``rank 0`` of ``1``).
"""
from __future__ import annotations

import numpy as np


def process() -> tuple[int, int]:
    """``(rank, world)`` of this process in the job (``(0, 1)`` without ``accelerate`` or a launcher)."""
    try:
        from accelerate import PartialState
    except ImportError:
        return 0, 1
    state = PartialState()
    return state.process_index, state.num_processes


def draw_clips(rng: np.random.Generator, n: int, total: int, p: np.ndarray | None = None) -> np.ndarray:
    """``total`` clip indices below ``n`` (weights ``p``): without repeats while ``total <= n`` (of the clips with
    a weight), with repeats beyond."""
    available = n if p is None else int(np.count_nonzero(p))
    return rng.choice(n, total, replace=total > available, p=p)


def mine(x, per_process: int, rank: int):
    """This process's slice of a job-wide draw (anything indexable along its first axis)."""
    return x[rank * per_process: (rank + 1) * per_process]
