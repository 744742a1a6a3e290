"""`mftctl compare`: runs side by side — the config keys that differ (or all), then their final and best
losses, blob numbers, training time and speed, each with its delta against the first run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..config import flatten
from ..errors import MftctlError
from ..metrics import compare_key, named
from ..short_names import short
from ..store import reads
from ..store.engine import Store
from ..store.tables import Run

# (record key, run attribute, what it is) of the measured rows: the run's state, then the registry's
# `compare` metrics (metrics.py).
METRICS = (
    ("status", "status", "status"),
    ("epochs", "epochs_done", "epochs done"),
    *((compare_key(m), m.column, m.label) for m in named(compare=True)),
)


# Config keys whose numbers name something rather than measure it: no delta.
LABEL_KEYS = frozenset({"seed"})


@dataclass
class Row:
    key: str  # a dotted config key, or a METRICS key
    label: str  # what a table shows: the short name, or the metric's words
    values: list[Any]

    @property
    def deltas(self) -> list[float | None]:
        """Each value minus the first run's (numbers only; a seed is a label, not a quantity)."""
        first = self.values[0]
        numeric = isinstance(first, int | float) and not isinstance(first, bool) and self.key not in LABEL_KEYS
        return [
            v - first if numeric and isinstance(v, int | float) and not isinstance(v, bool) else None
            for v in self.values
        ]


@dataclass
class Comparison:
    runs: list[Run]
    config: list[Row]
    metrics: list[Row]
    # Each run's blobs matched to the reference run's (analysis/stability): centre, mass and width per
    # blob; empty when the runs cannot be matched, with the reason in `blobs_note`.
    blobs: list[Row] = field(default_factory=list)
    blobs_note: str = ""

    def records(self) -> list[dict[str, Any]]:
        """One record per row, for JSON and CSV: key, then each run's value and delta."""
        out = []
        for section, rows in (("config", self.config), ("metric", self.metrics), ("blob", self.blobs)):
            for row in rows:
                record: dict[str, Any] = {"section": section, "key": row.key}
                for run, value, delta in zip(self.runs, row.values, row.deltas, strict=True):
                    record[f"run_{run.id}"] = value
                    if run is not self.runs[0]:
                        record[f"delta_{run.id}"] = delta
                out.append(record)
        return out


def refuse_repeated(run_ids: list[int], command: str) -> None:
    """A run given twice to a command that sets runs side by side (compare, plot) is refused in one line."""
    repeated = sorted({i for i in run_ids if run_ids.count(i) > 1})
    if repeated:
        raise MftctlError(
            f"run {', '.join(map(str, repeated))} is given twice; {command} different runs, e.g. `mftctl {command} 3 4`"
        )


def compare_runs(store: Store, run_ids: list[int], *, every_key: bool = False) -> Comparison:
    if len(run_ids) < 2:
        raise MftctlError("give at least two run ids to compare, e.g. `mftctl compare 3 4`")
    refuse_repeated(run_ids, "compare")
    runs = reads.runs_by_id(store, run_ids)
    configs = [flatten(r.config) for r in runs]
    keys = sorted(set().union(*configs))
    config = [
        Row(key, short(key), [c.get(key) for c in configs])
        for key in keys
        if every_key or len({repr(c.get(key)) for c in configs}) > 1
    ]
    metrics = [Row(key, words, [getattr(r, attr) for r in runs]) for key, attr, words in METRICS]
    blobs, note = matched_blob_rows(store, runs)
    return Comparison(runs, config, metrics, blobs, note)


def matched_blob_rows(store: Store, runs: list[Run]) -> tuple[list[Row], str]:
    """Rows of each run's matched blobs (blob 0 is the centre blob of the reference run), and a line that
    says how they agree — or, when they cannot be matched (different shapes, no blob report), why not."""
    from .stability import runs_stability

    try:
        stability = runs_stability(store, runs, clouds=False)
    except MftctlError as exc:
        return [], f"no matched blobs: {exc}"
    report = stability.report
    rows = []
    for blob in report.blobs:
        i = blob.index
        per_run = [
            None if match[i] is None else run_report["blobs"][match[i]]
            for run_report, match in zip(stability.reports, report.matches, strict=True)
        ]
        rows.append(Row(f"blob{i}.centre", f"blob {i} centre", [b and list(b["centre"]) for b in per_run]))
        rows.append(Row(f"blob{i}.mass", f"blob {i} mass", [b and b["mass"] for b in per_run]))
        rows.append(Row(f"blob{i}.width", f"blob {i} width", [b and list(b["width"]) for b in per_run]))
    agree = round(report.count_agreement * report.runs)
    note = (
        f"{report.verdict}: {agree} of {report.runs} runs have {report.modal_count} blob(s); largest drift "
        f"{'-' if report.drift is None else f'{report.drift:.2f}'} blob widths (matched to run "
        f"{runs[report.reference].id}; `mftctl stability` for the full report)"
    )
    return rows, note
