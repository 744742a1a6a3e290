"""Sweeps in the store: which sweep a file (or `--resume ID`) means, what running it would do to each cell,
and the run rows of the cells to run. Running the same file again resumes it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..config import without_retired
from ..devices import check_device, check_fits
from ..errors import MftctlError
from ..runs.lifecycle import new_run
from ..runs.resume import queue_resume
from ..status import RESUMABLE, RunStatus
from ..store import reads, writes
from ..store.engine import Store
from ..store.tables import Sweep
from .file import SweepSpec, stored_sweep


@dataclass
class CellPlan:
    index: int
    label: str
    run_id: int | None
    action: str  # new | retry | resume-queued | done | skip-failed | running

    @property
    def runs(self) -> bool:
        return self.action in ("new", "retry", "resume-queued")


@dataclass
class SweepTarget:
    """The sweep a command works on: its cells, its row (None until first run) and its file."""

    spec: SweepSpec
    sweep: Sweep | None
    path: Path | None


def find_target(store: Store, spec: SweepSpec | None, path: Path | None, resume: int | None) -> SweepTarget:
    """A sweep file's sweep (the latest of its name), or a stored sweep by id. A name already used by a
    different file is refused: the cells would mix."""
    if resume is not None:
        sweep = reads.get_sweep(store, resume)
        base = sweep.meta.get("base_config")
        spec = stored_sweep(sweep.file_text, name=sweep.name, file_path=sweep.file_path, base_config=base)
        return SweepTarget(spec, sweep, Path(sweep.file_path) if sweep.file_path else None)
    assert spec is not None
    found = reads.find_sweep(store, spec.name)
    if found is not None and found.file_text != spec.text:
        raise MftctlError(
            f"sweep {spec.name!r} (id {found.id}) was run from a different file; running this one under "
            f"the same name would mix unlike cells. Give it its own name with --name NAME, or resume the "
            f"old one with --resume {found.id}"
        )
    recorded = found.meta.get("base_config") if found is not None else None
    if (
        found is not None
        and recorded is not None
        and without_retired(recorded) != without_retired(json.loads(json.dumps(spec.base_config)))
    ):
        raise MftctlError(
            f"sweep {spec.name!r} (id {found.id}) was run from another base config (its base_config file has "
            f"changed since); resume it as recorded with --resume {found.id}, or run the changed one as a new "
            "sweep with --name NAME"
        )
    return SweepTarget(spec, found, path)


def check_cells(spec: SweepSpec) -> None:
    """Every refusal before the first row: a cell too large for this machine, or a device it lacks (for a
    search, at every bound of its space), or optuna missing."""
    if spec.search is not None:
        from ..search.space import corner_values
        from ..search.study import require_optuna

        require_optuna()
        seed = {"seed": spec.seeds[0]} if spec.seeds else {}
        for values in corner_values(spec.search.params):
            config = spec.trial_config(values | seed)
            try:
                check_fits(config, "it")
                check_device(config.device)
            except MftctlError as exc:
                raise MftctlError(
                    f"search space at ({', '.join(f'{k}={v}' for k, v in values.items())}): {exc}"
                ) from None
    for cell in spec.cells:
        try:
            check_fits(cell.config, "it")
            check_device(cell.config.device)
        except MftctlError as exc:
            raise MftctlError(f"sweep cell {cell.index} ({cell.label}): {exc}") from None


def _action(run, retry_failed: bool) -> str:
    if run.status in (RunStatus.completed, RunStatus.pruned):
        return "done"
    if run.extra.get("search", {}).get("invalid"):  # a search point whose config was refused: never runnable
        return "skip-failed"
    if run.status in RESUMABLE:
        return "retry" if retry_failed else "skip-failed"
    if run.status == RunStatus.queued:
        return "resume-queued"
    return "running"  # another mftctl is on it


def plan_sweep(store: Store, target: SweepTarget, *, retry_failed: bool) -> list[CellPlan]:
    """What running the sweep would do to each cell, reading the store only. A search's plans are its
    trials so far (the trials still to come are claimed as it runs)."""
    if target.spec.search is not None:
        runs = reads.sweep_runs(store, target.sweep.id) if target.sweep else []
        return [
            CellPlan(int(r.extra["trial"]), r.name, r.id, _action(r, retry_failed))
            for r in runs
            if r.extra.get("trial") is not None
        ]
    existing = {run.config_hash: run for run in reads.sweep_runs(store, target.sweep.id)} if target.sweep else {}
    plans = []
    for cell in target.spec.cells:
        run = existing.get(cell.hash)
        action = "new" if run is None else _action(run, retry_failed)
        plans.append(CellPlan(cell.index, cell.label, run.id if run else None, action))
    return plans


def materialise(store: Store, target: SweepTarget, plans: list[CellPlan]) -> tuple[Sweep, list[int]]:
    """Write the sweep row (if new) and the cells' run rows; return the run ids to execute, in order."""
    spec, sweep = target.spec, target.sweep
    if sweep is None:
        meta = {
            "varied": spec.varied,
            "reference": spec.reference,
            "expected_clusters": spec.expected_clusters,
            "cells": len(spec.cells),  # runs: each cell once per seed
            "seeds": len(spec.seeds or [None]),
            "base": spec.base,
            "base_config": spec.base_config,
        }
        if spec.search is not None:  # what the workers' pruners and the array tasks read back
            meta |= {"search": spec.search.table, "trials": spec.search.trials}
        file_path = str(target.path) if target.path else None
        sweep = writes.create_sweep(store, name=spec.name, file_text=spec.text, file_path=file_path, meta=meta)
    to_run: list[int] = []
    if spec.search is not None:  # its trials so far: the interrupted taken up, the queued run
        for plan in plans:
            if plan.run_id is None:  # a trial not yet made has no run to take up
                continue
            if plan.action == "retry":
                queue_resume(store, plan.run_id)
            if plan.action in ("retry", "resume-queued"):
                to_run.append(plan.run_id)
        return sweep, to_run
    for plan, cell in zip(plans, spec.cells, strict=True):
        if plan.action == "new":
            run = new_run(
                store,
                cell.config,
                name=f"{spec.name}-{cell.index}",
                preset=spec.base,
                sweep_id=sweep.id,
                extra={"cell": cell.index, "values": cell.values},
                tags=spec.tags,
            )
            plan.run_id = run.id
        elif plan.run_id is None:  # every other action is of a cell's existing run
            continue
        elif plan.action == "retry":  # from its last good checkpoint, if it has one
            queue_resume(store, plan.run_id)
        elif plan.action != "resume-queued":
            continue
        to_run.append(plan.run_id)
    return sweep, to_run
