"""Can the blobs make training cheaper? Every route to a network at the demo recipe, at widths d = 256,
512, 1024 (h = d/2), each run as a user runs it (`mftctl train`, `mftctl stage2`, one process per
command, one child at a time), its loss and its wall time read back from the store:

    stage 1             train from scratch (Adam, trained decoder): its best test loss, and the training
                        seconds to reach it
    stage 1 + solve     the same encoder, its decoder solved exactly (the ceiling of every stage-2 child)
    sample + solve      a frozen encoder drawn by a sampler, its decoder solved: one solve, no training
    sample + train      the same encoders, their decoders trained by Adam for the recipe's epochs
    stage 1 to E + solve  stage 1 stopped at an early checkpoint E (--early, default 1 4 7), its decoder
                        solved: how much of stage 1 the solve makes unnecessary

    python benchmarks/leverage.py [--widths 256 512 1024] [--parents 2] [--traces 3] [--early 1 4 7]
                                  [--db leverage.db]

Two clocks: `fit s`, the seconds the run's training or solve took (its epochs' train_seconds; for stage 1
up to its best epoch, or its whole training before a solve); `wall s`, the run from start to finish
(loading the parent, sampling — the code sampler's annealing is here —, fitting, the per-epoch blob
measurements and checkpoints; stage 1 + solve: the parent's wall plus the solve child's). Both are on
whatever the machine is doing: note its load. A second
call with the same --db reuses the runs already there (nothing is trained twice) and prints again.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from functools import partial
from pathlib import Path

from mftctl.store import open_store, reads
from mftctl_cli import mftctl

SAMPLERS = ("iid", "shuffle", "rewire", "code")


def run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr or done.stdout)


def mean_std(values: list[float], digits: int = 3) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def wall(run_row) -> float:
    return (run_row.finished_at - run_row.started_at).total_seconds()


def ensure_runs(db: Path, widths: list[int], parents: int, traces: int) -> None:
    """Train what the store lacks: `parents` seeds per width, and per parent the parent control (with and
    without b1, solved), and each sampler's children solved and trained."""
    store = open_store(str(db))
    have = {(r.config["data"]["d"], r.seed) for r in reads.runs_by_id(store, reads.run_ids(store)) if r.kind == "train"}
    for d in widths:
        for seed in range(parents):
            if (d, seed) in have:
                continue
            print(f"d = {d}, seed {seed}: stage 1 ...", file=sys.stderr, flush=True)
            sets = ["--set", f"data.d={d}", "--set", f"model.hidden_size={d // 2}", "--set", f"seed={seed}"]
            run(mftctl("train", "--preset", "demo", "--name", f"d{d}-s{seed}", *sets, db=db))
            parent = max(reads.run_ids(open_store(str(db))))
            stage2 = ["stage2", str(parent), "--jobs", "1"]
            print(f"d = {d}, seed {seed}: stage 2 ...", file=sys.stderr, flush=True)
            run(mftctl(*stage2, "--control", "parent", "--decoder", "solve", db=db))
            run(mftctl(*stage2, "--control", "parent", "--decoder", "solve", "--b1", "zero", db=db))
            samplers = [arg for s in SAMPLERS for arg in ("--sampler", s)]
            for decoder in ("solve", "train"):
                run(mftctl(*stage2, *samplers, "--traces", str(traces), "--decoder", decoder, db=db))


def ensure_early_solves(db: Path, early: list[int]) -> None:
    """Per completed parent and early checkpoint E, its encoder at E with the decoder solved."""
    store = open_store(str(db))
    for parent in reads.runs_by_id(store, reads.run_ids(store)):
        if parent.kind != "train" or parent.status != "completed":
            continue
        solved = {
            c.extra.get("parent_epoch")
            for c in reads.children(store, parent.id)
            if c.kind == "stage2" and c.extra.get("control") == "parent"
        }
        kept = {c.epoch for c in reads.checkpoints(store, parent.id)}
        for epoch in early:
            if epoch in solved or epoch not in kept:
                continue
            print(f"run {parent.id}: stage 1 to epoch {epoch} + solve ...", file=sys.stderr, flush=True)
            solve = ["--control", "parent", "--decoder", "solve", "--epoch", str(epoch)]
            run(mftctl("stage2", str(parent.id), "--jobs", "1", *solve, db=db))


Routes = dict[str, tuple[list[float], list[float], list[float], list[float]]]  # losses, fits, walls, gaps


def add_route(rows: Routes, route: str, loss: float, fit: float, elapsed: float, ceiling: float) -> None:
    losses, fits, walls, gaps = rows.setdefault(route, ([], [], [], []))
    losses.append(loss)
    fits.append(fit)
    walls.append(elapsed)
    gaps.append(loss / ceiling - 1)


def report(db: Path) -> None:
    store = open_store(str(db), create=False)
    runs = reads.runs_by_id(store, reads.run_ids(store))
    parents = [r for r in runs if r.kind == "train" and r.status == "completed"]
    widths = sorted({p.config["data"]["d"] for p in parents})
    print("| d | h | route | runs | test loss | vs ceiling | fit s | wall s |")
    print("|---|---|---|---|---|---|---|---|")
    trend: dict[str, dict[int, list[float]]] = {}
    for d in widths:
        family = [p for p in parents if p.config["data"]["d"] == d]
        rows: Routes = {}
        add = partial(add_route, rows)

        for parent in family:
            epochs = reads.epochs(store, parent.id)
            best = min(epochs, key=lambda e: e.test_loss)
            to_best = sum(e.train_seconds for e in epochs if e.epoch <= best.epoch)
            kids = [c for c in reads.children(store, parent.id) if c.kind == "stage2" and c.status == "completed"]
            last = max(e.epoch for e in epochs)
            ceiling_kid = next(
                c
                for c in kids
                if c.extra["control"] == "parent"
                and c.extra.get("b1", "parent") == "parent"
                and c.extra.get("parent_epoch", last) == last
            )
            saved_at = {c.epoch: c.created_at for c in reads.checkpoints(store, parent.id)}
            ceiling = ceiling_kid.last_test_loss
            add("stage 1 (Adam, its best epoch)", best.test_loss, to_best, wall(parent), ceiling)
            add(
                "stage 1 + solve (the ceiling)",
                ceiling,
                parent.train_seconds + ceiling_kid.train_seconds,
                wall(parent) + wall(ceiling_kid),
                ceiling,
            )
            for kid in kids:
                decoder = kid.config["stage2"]["decoder"]
                if kid.extra["control"] == "parent" and kid.extra.get("parent_epoch", last) != last:
                    stop = kid.extra["parent_epoch"]
                    fit = sum(e.train_seconds for e in epochs if e.epoch <= stop) + kid.train_seconds
                    elapsed = (saved_at[stop] - parent.started_at).total_seconds() + wall(kid)
                    add(f"stage 1 to epoch {stop} + solve", kid.last_test_loss, fit, elapsed, ceiling)
                    continue
                if kid.extra["control"] == "parent":
                    if kid is not ceiling_kid:
                        fit, elapsed = parent.train_seconds + kid.train_seconds, wall(parent) + wall(kid)
                        add("stage 1 + solve, no b1", kid.last_test_loss, fit, elapsed, ceiling)
                    continue
                route = f"{kid.extra['sampler']} + {'solve' if decoder == 'solve' else 'train'}"
                add(route, kid.last_test_loss, kid.train_seconds, wall(kid), ceiling)
                if decoder == "solve":
                    gap = kid.last_test_loss / ceiling - 1
                    trend.setdefault(kid.extra["sampler"], {}).setdefault(d, []).append(gap)
        for route, (losses, fits, walls, gaps) in rows.items():
            gap = f"{statistics.mean(gaps):+.1%}" + (f" ± {statistics.stdev(gaps):.1%}" if len(gaps) > 1 else "")
            print(
                f"| {d} | {d // 2} | {route} | {len(losses)} | {mean_std(losses)} | {gap} "
                f"| {mean_std(fits, 1)} | {mean_std(walls, 1)} |"
            )
    print()
    print("Solved-decoder gap to the ceiling by width (mean ± std over parents × traces):")
    print("| sampler | " + " | ".join(f"d = {d}" for d in widths) + " |")
    print("|---|" + "---|" * len(widths))
    for sampler, by_d in trend.items():
        cells = []
        for d in widths:
            gaps = by_d.get(d, [])
            sd = f" ± {statistics.stdev(gaps):.1%}" if len(gaps) > 1 else ""
            cells.append(f"{statistics.mean(gaps):+.1%}{sd}" if gaps else "-")
        print(f"| {sampler} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--widths", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--parents", type=int, default=2, help="stage-1 seeds per width")
    parser.add_argument("--traces", type=int, default=3, help="children per sampler and decoder")
    parser.add_argument("--early", type=int, nargs="*", default=[1, 4, 7], help="early checkpoints solved")
    parser.add_argument("--db", type=Path, default=Path("leverage.db"))
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    ensure_runs(args.db, args.widths, args.parents, args.traces)
    ensure_early_solves(args.db, args.early)
    report(args.db)
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
