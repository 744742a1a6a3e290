"""One 100k-sample reference epoch, whole process: `mftctl train` (CLI, worker subprocess, store, blob
measurement, checkpoint) against the research code's process doing the same epoch
(`benchmarks/research_epoch.py`: DataLoader pipeline, evaluation, its DBSCAN metrics, a checkpoint).
Each is a fresh process, timed from start to exit, alternately, best of --repeats.

    python benchmarks/whole_process.py [--n-train 100000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from mftctl.config import preset_dict, validate
from mftctl_cli import listed_runs, mftctl, timed

HERE = Path(__file__).resolve().parent


def research_args(n_train: int) -> dict:
    c = validate(preset_dict("reference_3blob"))
    return {
        "seed": c.seed,
        "d": c.data.d,
        "h": c.model.hidden_size,
        "enc_scale": c.model.encoder_initialization_scale,
        "dec_scale": c.model.decoder_initialization_scale,
        "lr": c.training.learning_rate,
        "batch": c.training.batch_size,
        "n_train": n_train,
        "n_test": c.data.n_test,
        "noise_variance": c.data.noise_variance,
        "amplitude": c.data.amplitude_min,
        "lambda_on": c.loss.lambda_on,
        "dec_reg": c.training.decoder_regularization,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-train", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="mftctl-whole-"))
    research = [sys.executable, str(HERE / "research_epoch.py"), json.dumps(research_args(args.n_train)), str(folder)]
    mftctl_walls, research_walls, train_s = [], [], []
    for i in range(args.repeats):
        db = folder / f"run{i}.db"
        train = ("train", "--preset", "reference_3blob", "--epochs", "1", "--device", "cpu")
        mftctl_walls.append(timed(mftctl(*train, "--set", f"data.n_train={args.n_train}", db=db)))
        train_s.append(listed_runs(db)[0]["train_seconds"])
        research_walls.append(timed(research))
    best_m, best_r = min(mftctl_walls), min(research_walls)
    print(f"one {args.n_train:,}-sample reference epoch, whole process (best of {args.repeats}, alternating)")
    print(f"  mftctl train:      {best_m:6.2f} s wall  (all: {', '.join(f'{w:.2f}' for w in mftctl_walls)})")
    print(f"    of which training (the epoch's own seconds): {min(train_s):.2f} s; the rest is start-up and after")
    print(f"  research pipeline: {best_r:6.2f} s wall  (all: {', '.join(f'{w:.2f}' for w in research_walls)})")
    print(f"  mftctl speed-up, whole process: {best_r / best_m:.2f}x")


if __name__ == "__main__":
    main()
