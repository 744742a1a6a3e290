"""How often a stop signal is lost: tiny runs trained by the worker's own code in this process, each sent
one SIGUSR2 at a random moment, and how each ended. Once as the worker handles stops (noted by the signal
handler, raised between training steps), once with the handler raising at once (Python's default way,
the worker's before this benchmark existed), in the same process, alternating.

    python benchmarks/stop_signals.py --runs 100

A stop is lost when the run is not recorded `killed`: an exception escaped the worker (the run stays
`running`, later `crashed`), or the run trained on to `completed`. Each run has its own SQLite file, so
a lock left behind by one run cannot touch the next.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import random
import signal
import tempfile
import threading

from mftctl.config_input import load_config
from mftctl.runs import worker
from mftctl.runs.lifecycle import new_run
from mftctl.store import engine, open_store, reads

# The tests' tiny run (tests/helpers.TINY), long enough that every stop comes while it trains.
TINY_RUN = [
    "data.d=32",
    "data.n_train=2000",
    "data.n_test=500",
    "model.hidden_size=16",
    "training.batch_size=500",
    "training.epochs=400",
    "training.enable_diagnostics=false",
    "training.checkpoint_every=0",
]


NOTING = worker.StopRequest.__call__


def raising_at_once(self: worker.StopRequest, signum: int, frame: object) -> None:
    if self.reason is None:
        NOTING(self, signum, frame)
        raise KeyboardInterrupt(self.reason)


def one_stop(config, path: str, delay_s: float) -> str:
    store = open_store(path)
    run = new_run(store, config)
    timer = threading.Timer(delay_s, os.kill, (os.getpid(), signal.SIGUSR2))
    timer.start()
    try:
        worker._run_one(store, run.id)
        outcome = str(reads.get_run(store, run.id).status)
    except BaseException as exc:
        outcome = f"escaped: {type(exc).__name__}"
    timer.join()
    signal.signal(signal.SIGUSR2, lambda *_: None)  # a late timer must not end this process
    store.close()
    return outcome


def _at_least_one(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=_at_least_one, default=100, help="stops per way of handling them")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    moments = random.Random(args.seed)  # its own: training reseeds the random module
    engine.BUSY_TIMEOUT_S = 2  # a lock left behind shows in 2 s instead of 30
    worker.emit = lambda event: None
    worker._prepare_process()  # as a worker process starts: imports, threads
    signal.signal(signal.SIGUSR2, lambda *_: None)

    config = load_config("quick", overrides=TINY_RUN)
    ways = {"noted, raised between steps": NOTING, "raised by the handler": raising_at_once}
    outcomes = {way: collections.Counter() for way in ways}
    # The worker's log lines and Python's reports of swallowed exceptions stay off the figures.
    with tempfile.TemporaryDirectory() as folder, open(os.devnull, "w") as quiet, contextlib.redirect_stderr(quiet):
        for i in range(args.runs):
            for way, handler in ways.items():
                worker.StopRequest.__call__ = handler
                path = os.path.join(folder, f"{i}-{handler.__name__}.db")
                outcomes[way][one_stop(config, path, moments.uniform(0.05, 0.4))] += 1
    for way, counts in outcomes.items():
        lost = args.runs - counts["killed"]
        detail = ", ".join(f"{n} {outcome}" for outcome, n in counts.most_common())
        print(f"{way:<28} {lost:4d} of {args.runs} stops lost ({detail})")


if __name__ == "__main__":
    main()
