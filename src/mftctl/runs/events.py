"""What a worker tells its parent, one JSON line each on its stdout: the one declaration of that contract.
The worker writes these with `encode`; the parents (train's progress bar, the pool) read them with
`decode`. The database is the record; these are only the live view.

    {"event": "ready"}                                    the worker will take another run id on stdin
    {"event": "step", "run", "epoch", "step", "steps", "loss"}     at most every STEP_EVENT_INTERVAL_S
    {"event": "epoch", "run", "epoch", "train_loss", "test_loss", "samples_per_s", "n_clusters", "separation"}
    {"event": "done", "run", "status", "error"}           status None: another mftctl claimed the run first
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import ClassVar

STEP_EVENT_INTERVAL_S = 0.25


@dataclass(frozen=True)
class Ready:
    name: ClassVar[str] = "ready"


@dataclass(frozen=True)
class Step:
    name: ClassVar[str] = "step"
    run: int
    epoch: int
    step: int
    steps: int
    loss: float


@dataclass(frozen=True)
class EpochEnd:
    name: ClassVar[str] = "epoch"
    run: int
    epoch: int
    train_loss: float
    test_loss: float
    samples_per_s: float
    n_clusters: int | None = None
    separation: float | None = None


@dataclass(frozen=True)
class Done:
    name: ClassVar[str] = "done"
    run: int
    status: str | None
    error: str | None = None


Event = Ready | Step | EpochEnd | Done
_KINDS: dict[str, type] = {kind.name: kind for kind in (Ready, Step, EpochEnd, Done)}


def encode(event: Event) -> str:
    return json.dumps({"event": event.name, **asdict(event)})


def decode(line: str) -> Event | None:
    """The event on one line of a worker's stdout; None for anything else (a library's print, a partial line)."""
    try:
        data = json.loads(line)
        kind = _KINDS[data.pop("event")]
        return kind(**{f.name: data[f.name] for f in fields(kind) if f.name in data})
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
