"""Keep large freed blocks in the training process (glibc's malloc only; a no-op elsewhere).

glibc serves an allocation above its mmap threshold (32 MB at most under its dynamic rule) with a fresh
mmap and unmaps it on free, so every step's 20–40 MB tensors are page-faulted anew (docs/performance.md
has the cost per step). Raising the threshold (and the heap-trim threshold with it)
serves them from the heap, where the next step reuses the freed blocks. The cost is that the process
holds its peak memory until it exits, which suits a worker that lives to train one run.
"""

from __future__ import annotations

import ctypes
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_THRESHOLD = 1 << 30  # 1 GiB: above any per-step tensor of a model that fits on a CPU


def keep_large_blocks() -> bool:
    """Tell glibc to keep large freed blocks; True when it took effect."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl or another libc: nothing to tune
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(_M_MMAP_THRESHOLD, _THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, _THRESHOLD))
