"""Drawing a run's figures at once: each figure in a forked process where the platform forks and there
is more than one core, one after the other otherwise.

A figure is a plots.py function and its arguments; the figures of one `plot` share no state, and
matplotlib's drawing is Python (one core, whatever the threads), so two drawers on two cores share the
wait (docs/performance.md). Forked drawers inherit the parent's imports and data: nothing is imported
again or pickled, only each figure's index goes out and its path comes back. The drawers never touch the
store, and leave through os._exit, so the parent's database connections stay the parent's.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from ..threads import usable_cpus

Figure = tuple[Callable[..., Path], tuple[Any, ...]]

# The figures of the draw_all in progress, read by the forked drawers from their copy of the parent.
_PENDING: list[Figure] = []


def cores() -> int:
    """The cores this process may run on: its affinity, cgroup quota and Slurm grant (threads.py)."""
    return usable_cpus()[0]


def _draw(index: int) -> Path:
    function, args = _PENDING[index]
    return function(*args)


def draw_all(figures: Sequence[Figure], drawers: int | None = None) -> list[Path]:
    """Draw every figure and return their paths in the figures' order. `drawers`: processes at most
    (default: one per core, no more than the figures); 1 draws here, one after the other."""
    figures = list(figures)
    drawers = min(len(figures), cores() if drawers is None else drawers)
    if drawers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return [function(*args) for function, args in figures]
    _PENDING[:] = figures
    try:
        with ProcessPoolExecutor(drawers, mp_context=multiprocessing.get_context("fork")) as pool:
            return list(pool.map(_draw, range(len(figures))))
    except BrokenProcessPool:  # a drawer died (killed, out of memory): draw here instead
        return [function(*args) for function, args in figures]
    finally:
        _PENDING.clear()
