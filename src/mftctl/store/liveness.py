"""Is a running run's worker still alive? A dead one's run is marked `crashed`.

On the worker's own host the pid answers (and its command line, since pids are reused); from any other
host — another node of a cluster sharing a PostgreSQL store — only the heartbeat can: a worker touches it
every HEARTBEAT_S, and one silent for STALE_AFTER_S is gone (killed, preempted, or its node lost).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from ..status import RunStatus
from . import reads, writes
from .engine import Store
from .location import Location, hide_password
from .tables import Run, now

HEARTBEAT_S = 10
STALE_AFTER_S = 120
CRASHED_REASON = (
    "the worker process ended without reporting (killed or out of memory); `mftctl show` lists the epochs it completed"
)


def worker_alive(pid: int, location: Location | None = None) -> bool:
    """True if pid is a live (not zombie) mftctl process — and, given a location, one working for that
    store. Checking the command line guards against the pid having been reused by an unrelated process
    since the worker died; checking the store it was started for (its $MFTCTL_DB), against a copy of the
    database whose rows name the original's workers."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path(f"/proc/{pid}")
    if not proc.exists():  # not Linux: trust kill(0)
        return True
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = (proc / "cmdline").read_bytes()
    except OSError:
        return False
    if state == "Z" or b"mftctl" not in cmdline:
        return False
    return location is None or _works_for(proc, location)


def _works_for(proc: Path, location: Location) -> bool:
    """Whether the process at /proc/PID was started for this store; True where that cannot be read."""
    try:
        environ = (proc / "environ").read_bytes().split(b"\0")
        cwd = Path(os.readlink(proc / "cwd"))
    except OSError:  # another user's process: only the pid and command line can answer
        return True
    given = next((item[len(b"MFTCTL_DB=") :] for item in environ if item.startswith(b"MFTCTL_DB=")), None)
    if given is None:
        return True
    theirs = given.decode("utf-8", "surrogateescape")
    if location.is_sqlite:
        return (cwd / theirs).resolve() == location.file.resolve()
    return hide_password(theirs) == location.shown


def is_gone(run: Run, *, host: str, location: Location | None = None, stale_after_s: float = STALE_AFTER_S) -> bool:
    if run.host == host and run.pid is not None:
        return not worker_alive(run.pid, location)
    return run.heartbeat_at is None or (now() - run.heartbeat_at).total_seconds() > stale_after_s


def reconcile(store: Store, *, stale_after_s: float = STALE_AFTER_S) -> list[int]:
    """Mark `crashed` every running run whose worker is gone. Returns their ids."""
    if store.read_only:  # nothing can be recorded; the runs are shown as the store has them
        return []
    host, where = socket.gethostname(), store.location
    dead = [
        run.id
        for run in reads.running_runs(store)
        if is_gone(run, host=host, location=where, stale_after_s=stale_after_s)
    ]
    return [run_id for run_id in dead if writes.finish_run(store, run_id, RunStatus.crashed, CRASHED_REASON)]


def open_settled(db: str | Path | None = None, *, create: bool = False) -> Store:
    """The one way a command opens its store: an existing database (unless create), with the runs whose
    workers died marked `crashed` first, so that nothing reads a dead run as running."""
    from .engine import open_store

    store = open_store(db, create=create)
    reconcile(store)
    return store
