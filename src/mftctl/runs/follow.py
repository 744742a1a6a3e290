"""`mftctl follow RUN`: a run trained elsewhere (detached, in a pool, on a Slurm node) watched from its
rows — each new epoch as it lands, then how the run ended. Reading only: Ctrl-C leaves the run as it is."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ..status import RunStatus
from ..store import reads
from ..store.engine import Store
from ..store.liveness import reconcile
from ..store.tables import Epoch, Run

ACTIVE = (RunStatus.queued.value, RunStatus.running.value)


@dataclass
class Seen:
    """One look at the run: the run's row and the epochs that landed since the last look."""

    run: Run
    new_epochs: list[Epoch]

    @property
    def over(self) -> bool:
        return self.run.status not in ACTIVE


def watch(
    store: Store, run_id: int, *, every: float = 0.5, sleep: Callable[[float], None] = time.sleep
) -> Iterator[Seen]:
    """Looks at the run every `every` seconds until it ends (a dead worker's run is marked crashed on the
    way, as every command does); each look yields the epochs that are new since the one before."""
    last = 0
    while True:
        reconcile(store)
        run = reads.get_run(store, run_id)
        fresh = [e for e in reads.epochs(store, run_id) if e.epoch > last]
        if fresh:
            last = fresh[-1].epoch
        seen = Seen(run, fresh)
        yield seen
        if seen.over:
            return
        sleep(every)
