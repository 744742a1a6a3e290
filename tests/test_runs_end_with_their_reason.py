"""A run ends with a status and the reason for it, whatever its surroundings do: a real full disk, a
parent killed under its worker, a diverging loss."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

from helpers import (
    SETS,
    count_runs,
    invoke,
    mounted_tmpfs,
    one_line_refusal,
    start_mftctl,
    wait_for,
)
from mftctl.store import open_store, reads


@pytest.mark.skipif(os.geteuid() != 0 or sys.platform != "linux", reason="mounting a tmpfs needs root on Linux")
def test_a_real_full_disk_fails_the_run_with_its_reason(tmp_path):
    with mounted_tmpfs(tmp_path / "small", "1200k") as disk:
        db = disk / "f.db"
        args = ["train", "--preset", "quick", "--set", "data.n_train=4000", "--epochs", "12", "--db", db]
        full = invoke(*args)
        one_line_refusal(full, "disk full")
        store = open_store(db)
        run = reads.get_run(store, 1)
        store.close()
        assert run.status == "failed" and run.error.startswith("disk full")
        assert 1 <= run.epochs_done < 12
        listed = invoke("list", "--db", db)
        assert listed.exit_code == 0 and "failed" in listed.output
        assert invoke("show", 1, "--db", db).exit_code == 0
        con = sqlite3.connect(db)
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        con.close()


def test_a_worker_whose_parent_was_killed_finishes_its_run(isolated_db):
    parent = start_mftctl(
        "train",
        "--preset",
        "quick",
        *SETS,
        "--set",
        "training.epochs=60",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    store = open_store(isolated_db)
    wait_for(lambda: count_runs(isolated_db) and reads.get_run(store, 1).epochs_done >= 1)
    parent.kill()  # kill -9: the worker's stdout pipe has no reader any more
    parent.wait()
    run = wait_for(lambda: (r := reads.get_run(store, 1)).status not in ("queued", "running") and r)
    assert run.status == "completed", run.error
    assert run.epochs_done == 60


def test_a_diverging_run_fails_with_its_epoch_and_step(isolated_db):
    args = ["train", "--preset", "quick", *SETS, "--set", "training.epochs=4"]
    assert invoke(*args).exit_code == 0  # run 1 for comparison
    diverged = invoke(*args, "--set", "training.learning_rate=1e30")
    one_line_refusal(diverged, "loss became NaN at epoch 1 step", "learning_rate")
    run = reads.get_run(open_store(isolated_db), 2)
    assert run.status == "failed" and run.error.startswith("loss became NaN")
    assert invoke("show", 2).exit_code == 0
