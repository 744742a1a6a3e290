"""One run trained in the foreground: its worker started (or the one started early handed the run), its
events shown as a progress bar until it ends."""

from __future__ import annotations

from rich.console import Console

from ..config import config_from_json
from ..store import reads
from ..store.engine import Store
from .launch import EarlyWorker, start_worker, stop_worker
from .progress import follow, progress_state


def run_attached(store: Store, run_id: int, console: Console, early: EarlyWorker | None = None, config=None) -> None:
    """Ctrl-C stops the worker (the run is marked killed) and is raised again for the caller to report.
    `config`: the run's, where the caller has it parsed already (it sizes the progress bar)."""
    if config is None:
        config = config_from_json(reads.get_run(store, run_id).config_json)
    proc = early.hand(run_id) if early is not None else start_worker(store, run_id)
    try:
        follow(proc, progress_state(config), f"run {run_id}", console)
    except KeyboardInterrupt:
        stop_worker(proc, store, run_id)
        raise
    finally:
        if early is not None:
            early.keep_log(store, run_id)
