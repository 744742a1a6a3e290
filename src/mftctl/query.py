"""The small query language of `list`: sort keys and `--where` conditions, checked and mapped to
columns (or to JSON paths into the stored config)."""

from __future__ import annotations

import re
from typing import Any

from .catalog import RunFilter
from .config import config_keys
from .errors import MftctlError

# User-facing name -> Run column. Metrics read the run's summary columns (its latest epoch).
COLUMNS = {
    "id": "id",
    "name": "name",
    "kind": "kind",
    "status": "status",
    "preset": "preset",
    "parent": "parent_id",
    "sweep": "sweep_id",
    "seed": "seed",
    "device": "device",
    "host": "host",
    "hash": "config_hash",
    "created": "created_at",
    "started": "started_at",
    "finished": "finished_at",
    "epochs": "epochs_done",
    "train_loss": "last_train_loss",
    "test_loss": "last_test_loss",
    "loss": "last_test_loss",
    "best_test_loss": "best_test_loss",
    "best_loss": "best_test_loss",
    "samples_per_s": "samples_per_s",
    "train_seconds": "train_seconds",
    "n_clusters": "n_clusters",
    "n_blobs": "n_clusters",
    "separation": "separation",
    "blob_method": "blob_method",
    "silhouette": "silhouette",
    "correlation": "correlation",
    "noise_fraction": "noise_fraction",
    "symmetry_error": "symmetry_error",
}

_WHERE = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(>=|<=|!=|==|=|<|>)\s*(.*?)\s*$")


def resolve_key(key: str) -> tuple[str | None, str | None]:
    """(run column, None) or (None, JSON path) for a sort/filter key; a unique config leaf such as
    `learning_rate` stands for its dotted key."""
    if key in COLUMNS:
        return COLUMNS[key], None
    keys = config_keys()
    if key in keys:
        return None, f"$.{key}"
    leaves = [k for k in keys if k.rsplit(".", 1)[-1] == key]
    if len(leaves) == 1:
        return None, f"$.{leaves[0]}"
    hint = f" (ambiguous: {', '.join(leaves)})" if leaves else ""
    raise MftctlError(
        f"unknown column {key!r}{hint}; use one of {', '.join(sorted(COLUMNS))} "
        "or a config key such as training.learning_rate (`mftctl config show` lists them)"
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
    return RunFilter(column or "config_json", op, value, json_path=path)
