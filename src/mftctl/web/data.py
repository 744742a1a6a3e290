"""What the lab's pages show, read from the store through its read layer (never written): the runs as
rows, their curves, a run's page, a sweep's cells. Plain dicts and lists, for web/pages.py to lay out.

Every read opens nothing new: the app holds one Store, and each function runs its own short read
transactions (a sweep writing meanwhile is read as of each query)."""

from __future__ import annotations

import json
import math
import re
import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..config import default_value, flatten
from ..errors import MftctlError
from ..metrics import METRICS
from ..runs.query import parse_where, resolve_key, sort_spec
from ..short_names import short
from ..status import RunStatus
from ..store import reads
from ..store.catalog import CONTAINS, Catalog, RunFilter, open_catalog
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
# Every column of the runs table after its thumbnail, as a row of runs_rows names them.
TABLE_COLUMNS = (*RUN_COLUMNS, *(short(k) for k in CONFIG_COLUMNS), "tags")
# The columns the filter row reads as numbers (a bare `0.01` is = 0.01; in a text column, `contains`).
NUMERIC_COLUMNS = frozenset(
    ("id", "sweep", "seed", "epochs", "test_loss", "n_clusters", "separation")
    + tuple(short(k) for k in CONFIG_COLUMNS if isinstance(default_value(k), int | float))
)


PAGE_SIZE = 25  # rows of the runs table per page: only these are read and sent
# The runs table's columns that are not a `--where` key under their own name (query.resolve_key).
TABLE_KEYS = {"tags": "tag"}
# DataTable's filter operators (its filter row writes `{lr} > 0.01`, `{status} contains running`) -> ours.
_TABLE_OPS = {
    **{op: op for op in ("=", "!=", "<", "<=", ">", ">=")},
    **{"eq": "=", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="},
    **dict.fromkeys(("contains", "icontains", "scontains", "datestartswith"), CONTAINS),
}
_TABLE_TERM = re.compile(
    r"^\{(?P<key>[^{}]+)\}\s+(?P<op>is blank|is nil|[is]?(?:[a-z]+|[<>!=]=?))\s*(?P<value>.*?)\s*$"
)


@contextmanager
def _catalog(store: Store) -> Iterator[Catalog]:
    """The store's read-only catalog (one SQL query a listing), never settling a dead worker's run as
    `list` does: the lab's pages only read."""
    catalog = open_catalog(store.location)
    if catalog is None:
        raise MftctlError(f"{store.location.shown} needs `mftctl db upgrade` before it can be browsed")
    try:
        yield catalog
    finally:
        catalog.close()


def table_filters(where: list[str] | None = None, filter_query: str | None = None) -> list[RunFilter]:
    """The runs table's filters: `mftctl list --where` terms, and its own filter row (DataTable's query:
    terms joined by `&&`), both checked as `--where` checks them."""
    filters = [parse_where(w) for w in where or []]
    for term in (filter_query or "").split("&&"):
        if term.strip():
            filters.append(_table_term(term.strip()))
    return filters


def _table_term(term: str) -> RunFilter:
    match = _TABLE_TERM.match(term)
    if match is None:
        raise MftctlError(f"cannot read the filter {term!r}; type a value, or an operator and a value (> 0.01)")
    column, op, raw = match["key"], match["op"], match["value"]
    if column == "thumb":
        raise MftctlError("the blobs column cannot be filtered; filter by n_clusters or separation")
    key = TABLE_KEYS.get(column, column)
    value = raw.strip().strip("\"'`")
    if op in ("is blank", "is nil"):
        return parse_where(f"{key}=null")
    if op not in _TABLE_OPS and op[1:] in _TABLE_OPS and op[0] in "is":
        op = op[1:]  # i= (any case) and s= (case-sensitive) compare as = does
    if op not in _TABLE_OPS:
        raise MftctlError(f"the filter {term!r} uses {op!r}; use = != < <= > >= or contains")
    if not value:
        raise MftctlError(f"the filter {term!r} has no value; type one after {op}")
    if _TABLE_OPS[op] == CONTAINS:
        if key == "tag":
            return RunFilter("tag", CONTAINS, value)
        column_name, path = resolve_key(key)
        return RunFilter(column_name or "config_json", CONTAINS, value, json_path=path)
    return parse_where(f"{key}{_TABLE_OPS[op]}{value}")


def table_sort(sort_by: list[dict[str, str]] | None) -> tuple[str | None, bool]:
    """DataTable's sort_by (one column) as `list --sort` reads it; newest first without one, or for a
    column no order is kept by (the thumbnails, the tags)."""
    for spec in sort_by or []:
        column = spec.get("column_id", "")
        if column in ("thumb", "tags"):
            continue
        key, _ = sort_spec(column)
        return key, spec.get("direction") == "desc"
    return None, False


@dataclass
class RunsPage:
    """One page of the runs table: its rows, and how many runs the filters keep."""

    rows: list[dict[str, Any]]
    matching: int
    page: int
    pages: int


def page_of_runs(
    store: Store, filters: list[RunFilter], sort: tuple[str | None, bool] = (None, False), page: int = 0
) -> RunsPage:
    """The rows of one page (PAGE_SIZE runs, sorted and filtered in the database): a store of 10,000 runs
    sends 25 of them."""
    with _catalog(store) as catalog:
        matching = catalog.count_matching(filters)
        pages = max(1, math.ceil(matching / PAGE_SIZE))
        page = min(max(page, 0), pages - 1)
        runs = catalog.list_runs(sort=sort[0], desc=sort[1], filters=filters, limit=PAGE_SIZE, offset=page * PAGE_SIZE)
    return RunsPage(runs_rows(runs), matching, page, pages)


def runs_rows(runs: list[Any]) -> list[dict[str, Any]]:
    """Runs as table rows."""
    rows = []
    for run in runs:
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


_VARIED: dict[str, tuple[tuple[int, int], list[str]]] = {}  # per store: (its fingerprint, its varied keys)


def key_choices(store: Store) -> list[str]:
    """The keys a page can colour, dash or pivot by: the config keys that vary among the runs (short
    names where they have one), then the run metrics. Read from every run's config once, and again only
    when a run has been added or removed (configs never change)."""
    with _catalog(store) as catalog:
        fingerprint = catalog.fingerprint()
        known = _VARIED.get(store.location.shown)
        if known is not None and known[0] == fingerprint:
            varied = known[1]
        else:
            seen: dict[str, set[Any]] = {}
            for config in catalog.configs():
                for key, value in flatten(config).items():
                    seen.setdefault(key, set()).add(
                        value if isinstance(value, str | int | float | bool) else repr(value)
                    )
            varied = sorted(short(k) for k, values in seen.items() if len(values) > 1)
            _VARIED[store.location.shown] = (fingerprint, varied)
    return varied + [m.name for m in METRICS]


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
