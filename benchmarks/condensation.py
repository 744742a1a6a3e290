"""Early condensation per activation (docs/findings.md, "Condensation, counted"): each activation trained
at `quick` shapes from a small initialisation with plain gradient steps (SGLD at T = 0: no noise, no
momentum), its encoder rows read every --every steps of the first --steps, their directions counted
(science/condensation.py) and held against Zhou et al.'s bound 2p. Every run is an ordinary run of the
database given (`mftctl condensation RUN` shows its time course).

    python benchmarks/condensation.py [--db condensation.db] [--init 0.3] [--lr 0.1] [--steps 2000]

Seconds are on whatever the machine is doing (its load is printed); the counts are not.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import mftctl
from mftctl.analysis.condensation import condensation_report
from mftctl.store import open_store, reads

ACTIVATIONS = ("tanh", "relu", "square", "cube", "tanh3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, default=Path("condensation.db"))
    parser.add_argument("--init", type=float, default=0.3, help="encoder and decoder init scale (× Xavier)")
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--activations", nargs="+", default=list(ACTIVATIONS))
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    steps_per_epoch = 20  # quick: 20,000 samples in batches of 1,000
    epochs = -(-args.steps // steps_per_epoch)
    print(
        f"quick shapes (d 128, h 64), init {args.init} × Xavier, SGLD T = 0 at lr {args.lr}, {args.steps} steps, "
        f"rows read every {args.every}"
    )
    header = (
        f"{'activation':>10} {'2p':>3} {'dirs max':>8} {'eff.rank min (step)':>20} {'nearest cos max':>15} "
        f"{'∥ones max':>9} {'norm 0→end':>13} {'loss':>7} {'s':>6}"
    )
    print(header)
    for activation in args.activations:
        started = time.perf_counter()
        run = mftctl.train(
            "quick",
            set={
                "model.activation": activation,
                "model.encoder_initialization_scale": args.init,
                "model.decoder_initialization_scale": args.init,
                "training.optimizer": "sgld",
                "training.temperature": 0.0,
                "training.learning_rate": args.lr,
                "training.epochs": epochs,
                "training.enable_diagnostics": False,
                "training.checkpoint_every": 0,
                "diagnostics.condensation_every": args.every,
                "diagnostics.condensation_steps": args.steps,
            },
            name=f"condense-{activation}",
            db=args.db,
        )
        seconds = time.perf_counter() - started
        store = open_store(str(args.db))
        report = condensation_report(store, reads.get_run(store, run["id"]))
        snaps = report.snapshots
        low = min(snaps, key=lambda s: s["effective_rank"])
        print(
            f"{activation:>10} {report.bound:>3} {report.most_directions:>8} "
            f"{low['effective_rank']:>13.1f} ({low['step']:>4}) {max(s['nearest_cos'] for s in snaps):>15.2f} "
            f"{max(s['ones_alignment'] for s in snaps):>9.2f} "
            f"{snaps[0]['row_norm']:>5.2f}→{snaps[-1]['row_norm']:<6.2f} {run['test_loss']:>7.3f} {seconds:>6.0f}  "
            f"(run {run['id']})"
        )
        store.close()


if __name__ == "__main__":
    main()
