"""Blob width and separation against the SGLD temperature, from the runs of a sweep that varies
training.temperature (examples/temperature.toml): a Markdown table (mean ± std over seeds) and a figure.

python benchmarks/temperature.py --db temperature.db [--sweep 1] [--out docs/figures/temperature.png]

Per run, its last blob report (no recomputation): the centre blob's width on each axis, the outer blobs'
mean width, mean |encoder centre| and mass, the separation and the count. The excess variance of the
centre blob over T = 0's, w² − w₀², divided by T, is constant if the width grows like √T (a Gibbs law).
"""

from __future__ import annotations

import argparse
import math
import statistics
from pathlib import Path

from mftctl.status import RunStatus
from mftctl.store import open_store, reads


def last_report(store, run) -> dict | None:
    measured = [e for e in reads.epochs(store, run.id) if e.diagnostics_json]
    return measured[-1].diagnostics if measured else None


def mean_std(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def pm(value: tuple[float | None, float | None], digits: int = 3) -> str:
    mean, std = value
    if mean is None:
        return "–"
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True)
    parser.add_argument("--sweep", type=int, action="append", help="sweep id(s); default: every run of the db")
    parser.add_argument("--out", type=Path, help="write the figure here")
    args = parser.parse_args()
    store = open_store(args.db)
    runs = (
        [r for s in args.sweep for r in reads.sweep_runs(store, s)]
        if args.sweep
        else reads.runs_by_id(store, reads.run_ids(store))
    )
    by_t: dict[float, list] = {}
    for run in runs:
        t = run.config["training"]["temperature"]
        report = last_report(store, run) if run.status == RunStatus.completed else None
        by_t.setdefault(t, []).append(report)
    zero = [r["blobs"][0]["width"][0] for r in by_t.get(0.0, []) if r]
    w0 = statistics.fmean(zero) if zero else None
    print(
        "| T | √T | runs (failed) | test loss | blobs | separation | centre width (enc, dec) | (w² − w₀²)/T | "
        "outer width (enc) | outer |enc centre| | outer mass |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    points = []
    for t in sorted(by_t):
        reports = [r for r in by_t[t] if r]
        failed = len(by_t[t]) - len(reports)
        loss = mean_std(
            [
                r.last_test_loss
                for r in runs
                if r.config["training"]["temperature"] == t and r.status == RunStatus.completed
            ]
        )
        enc = mean_std([r["blobs"][0]["width"][0] for r in reports])
        dec = mean_std([r["blobs"][0]["width"][1] for r in reports])
        outer = [b for r in reports for b in r["blobs"][1:]]
        excess = "–" if not (t > 0 and enc[0] and w0) else f"{(enc[0] ** 2 - w0**2) / t:.0f}"
        counts = ", ".join(str(r["n_blobs"]) for r in reports) or "–"
        separation = pm(mean_std([r["separation"] for r in reports]))
        print(
            f"| {t:g} | {math.sqrt(t):.4f} | {len(reports)} ({failed}) | {pm(loss)} | {counts} | {separation} | "
            f"({pm(enc)}, {pm(dec, 4)}) | {excess} | {pm(mean_std([b['width'][0] for b in outer]))} | "
            f"{pm(mean_std([abs(b['centre'][0]) for b in outer]))} | "
            f"{pm(mean_std([100 * b['mass'] for b in outer]), 2)}% |"
        )
        if reports:
            points.append((t, enc, mean_std([r["separation"] for r in reports]), len(outer) / len(reports)))
    if args.out and points:
        draw(points, w0, args.out)


def draw(points, w0, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    positive = [p for p in points if p[0] > 0]
    ts = [p[0] for p in positive]
    left.errorbar(
        ts,
        [p[1][0] for p in positive],
        yerr=[p[1][1] or 0 for p in positive],
        marker="o",
        label="centre blob width (encoder axis)",
    )
    if w0:
        left.axhline(w0, color="grey", linestyle=":", label=f"T = 0: {w0:.3f}")
        ref = positive[len(positive) // 2]
        scale = math.sqrt(max(ref[1][0] ** 2 - w0**2, 1e-12) / ref[0])
        grid = [ts[0] * (ts[-1] / ts[0]) ** (i / 50) for i in range(51)]
        left.plot(
            grid,
            [math.sqrt(w0**2 + scale**2 * t) for t in grid],
            "--",
            color="#d62728",
            label="√(w₀² + c·T) (Gibbs-like, through the middle point)",
        )
    left.set_xscale("log")
    left.set_xlabel("SGLD temperature T")
    left.set_ylabel("width (std of its pairs)")
    left.legend(fontsize=8)
    left.grid(True, alpha=0.3)
    right.errorbar(
        ts, [p[2][0] for p in positive], yerr=[p[2][1] or 0 for p in positive], marker="o", label="separation"
    )
    right.plot(ts, [p[3] / 2 for p in positive], "s--", label="outer blobs per run / 2")
    if points[0][0] == 0:
        right.axhline(points[0][2][0], color="grey", linestyle=":", label=f"separation at T = 0: {points[0][2][0]:.2f}")
    right.set_xscale("log")
    right.set_xlabel("SGLD temperature T")
    right.set_ylim(-0.05, 1.05)
    right.legend(fontsize=8)
    right.grid(True, alpha=0.3)
    fig.suptitle("SGLD at the demo shapes (lr 0.5, 45 epochs, init 1.0): blobs widen and merge with T")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
