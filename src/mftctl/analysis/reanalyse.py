"""`mftctl reanalyse`: measure the blobs of stored runs again, from their checkpoints, with today's
measurement (science/blobs.py). Epochs without a checkpoint keep the numbers they have, and so keep
the mark of the method that made them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..checkpoints.load import load_run_checkpoint
from ..errors import CheckpointError, MftctlError
from ..status import ACTIVE
from ..store import reads, writes
from ..store.engine import Store


@dataclass
class Reanalysed:
    run: int
    epochs: list[int] = field(default_factory=list)  # measured again from their checkpoints
    kept: list[int] = field(default_factory=list)  # epochs without a readable checkpoint: old numbers kept
    skipped: str | None = None  # why nothing was done (running, no checkpoint)
    n_blobs: int | None = None  # the run's blob count afterwards
    separation: float | None = None
    blob_method: str | None = None


def reanalyse_run(store: Store, run_id: int, on_epoch: Callable[[], None] | None = None) -> Reanalysed:
    from ..science.diagnostics import epoch_metrics

    run = reads.get_run(store, run_id)
    result = Reanalysed(run.id)
    if run.status in ACTIVE:
        result.skipped = f"{run.status}: its worker measures each epoch itself"
        return result
    checkpoints = reads.checkpoints(store, run.id)
    if not checkpoints:
        result.skipped = "no checkpoint: its blob numbers keep the method that made them"
    reports = {}
    for ckpt in checkpoints:
        try:
            loaded = load_run_checkpoint(store, run, ckpt.epoch)
        except CheckpointError:
            continue  # a missing or corrupt file: that epoch keeps its numbers
        reports[ckpt.epoch] = epoch_metrics(loaded.model(), loaded.config)
        if on_epoch is not None:
            on_epoch()
    # Even with nothing measured again, the run's summary is worked out anew from its epoch rows: a run
    # recorded before a summary column existed (formed_epoch) gets it.
    writes.replace_blob_measurements(store, run.id, reports)
    result.epochs = sorted(reports)
    result.kept = [e.epoch for e in reads.epochs(store, run.id) if e.epoch not in reports and e.n_clusters is not None]
    after = reads.get_run(store, run.id)
    result.n_blobs, result.separation, result.blob_method = after.n_clusters, after.separation, after.blob_method
    return result


def checkpoint_count(store: Store, run_ids: list[int]) -> int:
    return sum(len(reads.checkpoints(store, i)) for i in run_ids)


def select_runs(store: Store, run_ids: list[int], everything: bool) -> list[int]:
    if everything == bool(run_ids):
        raise MftctlError("give run ids, or --all (one of them)")
    if everything:
        return reads.run_ids(store)
    ids = sorted(set(run_ids))
    reads.runs_by_id(store, ids)  # a one-line error for an unknown id, before any work
    return ids
