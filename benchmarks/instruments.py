"""What a researcher waits for in a loop: `mftctl diagnose RUN --recompute` and `mftctl plot RUN`, as
whole commands (a fresh process, as typed), diagnose's phases in this process, and the same two as a loop
in Python pays for them (`mftctl.diagnose(run, recompute=True)`, `mftctl.plot(run)`: the imports paid once,
by a first call that is not counted).

python benchmarks/instruments.py --db DB RUN [RUN ...] [--repeat 3] [--against OLD_SRC]

With --against (the src/ folder of a checkout of an earlier commit, e.g. `git worktree add /tmp/old
ff734f0`), each command runs alternately with that version (PYTHONPATH=OLD_SRC) and this one, best of
--repeat each, and the ratio new/old is printed: both versions see the same load. Prints one row per run
and version.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def _env(src: str | None) -> dict[str, str]:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src
    return env


def wall(args: list[str], repeat: int, versions: list[str | None]) -> list[float]:
    """Per version, the best of `repeat` runs of `python -m mftctl ARGS` (seconds), the versions alternated."""
    best = [float("inf")] * len(versions)
    for _ in range(repeat):
        for i, src in enumerate(versions):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "mftctl", *args], check=True, capture_output=True, env=_env(src))
            best[i] = min(best[i], time.perf_counter() - start)
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


def in_a_loop(db: str, run_id: int, repeat: int) -> dict[str, float]:
    """Best of `repeat` calls each of mftctl.diagnose (recomputed) and mftctl.plot in this process, after
    one uncounted call of each (the imports)."""
    import mftctl

    best = {"diagnose": float("inf"), "plot": float("inf")}
    with tempfile.TemporaryDirectory() as out:
        mftctl.diagnose(run_id, recompute=True, db=db)
        mftctl.plot(run_id, out=out, db=db)
        for _ in range(repeat):
            start = time.perf_counter()
            mftctl.diagnose(run_id, recompute=True, db=db)
            best["diagnose"] = min(best["diagnose"], time.perf_counter() - start)
            start = time.perf_counter()
            mftctl.plot(run_id, out=out, db=db)
            best["plot"] = min(best["plot"], time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True)
    parser.add_argument("runs", type=int, nargs="+")
    parser.add_argument("--repeat", type=int, default=3, help="each command's best of this many")
    parser.add_argument("--against", help="the src/ folder of an earlier version to time alternately")
    parser.add_argument("--phases", action="store_true", help=argparse.SUPPRESS)  # one version's phases, as JSON
    parser.add_argument("--loop", action="store_true", help=argparse.SUPPRESS)  # this version in a loop, as JSON
    args = parser.parse_args()
    if args.phases:
        print(json.dumps({run_id: phases(args.db, run_id) for run_id in args.runs}))
        return
    if args.loop:
        print(json.dumps({run_id: in_a_loop(args.db, run_id, args.repeat) for run_id in args.runs}))
        return
    versions = [args.against, None] if args.against else [None]
    names = ["before", "after"] if args.against else ["this"]
    print("| run | version | pairs | diagnose (s) | plot (s) | load | test loss | blobs | gmm on-path | off-path |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for run_id in args.runs:
        db = ["--db", args.db]
        diagnose = wall(["diagnose", str(run_id), "--recompute", "--format", "json", *db], args.repeat, versions)
        with tempfile.TemporaryDirectory() as out:  # diagnose is cached by now: plot draws
            plot = wall(["plot", str(run_id), "--out", out, *db], args.repeat, versions)
        for i, (name, src) in enumerate(zip(names, versions, strict=True)):
            me = [sys.executable, __file__, "--phases", "--db", args.db, str(run_id)]
            p = json.loads(subprocess.run(me, check=True, capture_output=True, text=True, env=_env(src)).stdout)
            p = p[str(run_id)]
            print(
                f"| {run_id} | {name} | {p['pairs']:,} | {diagnose[i]:.2f} | {plot[i]:.2f} | {p['load']:.2f} | "
                f"{p['test loss']:.2f} | {p['blobs']:.2f} | {p['gmm on-path']:.2f} | {p['off-path']:.2f} |"
            )
        if args.against:
            ratios = f"{diagnose[1] / diagnose[0]:.2f} | {plot[1] / plot[0]:.2f}"
            print(f"| {run_id} | after/before | | {ratios} | | | | | |")
        me = [sys.executable, __file__, "--loop", "--repeat", str(args.repeat), "--db", args.db, str(run_id)]
        loop = json.loads(subprocess.run(me, check=True, capture_output=True, text=True).stdout)[str(run_id)]
        print(f"| {run_id} | this, in a Python loop | | {loop['diagnose']:.2f} | {loop['plot']:.2f} | | | | | |")


if __name__ == "__main__":
    main()
