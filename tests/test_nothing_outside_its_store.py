"""No command deletes or signals anything its own store did not make and record: a wrong runs folder, a
copy of the database beside the original, a stage-2 parent resumed under its queued children. Real
SQLite files, the real PostgreSQL server where the case used one, real worker processes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess

from helpers import (
    LONG,
    SETS,
    TINY,
    copy_database,
    invoke,
    run_mftctl,
    set_args,
    start_mftctl,
    wait_for,
)
from mftctl.status import RunStatus
from mftctl.store import layout, open_store, reads
from mftctl.store.liveness import worker_alive


def _train(*extra) -> None:
    result = invoke("train", "--preset", "quick", *SETS, *extra)
    assert result.exit_code == 0, result.output


def test_rm_under_a_wrong_runs_folder_deletes_nothing_it_did_not_make(postgres_url, tmp_path, monkeypatch):
    _train()
    store = open_store(postgres_url)
    real = [layout.checkpoint_path(store, c) for c in reads.checkpoints(store, 1)]
    assert real and all(p.exists() for p in real)
    victim = tmp_path / "victim"
    (victim / "1").mkdir(parents=True)
    (victim / "1" / "important.txt").write_text("precious\n")
    (victim / "1" / "epoch_0002.pt").write_text("not a checkpoint of this store\n")
    monkeypatch.setenv("MFTCTL_RUNS_DIR", str(victim))
    result = invoke("rm", 1, "--yes")
    assert result.exit_code == 0 and "deleted 1 run(s): 1" in result.output
    assert "kept" in result.output and "did not make" in result.output
    assert (victim / "1" / "important.txt").read_text() == "precious\n"
    assert (victim / "1" / "epoch_0002.pt").exists()


def test_gc_under_a_wrong_or_missing_runs_folder_keeps_every_row_and_file(postgres_url, tmp_path, monkeypatch):
    _train()
    store = open_store(postgres_url)
    before = [(c.epoch, layout.checkpoint_path(store, c)) for c in reads.checkpoints(store, 1)]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for wrong in (str(tmp_path / "typo-nonexistent"), str(tmp_path), "mftctl-runs"):
        monkeypatch.chdir(elsewhere)  # a relative folder named from another directory is a wrong one too
        monkeypatch.setenv("MFTCTL_RUNS_DIR", wrong)
        result = invoke("gc")
        assert result.exit_code == 0 and "0 row(s) without a file" in result.output, result.output
        assert "kept" in result.output and "MFTCTL_RUNS_DIR" in result.output
    monkeypatch.delenv("MFTCTL_RUNS_DIR")
    right = invoke("gc")
    assert "0 orphan file(s), 0 row(s) without a file" in right.output, right.output
    assert [(c.epoch, layout.checkpoint_path(store, c)) for c in reads.checkpoints(store, 1)] == before
    assert all(p.exists() for _, p in before)


def test_a_copy_of_the_store_in_the_same_folder_deletes_none_of_the_originals_files(isolated_db):
    _train()
    original = open_store(isolated_db)
    files = [layout.checkpoint_path(original, c) for c in reads.checkpoints(original, 1)]
    backup = isolated_db.parent / "backup.db"
    copy_database(isolated_db, backup)
    removed = invoke("rm", 1, "--db", backup, "--yes")
    assert removed.exit_code == 0, removed.output
    assert all(p.exists() for p in files) and layout.run_dir(original, 1).is_dir()
    gc = invoke("gc", "--db", backup)
    assert gc.exit_code == 0 and "0 orphan file(s)" in gc.output
    assert all(p.exists() for p in files)
    assert invoke("diagnose", 1).exit_code == 0  # the original still reads its checkpoint


def test_stop_through_a_copy_of_the_store_never_signals_the_originals_worker(isolated_db):
    started = run_mftctl("train", "--preset", "quick", *set_args(*TINY, "training.epochs=100000"), "--detach")
    assert started.returncode == 0, started.stderr
    original = open_store(isolated_db)
    run = wait_for(lambda: (r := reads.get_run(original, 1)).status == RunStatus.running and r)
    backup = isolated_db.parent / "backup.db"
    copy_database(isolated_db, backup)
    try:
        through_copy = run_mftctl("stop", 1, "--db", backup)
        assert through_copy.returncode == 1 and "run 1 is crashed" in through_copy.stderr, through_copy.stderr
        assert worker_alive(run.pid) and reads.get_run(original, 1).status == RunStatus.running
        assert not worker_alive(run.pid, open_store(backup).location) and worker_alive(run.pid, original.location)
        listed = run_mftctl("list", "--db", backup, "--format", "json")
        assert '"crashed"' in listed.stdout and reads.get_run(original, 1).status == RunStatus.running
    finally:
        stopped = run_mftctl("stop", 1)
    assert stopped.returncode == 0 and reads.get_run(original, 1).status == RunStatus.killed


def test_resuming_a_stage2_parent_keeps_the_checkpoint_its_queued_children_need(isolated_db):
    """The parent is killed at epoch 3 of 6 with its only full checkpoint at epoch 2; children are planned
    from it; the parent resumes and keeps one full checkpoint: epoch 2 must survive, and the children train."""
    from mftctl.stage2.plan import plan_children, write_children

    parent_sets = set_args(*TINY, "training.epochs=6", "training.keep_checkpoints=1", "training.evolution_snapshots=0")
    env = dict(os.environ, MFTCTL_FAULT="epoch-write:3")
    killed = run_mftctl("train", "--preset", "quick", *parent_sets, env=env)
    assert killed.returncode != 0
    store = open_store(isolated_db)
    assert [(c.epoch, c.kind) for c in reads.checkpoints(store, 1)] == [(2, "full")]
    assert invoke("list").exit_code == 0  # marks the SIGKILLed run crashed
    plans = plan_children(
        store, 1, epoch=2, stage2={"num_traces": 2}, samplers=["iid"], hidden=None, overrides=["training.epochs=1"]
    )
    children = write_children(store, plans)
    assert all(c.status == RunStatus.queued for c in children)
    resumed = invoke("train", "--resume", 1)
    assert resumed.exit_code == 0, resumed.output
    epochs = {c.epoch for c in reads.checkpoints(store, 1)}
    assert 2 in epochs and 6 in epochs and layout.checkpoint_path(store, reads.checkpoints(store, 1)[0]).exists()
    from rich.console import Console

    from mftctl.runs.pool import run_pool

    result = run_pool(store, [c.id for c in children], jobs=1, console=Console(quiet=True))
    assert set(result.statuses.values()) == {RunStatus.completed}, [reads.get_run(store, c.id).error for c in children]


def test_a_resume_that_would_drop_a_childs_checkpoint_is_refused(isolated_db):
    from mftctl.stage2.plan import plan_children, write_children

    _train("--set", "training.epochs=3", "--set", "training.keep_checkpoints=0")
    store = open_store(isolated_db)
    write_children(store, plan_children(store, 1, epoch=3, stage2={}, samplers=["iid"], hidden=None, overrides=[]))
    path = layout.checkpoint_path(store, reads.checkpoints(store, 1)[-1])
    path.write_bytes(b"corrupt")  # resume would fall back to epoch 2 and drop epoch 3
    with store.write() as s:  # a killed parent, as `stop` leaves it
        run = s.get(reads.Run, 1)
        run.status = RunStatus.killed
    result = invoke("train", "--resume", 1)
    assert result.exit_code == 1 and "children 2 were made from" in result.output
    assert reads.get_run(store, 1).status == RunStatus.killed and path.exists()


def test_two_databases_in_one_folder_keep_their_files_apart(isolated_db, tmp_path):
    for db in ("one.db", "two.db"):
        assert invoke("train", "--preset", "quick", *SETS, "--db", db).exit_code == 0
    one, two = open_store(tmp_path / "one.db"), open_store(tmp_path / "two.db")
    assert layout.run_dir(one, 1) != layout.run_dir(two, 1)
    assert layout.run_dir(one, 1) == tmp_path / "one-runs" / "1"
    assert layout.run_dir(two, 1) == tmp_path / "two-runs" / "1"
    kept = [layout.checkpoint_path(two, c) for c in reads.checkpoints(two, 1)]
    assert invoke("rm", 1, "--yes", "--db", "one.db").exit_code == 0
    assert invoke("gc", "--db", "three.db").exit_code == 1  # no such database: nothing to collect
    assert all(path.exists() for path in kept)
    assert invoke("gc", "--db", "one.db").exit_code == 0
    assert all(path.exists() for path in kept) and not layout.run_dir(one, 1).exists()
    assert open_store(tmp_path / "mftctl.db").runs_dir == tmp_path / "mftctl-runs"  # the default's own name


def test_a_run_whose_folder_is_elsewhere_or_gone_still_resumes(isolated_db, tmp_path):
    """Runs of a database from before per-database folders live in `mftctl-runs/`: resuming them works."""
    crashed = invoke("train", "--preset", "quick", *SETS, "--db", "old.db", env={"MFTCTL_FAULT": "epoch-write:2"})
    assert crashed.exit_code == 1
    store = open_store(tmp_path / "old.db")
    legacy = tmp_path / "mftctl-runs" / "1"
    legacy.parent.mkdir()
    layout.run_dir(store, 1).rename(legacy)  # where the first release put it
    con = sqlite3.connect(tmp_path / "old.db")
    con.execute("UPDATE checkpoint SET path = replace(path, 'old-runs/', 'mftctl-runs/')")
    con.commit()
    con.close()
    resumed = invoke("train", "--resume", 1, "--db", "old.db")
    assert resumed.exit_code == 0, resumed.output
    assert reads.get_run(store, 1).status == "completed" and "resumes after epoch 1" in resumed.output


def test_gc_leaves_run_folders_it_did_not_make(isolated_db, tmp_path):
    """A runs folder shared by databases of the first release: gc removes only the folders it made."""
    assert invoke("train", "--preset", "quick", *SETS).exit_code == 0
    store = open_store(isolated_db)
    foreign = store.runs_dir / "7"  # another database's run 7, from before folders were per database
    foreign.mkdir()
    (foreign / "epoch_0001.pt").write_bytes(b"theirs")
    mine = layout.claim_run_dir(store, 8)  # a folder this database made for a run whose row is gone
    assert invoke("gc").exit_code == 0
    assert (foreign / "epoch_0001.pt").exists() and not mine.exists()


def test_gc_during_training_leaves_the_running_run_alone(isolated_db):
    proc = start_mftctl("train", "--preset", "quick", *set_args(*LONG), "--detach", stdout=subprocess.PIPE)
    proc.communicate(timeout=300)
    store = open_store(isolated_db)
    wait_for(lambda: len(reads.checkpoints(store, 1)) >= 2)
    for _ in range(5):  # while checkpoints are being written
        assert invoke("gc").exit_code == 0
    run = reads.get_run(store, 1)
    assert run.status == "running"
    os.kill(run.pid, signal.SIGTERM)
    wait_for(lambda: reads.get_run(store, 1).status == "killed")
    for ckpt in reads.checkpoints(store, 1):
        assert layout.checkpoint_path(store, ckpt).exists()
