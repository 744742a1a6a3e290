"""Do `list` and `diagnose` tell the same story for every run of a database? And what did the first
release's sampled DBSCAN say? Optionally draws the final weight-pair cloud of every run in one grid.

python benchmarks/blob_agreement.py DB [--reanalyse] [--grid out.png] [--where sweep=1]

With --reanalyse, runs measured by the old method are measured again first (the old K and silhouette
are printed beside the new numbers). Prints a Markdown table; exits 1 if any run disagrees.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from mftctl.analysis.diagnose import diagnose_checkpoint
from mftctl.analysis.reanalyse import reanalyse_run
from mftctl.checkpoints.load import load_run_checkpoint
from mftctl.runs.query import parse_where
from mftctl.store import open_store, reads
from mftctl.store.catalog import open_catalog
from mftctl.store.location import resolve_location


def short(config: dict) -> str:
    t, m = config["training"], config["model"]
    return (
        f"lr {t['learning_rate']} batch {t['batch_size']} init {m['encoder_initialization_scale']}/"
        f"{m['decoder_initialization_scale']} ep {t['epochs']}"
    )


def draw_grid(store, runs, reports, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 7 if len(runs) > 12 else 4
    rows = math.ceil(len(runs) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False, layout="constrained")
    for ax in axes.ravel()[len(runs) :]:
        ax.axis("off")
    for ax, run in zip(axes.ravel(), runs, strict=False):
        pairs = load_run_checkpoint(store, run).model().weight_pairs().numpy()
        ax.hexbin(pairs[:, 0], pairs[:, 1], gridsize=70, bins="log", mincnt=1, cmap="viridis")
        r = reports[run.id]
        ax.set_title(
            f"run {run.id}: {short(run.config)}\nK={r['n_blobs']} sep={r['separation']:.2f} ({r['state']})",
            fontsize=7,
        )
        ax.tick_params(labelsize=6)
    fig.suptitle("final weight pairs (W1[i,j], W2[j,i]), log density; K and separation from measure_blobs")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("db")
    parser.add_argument("--reanalyse", action="store_true", help="measure old-method runs again first")
    parser.add_argument("--grid", type=Path, help="write the scatter grid here")
    parser.add_argument("--where", action="append", default=[], help="select runs as `mftctl list --where`")
    args = parser.parse_args()

    from mftctl.science.blobs import blob_state

    store = open_store(args.db)
    catalog = open_catalog(resolve_location(args.db))
    ids = [r.id for r in catalog.list_runs(filters=[parse_where(w) for w in args.where], sort="id")]
    old = {
        i: (reads.get_run(store, i).n_clusters, reads.get_run(store, i).silhouette, reads.get_run(store, i).blob_method)
        for i in ids
    }
    if args.reanalyse:
        for run_id in ids:
            if old[run_id][2] is None:
                reanalyse_run(store, run_id)
    print("| run | config | old K | old silhouette | K | separation | silhouette | state | list = diagnose |")
    print("|---|---|---|---|---|---|---|---|---|")
    disagree, reports, runs = 0, {}, []
    for run_id in ids:
        run = reads.get_run(store, run_id)
        if not reads.checkpoints(store, run_id):
            continue
        on = diagnose_checkpoint(store, run_id)["on_path"]
        same = (run.n_clusters, run.separation, run.silhouette) == (on["n_blobs"], on["separation"], on["silhouette"])
        disagree += not same
        reports[run_id] = on | {"state": blob_state(on["n_blobs"], on["separation"])}
        runs.append(run)
        old_k, old_sil, method = old[run_id]
        old_cells = (str(old_k), "-" if old_sil is None else f"{old_sil:.3f}") if method is None else ("-", "-")
        sil = "-" if on["silhouette"] is None else f"{on['silhouette']:.3f}"
        print(
            f"| {run_id} | {short(run.config)} | {old_cells[0]} | {old_cells[1]} | {on['n_blobs']} "
            f"| {on['separation']:.3f} | {sil} | {reports[run_id]['state']} | {'yes' if same else 'NO'} |"
        )
    if args.grid:
        draw_grid(store, runs, reports, args.grid)
        print(f"\ngrid: {args.grid}")
    sys.exit(1 if disagree else 0)


if __name__ == "__main__":
    main()
