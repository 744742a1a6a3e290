"""The blob measurement on the test bank of synthetic clouds (tests/clouds.py), beside the GMM-BIC
component count that `diagnose` also reports, with the measurement's time per cloud.

python benchmarks/blob_bank.py [--gmm-sample 50000]

Prints a Markdown table: planted truth, what the measurement finds, and how many Gaussians BIC wants.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from clouds import bank
from mftctl.science.blobs import measure_blobs
from mftctl.science.mixture import select_by_bic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gmm-sample", type=int, default=50_000, help="uniform pairs the GMMs are fitted on")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print("| cloud | truth | blobs | state | separation | silhouette | masses | GMM-BIC K | ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, points, (state, k) in bank():
        start = time.perf_counter()
        report = measure_blobs(points)
        ms = (time.perf_counter() - start) * 1000
        sample = points[rng.choice(len(points), size=min(len(points), args.gmm_sample), replace=False)]
        gmm, _, _ = select_by_bic(sample, 6, seed=0)
        masses = ", ".join(f"{b.mass:.1%}" for b in report.blobs)
        silhouette = "-" if report.silhouette is None else f"{report.silhouette:.3f}"
        print(
            f"| {name} | {state} {k or ''} | {report.n_blobs} | {report.state} | {report.separation:.3f} "
            f"| {silhouette} | {masses} | {gmm.k} | {ms:.0f} |"
        )


if __name__ == "__main__":
    main()
