"""Many processes writing one store at once, on SQLite and on PostgreSQL: nothing lost, no lock errors.
The shape of Optuna's own multi-process storage test: N writer processes, each a run of E epochs."""

import multiprocessing
import os

import pytest

from mftctl.status import RunStatus
from mftctl.store import open_store, reads

WRITERS = 8
EPOCHS = 100


def _write_run(db: str, index: int) -> str | None:
    """One writer process: a run, its claim, E epoch rows, a checkpoint row every 10, its end."""
    try:
        from mftctl.config_input import load_config
        from mftctl.runs.lifecycle import new_run
        from mftctl.store import layout, writes

        store = open_store(db, migrate=False)
        run = new_run(store, load_config("quick", overrides=[f"seed={index}"]), name=f"writer-{index}")
        assert writes.mark_running(store, run.id, pid=os.getpid(), device="cpu")
        for epoch in range(1, EPOCHS + 1):
            values = dict.fromkeys(
                ("train_loss", "train_loss_on", "train_loss_off", "test_loss", "test_loss_on", "test_loss_off"),
                1.0 / epoch,
            )
            values |= {"epoch": epoch, "seconds": 0.01, "train_seconds": 0.01, "samples_per_s": 1.0, "lr": 0.02}
            writes.record_epoch(store, run.id, values, {"n_blobs": 3, "separation": 0.9, "method": "test"})
            writes.heartbeat(store, run.id)
            if epoch % 10 == 0:
                path = layout.new_checkpoint_path(store, run.id, epoch)
                writes.record_checkpoint(store, run.id, epoch, path, 1, "0" * 64)
        writes.finish_run(store, run.id, RunStatus.completed)
        store.close()
        return None
    except Exception as exc:  # reported to the parent, which fails the test with it
        return f"{type(exc).__name__}: {exc}"


@pytest.mark.backends
def test_eight_writers_a_hundred_epochs_each_nothing_lost(backend):
    open_store(backend).close()  # the parent creates and migrates, as the CLI does
    with multiprocessing.get_context("spawn").Pool(WRITERS) as pool:
        errors = pool.starmap(_write_run, [(backend, i) for i in range(WRITERS)])
    assert errors == [None] * WRITERS
    store = open_store(backend)
    runs = [reads.get_run(store, i) for i in reads.run_ids(store)]
    assert len(runs) == WRITERS and sorted(r.id for r in runs) == list(range(1, WRITERS + 1))
    for run in runs:
        assert run.status == RunStatus.completed and run.epochs_done == EPOCHS
        assert [e.epoch for e in reads.epochs(store, run.id)] == list(range(1, EPOCHS + 1))
        assert [c.epoch for c in reads.checkpoints(store, run.id)] == list(range(10, EPOCHS + 1, 10))
        assert run.best_test_loss == pytest.approx(1.0 / EPOCHS) and run.n_clusters == 3
