"""Sweeps in the store: cells become run rows, a second run of the file resumes, and the summary."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .runner import create_run, prepare_resume
from .store import Run, Store, Sweep
from .sweep import SweepSpec

RETRYABLE = ("failed", "crashed", "killed")


@dataclass
class CellPlan:
    index: int
    label: str
    run_id: int | None
    action: str  # new | retry | resume-queued | done | skip-failed


def plan_sweep(store: Store, spec: SweepSpec, *, sweep: Sweep | None, retry_failed: bool) -> list[CellPlan]:
    """What running the sweep would do to each cell, reading the store only."""
    existing = {run.config_hash: run for run in store.sweep_runs(sweep.id)} if sweep else {}
    plans = []
    for cell in spec.cells:
        run = existing.get(cell.hash)
        if run is None:
            action = "new"
        elif run.status == "completed":
            action = "done"
        elif run.status in RETRYABLE:
            action = "retry" if retry_failed else "skip-failed"
        elif run.status == "queued":
            action = "resume-queued"
        else:  # running: another mftctl is on it
            action = "running"
        plans.append(CellPlan(cell.index, cell.label, run.id if run else None, action))
    return plans


def materialise(
    store: Store, spec: SweepSpec, path: Path | None, sweep: Sweep | None, plans: list[CellPlan]
) -> tuple[Sweep, list[int]]:
    """Write the sweep row (if new) and the cells' run rows; return the run ids to execute, in order."""
    if sweep is None:
        meta = {
            "varied": spec.varied,
            "reference": spec.reference,
            "expected_clusters": spec.expected_clusters,
            "cells": len(spec.cells),
        }
        sweep = store.create_sweep(
            name=spec.name, file_text=spec.text, file_path=str(path) if path else None, meta=meta
        )
    to_run = []
    for plan, cell in zip(plans, spec.cells, strict=True):
        if plan.action == "new":
            run = create_run(
                store,
                cell.config,
                name=f"{spec.name}-{cell.index}",
                preset=None,
                sweep_id=sweep.id,
                extra={"cell": cell.index, "values": cell.values},
            )
            plan.run_id = run.id
        elif plan.action == "retry":  # from its last good checkpoint, if it has one
            prepare_resume(store, plan.run_id)
        elif plan.action not in ("resume-queued",):
            continue
        to_run.append(plan.run_id)
    return sweep, to_run


# --- summary ----------------------------------------------------------------------------------------


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def summarize(store: Store, sweep: Sweep) -> dict[str, Any]:
    """Success rate, and per cell (seeds pooled): loss, time, blob quality, speed-up vs the reference."""
    meta = sweep.meta
    runs = store.sweep_runs(sweep.id)
    groups: dict[tuple, list[Run]] = {}
    for run in runs:
        values = run.extra.get("values", {})
        key = tuple((k, values.get(k)) for k in meta.get("varied", []) if k != "seed")
        groups.setdefault(key, []).append(run)
    expected = meta.get("expected_clusters", 3)
    cells = []
    for key, members in groups.items():
        done = [r for r in members if r.status == "completed"]
        loss, loss_std = _mean_std([r.last_test_loss for r in done])
        seconds, seconds_std = _mean_std([r.train_seconds for r in done])
        silhouette, _ = _mean_std([r.silhouette for r in done])
        separation, separation_std = _mean_std([r.separation for r in done])
        clusters, _ = _mean_std([r.n_clusters for r in done])
        cells.append(
            {
                "values": dict(key),
                "label": ", ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in key) or "base",
                "runs": [r.id for r in members],
                "completed": len(done),
                "seeds": len(members),
                "test_loss": loss,
                "test_loss_std": loss_std,
                "train_seconds": seconds,
                "train_seconds_std": seconds_std,
                "silhouette": silhouette,
                "separation": separation,
                "separation_std": separation_std,
                "old_blob_method": any(r.n_clusters is not None and r.blob_method is None for r in done),
                "n_clusters": clusters,
                "statuses": sorted({r.status for r in members}),
            }
        )
    reference = meta.get("reference") or {}
    ref_cell = next(
        (c for c in cells if reference and all(c["values"].get(k) == v for k, v in reference.items() if k != "seed")),
        None,
    )
    for c in cells:
        ok = ref_cell and ref_cell["train_seconds"] and c["train_seconds"]
        c["speedup"] = ref_cell["train_seconds"] / c["train_seconds"] if ok else None
        c["cluster_gap"] = None if c["n_clusters"] is None else abs(c["n_clusters"] - expected)
    finished = [c for c in cells if c["completed"]]
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.status] = counts.get(run.status, 0) + 1

    def blob_key(c):
        return (
            c["cluster_gap"] if c["cluster_gap"] is not None else 1e9,
            -(c["separation"] if c["separation"] is not None else -1),
        )

    return {
        "sweep": sweep.id,
        "name": sweep.name,
        "runs": len(runs),
        "statuses": counts,
        "success_rate": counts.get("completed", 0) / len(runs) if runs else None,
        "expected_clusters": expected,
        "reference": reference,
        "varied": meta.get("varied", []),
        "cells": cells,
        "fastest": [c["label"] for c in sorted(finished, key=lambda c: c["train_seconds"] or 1e18)[:3]],
        "lowest_loss": [c["label"] for c in sorted(finished, key=lambda c: c["test_loss"] or 1e18)[:3]],
        "best_blobs": [c["label"] for c in sorted(finished, key=blob_key)[:3]],
    }
