"""Every test gets its own database in tmp_path (via MFTCTL_DB) and runs there."""

from __future__ import annotations

import pytest

from mftctl.config import ExperimentConfig, load_config

TINY = [
    "data.d=32",
    "data.n_train=2000",
    "data.n_test=500",
    "model.hidden_size=16",
    "training.batch_size=500",
    "training.epochs=2",
    "training.diagnostic_sample_size=300",
]


@pytest.fixture(autouse=True)
def isolated_db(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "mftctl.db"
    monkeypatch.setenv("MFTCTL_DB", str(db))
    monkeypatch.setenv("COLUMNS", "200")
    return db


@pytest.fixture
def tiny_config() -> ExperimentConfig:
    """A config that trains in well under a second on one CPU core."""
    return load_config("quick", overrides=TINY)


@pytest.fixture
def store(isolated_db):
    from mftctl.store import open_store

    s = open_store(isolated_db)
    yield s
    s.close()
