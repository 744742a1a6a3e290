"""TF32 against true float32: `training.matmul_precision = "high"` vs `"highest"`, over seeds, as one
sweep. Prints, per precision, the training rate and the final science (test loss, blob count,
separation, silhouette) as mean ± std, and the speed-up. On a GPU with TF32 (Ampere and later) "high"
is faster and less exact; on a CPU both are float32 (the script still runs, shrunk by --scale).

    python benchmarks/tf32.py [--preset reference_3blob] [--seeds 3] [--device cuda] [--scale 1]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
from pathlib import Path

from mftctl_cli import listed_runs, mftctl, timed

PRECISIONS = ("highest", "high")
METRICS = ("samples_per_s", "test_loss", "n_clusters", "separation", "silhouette")


def mean_std(values: list[float]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.4g} ± {spread:.2g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="reference_3blob")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--device", default=None, help="default: cuda when there is one, else cpu")
    parser.add_argument("--scale", type=float, default=None, help="share of n_train kept (default 1 on CUDA)")
    parser.add_argument("--jobs", type=int, default=1, help="cells at once (1: no sharing skews the rates)")
    args = parser.parse_args()
    device = args.device or ("cuda" if shutil.which("nvidia-smi") else "cpu")
    scale = args.scale if args.scale is not None else (1.0 if device.startswith("cuda") else 0.02)
    from mftctl.config import preset_dict, validate

    n_train = max(1, int(validate(preset_dict(args.preset)).data.n_train * scale))
    folder = Path(tempfile.mkdtemp(prefix="mftctl-tf32-"))
    sweep = folder / "tf32.toml"
    sweep.write_text(
        f'name = "tf32"\nbase = "{args.preset}"\n[set]\ndevice = "{device}"\n"data.n_train" = {n_train}\n'
        f'[grid]\nseed = {list(range(1, args.seeds + 1))}\n"training.matmul_precision" = {json.dumps(PRECISIONS)}\n'
    )
    db = folder / "tf32.db"
    wall = timed(mftctl("sweep", str(sweep), "--jobs", str(args.jobs), db=db))
    runs = listed_runs(db)
    by = {p: [r for r in runs if r["config"]["training"]["matmul_precision"] == p] for p in PRECISIONS}
    print(f"{args.preset} on {device}, n_train {n_train:,}, {args.seeds} seeds per precision ({wall:.0f} s wall)")
    print(f"  {'precision':<10}" + "".join(f"{m:>22}" for m in METRICS))
    for precision, rows in by.items():
        print(f"  {precision:<10}" + "".join(f"{mean_std([r[m] for r in rows]):>22}" for m in METRICS))
    rates = {p: statistics.fmean(r["samples_per_s"] for r in rows) for p, rows in by.items() if rows}
    if len(rates) == 2:
        print(f"  TF32 speed-up (high / highest, mean samples/s): {rates['high'] / rates['highest']:.2f}x")


if __name__ == "__main__":
    main()
