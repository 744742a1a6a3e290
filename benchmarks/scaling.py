"""The scaling scan (docs/findings.md, "Scaling: d and sparsity against the ansatz"): the `demo` recipe at
d = 128 … 1024 with h = d/2 (sparsity 2), and at sparsity 1 … 4 (d = 512); for each run its outer blobs
(mass, |encoder centre|, decoder centre), when they formed, its code (K outliers per unit at a, centre
width σ_c: `mftctl theory --given`), and the ansatz's own optimum over K × a at the run's σ_c (`mftctl
theory`), so the trained code is held against the one the loss prefers.

    python benchmarks/scaling.py --db scaling.db [--widths 128 256 512 1024] [--sparsities 1 3 4]

Every run is an ordinary run of --db (re-running the script reuses the runs it finds by name). Seconds
are on whatever the machine is doing; its load is printed.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import mftctl
from mftctl.analysis.theory import given_run, predict_for
from mftctl.config import validate
from mftctl.errors import MftctlError
from mftctl.store import open_store, reads


def _outer(report: dict) -> tuple[float, float, float] | None:
    """The outer blobs' mass each, mean |encoder centre| and mean |decoder centre| (the centre blob, the
    one nearest the origin, left out)."""
    blobs = sorted(report.get("blobs") or [], key=lambda b: abs(b["centre"][0]))
    outer = blobs[1:]
    if not outer:
        return None
    n = len(outer)
    return (
        sum(b["mass"] for b in outer) / n,
        sum(abs(b["centre"][0]) for b in outer) / n,
        sum(abs(b["centre"][1]) for b in outer) / n,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, default=Path("scaling.db"))
    parser.add_argument("--widths", type=int, nargs="+", default=[128, 256, 512, 1024])
    parser.add_argument("--sparsities", type=int, nargs="+", default=[1, 3, 4])
    parser.add_argument("--samples", type=int, default=100_000, help="samples per decoder solve")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    points = [(d, 2) for d in args.widths] + [(512, s) for s in args.sparsities]
    store = open_store(str(args.db))
    print(
        f"{'d':>5} {'h':>4} {'s':>2} {'blobs':>5} {'sep':>5} {'formed':>6} {'outer mass':>10} {'|enc|':>6} "
        f"{'|dec|':>6} {'K':>6} {'a':>5} {'σ_c':>5} {'K*':>3} {'a*':>5} {'loss trained':>12} {'exact':>7} "
        f"{'ansatz K,a':>10} {'ansatz K*,a*':>12} {'s':>5}"
    )
    for d, s in points:
        started = time.perf_counter()
        name = f"scale-d{d}-s{s}"
        found = reads.ids_named(store, [name])[name]
        if found:
            run = reads.get_run(store, found[-1])
        else:
            shown = mftctl.train(
                "demo", set={"data.d": d, "model.hidden_size": d // 2, "data.sparsity": s}, name=name, db=args.db
            )
            run = reads.get_run(store, shown["id"])
        report = next((e.diagnostics for e in reversed(reads.epochs(store, run.id)) if e.n_clusters), None) or {}
        outer = _outer(report)
        try:
            given = given_run(store, run.id, None, samples=args.samples)
        except MftctlError as exc:
            print(f"{d:>5} {d // 2:>4} {s:>2} {run.n_clusters or 0:>5} (no code to measure: {exc})")
            continue
        k, a, width = given["measured"]["k"], given["measured"]["a"], given["measured"]["centre_width"]
        ks = sorted({min(d, max(1, round(x))) for x in (k / 2, k, 2 * k)})  # the grid around the run's K
        config = validate(run.config)
        best = predict_for(config, ks, [1.25, 1.5, 1.75, 2.0], width, args.samples).best
        mass, enc, dec = outer if outer else (float("nan"),) * 3
        print(
            f"{d:>5} {d // 2:>4} {s:>2} {run.n_clusters or 0:>5} {run.separation or 0:>5.2f} "
            f"{run.formed_epoch if run.formed_epoch is not None else '-':>6} {mass:>10.4f} {enc:>6.3f} {dec:>6.3f} "
            f"{k:>6.2f} {a:>5.2f} {width:>5.3f} {best.k:>3} {best.a:>5.2f} {given['trained']['loss']:>12.3f} "
            f"{given['exact_decoder']['loss']:>7.3f} {given['ansatz']['loss']:>10.3f} {best.loss:>12.3f} "
            f"{time.perf_counter() - started:>5.0f}  (run {run.id})",
            flush=True,
        )
    store.close()
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
