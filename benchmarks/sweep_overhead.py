"""Per-cell overhead of a sweep: wall × jobs ÷ cells − mean training seconds per cell, for a 12-cell
`quick` sweep run by the pool of persistent workers, against the same 12 runs each in its own worker
process (`mftctl train`, one after another: what every cell cost before the pool kept its workers).

    python benchmarks/sweep_overhead.py [--cells 12] [--jobs 2]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from mftctl_cli import listed_runs, mftctl, timed


def train_seconds(db: Path) -> list[float]:
    return [r["train_seconds"] for r in listed_runs(db)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, default=12)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="mftctl-overhead-"))
    sweep = folder / "cells.toml"
    sweep.write_text(
        f'name = "cells"\nbase = "quick"\n[set]\ndevice = "cpu"\n[grid]\nseed = {list(range(args.cells))}\n'
    )

    pool_wall = timed(mftctl("sweep", str(sweep), "--jobs", str(args.jobs), db=folder / "pool.db"))
    pool_train = train_seconds(folder / "pool.db")

    each_wall = sum(
        timed(mftctl("train", "--preset", "quick", "--seed", str(seed), "--device", "cpu", db=folder / "each.db"))
        for seed in range(args.cells)
    )
    each_train = train_seconds(folder / "each.db")

    pool = pool_wall * args.jobs / args.cells - sum(pool_train) / len(pool_train)
    each = each_wall / args.cells - sum(each_train) / len(each_train)
    print(f"{args.cells}-cell quick sweep")
    print(f"  pool, --jobs {args.jobs}, persistent workers: {pool_wall:6.1f} s wall, overhead {pool:5.2f} s per cell")
    print(
        f"  one process per run (mftctl train x {args.cells}): {each_wall:6.1f} s wall, overhead {each:5.2f} s per run"
    )
    print(
        f"  mean training seconds per cell: pool {sum(pool_train) / len(pool_train):.2f}, "
        f"each {sum(each_train) / len(each_train):.2f}; overhead ratio {each / pool:.1f}x"
    )


if __name__ == "__main__":
    main()
