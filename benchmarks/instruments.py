"""What a researcher waits for in a loop: `mftctl diagnose RUN --recompute` and `mftctl plot RUN`, as
whole commands (a fresh process, as typed) and diagnose's phases in this process.

python benchmarks/instruments.py --db DB RUN [RUN ...] [--repeat 2]

Run it twice to compare two versions of mftctl (e.g. PYTHONPATH=/tmp/old/src for a checkout of an earlier
commit); the commands run `python -m mftctl` with this process's environment. Prints one row per run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time


def wall(args: list[str], repeat: int) -> float:
    """Best of `repeat` runs of `python -m mftctl ARGS` (seconds)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "mftctl", *args], check=True, capture_output=True, env=os.environ)
        best = min(best, time.perf_counter() - start)
    return best


def phases(db: str, run_id: int) -> dict[str, float]:
    """diagnose's parts, timed one after another in this process (torch already imported)."""
    import numpy as np
    import torch

    from mftctl.checkpoints.load import load_run_checkpoint
    from mftctl.science import diagnostics as dg
    from mftctl.science.data import fixed_test_set
    from mftctl.science.train import evaluate
    from mftctl.store import open_store, reads

    store = open_store(db)
    run = reads.get_run(store, run_id)
    out: dict[str, float] = {}
    t = time.perf_counter()
    loaded = load_run_checkpoint(store, run)
    model = loaded.model()
    config = loaded.config.model_copy(update={"device": "cpu"})
    out["load"] = time.perf_counter() - t
    t = time.perf_counter()
    evaluate(model, fixed_test_set(config.data, config.seed, torch.device("cpu")), config)
    out["test loss"] = time.perf_counter() - t
    rng = np.random.default_rng(0)
    points = dg.pairs_of(model)
    t = time.perf_counter()
    dg.measure_model_blobs(model, dg.blob_settings(config))
    out["blobs"] = time.perf_counter() - t
    t = time.perf_counter()
    dg.mixture_summary(dg._uniform(points, dg.GMM_SAMPLE, rng), config.diagnostics.gmm_max_components, config.seed)
    out["gmm on-path"] = time.perf_counter() - t
    t = time.perf_counter()
    control = dg.off_path_pairs(model, min(len(points), dg.GMM_SAMPLE), rng)
    dg.measure_blobs(control, dg.blob_settings(config))
    dg.mixture_summary(control, config.diagnostics.gmm_max_components, config.seed)
    out["off-path"] = time.perf_counter() - t
    return out | {"pairs": len(points)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True)
    parser.add_argument("runs", type=int, nargs="+")
    parser.add_argument("--repeat", type=int, default=2, help="each command's best of this many")
    args = parser.parse_args()
    print("| run | pairs | diagnose (s) | plot (s) | load | test loss | blobs | gmm on-path | off-path |")
    print("|---|---|---|---|---|---|---|---|---|")
    for run_id in args.runs:
        db = ["--db", args.db]
        diagnose = wall(["diagnose", str(run_id), "--recompute", "--format", "json", *db], args.repeat)
        with tempfile.TemporaryDirectory() as out:  # diagnose is cached by now: plot draws
            plot = wall(["plot", str(run_id), "--out", out, *db], args.repeat)
        p = phases(args.db, run_id)
        print(
            f"| {run_id} | {p['pairs']:,} | {diagnose:.2f} | {plot:.2f} | {p['load']:.2f} | {p['test loss']:.2f} | "
            f"{p['blobs']:.2f} | {p['gmm on-path']:.2f} | {p['off-path']:.2f} |"
        )


if __name__ == "__main__":
    main()
