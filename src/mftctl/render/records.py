"""The machine-readable records: what `--format json`, `--format csv` and `export` promise to scripts.
A contract (docs/user-guide.md, "Machine-readable output"): keys are added, never renamed or dropped.
The run's keys and their order come from store/columns.py."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..config import flatten
from ..store.columns import RUN_FIELDS
from ..terminal import escape_controls

if TYPE_CHECKING:
    from ..store.catalog import RunView
    from ..store.tables import Checkpoint, Epoch, Run


def run_record(run: Run | RunView, *, with_config: bool = False, tags: list[str] | None = None) -> dict[str, Any]:
    """A run as plain data: what `list --format json|csv` prints (a listed run carries its tags)."""
    record: dict[str, Any] = {}
    for name, column in RUN_FIELDS.items():
        if name == "note":
            record["tags"] = list(tags if tags is not None else getattr(run, "tags", None) or [])
        value = getattr(run, column, None)
        record[name] = value.isoformat() if isinstance(value, datetime) else value
    if with_config:
        record["config"] = run.config
    return record


def epoch_rows(run: Run, epochs: list[Epoch]) -> list[dict[str, Any]]:
    """A run's epochs as flat rows (`show --format csv`): the run's id, then each epoch's numbers."""
    rows = []
    for e in epochs:
        values = e.model_dump(exclude={"diagnostics_json", "id", "run_id"})
        rows.append({"run_id": run.id, "epoch": values.pop("epoch")} | values)
    return rows


def run_json(
    run: Run, epochs: list[Epoch], checkpoints: list[Checkpoint], children: list[Run], tags: list[str]
) -> dict[str, Any]:
    """What `show --format json` prints: the run record with its error, facts, epochs, checkpoints, children."""
    return run_record(run, with_config=True, tags=tags) | {
        "error": run.error,
        "extra": run.extra,
        "epochs": [e.model_dump(exclude={"diagnostics_json", "id"}) | {"diagnostics": e.diagnostics} for e in epochs],
        "checkpoints": [c.model_dump(exclude={"id"}) for c in checkpoints],
        "children": [c.id for c in children],
    }


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, default=str)


def _csv_cell(value: Any) -> Any:
    """A list (tags, a config list) is JSON text, as `--format json` writes it; control characters in a
    string are written as \\uXXXX escapes, as JSON writes them, so that a CSV shown on a terminal can set
    no colour, title or link."""
    if isinstance(value, list | tuple):
        return json.dumps(list(value))
    if isinstance(value, str):
        return escape_controls(value)
    return value


def to_csv(records: list[dict[str, Any]]) -> str:
    """Nested values (a config) become dotted columns, so the file loads straight into pandas."""
    rows = [{k: _csv_cell(v) for k, v in flatten(r).items()} for r in records]
    fields: list[str] = []
    for row in rows:
        fields.extend(k for k in row if k not in fields)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
