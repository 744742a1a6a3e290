"""A search's figure (`plot --sweep ID` of a [search] sweep): the optimisation history — every trial's
objective in the order it was asked for, pruned trials where they were stopped, the best so far — and,
for two objectives, the trials in the plane of both with the Pareto front drawn through them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .plots import _save, plt

if TYPE_CHECKING:
    from ..sweeps.search_results import SearchResults


def plot_search(results: SearchResults, title: str, path: Path) -> Path:
    two = len(results.objectives) > 1
    fig, axes = plt.subplots(1, 2 if two else 1, figsize=(12 if two else 7, 4.5), squeeze=False)
    history = axes[0][0]
    name = results.objectives[0]
    maximise = name.startswith("-")
    done = [t for t in results.trials if t.values]
    history.scatter(
        [t.number for t in done], [t.values[0] for t in done], s=22, color="C0", label="completed", zorder=3
    )
    pruned = [t for t in results.trials if t.pruned_value is not None]
    if pruned:
        history.scatter(
            [t.number for t in pruned],
            [t.pruned_value for t in pruned],
            marker="x",
            color="C3",
            label="pruned (where stopped)",
        )
    best, line = None, []
    for trial in sorted(done, key=lambda t: t.number):
        value = trial.values[0]
        if best is None or (value > best if maximise else value < best):
            best = value
        line.append((trial.number, best))
    if line:
        history.step(*zip(*line, strict=True), where="post", color="C1", label="best so far")
    history.set_xlabel("trial")
    history.set_ylabel(name.lstrip("-") + (" (maximised)" if maximise else ""))
    history.set_title("optimisation history")
    history.legend(fontsize=8)
    if two:
        plane = axes[0][1]
        second = results.objectives[1]
        plane.scatter(
            [t.values[0] for t in done], [t.values[1] for t in done], s=22, color="C0", alpha=0.6, label="trials"
        )
        front = sorted((t for t in done if t.best), key=lambda t: t.values[0])
        plane.plot([t.values[0] for t in front], [t.values[1] for t in front], "o-", color="C1", label="Pareto front")
        for trial in front:
            plane.annotate(
                str(trial.number),
                (trial.values[0], trial.values[1]),
                fontsize=7,
                xytext=(3, 3),
                textcoords="offset points",
            )
        plane.set_xlabel(name.lstrip("-") + (" (maximised)" if maximise else ""))
        plane.set_ylabel(second.lstrip("-") + (" (maximised)" if second.startswith("-") else ""))
        plane.set_title("the two objectives; numbers: trials on the front")
        plane.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)
