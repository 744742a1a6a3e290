"""Garbage in a store's runs folder: files no row accounts for, and rows whose file is gone."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import layout, reads, writes
from .engine import Store
from .tables import Checkpoint


@dataclass
class Garbage:
    orphans: list[Path] = field(default_factory=list)  # files and run folders no row accounts for
    lost: list[Checkpoint] = field(default_factory=list)  # checkpoint rows whose file is gone
    # Rows whose run folder is missing or not this store's (a wrong runs folder, a copy of the database):
    # their files may well exist elsewhere, so they are kept.
    unplaced: list[Checkpoint] = field(default_factory=list)


def find_garbage(store: Store) -> Garbage:
    """Folders of queued and running runs are left alone: their workers write there. Call
    liveness.reconcile() first, so that a dead worker's run is not taken for a live one."""
    run_ids, active = set(reads.run_ids(store)), reads.active_run_ids(store)
    rows = reads.all_checkpoints(store)
    by_folder: dict[Path, list[Checkpoint]] = {}
    for c in rows:
        by_folder.setdefault(layout.checkpoint_path(store, c).parent, []).append(c)
    garbage = Garbage()
    made_here: dict[Path, bool] = {}
    for folder, checkpoints in by_folder.items():
        present = [c for c in checkpoints if layout.checkpoint_path(store, c).exists()]
        # A folder counts as this store's by its marker, or (before markers) by holding files it recorded.
        evidence = [(layout.checkpoint_path(store, c), c.bytes) for c in present]
        made_here[folder] = layout.made_here(store, folder, evidence)
        missing = [c for c in checkpoints if c not in present]
        (garbage.lost if made_here[folder] else garbage.unplaced).extend(missing)
    if not store.runs_dir.exists():
        return garbage
    for folder in sorted(store.runs_dir.iterdir()):
        if not (folder.is_dir() and folder.name.isdecimal()):
            continue
        # Only a folder this store made is its garbage: an unmarked one may belong to another database
        # that shared the folder before runs folders were named after databases.
        if not (layout.owns(store, folder) or made_here.get(folder)):
            continue
        run_id = int(folder.name)
        if run_id not in run_ids:
            garbage.orphans.append(folder)
        elif run_id not in active:  # an active run's worker may be writing a checkpoint right now
            recorded = {layout.checkpoint_path(store, c).resolve() for c in by_folder.get(folder, [])}
            files = layout.checkpoint_files(store, run_id)
            garbage.orphans.extend(f for _, f in files if f.resolve() not in recorded)
    return garbage


def collect(store: Store, garbage: Garbage) -> None:
    """Remove what find_garbage found."""
    layout.remove_files(garbage.orphans)
    writes.delete_checkpoint_rows(store, [c.id for c in garbage.lost])
