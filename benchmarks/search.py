"""Adaptive search against random sampling, on a space whose optimum a full grid knows, and the searching
parent's own cost per trial.

python benchmarks/search.py [--db search-bench.db] [--seeds 20] [--epochs 5]

1. The grid: the `quick` preset over learning rate × batch size × encoder init scale (8 × 4 × 3 = 96
   cells, diagnostics off), run once with the real tool (`mftctl sweep`, two workers) into --db; a second
   call reuses it. Its lowest final test loss is the optimum.
2. The searches: TPE and random sampling over the same 96 points (choice distributions, 3 random
   startup trials for TPE), each search seed a fresh search of up to 96 trials through the tool's own
   search code (search/study.py: the study rebuilt from the trials so far, asked for the next point).
   A trial's value is the grid cell's — the same config and seed train to the same numbers — so a
   search costs no training. Printed: trials needed to come within 2% of the grid's best, mean ± std
   over the search seeds, and the ratio.
3. The parent's cost per trial: claim (the store's lock, the study rebuilt and asked, the trial's row
   written: sweeps/search.claim_trial) and tell (the trial's run finished and its summary written, as the
   worker does) on a real SQLite store, timed at every trial of a 60-trial search; mean, and the mean over
   trials 50-60.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LR = [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5]
BATCH = [250, 500, 1000, 2000]
INIT = [0.01, 0.03, 0.1]
KEYS = ("training.learning_rate", "training.batch_size", "model.encoder_initialization_scale")
WITHIN = 0.02


def grid_file(folder: Path, epochs: int) -> Path:
    path = folder / "search_bench_grid.toml"
    path.write_text(
        'name = "search_bench_grid"\nbase = "quick"\n'
        f'[set]\n"training.epochs" = {epochs}\n"training.enable_diagnostics" = false\n'
        f'[grid]\n"{KEYS[0]}" = {LR}\n"{KEYS[1]}" = {BATCH}\n"{KEYS[2]}" = {INIT}\n'
    )
    return path


def grid_values(db: str, epochs: int) -> dict[tuple, float]:
    from mftctl.store import open_store, reads

    with tempfile.TemporaryDirectory() as folder:
        done = subprocess.run(
            [sys.executable, "-m", "mftctl", "sweep", str(grid_file(Path(folder), epochs)), "--jobs", "2", "--db", db],
            capture_output=True,
            text=True,
        )
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    store = open_store(db)
    sweep = reads.find_sweep(store, "search_bench_grid")
    values = {}
    for run in reads.sweep_runs(store, sweep.id):
        if run.last_test_loss is not None:
            values[tuple(run.extra["values"][k] for k in KEYS)] = run.last_test_loss
    return values


@dataclass
class FakeRun:
    """What trial_records reads of a run: the trial's number, its point, status and objective."""

    id: int
    extra: dict[str, Any]
    status: str = "completed"
    last_test_loss: float | None = None
    sweep_id: int = 1
    attrs: dict[str, Any] = field(default_factory=dict)


def search_spec(sampler: str, seed: int, trials: int):
    from mftctl.search.space import parse_search

    params = {KEYS[0]: {"dist": "choice", "values": LR}}
    params |= {KEYS[1]: {"dist": "choice", "values": BATCH}, KEYS[2]: {"dist": "choice", "values": INIT}}
    return parse_search(
        {"trials": trials, "sampler": sampler, "seed": seed, "startup_trials": 3, "objective": "test_loss"}
        | {"params": params}
    )


def trials_to_target(sampler: str, seed: int, values: dict[tuple, float]) -> int | None:
    from mftctl.search.study import ask, trial_records

    target = min(values.values()) * (1 + WITHIN)
    spec = search_spec(sampler, seed, len(values))
    runs: list[FakeRun] = []
    for number in range(len(values)):
        params, attrs = ask(spec, trial_records(spec, runs))
        loss = values[tuple(params[k] for k in KEYS)]
        extra = {"trial": number, "search": {"params": params, "system_attrs": attrs}}
        runs.append(FakeRun(number, extra, last_test_loss=loss))
        if loss <= target:
            return number + 1
    return None


def parent_cost(trials: int = 60) -> tuple[list[float], list[float]]:
    """Seconds of claim and of tell at each trial of a search on a real SQLite store."""
    from mftctl.status import RunStatus
    from mftctl.store import open_store, writes
    from mftctl.sweeps.file import load_sweep
    from mftctl.sweeps.plan import find_target, materialise, plan_sweep
    from mftctl.sweeps.search import claim_trial

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "s.toml"
        path.write_text(
            'name = "cost"\nbase = "quick"\n'
            f"[search]\ntrials = {trials}\nstartup_trials = 5\n[search.params]\n"
            '"training.learning_rate" = { dist = "loguniform", low = 1e-3, high = 1e-1 }\n'
            '"training.batch_size" = { dist = "int", low = 500, high = 2000 }\n'
            '"model.encoder_initialization_scale" = { dist = "loguniform", low = 0.01, high = 0.1 }\n'
        )
        store = open_store(str(Path(folder) / "cost.db"))
        spec = load_sweep(path)
        target = find_target(store, spec, path, None)
        sweep, _ = materialise(store, target, plan_sweep(store, target, retry_failed=True))
        claims, tells = [], []
        for number in range(trials):
            t0 = time.perf_counter()
            (run_id,) = claim_trial(store, sweep.id, spec)
            t1 = time.perf_counter()
            writes.mark_running(store, run_id, pid=0, device="cpu")
            values = {"train_loss": 1.0, "test_loss": 1.0 + (number % 7) / 10}
            values |= dict.fromkeys(("train_loss_on", "train_loss_off", "test_loss_on", "test_loss_off"), 0.0)
            values |= {"seconds": 1.0, "train_seconds": 1.0, "samples_per_s": 1.0, "lr": 0.01}
            t2 = time.perf_counter()
            writes.record_epoch(store, run_id, values | {"epoch": 1}, None)  # the worker's tell
            writes.finish_run(store, run_id, RunStatus.completed)
            t3 = time.perf_counter()
            claims.append(t1 - t0)
            tells.append(t3 - t2)
        store.close()
    return claims, tells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="search-bench.db")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    values = grid_values(args.db, args.epochs)
    assert len(values) == len(LR) * len(BATCH) * len(INIT), f"the grid has {len(values)} finished cells"
    best = min(values, key=values.get)
    within = sum(v <= values[best] * (1 + WITHIN) for v in values.values())
    print(f"grid: {len(values)} cells, best test loss {values[best]:.4g} at {dict(zip(KEYS, best, strict=True))}")
    print(
        f"{within} of {len(values)} cells lie within {WITHIN:.0%} of it (random's expected draws: "
        f"{(len(values) + 1) / (within + 1):.1f} without replacement)"
    )
    found = {}
    for sampler in ("tpe", "random"):
        counts = [trials_to_target(sampler, seed, values) for seed in range(args.seeds)]
        missed = sum(c is None for c in counts)
        counts = [c if c is not None else len(values) for c in counts]
        found[sampler] = counts
        std = statistics.stdev(counts) if len(counts) > 1 else 0.0
        print(
            f"{sampler:>6}: trials to within {WITHIN:.0%} of the grid's best: "
            f"{statistics.fmean(counts):.1f} ± {std:.1f} "
            f"over {len(counts)} search seeds ({counts}; {missed} never reached it in {len(values)})"
        )
    print(f"ratio tpe / random: {statistics.fmean(found['tpe']) / statistics.fmean(found['random']):.2f}")
    claims, tells = parent_cost()
    late = slice(50, 60)
    print(
        f"parent per trial (60-trial search, SQLite): claim {1000 * statistics.fmean(claims):.1f} ms mean, "
        f"{1000 * statistics.fmean(claims[late]):.1f} ms at trials 50-60; "
        f"tell {1000 * statistics.fmean(tells):.1f} ms; "
        f"claim + tell at 50-60: {1000 * (statistics.fmean(claims[late]) + statistics.fmean(tells[late])):.1f} ms"
    )


if __name__ == "__main__":
    main()
