"""A steady heap for long clips: glibc's mmap threshold held fixed, so memory stays flat with the clip's length.

glibc serves a large allocation with its own mmap and returns it to the system on free, but each such free *raises*
the threshold to that size (up to 32 MB), after which blocks of that size come from the heap instead, where
freeing them rarely gives memory back. Decoding a long clip a few frames at a time allocates and frees the same
few-MB activations hundreds of times, so the heap fragments and the process grows with the clip: measured on the
2-core CPU, decoding 32 s of `duetto-tiny-v2` latents peaked at 615 MB against 479 MB for 8 s (1,003 MB outside
``no_grad``). With the threshold fixed at 1 MB both peak at 479 MB. Fixing it (``mallopt(M_MMAP_THRESHOLD)``)
turns the raising off; a user's own setting (``MALLOC_MMAP_THRESHOLD_``, ``GLIBC_TUNABLES``) is left alone.
Elsewhere than glibc this does nothing. Speed: a 12 s extension at 4 steps took 17.9 and 22.6 s with it, 19.8 and
20.1 s without (1 thread, CPU shared with other runs): no change this could measure.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os

M_MMAP_THRESHOLD = -3            # glibc's mallopt parameter number
STEADY_THRESHOLD = 1 << 20       # bytes: blocks at least this large get their own mmap, always


def steady_heap(threshold: int = STEADY_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes for the rest of the process (a process that calls
    `joint.extend.extend` keeps it); True if it was set (False without glibc's ``mallopt``, or when
    ``MALLOC_MMAP_THRESHOLD_`` or ``GLIBC_TUNABLES`` already sets it)."""
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "mmap_threshold" in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(M_MMAP_THRESHOLD, int(threshold)) == 1
