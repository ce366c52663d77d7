"""`duetto.data.heap`: with the threshold fixed, a block freed and allocated again still gets its own mmap (so
freeing it gives the memory back), where glibc's default would have moved it onto the heap."""
import ctypes
import ctypes.util
import os
import subprocess
import sys

import pytest

from duetto.data import heap

PROBE = r"""
import ctypes, ctypes.util, sys
from duetto.data.heap import steady_heap
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.mallinfo2.restype = Info
libc.malloc.restype, libc.malloc.argtypes, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_size_t], [ctypes.c_void_p]
set_ = steady_heap() if sys.argv[1] == "steady" else False
size = 4 << 20
libc.free(libc.malloc(size))               # by default this free raises the threshold above 4 MB
p = libc.malloc(size)
print(int(set_), libc.mallinfo2().hblkhd >= size)
"""


def _glibc_with_mallinfo2() -> bool:
    try:
        return hasattr(ctypes.CDLL(ctypes.util.find_library("c")), "mallinfo2")
    except OSError:
        return False


@pytest.mark.skipif(not _glibc_with_mallinfo2(), reason="needs glibc >= 2.33")
@pytest.mark.parametrize("mode, expect", [("default", "0 False"), ("steady", "1 True")])
def test_a_freed_block_keeps_its_own_mmap_only_when_steady(mode, expect):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == expect.split()


def test_a_users_own_setting_is_left_alone(monkeypatch):
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert heap.steady_heap() is False
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_")
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=65536")
    assert heap.steady_heap() is False


def test_without_mallopt_it_does_nothing(monkeypatch):
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)

    class NoMallopt:
        def __init__(self, *a):
            pass
    monkeypatch.setattr(heap.ctypes, "CDLL", NoMallopt)
    assert heap.steady_heap() is False
