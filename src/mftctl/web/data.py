"""What the lab's pages show, read from the store through its read layer (never written): the runs as
rows, their curves, a run's page, a sweep's cells. Plain dicts and lists, for web/pages.py to lay out.

Every read opens nothing new: the app holds one Store, and each function runs its own short read
transactions (a sweep writing meanwhile is read as of each query)."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from ..config import flatten
from ..errors import MftctlError
from ..metrics import METRICS
from ..runs.query import parse_where
from ..short_names import short
from ..status import RunStatus
from ..store import reads
from ..store.catalog import open_catalog
from ..store.engine import Store

# The curves a page can draw: an epoch column, its label, and whether its axis is logarithmic.
CURVES = {
    "test_loss": ("test loss", True),
    "train_loss": ("train loss", True),
    "separation": ("separation", False),
    "n_clusters": ("blobs", False),
    "silhouette": ("silhouette", False),
}
ACTIVE = (RunStatus.queued.value, RunStatus.running.value)
# The runs table's columns: the run's own, then a few config keys by their short names.
RUN_COLUMNS = ("id", "name", "status", "preset", "sweep", "seed", "epochs", "test_loss", "n_clusters", "separation")
CONFIG_COLUMNS = ("training.learning_rate", "training.batch_size", "data.d", "model.hidden_size", "model.activation")


def listed(store: Store, where: list[str] | None = None) -> list[Any]:
    """The runs as `mftctl list` reads them (one SQL query, newest first), but never settling a dead
    worker's run as `list` does: the lab's pages only read."""
    filters = [parse_where(w) for w in where or []]
    catalog = open_catalog(store.location)
    if catalog is None:
        raise MftctlError(f"{store.location.shown} needs `mftctl db upgrade` before it can be browsed")
    try:
        return catalog.list_runs(filters=filters)
    finally:
        catalog.close()


def runs_rows(store: Store, where: list[str] | None = None, runs: list[Any] | None = None) -> list[dict[str, Any]]:
    """Every run as a table row (newest first), `where` as `mftctl list --where` takes it (or the rows of
    `runs`, a listing already read)."""
    rows = []
    for run in listed(store, where) if runs is None else runs:
        config = flatten(run.config)
        row: dict[str, Any] = {
            "id": run.id,
            "name": run.name,
            "status": run.status,
            "preset": run.preset,
            "sweep": run.sweep_id,
            "seed": run.seed,
            "epochs": f"{run.epochs_done}/{run.epochs_total}",
            "test_loss": _rounded(run.last_test_loss, 4),
            "n_clusters": run.n_clusters,
            "separation": _rounded(run.separation, 3),
            "tags": " ".join(getattr(run, "tags", []) or []),
        }
        row |= {short(key): _shown(config.get(key)) for key in CONFIG_COLUMNS}
        rows.append(row)
    return rows


def _shown(value: Any) -> Any:
    """A config value for a table cell: a float to 4 significant digits (a searched lr is 0.004589, not
    0.004588819808381525), anything else as it is."""
    return _rounded(value, 4) if isinstance(value, float) else value


def _rounded(value: float | None, digits: int) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.{digits}g}")


def key_choices(store: Store, runs: list[Any] | None = None) -> list[str]:
    """The keys a page can colour, dash or pivot by: the config keys that vary among the runs (short
    names where they have one), then the run metrics. `runs`: a listing already read (one query less)."""
    seen: dict[str, set[Any]] = {}
    for run in listed(store) if runs is None else runs:
        for key, value in flatten(run.config).items():
            seen.setdefault(key, set()).add(value if isinstance(value, str | int | float | bool) else repr(value))
    varied = [short(k) for k, values in seen.items() if len(values) > 1]
    return sorted(varied) + [m.name for m in METRICS]


@dataclass
class Series:
    """One line of an overlay: a run, or the mean ± std of a group of seeds."""

    label: str
    run_ids: list[int]
    epochs: list[int]
    values: list[float | None]
    spread: list[float | None] | None = None  # std over the group's seeds, per epoch
    keys: dict[str, Any] = field(default_factory=dict)  # the colour and dash keys' values


def key_value(run: Any, key: str) -> Any:
    """A run's value of a config key (dotted or short) or of a run metric."""
    from ..config import config_key

    metric = next((m for m in METRICS if m.name == key), None)
    if metric is not None:
        return getattr(run, metric.column, None)
    dotted = config_key(key) or key
    return flatten(run.config).get(dotted)


def overlay_series(store: Store, run_ids: list[int], metric: str, keys: list[str], group_seeds: bool) -> list[Series]:
    """The metric per epoch of each run (or of each group of runs alike but for the seed, as mean ± std)."""
    if metric not in CURVES:
        raise MftctlError(f"no curve {metric!r}; one of {', '.join(CURVES)}")
    runs = {r.id: r for r in reads.runs_by_id(store, run_ids)}
    per_run: dict[int, dict[int, float | None]] = {i: {} for i in runs}
    for epoch in reads.epochs_of(store, list(runs)):
        per_run[epoch.run_id][epoch.epoch] = getattr(epoch, metric)
    groups: dict[str, list[int]] = {}
    for run_id, run in runs.items():
        if group_seeds:
            alike = {k: v for k, v in flatten(run.config).items() if k != "seed"}
            groups.setdefault(json.dumps(alike, sort_keys=True, default=str), []).append(run_id)
        else:
            groups[str(run_id)] = [run_id]
    series = []
    for members in groups.values():
        first = runs[members[0]]
        epochs = sorted({e for m in members for e in per_run[m]})
        columns = [[per_run[m].get(e) for m in members] for e in epochs]
        means = [_mean(c) for c in columns]
        spread = [_std(c) for c in columns] if len(members) > 1 else None
        if len(members) > 1:
            label = f"{len(members)} seeds: runs {', '.join(map(str, members))}"
        else:
            label = f"run {first.id} {first.name}"
        series.append(Series(label, members, epochs, means, spread, {k: key_value(first, k) for k in keys}))
    return series


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.fmean(present) if present else None


def _std(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.stdev(present) if len(present) > 1 else None


def any_active(store: Store, run_ids: list[int] | None = None) -> bool:
    """Whether any of these runs (or any run at all) is queued or running: a page that shows one refreshes."""
    active = reads.active_run_ids(store)
    return bool(active if run_ids is None else active & set(run_ids))
