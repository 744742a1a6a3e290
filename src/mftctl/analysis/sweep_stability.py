"""A sweep's cells, each with the blob stability over its completed seeds (`mftctl stability --sweep`,
the sweep's stability figure). Apart from stability.py: it reads the sweep's summary, which itself asks
stability.py for each cell's numbers."""

from __future__ import annotations

from typing import Any

from ..errors import MftctlError
from ..store import reads
from ..store.engine import Store
from .stability import RunsStability, runs_stability


def sweep_stability(store: Store, sweep_id: int, *, cell: str | None = None, clouds: bool = True):
    """[(cell summary, its stability or why there is none)] for every cell of the sweep (or the one named),
    over each cell's completed seeds."""
    from ..status import RunStatus
    from .sweep_summary import summarize

    summary = summarize(store, reads.get_sweep(store, sweep_id), stability=False)
    cells = summary.cells
    if cell is not None:
        cells = [c for c in cells if c.cell == cell]
        if not cells:
            names = ", ".join(c.cell for c in summary.cells) or "none"
            raise MftctlError(f"sweep {sweep_id} has no cell {cell!r}; its cells are {names} (`mftctl sweep show`)")
    out: list[tuple[Any, RunsStability | str]] = []  # (cell summary, its stability or why there is none)
    for c in cells:
        done = [r for r in reads.runs_by_id(store, c.runs) if r.status == RunStatus.completed]
        try:
            out.append((c, runs_stability(store, done, clouds=clouds)))
        except MftctlError as exc:
            if cell is not None:
                raise MftctlError(f"sweep {sweep_id} cell {cell}: {exc}") from None
            out.append((c, str(exc)))
    return out
