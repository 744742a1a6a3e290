"""A run's life on the parent's side: its row and folder written (queued), and `mftctl stop`."""

from __future__ import annotations

import os
import signal
from typing import Any

from ..config import ExperimentConfig, config_hash
from ..status import RunStatus
from ..store import layout, reads, writes
from ..store.engine import Store
from ..store.tables import Run
from .launch import STOP_GRACE_S


def new_run(store: Store, config: ExperimentConfig, *, name: str | None = None, **row: Any) -> Run:
    """A queued run for this config: its row (the other fields as writes.create_run takes them: preset,
    kind, parent_id, sweep_id, extra, tags, note), and its folder marked as this store's."""
    run = writes.create_run(
        store,
        name=name or "",
        config_json=config.model_dump_json(),
        config_hash=config_hash(config),
        seed=config.seed,
        epochs_total=config.training.epochs,
        **row,
    )
    layout.claim_run_dir(store, run.id)
    return run


def stop_run(store: Store, run_id: int, *, grace_s: float = STOP_GRACE_S) -> str:
    """`mftctl stop`: end a queued or running run — its worker asked to stop (SIGINT: it records `killed`
    after its last checkpoint), forced after grace_s — and return its status. Only this host's workers can
    be signalled; a queued run is simply marked killed."""
    import socket
    import time

    from ..errors import MftctlError
    from ..status import ACTIVE
    from ..store.liveness import reconcile, worker_alive

    reconcile(store)  # a copy of a store sees the original's workers as gone, and never signals them
    run = reads.get_run(store, run_id)
    if run.status not in ACTIVE:
        raise MftctlError(f"run {run_id} is {run.status}; only queued or running runs can be stopped")
    if run.status == RunStatus.queued:
        writes.finish_run(store, run_id, RunStatus.killed, "stopped before it started (`mftctl stop`)")
        return reads.get_run(store, run_id).status
    if run.host != socket.gethostname():
        raise MftctlError(
            f"run {run_id} runs on {run.host} (pid {run.pid}); stop it there (or scancel its Slurm task): "
            "once its heartbeat stops, `mftctl list` marks it crashed"
        )
    deadline = time.monotonic() + grace_s
    pid = run.pid
    if pid is None:  # running but not yet claimed by a worker's pid: the liveness check marks it if it died
        raise MftctlError(f"run {run_id} has no worker pid yet; try again in a moment")
    if worker_alive(pid, store.location):
        os.kill(pid, signal.SIGINT)
        while worker_alive(pid, store.location) and reads.get_run(store, run_id).status == RunStatus.running:
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                break
            time.sleep(0.1)
    writes.finish_run(store, run_id, RunStatus.killed, "stopped with `mftctl stop`")
    return reads.get_run(store, run_id).status
