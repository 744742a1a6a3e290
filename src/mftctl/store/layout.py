"""Where a store's files live: one folder per run in the store's runs folder, checkpoint file names, and
the marker that says which store made a folder. Paths only; nothing here touches the database."""

from __future__ import annotations

import os
from pathlib import Path

from .engine import Store
from .tables import Checkpoint

OWNER_FILE = ".mftctl-database"  # in each run folder: the name of the store that made it
FULL = "full"  # a checkpoint with optimizer and RNG state: a run can resume from it
WEIGHTS = "weights"  # the model alone: figures, diagnose, reanalyse, stage 2


def run_dir(store: Store, run_id: int) -> Path:
    return store.runs_dir / str(run_id)


def new_checkpoint_path(store: Store, run_id: int, epoch: int, kind: str = FULL) -> Path:
    """Where the checkpoint of this epoch is written (its `.tmp` sibling first)."""
    return run_dir(store, run_id) / f"{'epoch' if kind == FULL else 'weights'}_{epoch:04d}.pt"


def checkpoint_path(store: Store, ckpt: Checkpoint) -> Path:
    return store.root / ckpt.path


def relative_path(store: Store, path: Path) -> str:
    """How a checkpoint's path is recorded: relative to the store's root, so the folder can move with it."""
    return os.path.relpath(path, store.root)


def claim_run_dir(store: Store, run_id: int) -> Path:
    """Create the run's folder, marked as this store's (gc removes only folders it owns)."""
    folder = run_dir(store, run_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / OWNER_FILE).write_text(store.location.owner_name + "\n")
    return folder


def ensure_run_dir(store: Store, run_id: int) -> Path:
    """The run's folder; a run recorded before runs folders were named after their database (or whose
    folder was deleted) gets one here, while its recorded checkpoints are read where they lie."""
    folder = run_dir(store, run_id)
    return folder if folder.is_dir() else claim_run_dir(store, run_id)


def owns(store: Store, folder: Path) -> bool:
    try:
        return (folder / OWNER_FILE).read_text().strip() == store.location.owner_name
    except OSError:
        return False


def made_here(store: Store, folder: Path, recorded: list[tuple[Path, int]]) -> bool:
    """Whether this store made the run folder, so that its files are this store's to delete: the folder lies
    in this store's runs folder and its marker names this store; a folder from before markers (none in it)
    counts only if it holds every checkpoint this store recorded there, byte for byte. A folder under a
    wrong MFTCTL_RUNS_DIR, or the original's folder seen from a copy of the database, is never made here."""
    if folder.parent.resolve() != store.runs_dir.resolve() or not folder.is_dir():
        return False
    if (folder / OWNER_FILE).exists():
        return owns(store, folder)
    return bool(recorded) and all(p.is_file() and p.stat().st_size == size for p, size in recorded)


def checkpoint_files(store: Store, run_id: int) -> list[tuple[int | None, Path]]:
    """(epoch, path) of every checkpoint-like file in the run's folder, `.tmp` leftovers included; epoch
    None where the name carries none."""
    found: list[tuple[int | None, Path]] = []
    for path in sorted(run_dir(store, run_id).glob("*_*.pt*")):
        prefix, _, rest = path.name.partition("_")
        if prefix not in ("epoch", "weights"):
            continue
        digits = rest.split(".")[0]
        found.append((int(digits) if digits.isdecimal() else None, path))
    return found


def remove_files(paths: list[Path]) -> None:
    """Files and whole folders, each gone or never there: deleting is the point."""
    import shutil

    for path in paths:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
