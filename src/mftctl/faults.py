"""Fault-injection points for the guarantee tests (docs/guarantees.md).

Inert unless the environment variable MFTCTL_FAULT names a point and an epoch, e.g.
`MFTCTL_FAULT=checkpoint-write:2`: the process then kills itself with SIGKILL at that point of that
epoch — the one way to test "the worker died at the worst moment" exactly, rather than by luck.
Points: `epoch-write` (inside the epoch's database transaction, before it commits) and
`checkpoint-write` (after the temporary file is written, before it is renamed into place).
"""

from __future__ import annotations

import os
import signal


def maybe_crash(point: str, epoch: int) -> None:
    spec = os.environ.get("MFTCTL_FAULT")
    if spec and spec == f"{point}:{epoch}":
        os.kill(os.getpid(), signal.SIGKILL)
