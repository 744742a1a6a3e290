"""A sweep at a glance: per cell (seeds pooled) the loss, time, blob numbers and speed-up against the
reference cell, and the best cells. Plain dataclasses: `sweep show`, its JSON and CSV, and the sweep
figures all read these."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..metrics import named
from ..short_names import label as short_label
from ..stats import mean_std
from ..status import RunStatus
from ..store import reads
from ..store.engine import Store
from ..store.tables import Run, Sweep
from ..sweeps.file import cell_label, is_reference
from ..sweeps.search_results import SearchResults, search_results

# The metrics `sweep show --pivot` can lay out as a grid, with their titles: the runs' (the registry's
# `pivot` metrics, metrics.py; each a CellSummary field, averaged over seeds), then the cells' own.
PIVOT_METRICS = {
    **{m.name: m.label for m in named(pivot=True)},
    "speedup": "speed-up",
    "count_agreement": "share of seeds with the modal blob count",
    "drift": "largest blob drift over seeds (blob widths)",
    "mass_cv": "largest blob mass CV over seeds",
}


@dataclass
class CellSummary:
    cell: str  # a short id, c0, c1, ... in the order of the sweep file
    values: dict[str, Any]  # the varied keys but the seed
    runs: list[int]
    statuses: list[str]
    completed: int
    seeds: int
    test_loss: float | None = None
    test_loss_std: float | None = None
    train_seconds: float | None = None
    train_seconds_std: float | None = None
    silhouette: float | None = None
    separation: float | None = None
    separation_std: float | None = None
    n_clusters: float | None = None
    old_blob_method: bool = False  # some numbers come from the first release's measurement
    is_reference: bool = False
    speedup: float | None = None  # the reference cell's training time over this one's
    cluster_gap: float | None = None  # |blobs - expected|
    # When the blobs formed (the run column formed_epoch): mean ± std over the completed seeds whose blobs
    # formed, and how many of them did (a seed that never formed is counted here, never averaged as 0).
    formed_epoch: float | None = None
    formed_epoch_std: float | None = None
    formed: int = 0
    # Blob stability over the completed seeds (analysis/stability, docs/science.md); None below two seeds.
    stability: str | None = None  # the verdict: stable, shifting or split
    stability_rank: int | None = None  # 0 stable, 1 shifting, 2 split: sorts
    count_agreement: float | None = None
    drift: float | None = None
    mass_cv: float | None = None

    @property
    def label(self) -> str:
        return cell_label(self.values)

    @property
    def short_label(self) -> str:
        """`c3 lr=0.02 batch=5000`: the id and the varied values by their short names."""
        return f"{self.cell} {short_label(self.values)}" if self.values else self.cell

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {"values": data.pop("values"), "label": self.label, "short_label": self.short_label} | data


@dataclass
class SweepSummary:
    sweep: int
    name: str
    runs: int
    statuses: dict[str, int]
    success_rate: float | None
    expected_clusters: int
    reference: dict[str, Any]
    varied: list[str]
    cells: list[CellSummary] = field(default_factory=list)
    slurm_jobs: list[str] = field(default_factory=list)  # the Slurm array jobs that ran its cells (cluster.md)
    search: SearchResults | None = None  # a [search] sweep: its trials, best or front, importances

    @property
    def finished(self) -> list[CellSummary]:
        return [c for c in self.cells if c.completed]

    @property
    def fastest(self) -> list[CellSummary]:
        return sorted(self.finished, key=lambda c: c.train_seconds or 1e18)[:3]

    @property
    def lowest_loss(self) -> list[CellSummary]:
        return sorted(self.finished, key=lambda c: c.test_loss or 1e18)[:3]

    @property
    def formed_first(self) -> list[CellSummary]:
        """The cells whose every completed seed formed blobs, earliest formation first."""
        every = [c for c in self.finished if c.formed and c.formed == c.completed]
        return sorted(every, key=lambda c: c.formed_epoch or 0.0)[:3]  # formed: never None here

    @property
    def most_stable(self) -> list[CellSummary]:
        """Cells measured over several seeds, the most stable first (verdict, then the smallest drift)."""
        measured = [c for c in self.finished if c.stability_rank is not None]
        return sorted(measured, key=lambda c: (c.stability_rank, c.drift if c.drift is not None else 1e18))[:3]

    @property
    def best_blobs(self) -> list[CellSummary]:
        """Blob count nearest the expected one, then the clearest separation."""

        def key(c: CellSummary) -> tuple[float, float]:
            gap = c.cluster_gap if c.cluster_gap is not None else 1e9
            return gap, -(c.separation if c.separation is not None else -1)

        return sorted(self.finished, key=key)[:3]

    def pivot(self, rows: str, columns: str, metric: str) -> tuple[list[Any], list[Any], dict[tuple, Any]]:
        """(row values, column values, {(row, column): the metric}) over two varied keys, seeds pooled."""

        def ordered(values: set) -> list:
            return sorted(values) if all(isinstance(v, int | float) for v in values) else sorted(values, key=str)

        row_values = ordered({c.values.get(rows) for c in self.cells})
        column_values = ordered({c.values.get(columns) for c in self.cells})
        table = {(c.values.get(rows), c.values.get(columns)): getattr(c, metric) for c in self.cells}
        return row_values, column_values, table

    def as_dict(self) -> dict[str, Any]:
        """The `sweep show --format json` record."""
        data = {k: v for k, v in asdict(self).items() if k not in ("cells", "search")}
        return data | {
            "search": self.search.as_dict() if self.search else None,
            "cells": [c.as_dict() for c in self.cells],
            "fastest": [c.label for c in self.fastest],
            "lowest_loss": [c.label for c in self.lowest_loss],
            "best_blobs": [c.label for c in self.best_blobs],
            "formed_first": [c.label for c in self.formed_first],
            "most_stable": [c.label for c in self.most_stable],
        }


def _cell(cell: str, values: dict[str, Any], members: list[Run]) -> CellSummary:
    done = [r for r in members if r.status == RunStatus.completed]
    loss, loss_std = mean_std([r.last_test_loss for r in done])
    seconds, seconds_std = mean_std([r.train_seconds for r in done])
    separation, separation_std = mean_std([r.separation for r in done])
    formed: list[float | None] = [float(r.formed_epoch) for r in done if r.formed_epoch is not None]
    formed_at, formed_std = mean_std(formed)
    return CellSummary(
        cell=cell,
        values=values,
        runs=[r.id for r in members],
        statuses=sorted({r.status for r in members}),
        completed=len(done),
        seeds=len(members),
        test_loss=loss,
        test_loss_std=loss_std,
        train_seconds=seconds,
        train_seconds_std=seconds_std,
        silhouette=mean_std([r.silhouette for r in done])[0],
        separation=separation,
        separation_std=separation_std,
        n_clusters=mean_std([r.n_clusters for r in done])[0],
        old_blob_method=any(r.n_clusters is not None and r.blob_method is None for r in done),
        formed_epoch=formed_at,
        formed_epoch_std=formed_std,
        formed=len(formed),
    )


def _stability(store: Store, cell: CellSummary, members: list[Run]) -> None:
    """Fill the cell's stability over its completed seeds, when there are two and they can be compared."""
    from ..errors import MftctlError
    from .stability import runs_stability

    done = [r for r in members if r.status == RunStatus.completed]
    if len(done) < 2:
        return
    try:
        # From the epoch rows alone (no checkpoint, no torch: `sweep show` stays quick); `mftctl stability
        # --sweep` adds the pair-cloud distance.
        report = runs_stability(store, done, clouds=False).report
    except MftctlError:  # no blob report (diagnostics off) or one predating widths: the columns stay empty
        return
    cell.stability, cell.stability_rank = report.verdict, report.rank
    cell.count_agreement, cell.drift, cell.mass_cv = report.count_agreement, report.drift, report.mass_cv


def summarize(store: Store, sweep: Sweep, *, stability: bool = True) -> SweepSummary:
    """The sweep's summary; `stability` (on by default) also matches each seeded cell's blobs (from their
    epoch rows)."""
    meta = sweep.meta
    runs = reads.sweep_runs(store, sweep.id)
    varied = meta.get("varied", [])
    # A cell is one point's runs, one per seed. A search's cell is its trial: a point that two trials
    # trained (when the sampler's re-asks ran out) is two cells, never one cell of two "seeds".
    groups: dict[tuple, list[Run]] = {}
    for run in runs:
        values = run.extra.get("values", {})
        point = tuple((k, values.get(k)) for k in varied if k != "seed")
        groups.setdefault((run.extra.get("trial"), point), []).append(run)
    reference = meta.get("reference") or {}
    expected = meta.get("expected_clusters", 3)
    cells = [_cell(f"c{i}", dict(point), members) for i, ((_, point), members) in enumerate(groups.items())]
    if stability:
        for cell, members in zip(cells, groups.values(), strict=True):
            _stability(store, cell, members)
    ref_cell = next((c for c in cells if is_reference(c.values, reference)), None)
    for c in cells:
        c.is_reference = c is ref_cell
        if ref_cell and ref_cell.train_seconds and c.train_seconds:
            c.speedup = ref_cell.train_seconds / c.train_seconds
        c.cluster_gap = None if c.n_clusters is None else abs(c.n_clusters - expected)
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.status] = counts.get(run.status, 0) + 1
    # A pruned trial ended as its search meant it to: a success, not a failure.
    return SweepSummary(
        sweep=sweep.id,
        name=sweep.name,
        runs=len(runs),
        statuses=counts,
        success_rate=(counts.get(RunStatus.completed, 0) + counts.get(RunStatus.pruned, 0)) / len(runs)
        if runs
        else None,
        expected_clusters=expected,
        reference=reference,
        varied=varied,
        cells=cells,
        slurm_jobs=[str(j) for j in meta.get("slurm_jobs", [])],
        search=search_results(store, sweep),
    )
