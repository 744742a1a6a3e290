"""The states of a run, declared once, with the groups the lifecycle asks about.

    queued ──> running ──> completed | pruned | failed | killed | crashed
      ^                                           │
      └────── resume / retry ─────────────────────┘  (failed, killed, crashed)

Free of SQLAlchemy so that the fast read path and the renderers can import it for nothing.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    queued = "queued"  # a row and a config; no worker has claimed it yet
    running = "running"  # a worker claimed it (its pid, host and heartbeat are on the row)
    completed = "completed"  # every epoch trained
    failed = "failed"  # the worker raised (the traceback, or a one-line reason, is the row's error)
    killed = "killed"  # stopped on purpose: Ctrl-C, SIGTERM, `mftctl stop`, a stopped sweep
    crashed = "crashed"  # the worker vanished without its final word (SIGKILL, out of memory, a lost node)
    # A search trial its search's pruner stopped early, its epochs so far kept: finished, not failed.
    pruned = "pruned"

    @property
    def style(self) -> str:
        """The rich colour a status is shown in."""
        return _STYLE[self]


_STYLE = {
    RunStatus.completed: "green",
    RunStatus.running: "cyan",
    RunStatus.queued: "blue",
    RunStatus.failed: "red",
    RunStatus.crashed: "red",
    RunStatus.killed: "yellow",
    RunStatus.pruned: "magenta",
}

# A worker is (or will be) writing to these runs: never delete their files, never mark them twice.
# The groups are tuples, in the order messages name them.
ACTIVE = (RunStatus.queued, RunStatus.running)
FINISHED = (RunStatus.completed, RunStatus.failed, RunStatus.killed, RunStatus.crashed, RunStatus.pruned)
# What `train --resume` and a sweep's retry take up again, from the last good checkpoint.
RESUMABLE = (RunStatus.crashed, RunStatus.killed, RunStatus.failed)
# A parent stage 2 may sample from: its weights are final or at least sound (a failed run may have diverged).
FITTABLE = (RunStatus.completed, RunStatus.killed, RunStatus.crashed, RunStatus.pruned)


def names(statuses: tuple[RunStatus, ...]) -> str:
    """`crashed, killed, failed`: a group for a message."""
    return ", ".join(statuses)
