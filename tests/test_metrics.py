"""The metric registry (metrics.py) against what it declares for: the store's columns (the hand-written
migrations and the ORM), the run record's public names, search objectives, pivots, compare rows, curve
panels, and the summary rules against the epochs they summarise, recomputed here by hand."""

from __future__ import annotations

import sqlite3

import pytest

from mftctl import metrics
from mftctl.analysis.compare import METRICS as COMPARE_ROWS
from mftctl.analysis.sweep_summary import PIVOT_METRICS
from mftctl.search.space import OBJECTIVE_ALIASES, OBJECTIVES
from mftctl.store import reads, writes
from mftctl.store.columns import RUN_ALIASES, RUN_FIELDS
from mftctl.store.engine import open_store
from mftctl.store.tables import BLOB_COLUMNS, Epoch, Run


def _columns(path, table: str) -> set[str]:
    with sqlite3.connect(path) as con:
        return {row[1] for row in con.execute(f"PRAGMA table_info({table})")}


def test_every_metric_has_its_columns_in_the_migrations_the_orm_and_the_record(tmp_path):
    path = tmp_path / "fresh.db"
    open_store(path).close()  # a new store is made by the migrations alone
    run_columns, epoch_columns = _columns(path, "run"), _columns(path, "epoch")
    for m in metrics.METRICS:
        assert m.column in run_columns and m.column in Run.model_fields, m.name
        assert RUN_FIELDS[m.name] == m.column, m.name  # its public name is the record's
        if m.epoch_column is not None:
            assert m.epoch_column in epoch_columns and m.epoch_column in Epoch.model_fields, m.name
        for alias in m.aliases:
            assert RUN_ALIASES[alias] == m.column
    measured = {m.column for m in metrics.METRICS if m.summary == "measured"}
    assert measured == set(BLOB_COLUMNS)  # the blob report's summary columns are exactly the measured ones


def test_the_users_of_the_registry_take_its_rows():
    assert set(OBJECTIVES) == {m.name for m in metrics.METRICS if m.objective}
    assert OBJECTIVE_ALIASES == {"loss": "test_loss", "best_loss": "best_test_loss", "n_blobs": "n_clusters"}
    pivots = [m.name for m in metrics.named(pivot=True)]
    assert list(PIVOT_METRICS)[: len(pivots)] == pivots
    assert [key for key, _, _ in COMPARE_ROWS[2:]] == [metrics.compare_key(m) for m in metrics.named(compare=True)]
    # compare --format json keeps the keys it has always written
    assert [key for key, _, _ in COMPARE_ROWS][:6] == [
        "status",
        "epochs",
        "test_loss",
        "best_test_loss",
        "train_loss",
        "n_blobs",
    ]
    assert [m.name for m in metrics.named(panel=True)] == ["n_clusters", "separation", "silhouette", "correlation"]
    assert not metrics.per_epoch(metrics.BY_NAME["train_seconds"]) and metrics.per_epoch(
        metrics.BY_NAME["best_test_loss"]
    )


def _epoch(run_id, epoch, test, train, seconds, k=None, separation=None):
    values = {
        "epoch": epoch,
        "train_loss": train,
        "train_loss_on": 0.0,
        "train_loss_off": 0.0,
        "test_loss": test,
        "test_loss_on": 0.0,
        "test_loss_off": 0.0,
        "seconds": seconds,
        "train_seconds": seconds,
        "samples_per_s": 100.0 * epoch,
        "lr": 0.01,
    }
    report = (
        None
        if k is None
        else {
            "n_blobs": k,
            "separation": separation,
            "silhouette": 0.5,
            "correlation": 0.9,
            "noise_fraction": 0.1,
            "symmetry_error": 0.01,
        }
    )
    return values, report


def test_each_summary_rule_gives_what_the_epochs_say(tmp_path):
    store = open_store(tmp_path / "m.db")
    run = writes.create_run(store, name="r", config_json="{}", config_hash="h", seed=0, epochs_total=4)
    epochs = [
        _epoch(run.id, 1, 5.0, 6.0, 1.5, 1, 0.1),
        _epoch(run.id, 2, 3.0, 4.0, 2.5),  # no blob report this epoch
        _epoch(run.id, 3, 4.0, 3.5, 2.0, 3, 0.95),
        _epoch(run.id, 4, 3.5, 3.0, 1.0, 3, 0.97),
    ]
    for values, report in epochs:
        writes.record_epoch(store, run.id, values, report)
    row = reads.get_run(store, run.id)
    assert row.epochs_done == 4
    assert row.last_test_loss == 3.5 and row.last_train_loss == 3.0 and row.samples_per_s == 400.0  # last
    assert row.best_test_loss == 3.0  # min: epoch 2's
    assert row.train_seconds == pytest.approx(7.0)  # sum
    assert row.n_clusters == 3 and row.separation == 0.97  # measured: the latest epoch with a report
    assert row.formed_epoch == 3  # formed since epoch 3 and stayed so
    store.close()
