"""What a stage-2 sampler costs, and what the outlier code it keeps looks like: for one parent with stage-2
children in a database (e.g. benchmarks/leverage.py's), the seconds each sampler takes to rebuild one
child's encoder (the median of --repeats draws, the mixture already fitted), and the crosstalk of the
parent's outlier code against a random code with the same row and column degrees and the annealed code
that `--sampler code` draws.

    python benchmarks/samplers.py --db leverage.db --run 5 [--repeats 3]

Sampling seconds are on whatever the machine is doing: note its load (printed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

from mftctl.checkpoints.load import load_run_checkpoint
from mftctl.science.samplers import anneal_code, crosstalk, curveball, signs_beyond
from mftctl.stage2.child import sample_encoder
from mftctl.store import open_store, reads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--run", type=int, required=True, help="a parent with sampled stage-2 children")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    store = open_store(str(args.db), create=False)
    parent = reads.get_run(store, args.run)
    kids = [c for c in reads.children(store, parent.id) if c.kind == "stage2" and c.extra.get("control") == "gmm"]
    by_sampler = {}
    for kid in kids:
        by_sampler.setdefault(kid.extra.get("sampler") or "iid", kid)
    if not by_sampler:
        raise SystemExit(f"run {parent.id} has no sampled stage-2 children: run `mftctl stage2 {parent.id}` first")
    first = next(iter(by_sampler.values()))
    loaded = load_run_checkpoint(store, parent, first.extra["parent_epoch"])
    net = loaded.model()
    h, d = loaded.config.model.hidden_size, loaded.config.data.d
    print(f"parent run {parent.id}: d = {d}, h = {h}, epoch {loaded.checkpoint.epoch}")
    print("| sampler | seconds per child encoder (median) |")
    print("|---|---|")
    for sampler, kid in sorted(by_sampler.items()):
        seconds = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            sample_encoder(kid.extra, h, d, net)
            seconds.append(time.perf_counter() - start)
        print(f"| {sampler} | {statistics.median(seconds):.3f} |")

    encoder = net.fc1.weight.detach().numpy().astype(np.float64)
    threshold = next((k.extra["outlier_threshold"] for k in kids if k.extra.get("outlier_threshold")), None)
    if threshold is None:
        raise SystemExit(f"run {parent.id}'s children record no outlier threshold: plan them with this release")
    signs = signs_beyond(encoder, threshold)
    rng = np.random.default_rng(0)
    mask = curveball(signs != 0, rng)
    random_code = np.where(mask, rng.choice(np.array([-1, 1], dtype=np.int8), size=mask.shape), 0)
    start = time.perf_counter()
    annealed = anneal_code(random_code, rng)
    anneal_s = time.perf_counter() - start
    rows, columns = (signs != 0).sum(axis=1), (signs != 0).sum(axis=0)
    print()
    print(f"outliers per hidden unit {rows.mean():.2f} (min {rows.min()}, max {rows.max()}); inputs covered by")
    print(f"  {columns.min()}–{columns.max()} units (mean {columns.mean():.2f})")
    print("| code | crosstalk Σ_{j<k}(Σ_i s_ji s_ki)² | vs random |")
    print("|---|---|---|")
    base = crosstalk(random_code)
    for label, code in (("parent", signs), ("random, same degrees", random_code), ("annealed (code)", annealed)):
        print(f"| {label} | {crosstalk(code):,.0f} | {crosstalk(code) / base:.2f} |")
    print(f"annealing: {anneal_s:.2f} s")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
