"""Writes: the run lifecycle, sweeps, checkpoints and analyses. Each function is one short transaction.

A write that reads a row to decide (is this run still queued?) locks it first (`FOR UPDATE` on
PostgreSQL; SQLite's write transaction already holds the whole database), so two processes never both
win. The run's summary columns have one definition, `_refresh_summary`, used by every write that
changes a run's epochs.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import delete, text
from sqlmodel import Session, col, func, select

from ..errors import StoreError
from ..faults import maybe_crash
from ..metrics import METRICS
from ..science.records import formed_epoch
from ..status import ACTIVE, FINISHED, RunStatus
from . import layout
from .engine import Store
from .tables import (
    EPOCH_VALUE_COLUMNS,
    Checkpoint,
    Diagnosis,
    Epoch,
    Run,
    RunTag,
    Sweep,
    blob_summary,
    now,
)

# Tables whose rows belong to one run and carry its epoch.
_PER_EPOCH = (Diagnosis, Checkpoint, Epoch)


def _locked_run(s: Session, run_id: int) -> Run | None:
    return s.get(Run, run_id, with_for_update=True)


def _locked_existing_run(s: Session, run_id: int) -> Run:
    run = _locked_run(s, run_id)
    if run is None:  # deleted under a writer (`rm` from another shell): say which run, not an AttributeError
        raise StoreError(f"no run with id {run_id} (deleted meanwhile?)")
    return run


def _sql(s: Session, statement: str, params: dict[str, Any] | None = None) -> Any:
    """Raw SQL on the session's connection (the counter): SQLModel's `exec` types only ORM statements."""
    return s.connection().execute(text(statement), params or {})


def _next_run_id(s: Session, dialect: str) -> int:
    """Run ids come from a counter and are never reused, even after `rm` of the newest run."""
    larger = "greatest" if dialect == "postgresql" else "max"
    _sql(
        s,
        f"UPDATE mftctl_counter SET value = {larger}(value, (SELECT coalesce(max(id), 0) FROM run)) + 1 "
        "WHERE name = 'run'",
    )
    return int(_sql(s, "SELECT value FROM mftctl_counter WHERE name = 'run'").one()[0])


def create_run(
    store: Store,
    *,
    name: str,
    config_json: str,
    config_hash: str,
    seed: int,
    epochs_total: int,
    preset: str | None = None,
    kind: str = "train",
    parent_id: int | None = None,
    sweep_id: int | None = None,
    extra: dict[str, Any] | None = None,
    tags: list[str] | None = None,
    note: str | None = None,
) -> Run:
    """A queued run, its tags with it, in one transaction."""
    run = Run(
        name=name,
        kind=kind,
        preset=preset,
        config_json=config_json,
        config_hash=config_hash,
        seed=seed,
        epochs_total=epochs_total,
        parent_id=parent_id,
        sweep_id=sweep_id,
        extra_json=json.dumps(extra) if extra else None,
        note=note or None,
    )
    with store.write() as s:
        run.id = _next_run_id(s, store.dialect)
        run.name = name or f"run-{run.id}"
        s.add(run)
        s.flush()
        s.add_all(RunTag(run_id=run.id, tag=t) for t in sorted(set(tags or [])))
    return run


def update_run_extra(store: Store, run_id: int, **changes: Any) -> None:
    """Merge keys into a run's extra, under its row lock."""
    with store.write() as s:
        run = _locked_run(s, run_id)
        if run is not None:
            run.extra_json = json.dumps(run.extra | changes)


def claim_sweep_runs(
    store: Store, sweep_id: int, decide: Callable[[list[Run]], list[dict[str, Any]]], *, tags: list[str] | None = None
) -> list[Run]:
    """Runs added to a sweep by `decide`, which is handed the sweep's runs and returns the new runs' fields
    (as create_run takes them, sweep_id aside), all in one transaction under the sweep's lock: two processes
    growing one sweep (an adaptive search asking for its next trial) each see the other's runs, never a
    stale count."""
    with store.write() as s:
        s.get(Sweep, sweep_id, with_for_update=True)  # PostgreSQL: the sweep's row lock; SQLite holds the database
        runs = list(s.exec(select(Run).where(Run.sweep_id == sweep_id).order_by(col(Run.id))))
        created = []
        for fields in decide(runs):
            extra = fields.pop("extra", None)
            run = Run(sweep_id=sweep_id, extra_json=json.dumps(extra) if extra else None, **fields)
            run.id = _next_run_id(s, store.dialect)
            run.name = run.name or f"run-{run.id}"
            s.add(run)
            s.flush()
            s.add_all(RunTag(run_id=run.id, tag=t) for t in sorted(set(tags or [])))
            created.append(run)
    return created


def mark_running(store: Store, run_id: int, *, pid: int, device: str, numerics: dict[str, Any] | None = None) -> bool:
    """queued -> running, atomically; False if the run was not queued (someone else took it). `numerics`:
    what the run's numbers depend on beside its config (threads, device, torch), kept in its extra."""
    with store.write() as s:
        run = _locked_run(s, run_id)
        if run is None or run.status != RunStatus.queued:
            return False
        t = now()
        run.status, run.pid, run.host, run.device = RunStatus.running, pid, socket.gethostname(), device
        run.started_at = run.heartbeat_at = t
        if numerics:
            run.extra_json = json.dumps(run.extra | {"numerics": numerics})
    return True


def heartbeat(store: Store, run_id: int) -> None:
    with store.write() as s:
        _sql(s, "UPDATE run SET heartbeat_at = :t WHERE id = :id", {"t": now(), "id": run_id})


def finish_run(store: Store, run_id: int, status: RunStatus, error: str | None = None) -> bool:
    """Active -> a finished status; a run already finished keeps the status it has."""
    assert status in FINISHED
    with store.write() as s:
        run = _locked_run(s, run_id)
        if run is None or run.status not in ACTIVE:
            return False
        run.status, run.error, run.finished_at = status, error, now()
    return True


def _refresh_summary(s: Session, run: Run) -> None:
    """The run's summary columns from its epoch rows, each by its metric's rule (metrics.py): the latest
    epoch's value (`last`), the lowest (`min`), the sum (`sum`), the latest blob report's (`measured`), and
    since when the blobs have stayed formed (`formed`)."""
    s.flush()
    mine = Epoch.run_id == run.id
    # An epoch's numbers are EpochRecord's (tables.EpochValues): the type checker knows them by name only.
    aggregates: dict[str, Any] = {"min": func.min, "sum": func.sum}
    folded = [m for m in METRICS if m.summary in aggregates]
    columns: list[Any] = [aggregates[m.summary](col(getattr(Epoch, str(m.epoch_column)))) for m in folded]
    epochs_done, *values = tuple(s.exec(select(func.max(Epoch.epoch), *columns).where(mine)).one())
    run.epochs_done = epochs_done or 0
    for metric, value in zip(folded, values, strict=True):
        setattr(run, metric.column, value if value is not None or metric.summary != "sum" else 0.0)
    latest = s.exec(select(Epoch).where(mine).order_by(col(Epoch.epoch).desc())).first()
    measured = s.exec(
        select(Epoch).where(mine, col(Epoch.n_clusters).is_not(None)).order_by(col(Epoch.epoch).desc())
    ).first()
    for metric in METRICS:
        row = {"last": latest, "measured": measured}.get(metric.summary, False)
        if row is not False:
            setattr(run, metric.column, getattr(row, str(metric.epoch_column)) if row is not None else None)
    run.blob_method = measured.blob_method if measured else None
    history = s.exec(
        select(Epoch.epoch, Epoch.n_clusters, Epoch.separation).where(mine).order_by(col(Epoch.epoch))
    ).all()
    formed = formed_epoch([(epoch, k, separation) for epoch, k, separation in history])
    for metric in METRICS:
        if metric.summary == "formed":
            setattr(run, metric.column, formed)


def record_epoch(store: Store, run_id: int, values: dict[str, Any], diagnostics: dict[str, Any] | None) -> None:
    """The epoch row and the run's summary columns, in one short transaction."""
    row = Epoch(
        run_id=run_id,
        epoch=values["epoch"],
        **{k: values[k] for k in EPOCH_VALUE_COLUMNS},
        **blob_summary(diagnostics),
        diagnostics_json=json.dumps(diagnostics) if diagnostics else None,
    )
    with store.write() as s:
        s.add(row)
        s.flush()
        maybe_crash("epoch-write", values["epoch"])
        run = _locked_existing_run(s, run_id)
        _refresh_summary(s, run)
        run.heartbeat_at = now()


def replace_blob_measurements(store: Store, run_id: int, reports: dict[int, dict[str, Any]]) -> None:
    """New blob reports for some epochs of a run ({epoch: report}), and the run's summary columns again,
    in one transaction (`mftctl reanalyse`)."""
    with store.write() as s:
        for epoch in s.exec(select(Epoch).where(Epoch.run_id == run_id, col(Epoch.epoch).in_(list(reports)))):
            for key, value in blob_summary(reports[epoch.epoch]).items():
                setattr(epoch, key, value)
            epoch.diagnostics_json = json.dumps(reports[epoch.epoch])
        _refresh_summary(s, _locked_existing_run(s, run_id))


def prepare_resume(store: Store, run_id: int, epoch: int) -> None:
    """Back to `queued`, keeping epochs and checkpoints up to `epoch` (the checkpoint resumed from) and
    dropping later ones, so that every epoch is recorded once after the resumed run finishes."""
    with store.write() as s:
        run = _locked_run(s, run_id)
        if run is None or run.status in ACTIVE:
            return
        for table in _PER_EPOCH:
            s.exec(delete(table).where(col(table.run_id) == run_id, col(table.epoch) > epoch))
        _refresh_summary(s, run)
        run.status, run.error, run.finished_at, run.pid = RunStatus.queued, None, None, None
        run.extra_json = json.dumps(run.extra | {"resume_from_epoch": epoch})
    layout.remove_files([path for e, path in layout.checkpoint_files(store, run_id) if e is not None and e > epoch])


# --- checkpoints and analyses ------------------------------------------------------------------------------


def _checkpoint_row(s: Session, run_id: int, epoch: int) -> Checkpoint | None:
    return s.exec(select(Checkpoint).where(Checkpoint.run_id == run_id, Checkpoint.epoch == epoch)).first()


def record_checkpoint(
    store: Store, run_id: int, epoch: int, path: Path, size: int, sha256: str, kind: str = layout.FULL
) -> None:
    """Record a checkpoint file, replacing the row of the same epoch if there is one (a full checkpoint
    slimmed to its weights)."""
    rel = layout.relative_path(store, path)
    with store.write() as s:
        old = _checkpoint_row(s, run_id, epoch)
        if old is not None:
            s.delete(old)
            s.flush()
        s.add(Checkpoint(run_id=run_id, epoch=epoch, path=rel, bytes=size, sha256=sha256, kind=kind))


def drop_checkpoint(store: Store, run_id: int, epoch: int) -> None:
    """The row, then the file: a crash in between leaves an orphan file for gc, never a row without one."""
    with store.write() as s:
        row = _checkpoint_row(s, run_id, epoch)
        if row is None:
            return
        path = layout.checkpoint_path(store, row)
        s.delete(row)
    path.unlink(missing_ok=True)


def delete_checkpoint_rows(store: Store, ids: list[int]) -> None:
    with store.write() as s:
        s.exec(delete(Checkpoint).where(col(Checkpoint.id).in_(ids)))


def save_diagnosis(store: Store, run_id: int, epoch: int, version: int, result: dict[str, Any]) -> None:
    """Replace any earlier analysis of the same checkpoint and version."""
    with store.write() as s:
        s.exec(
            delete(Diagnosis).where(
                col(Diagnosis.run_id) == run_id, col(Diagnosis.epoch) == epoch, col(Diagnosis.version) == version
            )
        )
        s.add(Diagnosis(run_id=run_id, epoch=epoch, version=version, result_json=json.dumps(result)))


# --- sweeps ------------------------------------------------------------------------------------------------


def create_sweep(store: Store, *, name: str, file_text: str, file_path: str | None, meta: dict[str, Any]) -> Sweep:
    sweep = Sweep(name=name, file_text=file_text, file_path=file_path, meta_json=json.dumps(meta))
    with store.write() as s:
        s.add(sweep)
    return sweep


def update_sweep_meta(store: Store, sweep_id: int, **changes: Any) -> Sweep:
    """Merge keys into a sweep's meta (the Slurm job ids of its submissions, say)."""
    with store.write() as s:
        sweep = s.get(Sweep, sweep_id, with_for_update=True)
        if sweep is None:
            raise StoreError(f"no sweep with id {sweep_id} (deleted meanwhile?)")
        sweep.meta_json = json.dumps(sweep.meta | changes)
    return sweep


# --- deleting ---------------------------------------------------------------------------------------------


def delete_runs(store: Store, run_ids: list[int]) -> list[Path]:
    """Rows and files together. Refuses running runs, and parents whose children are not deleted too.
    Returns the files and folders left alone because this store did not make them."""
    ids = sorted(set(run_ids))
    with store.write() as s:
        found = {i: s.get(Run, i, with_for_update=True) for i in ids}
        missing = [i for i, r in found.items() if r is None]
        if missing:
            raise StoreError(f"no run with id {', '.join(map(str, missing))}; nothing was deleted")
        runs = [r for r in found.values() if r is not None]
        busy = [r.id for r in runs if r.status == RunStatus.running]
        if busy:
            raise StoreError(f"run {', '.join(map(str, busy))} is running; stop it first (nothing was deleted)")
        kids = s.exec(select(Run.id).where(col(Run.parent_id).in_(ids), col(Run.id).not_in(ids))).all()
        if kids:
            raise StoreError(
                f"runs {', '.join(map(str, kids))} are children of runs being deleted; delete them "
                "too (nothing was deleted)"
            )
        recorded: dict[int, list[tuple[Path, int]]] = {i: [] for i in ids}
        for c in s.exec(select(Checkpoint).where(col(Checkpoint.run_id).in_(ids))):
            recorded[c.run_id].append((layout.checkpoint_path(store, c), c.bytes))
        for table in (*_PER_EPOCH, RunTag):
            s.exec(delete(table).where(col(table.run_id).in_(ids)))
        for run in sorted(runs, key=lambda r: -r.id):  # children (always newer) before their parents
            s.delete(run)
            s.flush()
    # Only the folders this store made: a copy of the database records the original's paths, and a wrong
    # runs folder ($MFTCTL_RUNS_DIR) may hold folders named like run ids that mftctl never made.
    kept = []
    for run_id in ids:
        folder = layout.run_dir(store, run_id)
        if layout.made_here(store, folder, [r for r in recorded[run_id] if r[0].parent == folder]):
            layout.remove_files([folder])
        elif folder.exists():
            kept.append(folder)
        kept += [p for p, _ in recorded[run_id] if p.parent != folder and p.exists()]
    return kept


# --- tags and notes ---------------------------------------------------------------------------------------


def tag_runs(store: Store, run_ids: list[int], tag: str, *, remove: bool = False) -> None:
    """Add a tag to runs (a run that has it keeps it once), or take it off them."""
    with store.write() as s:
        if remove:
            s.exec(delete(RunTag).where(col(RunTag.tag) == tag, col(RunTag.run_id).in_(run_ids)))
            return
        have = set(s.exec(select(RunTag.run_id).where(RunTag.tag == tag, col(RunTag.run_id).in_(run_ids))))
        s.add_all(RunTag(run_id=i, tag=tag) for i in run_ids if i not in have)


def set_note(store: Store, run_id: int, note: str | None) -> None:
    with store.write() as s:
        _locked_existing_run(s, run_id).note = note or None
