"""Every way a worker subprocess is started and stopped: its command line and environment, one worker
for one run, a persistent worker for a pool, a worker started early, and the stop that never leaves a
run `running`.

Light on purpose (no SQLAlchemy, no torch at import): `train` imports it and starts its worker before
it imports the store, so that the worker's imports overlap the parent's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..store.engine import Store
    from ..store.location import Location


STOP_GRACE_S = 15


def worker_command(run_id: int | None) -> list[str]:
    return [sys.executable, "-m", "mftctl", "worker", *([str(run_id)] if run_id is not None else [])]


def worker_env(location: Location, env: dict[str, str] | None = None) -> dict[str, str]:
    """The worker finds its store in $MFTCTL_DB (a URL's password stays out of `ps`)."""
    return dict(os.environ, PYTHONUNBUFFERED="1", MFTCTL_DB=location.env_value, **(env or {}))


def start_serving(location: Location, stderr: Any, env: dict[str, str] | None = None) -> subprocess.Popen:
    """A persistent worker (`mftctl worker --serve`): run ids in on stdin, one per line, events out on
    stdout; each run's stderr goes to that run's worker.log, the worker's own to `stderr`."""
    return subprocess.Popen(
        [*worker_command(None), "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        env=worker_env(location, env),
        text=True,
    )


def start_worker(store: Store, run_id: int, *, detach: bool = False, env: dict | None = None) -> subprocess.Popen:
    """The worker's stderr goes to worker.log in the run's folder; its stdout carries progress events
    (discarded when detached: the database has the record)."""
    from ..store import layout

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
    """A persistent worker for a pool (`start_serving`), its own stderr to workers.log."""
    store.runs_dir.mkdir(parents=True, exist_ok=True)
    with open(store.runs_dir / "workers.log", "ab") as log:
        return start_serving(store.location, log, env)


def stop_worker(proc: subprocess.Popen, store: Store, run_id: int, *, grace_s: float = STOP_GRACE_S) -> None:
    """Ask the worker to stop (it records `killed`), wait, then force; never leave the run `running`."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    from ..status import RunStatus
    from ..store import reads, writes

    run = reads.find_run(store, run_id)
    if run is not None and run.pid in (None, proc.pid):  # never a run another mftctl's worker claimed
        writes.finish_run(store, run_id, RunStatus.killed, "stopped by the user (Ctrl-C)")


class EarlyWorker:
    """A worker started before its run's row exists: `mftctl worker --serve`, handed that one run, after
    which it exits. Its imports (torch, the science: 2 s here, more with CUDA) overlap the parent opening
    the store and writing the row. Until the run begins its stderr goes to a temporary file, whose words
    (a warning at import, or why it died) are kept at the head of the run's worker.log."""

    def __init__(self, location: Location):
        self._early_stderr = tempfile.TemporaryFile()
        self.proc = start_serving(location, self._early_stderr)

    def __enter__(self) -> EarlyWorker:
        return self

    def __exit__(self, kind: type | None, *exc: object) -> None:
        if kind is not None:  # refused, or Ctrl-C, before its run was made: it has nothing to do
            self.cancel()

    def hand(self, run_id: int) -> subprocess.Popen:
        """Give it the run; it trains it and exits."""
        assert self.proc.stdin is not None  # started with stdin=PIPE
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

    def keep_log(self, store: Store, run_id: int) -> None:
        """After it ended: what it said before the run, prepended to the run's worker.log."""
        self._early_stderr.seek(0)
        early = self._early_stderr.read()
        self._early_stderr.close()
        if early:
            from ..store import layout

            log = layout.ensure_run_dir(store, run_id) / "worker.log"
            later = log.read_bytes() if log.exists() else b""
            log.write_bytes(early + later)
