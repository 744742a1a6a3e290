"""The stage-2 width study as a figure and a table: for each parent of a sweep (widths d, h = d/2) and
each stage-2 method, the gap between the children's final test loss and the parent's (mean ± std over
traces), against d. Reads the store only; the runs come from examples/stage2_width.toml.

    python benchmarks/stage2_width.py --db width.db --sweep 1 --out docs/figures/stage2_width.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from mftctl.stage2.summary import summarize_children
from mftctl.store import open_store, reads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True)
    parser.add_argument("--sweep", type=int, required=True)
    parser.add_argument("--out", type=Path, default=Path("stage2_width.png"))
    args = parser.parse_args()
    store = open_store(args.db, create=False)
    parents = [r for r in reads.sweep_runs(store, args.sweep) if r.kind == "train" and r.status == "completed"]
    lines: dict[str, list[tuple[int, float, float, str]]] = {}
    print("| d | h | parent test loss | method | traces | final (mean ± std) | best | gap | gap / parent | reached |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for parent in sorted(parents, key=lambda r: r.config["data"]["d"]):
        d, h = parent.config["data"]["d"], parent.config["model"]["hidden_size"]
        children = [c for c in reads.children(store, parent.id) if c.kind == "stage2"]
        epochs = {c.id: reads.epochs(store, c.id) for c in children}
        for m in summarize_children(reads.epochs(store, parent.id), children, epochs):
            if m.final is None:  # no child of this method completed (yet)
                continue
            std = m.final_std or 0.0
            print(
                f"| {d} | {h} | {m.parent_loss:.3f} | {m.method} | {m.completed} | {m.final:.3f} ± {std:.3f} "
                f"| {m.best:.3f} | {m.gap:+.3f} | {m.gap / m.parent_loss:+.1%} | {m.reached}/{m.completed} |"
            )
            lines.setdefault(m.method, []).append((d, m.gap, std, f"{m.gap / m.parent_loss:+.0%}"))
    fig, ax = plt.subplots(figsize=(8, 5), layout="constrained")
    for method, points in lines.items():
        ds, gaps, stds, _ = zip(*points, strict=True)
        ax.errorbar(ds, gaps, yerr=stds, marker="o", capsize=4, label=method)
    ax.axhline(0, color="gray", linewidth=1, linestyle=":")
    ax.set_xscale("log", base=2)
    ax.set_xticks(
        sorted({p[0] for pts in lines.values() for p in pts}),
        [str(x) for x in sorted({p[0] for pts in lines.values() for p in pts})],
    )
    ax.set_xlabel("width d (h = d/2)")
    ax.set_ylabel("final test loss − parent's (mean ± std over traces)")
    ax.set_title("stage 2: frozen sampled encoders against the learned one")
    ax.legend(fontsize=8)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print(f"\nfigure: {args.out}")


if __name__ == "__main__":
    main()
