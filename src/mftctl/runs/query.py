"""`mftctl list` as a library: the small query language (sort keys and `--where` conditions, checked and
mapped to columns or to JSON paths into the stored config) and the listing itself, on the fast read path.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import config_key, default_value, key_suggestion
from ..errors import MftctlError
from ..status import RunStatus
from ..store.catalog import Catalog, RunFilter, RunView, open_catalog
from ..store.columns import DATETIME_COLUMNS, RUN_ALIASES, RUN_FIELDS, TEXT_COLUMNS
from ..store.location import Location, resolve_location

# User-facing name -> Run column (store/columns.py). Metrics read the run's summary columns (its latest epoch).
COLUMNS = RUN_FIELDS | RUN_ALIASES | {"tag": "tag"}  # tag: a run that has this tag (`mftctl tag`)

_WHERE = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(>=|<=|!=|==|=|<|>)\s*(.*?)\s*$")


def resolve_key(key: str) -> tuple[str | None, str | None]:
    """(run column, None) or (None, JSON path) for a sort/filter key: a run column (a metric, status,
    name, ...) or a config key in any of its names (config.config_key: `lr`, `learning_rate`,
    `training.learning_rate`)."""
    if key in COLUMNS:
        return COLUMNS[key], None
    dotted = config_key(key)  # a ConfigError (an ambiguous leaf) is a one-line MftctlError
    if dotted is not None:
        return None, f"$.{dotted}"
    close = difflib.get_close_matches(key, list(COLUMNS), n=1)
    hint = f" (did you mean {close[0]}?)" if close else key_suggestion(key)
    raise MftctlError(
        f"unknown column {key!r}{hint}; use one of {', '.join(sorted(COLUMNS))} "
        "or a config key such as training.learning_rate or lr (`mftctl config show` lists them)"
    )


def sort_spec(sort: str | None) -> tuple[str | None, bool]:
    """'-silhouette' -> ('silhouette', descending)."""
    if not sort:
        return None, False
    desc = sort.startswith("-")
    column, path = resolve_key(sort.lstrip("-"))
    return (column or path), desc


def _value(text: str) -> Any:
    if "," in text:
        return [_value(part) for part in text.split(",")]
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "none"):
        return None
    for cast in (int, float):
        try:
            value = cast(text)
        except ValueError:
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise MftctlError(f"--where value {text} is not a finite number; compare with a number such as 0.5")
        if isinstance(value, int) and abs(value) >= 2**63:
            raise MftctlError(f"--where value {text} is too large for a database integer")
        return value
    return text.strip("'\"")


def parse_where(text: str) -> RunFilter:
    match = _WHERE.match(text)
    if not match or not match.group(3):
        raise MftctlError(
            f"cannot read --where {text!r}; write KEY OP VALUE with OP one of = != < <= > >=, "
            "e.g. status=completed or training.learning_rate>=0.01"
        )
    key, op, raw = match.groups()
    op = "=" if op == "==" else op
    value = _value(raw)
    if isinstance(value, list) and op not in ("=", "!="):
        raise MftctlError(f"--where {text!r}: a list of values only goes with = or !=")
    column, path = resolve_key(key)
    if column == "parent_id" and value is None:
        return RunFilter(column, op, None)
    _check_value(text, key, column, path, op, value)
    return RunFilter(column or "config_json", op, value, json_path=path)


ORDERING = ("<", "<=", ">", ">=")


def _check_value(text: str, key: str, column: str | None, path: str | None, op: str, value: Any) -> None:
    """A value that can never match is a typo, not a question: a word where a number is compared (which
    the database would order below every number, matching all runs or none), a status no run can have."""
    if column == "status":
        statuses = [s.value for s in RunStatus]
        for given in value if isinstance(value, list) else [value]:
            if given not in statuses:
                close = difflib.get_close_matches(str(given), statuses, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise MftctlError(
                    f"--where {text!r}: no run has status {given!r}{hint}; statuses: {', '.join(statuses)}"
                )
    if op not in ORDERING or not isinstance(value, str):
        return
    words = (*TEXT_COLUMNS, *DATETIME_COLUMNS, "tag")
    numeric = column not in words if column else _is_number(default_value((path or "$.")[2:]))
    if numeric:
        raise MftctlError(
            f"--where {text!r}: {key} is a number and {value!r} is not; compare with a number, e.g. {key}{op}0.5"
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass
class Listing:
    runs: list[RunView]
    total: int  # runs in the store, before filters and limit
    location: Location


def _current_catalog(location: Location) -> Catalog:
    """The fast read path, after the full store has created or upgraded the database or marked dead
    workers' runs crashed where that is needed."""
    catalog = open_catalog(location)
    if catalog is not None and not catalog.has_running():
        return catalog
    if catalog is not None:
        catalog.close()
    from ..store.engine import open_store
    from ..store.liveness import reconcile

    store = open_store(location, create=False)  # a read never creates a database (a mistyped --db)
    reconcile(store)
    store.close()
    catalog = open_catalog(location)
    if catalog is None:  # the full store has just made and upgraded the file, so this cannot happen
        raise MftctlError(f"cannot read the runs of {location.shown}; check it with `mftctl db info`")
    return catalog


def list_runs(
    db: str | Path | Location | None = None,
    *,
    sort: str | None = None,
    desc: bool = False,
    where: list[str] | None = None,
    limit: int | None = None,
) -> Listing:
    """Runs sorted by any column or config key ('-' prefix: descending) and filtered by `--where` terms."""
    if limit is not None and not 1 <= limit < 2**63:
        raise MftctlError(f"--limit must be a positive number of runs, not {limit}")
    column, descending = sort_spec(sort)
    filters = [parse_where(w) for w in where or []]
    location = resolve_location(db)
    catalog = _current_catalog(location)
    try:
        _check_tags(filters, catalog.tags())
        runs = catalog.list_runs(sort=column, desc=descending or desc, filters=filters, limit=limit)
        return Listing(runs, catalog.count_runs(), location)
    finally:
        catalog.close()


def _check_tags(filters: list[RunFilter], in_use: list[str]) -> None:
    """`--where tag=NAME` with a tag no run has is a typo more often than a question: say so."""
    for f in filters:
        if f.column != "tag":
            continue
        for tag in f.value if isinstance(f.value, list) else [f.value]:
            if str(tag) not in in_use:
                known = ", ".join(in_use[:20]) or "none yet (`mftctl tag RUN... NAME` adds one)"
                raise MftctlError(f"no run has the tag {str(tag)!r}; tags in use: {known}")


def select_run_ids(db: str | Path | None, run_ids: list[int] | None, where: list[str] | None) -> list[int]:
    """The ids given, plus those of every run matching all `--where` terms."""
    ids = set(run_ids or [])
    if where:
        ids |= {r.id for r in list_runs(db, where=where).runs}
    return sorted(ids)


@dataclass
class Column:
    """A `list --columns` column: its header and where its value lives."""

    header: str
    column: str | None = None  # a run column
    config_key: str | None = None  # or a dotted config key

    def value(self, run: Any) -> Any:
        if self.column == "tag":
            return " ".join(run.tags)
        if self.column is not None:
            return getattr(run, self.column)
        from ..config import flatten

        return flatten(run.config).get(self.config_key or "")


def parse_columns(text: str) -> list[Column]:
    """`id,name,lr,batch,test_loss,separation`: run columns (`mftctl list --help`), config keys, or their
    short names (lr, batch, enc_init, ...)."""
    from ..short_names import LONG_NAMES, short

    columns = []
    for name in filter(None, (part.strip() for part in text.split(","))):
        column, path = resolve_key(LONG_NAMES.get(name, name))
        if column:
            columns.append(Column(name, column))
        elif path is not None:  # resolve_key gives a column or a config key's JSON path
            columns.append(Column(short(path.removeprefix("$.")), None, path[2:]))
    if not columns:
        raise MftctlError("--columns needs at least one column, e.g. --columns id,name,lr,test_loss")
    return columns
