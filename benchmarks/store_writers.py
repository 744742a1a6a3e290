"""N writer processes x E epochs into one store, on SQLite and on PostgreSQL: epochs written per second
and errors (database locked, serialisation failures, anything else). Each epoch is what a worker writes:
the epoch row with the run's summary, a heartbeat, and a checkpoint row every 10 epochs.

    python benchmarks/store_writers.py                       # SQLite file + the local PostgreSQL server
    python benchmarks/store_writers.py --writers 16 --epochs 200 --postgres postgresql://user@host/postgres
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
import uuid
from pathlib import Path


def writer(db: str, index: int, epochs: int) -> tuple[int, list[str]]:
    from mftctl.config_input import load_config
    from mftctl.runs.lifecycle import new_run
    from mftctl.status import RunStatus
    from mftctl.store import layout, open_store, writes

    errors: list[str] = []
    store = open_store(db, migrate=False)
    run = new_run(store, load_config("quick", overrides=[f"seed={index}"]), name=f"writer-{index}")
    writes.mark_running(store, run.id, pid=os.getpid(), device="cpu")
    done = 0
    for epoch in range(1, epochs + 1):
        names = ("train_loss", "train_loss_on", "train_loss_off", "test_loss", "test_loss_on", "test_loss_off")
        values = dict.fromkeys(names, 1.0 / epoch)
        values |= {"epoch": epoch, "seconds": 0.01, "train_seconds": 0.01, "samples_per_s": 1.0, "lr": 0.02}
        try:
            writes.record_epoch(store, run.id, values, {"n_blobs": 3, "separation": 0.9, "method": "bench"})
            writes.heartbeat(store, run.id)
            if epoch % 10 == 0:
                path = layout.new_checkpoint_path(store, run.id, epoch)
                writes.record_checkpoint(store, run.id, epoch, path, 1, "0" * 64)
            done += 1
        except Exception as exc:  # counted, not fatal: the figure is how many there are
            errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
    writes.finish_run(store, run.id, RunStatus.completed)
    return done, errors


def measure(db: str, writers: int, epochs: int) -> tuple[float, int, int]:
    from mftctl.store import open_store

    open_store(db).close()
    start = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(writers) as pool:
        results = pool.starmap(writer, [(db, i, epochs) for i in range(writers)])
    wall = time.perf_counter() - start
    return wall, sum(done for done, _ in results), sum(len(errors) for _, errors in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres", help="an admin URL")
    args = parser.parse_args()
    import psycopg

    folder = Path(tempfile.mkdtemp(prefix="mftctl-bench-"))
    os.environ["MFTCTL_RUNS_DIR"] = str(folder / "pg-runs")
    name = f"mftctl_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.postgres, autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    rows = {}
    try:
        for label, db in (
            ("sqlite", str(folder / "bench.db")),
            ("postgresql", args.postgres.rsplit("/", 1)[0] + "/" + name),
        ):
            rows[label] = measure(db, args.writers, args.epochs)
    finally:
        with psycopg.connect(args.postgres, autocommit=True) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"{args.writers} writers x {args.epochs} epochs (epoch row + summary, heartbeat, checkpoint row every 10)")
    total = args.writers * args.epochs
    for label, (wall, done, errors) in rows.items():
        print(f"  {label:<11} {wall:6.2f} s wall  {done / wall:8.1f} epochs/s  {done}/{total} written  errors {errors}")
    rate = {label: done / wall for label, (wall, done, _) in rows.items()}
    print(f"  postgresql / sqlite throughput: {rate['postgresql'] / rate['sqlite']:.2f}x")


if __name__ == "__main__":
    main()
