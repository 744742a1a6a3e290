"""Every test gets its own database in tmp_path (via MFTCTL_DB) and runs there.

Tests marked `backends` run twice: on an SQLite file and on a fresh database of the PostgreSQL server
($MFTCTL_TEST_POSTGRES, default the local server at 127.0.0.1:5432 with trust auth). Without a server they
are skipped — except under CI (CI set), where an unreachable server fails them loudly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

import pytest

from helpers import TINY
from mftctl.config import ExperimentConfig
from mftctl.config_input import load_config

POSTGRES_ADMIN = os.environ.get("MFTCTL_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def pytest_generate_tests(metafunc):
    if metafunc.definition.get_closest_marker("backends"):
        metafunc.parametrize("backend", ["sqlite", "postgres"], indirect=True)


@pytest.fixture(autouse=True)
def isolated_db(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "mftctl.db"
    monkeypatch.setenv("MFTCTL_DB", str(db))
    monkeypatch.delenv("MFTCTL_RUNS_DIR", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    return db


def _admin():
    import psycopg

    try:
        return psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        message = f"no PostgreSQL server at {POSTGRES_ADMIN}: {str(exc).strip().splitlines()[0]}"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI must test the PostgreSQL store)")
        pytest.skip(message)


@pytest.fixture
def postgres_url(tmp_path, monkeypatch):
    """A fresh, empty PostgreSQL database (dropped afterwards), with the runs folder in tmp_path."""
    name = f"mftctl_test_{uuid.uuid4().hex[:12]}"
    with _admin() as con:
        con.execute(f'CREATE DATABASE "{name}"')
    url = POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    monkeypatch.setenv("MFTCTL_DB", url)
    monkeypatch.setenv("MFTCTL_RUNS_DIR", str(tmp_path / "pg-runs"))
    yield url
    with _admin() as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def backend(request, isolated_db):
    """The store the test runs against, as `--db` takes it: the SQLite file, or a PostgreSQL URL."""
    if getattr(request, "param", "sqlite") == "postgres":
        return request.getfixturevalue("postgres_url")
    return str(isolated_db)


@pytest.fixture
def tiny_config() -> ExperimentConfig:
    """A config that trains in well under a second on one CPU core."""
    return load_config("quick", overrides=TINY)


@pytest.fixture
def store(backend):
    from mftctl.store import open_store

    s = open_store(backend)
    yield s
    s.close()


def _slurm_up() -> bool:
    if shutil.which("sbatch") is None:
        return False
    return subprocess.run(["sinfo", "-h"], capture_output=True, timeout=60).returncode == 0


@pytest.fixture
def slurm():
    """A running single-node Slurm (scripts/slurm-single-node.sh); skipped without one, failed under CI."""
    if not _slurm_up():
        if os.environ.get("CI"):
            pytest.fail("no running Slurm (CI starts one with scripts/slurm-single-node.sh)")
        pytest.skip("no running Slurm here (scripts/slurm-single-node.sh starts one)")
