"""`mftctl compare`: runs side by side — the config keys that differ (or all), then their final and best
losses, blob numbers, training time and speed, each with its delta against the first run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import flatten
from ..errors import MftctlError
from ..short_names import short
from ..store import reads
from ..store.engine import Store
from ..store.tables import Run

# (record key, run attribute, what it is) of the measured rows.
METRICS = (
    ("status", "status", "status"),
    ("epochs", "epochs_done", "epochs done"),
    ("test_loss", "last_test_loss", "final test loss"),
    ("best_test_loss", "best_test_loss", "best test loss"),
    ("train_loss", "last_train_loss", "final train loss"),
    ("n_blobs", "n_clusters", "blobs"),
    ("separation", "separation", "separation"),
    ("silhouette", "silhouette", "silhouette"),
    ("correlation", "correlation", "encoder–decoder correlation"),
    ("train_seconds", "train_seconds", "training seconds"),
    ("samples_per_s", "samples_per_s", "samples / s"),
)


@dataclass
class Row:
    key: str  # a dotted config key, or a METRICS key
    label: str  # what a table shows: the short name, or the metric's words
    values: list[Any]

    @property
    def deltas(self) -> list[float | None]:
        """Each value minus the first run's (numbers only)."""
        first = self.values[0]
        numeric = isinstance(first, int | float) and not isinstance(first, bool)
        return [
            v - first if numeric and isinstance(v, int | float) and not isinstance(v, bool) else None
            for v in self.values
        ]


@dataclass
class Comparison:
    runs: list[Run]
    config: list[Row]
    metrics: list[Row]

    def records(self) -> list[dict[str, Any]]:
        """One record per row, for JSON and CSV: key, then each run's value and delta."""
        out = []
        for section, rows in (("config", self.config), ("metric", self.metrics)):
            for row in rows:
                record: dict[str, Any] = {"section": section, "key": row.key}
                for run, value, delta in zip(self.runs, row.values, row.deltas, strict=True):
                    record[f"run_{run.id}"] = value
                    if run is not self.runs[0]:
                        record[f"delta_{run.id}"] = delta
                out.append(record)
        return out


def compare_runs(store: Store, run_ids: list[int], *, every_key: bool = False) -> Comparison:
    if len(run_ids) < 2:
        raise MftctlError("give at least two run ids to compare, e.g. `mftctl compare 3 4`")
    repeated = sorted({i for i in run_ids if run_ids.count(i) > 1})
    if repeated:
        raise MftctlError(
            f"run {', '.join(map(str, repeated))} is given twice; compare different runs, e.g. `mftctl compare 3 4`"
        )
    runs = reads.runs_by_id(store, run_ids)
    configs = [flatten(r.config) for r in runs]
    keys = sorted(set().union(*configs))
    config = [
        Row(key, short(key), [c.get(key) for c in configs])
        for key in keys
        if every_key or len({repr(c.get(key)) for c in configs}) > 1
    ]
    metrics = [Row(key, words, [getattr(r, attr) for r in runs]) for key, attr, words in METRICS]
    return Comparison(runs, config, metrics)
