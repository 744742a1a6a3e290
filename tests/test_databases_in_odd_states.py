"""Databases in odd states and places: odd file names, a deleted WAL file, a newer schema, ids after
deletes, the smallest config that trains."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from helpers import (
    LONG,
    SETS,
    invoke,
    one_line_refusal,
    set_args,
    start_mftctl,
    wait_for,
)
from mftctl.store import open_store, reads
from mftctl.store.migrations import MIGRATIONS


@pytest.mark.parametrize("name", ["a?b.db", "a#b.db", "a%20b.db", "we ird?x=1#y.db"])
def test_a_database_path_is_always_a_path(isolated_db, tmp_path, name):
    result = invoke("train", "--preset", "quick", *SETS, "--db", name)
    assert result.exit_code == 0, result.output
    assert (tmp_path / name).exists()
    assert json.loads(invoke("list", "--format", "json", "--db", name).output)[0]["status"] == "completed"


def test_a_deleted_wal_file_is_one_line(isolated_db):
    proc = start_mftctl("train", "--preset", "quick", *set_args(*LONG), "--detach", stdout=subprocess.PIPE)
    proc.communicate(timeout=300)
    store = open_store(isolated_db)
    wait_for(lambda: reads.get_run(store, 1).epochs_done >= 2)
    Path(str(isolated_db) + "-wal").unlink(missing_ok=True)  # as a careless `rm *-wal` would
    for args in (("list",), ("show", 1), ("list", "--format", "json")):
        result = invoke(*args)
        assert "Traceback" not in result.output
        assert result.exit_code == 0 or result.output.count("Error:") == 1
    pid = reads.get_run(store, 1).pid
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2])


def test_a_newer_database_is_refused_and_left_byte_for_byte(isolated_db):
    con = sqlite3.connect(isolated_db)
    con.execute("CREATE TABLE mftctl_migrations (name VARCHAR PRIMARY KEY, applied_at DATETIME)")
    for name, _ in MIGRATIONS:
        con.execute("INSERT INTO mftctl_migrations VALUES (?, '2026-01-01')", (name,))
    con.execute("INSERT INTO mftctl_migrations VALUES ('999_future', '2030-01-01')")
    con.commit()
    con.close()
    before = Path(isolated_db).read_bytes()
    for args in (("list",), ("train", "--preset", "quick", *SETS), ("db", "upgrade")):
        one_line_refusal(invoke(*args), "newer mftctl")
    assert Path(isolated_db).read_bytes() == before
    assert not Path(str(isolated_db) + "-wal").exists()


def test_run_ids_are_never_reused(isolated_db):
    for _ in range(2):
        assert invoke("train", "--preset", "quick", *SETS).exit_code == 0
    assert invoke("rm", 2, "--yes").exit_code == 0
    assert invoke("train", "--preset", "quick", *SETS).exit_code == 0
    assert [r["id"] for r in json.loads(invoke("list", "--format", "json").output)] == [3, 1]


def test_the_smallest_valid_config_trains_and_is_measured(isolated_db):
    tiny = ["data.d=2", "model.hidden_size=1", "data.n_test=1", "data.n_train=10", "training.batch_size=5"]
    result = invoke("train", "--preset", "quick", *[a for s in tiny for a in ("--set", s)])
    assert result.exit_code == 0, result.output
    run = reads.get_run(open_store(isolated_db), 1)
    assert run.status == "completed" and run.last_test_loss is not None and run.n_clusters is not None
    diagnosed = json.loads(invoke("diagnose", 1, "--format", "json").output)
    assert diagnosed["test"]["loss"] == pytest.approx(run.last_test_loss, rel=1e-5)
    plotted = invoke("plot", 1)
    assert plotted.exit_code == 0 and any(
        p.suffix == ".png" for p in (isolated_db.parent / "mftctl-runs" / "1").iterdir()
    )
