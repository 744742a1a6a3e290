"""One 100k-sample reference epoch, whole process: `mftctl train` (CLI, worker subprocess, store, blob
measurement, checkpoint) against the research code's process doing the same epoch
(`benchmarks/research_epoch.py`: DataLoader pipeline, evaluation, its DBSCAN metrics, a checkpoint).
Each is a fresh process, timed from start to exit, alternately, best of --repeats.

    python benchmarks/whole_process.py [--n-train 100000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mftctl.config import preset_dict, validate

HERE = Path(__file__).resolve().parent


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return wall


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
        mftctl_walls.append(
            timed(
                [sys.executable, "-m", "mftctl", "train", "--preset", "reference_3blob", "--epochs", "1", "--device",
                 "cpu", "--set", f"data.n_train={args.n_train}", "--db", str(db)]
            )
        )  # fmt: skip
        listed = [sys.executable, "-m", "mftctl", "list", "--format", "json", "--db", str(db)]
        listed = subprocess.run(listed, capture_output=True, text=True)
        train_s.append(json.loads(listed.stdout)[0]["train_seconds"])
        research_walls.append(timed(research))
    best_m, best_r = min(mftctl_walls), min(research_walls)
    print(f"one {args.n_train:,}-sample reference epoch, whole process (best of {args.repeats}, alternating)")
    print(f"  mftctl train:      {best_m:6.2f} s wall  (all: {', '.join(f'{w:.2f}' for w in mftctl_walls)})")
    print(f"    of which training (the epoch's own seconds): {min(train_s):.2f} s; the rest is start-up and after")
    print(f"  research pipeline: {best_r:6.2f} s wall  (all: {', '.join(f'{w:.2f}' for w in research_walls)})")
    print(f"  mftctl speed-up, whole process: {best_r / best_m:.2f}x")


if __name__ == "__main__":
    main()
