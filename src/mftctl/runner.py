"""The run lifecycle on the tool side: write a run's row and folder, start its worker subprocess, stop it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from typing import Any

from .config import ExperimentConfig, config_hash
from .status import RunStatus
from .store import layout, reads, writes
from .store.engine import Store
from .store.tables import Run
from .worker_launch import start_serving, worker_command, worker_env

STOP_GRACE_S = 15


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


def start_worker(store: Store, run_id: int, *, detach: bool = False, env: dict | None = None) -> subprocess.Popen:
    """The worker's stderr goes to worker.log in the run's folder; its stdout carries progress events
    (discarded when detached: the database has the record)."""
    folder = layout.ensure_run_dir(store, run_id)
    # The child gets its own copy of the log's descriptor; the parent closes its one at once.
    with open(folder / "worker.log", "ab") as log:
        return subprocess.Popen(
            worker_command(run_id),
            stdout=subprocess.DEVNULL if detach else subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            env=worker_env(store.location, env),
            start_new_session=detach,  # a detached worker outlives the terminal and ignores its Ctrl-C
            text=True,
        )


def start_server(store: Store, *, env: dict | None = None) -> subprocess.Popen:
    """A persistent worker for a pool (`worker_launch.start_serving`), its own stderr to workers.log."""
    store.runs_dir.mkdir(parents=True, exist_ok=True)
    with open(store.runs_dir / "workers.log", "ab") as log:
        return start_serving(store.location, log, env)


def parse_event(line: str) -> dict[str, Any] | None:
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) and "event" in event else None


def stop_worker(proc: subprocess.Popen, store: Store, run_id: int, *, grace_s: float = STOP_GRACE_S) -> None:
    """Ask the worker to stop (it records `killed`), wait, then force; never leave the run `running`."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    run = reads.find_run(store, run_id)
    if run is not None and run.pid in (None, proc.pid):  # never a run another mftctl's worker claimed
        writes.finish_run(store, run_id, RunStatus.killed, "stopped by the user (Ctrl-C)")


def stop_run(store: Store, run_id: int, *, grace_s: float = STOP_GRACE_S) -> str:
    """`mftctl stop`: end a queued or running run — its worker asked to stop (SIGINT: it records `killed`
    after its last checkpoint), forced after grace_s — and return its status. Only this host's workers can
    be signalled; a queued run is simply marked killed."""
    import socket
    import time

    from .errors import MftctlError
    from .status import ACTIVE
    from .store.liveness import reconcile, worker_alive

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
    if worker_alive(run.pid, store.location):
        os.kill(run.pid, signal.SIGINT)
        while worker_alive(run.pid, store.location) and reads.get_run(store, run_id).status == RunStatus.running:
            if time.monotonic() > deadline:
                os.kill(run.pid, signal.SIGKILL)
                break
            time.sleep(0.1)
    writes.finish_run(store, run_id, RunStatus.killed, "stopped with `mftctl stop`")
    return reads.get_run(store, run_id).status
