"""How a search is shown: its plan (`sweep FILE --dry-run`) and its results (`sweep show`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Group
from rich.table import Table

from ..short_names import short
from ..terminal import fmt, safe

if TYPE_CHECKING:
    from ..sweeps.search_results import SearchResults

_STATE_STYLE = {"completed": "green", "running": "cyan", "pruned": "magenta", "failed": "red"}


def search_plan_view(spec: Any, plans: list[Any], left: int) -> Group:
    """The space searched, and what running the file would do now."""
    search = spec.search
    space = Table(
        title=f"search {safe(spec.name)}: {search.trials} trials, sampler {search.sampler}, "
        f"objective {', '.join(o.shown for o in search.objectives)}, pruner {search.pruner}",
        header_style="bold",
        box=box.SIMPLE_HEAD,
    )
    for name in ("parameter", "distribution", "range or choices"):
        space.add_column(name)
    for key, dist in search.params.items():
        shown = (
            ", ".join(map(fmt, dist["values"]))
            if dist["dist"] == "choice"
            else f"{fmt(dist['low'])} … {fmt(dist['high'])}"
        )
        space.add_row(safe(key), dist["dist"], safe(shown))
    actions: dict[str, int] = {}
    for plan in plans:
        actions[plan.action] = actions.get(plan.action, 0) + 1
    so_far = ", ".join(f"{n} {a}" for a, n in sorted(actions.items())) or "none yet"
    return Group(space, f"trials so far: {so_far}; {left} still to claim")


def _aim(objective: str) -> str:
    """`-separation` -> `separation ↑` (maximised), `test_loss` -> `test_loss ↓`."""
    return objective.lstrip("-") + (" ↑" if objective.startswith("-") else " ↓")


def _value(values: list[float] | None, index: int) -> str:
    return fmt(values[index]) if values else "-"


def _objective_cell(trial: Any, index: int) -> str:
    if trial.pruned_value is not None and index == 0:  # where it was stopped
        return f"[dim]{fmt(trial.pruned_value)}[/]"
    return _value(trial.values, index) + (" [dim](none)[/]" if trial.imputed else "")


def search_results_view(results: SearchResults) -> Group:
    """The best trial (or the Pareto front), every trial in order with its values, and the importances."""
    counts = ", ".join(f"{n} {s}" for s, n in sorted(results.counts.items()))
    head = (
        f"[bold]search[/]: {len(results.trials)} of {results.trials_asked} trials ({counts or 'none'}); "
        f"sampler {results.sampler}, pruner {results.pruner}"
    )
    params = list(dict.fromkeys(k for t in results.trials for k in t.params))
    table = Table(header_style="bold", box=box.SIMPLE_HEAD)
    table.add_column("trial", justify="right")
    table.add_column("state")
    for objective in results.objectives:
        table.add_column(safe(_aim(objective)), justify="right")
    for key in params:
        table.add_column(safe(short(key)), justify="right")
    table.add_column("runs", justify="right")
    for trial in results.trials:
        style = _STATE_STYLE.get(trial.state, "")
        state = trial.state + (f" @{trial.pruned_at}" if trial.pruned_at is not None else "")
        mark = " [bold]★[/]" if trial.best else ""
        table.add_row(
            f"{trial.number}{mark}",
            f"[{style}]{state}[/]" if style else state,
            *(_objective_cell(trial, i) for i in range(len(results.objectives))),
            *(safe(fmt(trial.params.get(k))) for k in params),
            ", ".join(map(str, trial.runs)),
        )
    front = "Pareto front" if len(results.objectives) > 1 else "best trial"
    best = [t for t in results.trials if t.best]
    lines: list[Any] = [head, table]
    if best:
        described = "; ".join(
            f"trial {t.number} ("
            + ", ".join(f"{o.lstrip('-')} {_value(t.values, i)}" for i, o in enumerate(results.objectives))
            + f"; runs {', '.join(map(str, t.runs))})"
            for t in best
        )
        lines.append(f"[bold]{front}[/] ★: {safe(described)}")
    if results.importances:
        shown = ", ".join(f"{short(k)} {v:.0%}" for k, v in results.importances.items())
        lines.append(f"parameter importances (fANOVA, {safe(_aim(results.objectives[0]))}): {safe(shown)}")
    return Group(*lines)
