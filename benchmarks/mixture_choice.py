"""How `diagnose` chooses its Gaussian mixture: BIC over K = 1..6, every fit started by k-means on all the
pairs it fits (the first releases), against K chosen by BIC on a 20,000-pair subsample and that K fitted
once more on all of them, warm from its subsample fit (science/mixture.select_by_bic), with the first
method run again with another k-means seed as the yardstick of what "unchanged" can mean.
Same clouds, same process, one after the other.

python benchmarks/mixture_choice.py [--db DB --where sweep=1] [--max-k 6]

Clouds: the reference run's pairs at epochs 5, 11 and 20 (tests/data/reference_pairs.npz, 524,288 pairs;
200,000 uniform of them, as diagnose fits), the last checkpoint of every run DB holds, and each cloud's
off-path control. Prints a Markdown table (K both ways, the largest weight and mean differences, each
against its sampling error) and the two times with their ratio.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from mftctl.science.diagnostics import GMM_SAMPLE
from mftctl.science.mixture import select_by_bic

REFERENCE = Path(__file__).resolve().parent.parent / "tests" / "data" / "reference_pairs.npz"


def clouds(args):
    rng = np.random.default_rng(0)
    data = np.load(REFERENCE)
    for key in data.files if not args.runs_only else []:
        points = data[key].astype(np.float64)
        yield f"reference {key}", points[rng.choice(len(points), GMM_SAMPLE, replace=False)]
    if args.db:
        from mftctl.checkpoints.load import load_run_checkpoint
        from mftctl.runs.query import select_run_ids
        from mftctl.science.diagnostics import off_path_pairs
        from mftctl.store import open_store, reads

        store = open_store(args.db)
        ids = select_run_ids(args.db, None, [args.where] if args.where else None)
        for run in reads.runs_by_id(store, ids):
            try:
                model = load_run_checkpoint(store, run).model()
            except Exception:
                continue
            points = model.weight_pairs().numpy().astype(np.float64)
            yield f"run {run.id} {run.name}", points[rng.permutation(len(points))][:GMM_SAMPLE]
            yield f"run {run.id} off-path", off_path_pairs(model, min(len(points), GMM_SAMPLE), rng)


def matched_difference(a, b):
    """Largest |Δweight|, and largest |Δmean| in units of its sampling error (the component's standard
    deviation per axis over √(its points)), pairing components by position (an optimal assignment)."""
    from scipy.optimize import linear_sum_assignment

    if a.k != b.k:
        return None, None
    scale = np.sqrt(np.diagonal(a.covariances, axis1=1, axis2=2))
    cost = (np.abs(a.means[:, None, :] - b.means[None, :, :]) / scale[:, None, :]).sum(-1)
    rows, cols = linear_sum_assignment(cost)
    dw = float(np.abs(a.weights[rows] - b.weights[cols]).max())
    worst = 0.0
    for wa, ma, ca, mb in zip(a.weights[rows], a.means[rows], a.covariances[rows], b.means[cols], strict=True):
        sd = np.sqrt(np.diag(ca))
        n = max(wa * GMM_SAMPLE, 1.0)
        worst = max(worst, float((np.abs(ma - mb) / (sd / np.sqrt(n))).max()))
    return dw, worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db")
    parser.add_argument("--where")
    parser.add_argument("--max-k", type=int, default=6)
    parser.add_argument("--runs-only", action="store_true", help="only the runs of --db, not the reference pairs")
    args = parser.parse_args()
    print(
        "| cloud | K all pairs | K all pairs, seed 1 | K subsample | max Δweight | max Δmean / s.e. | same, seed 1: "
        "Δweight | Δmean / s.e. | all pairs s | subsample s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    totals = [0.0, 0.0]
    same = same_seed = rows = 0

    def cells(a, b):
        dw, dm = matched_difference(a, b)
        return ("-" if dw is None else f"{dw:.4f}"), ("-" if dm is None else f"{dm:.2f}")

    for name, points in clouds(args):
        start = time.perf_counter()
        full, _, _ = select_by_bic(points, args.max_k, seed=0, selection=None)
        t_full = time.perf_counter() - start
        start = time.perf_counter()
        fast, _, _ = select_by_bic(points, args.max_k, seed=0)
        t_fast = time.perf_counter() - start
        # The yardstick: the first method itself with another k-means seed.
        other, _, _ = select_by_bic(points, args.max_k, seed=1, selection=None)
        totals[0] += t_full
        totals[1] += t_fast
        rows += 1
        same += full.k == fast.k
        same_seed += full.k == other.k
        print(
            f"| {name} | {full.k} | {other.k} | {fast.k} | {' | '.join(cells(full, fast))} | "
            f"{' | '.join(cells(full, other))} | {t_full:.2f} | {t_fast:.2f} |"
        )
    print(
        f"\nsame K as all pairs: subsample {same} of {rows} clouds, all pairs with seed 1 {same_seed} of {rows}; "
        f"total {totals[0]:.1f} s → {totals[1]:.1f} s (ratio {totals[1] / totals[0]:.3f}, "
        f"{totals[0] / totals[1]:.1f}× faster)"
    )


if __name__ == "__main__":
    main()
