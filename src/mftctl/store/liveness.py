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
from .tables import Run, now

HEARTBEAT_S = 10
STALE_AFTER_S = 120
CRASHED_REASON = (
    "the worker process ended without reporting (killed or out of memory); `mftctl show` lists the epochs it completed"
)


def worker_alive(pid: int) -> bool:
    """True if pid is a live (not zombie) mftctl process. Checking the command line guards against the
    pid having been reused by an unrelated process since the worker died."""
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
    return state != "Z" and b"mftctl" in cmdline


def is_gone(run: Run, *, host: str, stale_after_s: float = STALE_AFTER_S) -> bool:
    if run.host == host and run.pid is not None:
        return not worker_alive(run.pid)
    return run.heartbeat_at is None or (now() - run.heartbeat_at).total_seconds() > stale_after_s


def reconcile(store: Store, *, stale_after_s: float = STALE_AFTER_S) -> list[int]:
    """Mark `crashed` every running run whose worker is gone. Returns their ids."""
    host = socket.gethostname()
    dead = [run.id for run in reads.running_runs(store) if is_gone(run, host=host, stale_after_s=stale_after_s)]
    return [run_id for run_id in dead if writes.finish_run(store, run_id, RunStatus.crashed, CRASHED_REASON)]
