"""`mftctl list` and `mftctl --help` over a database of 10,000 runs and 200,000 epoch rows.

    python benchmarks/list_runs.py [--runs 10000] [--epochs-per-run 20]

The database is built with the real schema (mftctl's migrations), its rows bulk-inserted with sqlite3;
each command is timed as a user runs it: a fresh `python -m mftctl` process, best of 5.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mftctl.config import config_hash
from mftctl.config_input import load_config
from mftctl.store import open_store


def build(db: Path, runs: int, epochs: int) -> None:
    open_store(db).close()
    rng = random.Random(0)
    con = sqlite3.connect(db)
    run_rows, epoch_rows = [], []
    for i in range(1, runs + 1):
        config = load_config(
            "quick", overrides=[f"training.learning_rate={rng.choice([0.005, 0.01, 0.02, 0.05])}", f"seed={i}"]
        )
        sil = rng.random() if rng.random() < 0.7 else None
        run_rows.append(
            (
                i,
                f"run-{i}",
                "train",
                "completed",
                "quick",
                config.model_dump_json(),
                config_hash(config),
                i,
                "2026-11-01 00:00:00",
                epochs,
                epochs,
                rng.random() * 10,
                rng.random() * 10,
                rng.random() * 10,
                1000.0,
                1.0,
                rng.randint(1, 4),
                sil,
            )
        )
        for e in range(1, epochs + 1):
            epoch_rows.append((i, e, *(rng.random() for _ in range(11))))
    con.executemany(
        "INSERT INTO run (id, name, kind, status, preset, config_json, config_hash, seed, created_at, epochs_total, "
        "epochs_done, last_train_loss, last_test_loss, best_test_loss, samples_per_s, train_seconds, n_clusters, "
        "silhouette) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        run_rows,
    )
    con.executemany(
        "INSERT INTO epoch (run_id, epoch, train_loss, train_loss_on, train_loss_off, test_loss, test_loss_on, "
        "test_loss_off, seconds, train_seconds, samples_per_s, lr, silhouette) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        epoch_rows,
    )
    con.commit()
    con.close()


def timed(args: list[str], repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "mftctl", *args], check=True, capture_output=True)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--epochs-per-run", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "big.db"
        build(db, args.runs, args.epochs_per_run)
        baseline = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        python_start = time.perf_counter() - baseline
        figures = {
            "runs": args.runs,
            "epoch_rows": args.runs * args.epochs_per_run,
            "python_startup_s": python_start,
            "help_s": timed(["--help"]),
            "list_sort_silhouette_limit20_s": timed(["list", "--sort", "silhouette", "--limit", "20", "--db", str(db)]),
            "list_sort_config_key_limit20_s": timed(
                ["list", "--sort", "-training.learning_rate", "--limit", "20", "--db", str(db)]
            ),
            "list_where_limit20_s": timed(
                [
                    "list",
                    "--where",
                    "training.learning_rate>=0.02",
                    "--where",
                    "status=completed",
                    "--sort",
                    "-silhouette",
                    "--limit",
                    "20",
                    "--db",
                    str(db),
                ]
            ),
            "list_json_all_s": timed(["list", "--format", "json", "--db", str(db)], repeats=2),
        }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    for key, value in figures.items():
        print(f"{key:35s} {value:.3f}" if isinstance(value, float) else f"{key:35s} {value}")


if __name__ == "__main__":
    main()
