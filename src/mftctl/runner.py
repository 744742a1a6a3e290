"""The run lifecycle on the tool side: write a run's row and folder, start its worker subprocess, stop it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from typing import Any

from .config import ExperimentConfig, config_hash
from .status import RunStatus
from .store import layout, reads, writes
from .store.engine import Store
from .store.location import Location
from .store.tables import Run

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


def worker_command(run_id: int | None) -> list[str]:
    return [sys.executable, "-m", "mftctl", "worker", *([str(run_id)] if run_id is not None else [])]


def worker_env(location: Location, env: dict[str, str] | None = None) -> dict[str, str]:
    """The worker finds its store in $MFTCTL_DB (a URL's password stays out of `ps`)."""
    return dict(os.environ, PYTHONUNBUFFERED="1", MFTCTL_DB=location.env_value, **(env or {}))


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
    """A persistent worker (`mftctl worker --serve`): it takes run ids on stdin, one per line, and reports
    on stdout; each run's stderr goes to that run's worker.log, the worker's own to workers.log."""
    store.runs_dir.mkdir(parents=True, exist_ok=True)
    with open(store.runs_dir / "workers.log", "ab") as log:
        return subprocess.Popen(
            [*worker_command(None), "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            env=worker_env(store.location, env),
            text=True,
        )


class EarlyWorker:
    """A worker started before its run's row exists: `mftctl worker --serve`, handed that one run, after
    which it exits. Its imports (torch, the science: 2 s here, more with CUDA) overlap the parent opening
    the store and writing the row. Until the run begins its stderr goes to a temporary file, whose words
    (a warning at import, or why it died) are kept at the head of the run's worker.log."""

    def __init__(self, location: Location):
        self._early_stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [*worker_command(None), "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._early_stderr,
            env=worker_env(location),
            text=True,
        )

    def hand(self, run_id: int) -> subprocess.Popen:
        """Give it the run; it trains it and exits."""
        try:
            self.proc.stdin.write(f"{run_id}\n")
            self.proc.stdin.close()
        except BrokenPipeError:  # it died starting: the caller sees it end, and keep_log says why
            pass
        return self.proc

    def cancel(self) -> None:
        """The run was never made (bad input, Ctrl-C): end the worker."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._early_stderr.close()

    def keep_log(self, store: Store, run_id: int) -> str:
        """After it ended: what it said before the run, prepended to the run's worker.log; returned."""
        self._early_stderr.seek(0)
        early = self._early_stderr.read()
        self._early_stderr.close()
        if early:
            log = layout.ensure_run_dir(store, run_id) / "worker.log"
            later = log.read_bytes() if log.exists() else b""
            log.write_bytes(early + later)
        return early.decode(errors="replace")


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
    from .store.liveness import worker_alive

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
    if worker_alive(run.pid):
        os.kill(run.pid, signal.SIGINT)
        while worker_alive(run.pid) and reads.get_run(store, run_id).status == RunStatus.running:
            if time.monotonic() > deadline:
                os.kill(run.pid, signal.SIGKILL)
                break
            time.sleep(0.1)
    writes.finish_run(store, run_id, RunStatus.killed, "stopped with `mftctl stop`")
    return reads.get_run(store, run_id).status
