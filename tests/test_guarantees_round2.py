"""Nothing lost, round two: each way a careless or hostile user broke the store (docs/guarantees.md,
"Round two"), done for real, and what must hold afterwards."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import SETS, TINY, invoke, mounted_tmpfs, one_line_refusal, set_table, start_mftctl, wait_for
from mftctl.store import layout, open_store, reads
from mftctl.store.migrations import MIGRATIONS

LONG = [*SETS, "--set", "training.epochs=400", "--set", "training.enable_diagnostics=false"]


def _opens(db: str) -> bool:
    """Whether the store exists and has its schema yet (the first mftctl process creates both)."""
    from mftctl.store.catalog import open_catalog
    from mftctl.store.location import resolve_location

    catalog = open_catalog(resolve_location(db))
    if catalog is not None:
        catalog.close()
    return catalog is not None


def count_runs(db) -> int:
    if not Path(db).exists():
        return 0
    return sqlite3.connect(db).execute("SELECT count(*) FROM run").fetchone()[0]


# --- 1, 2: files belong to one store, and gc leaves running runs alone ------------------------------


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
    proc = subprocess.Popen(
        [sys.executable, "-m", "mftctl", "train", "--preset", "quick", *LONG, "--detach"],
        stdout=subprocess.PIPE,
        text=True,
    )
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


# --- 3, 4, 5: sweeps ------------------------------------------------------------------------------------


def _sweep_file(tmp_path, name="s", epochs=2, seeds=(1, 2)) -> Path:
    sets = set_table(*TINY, without="epochs")
    path = tmp_path / f"{name}.toml"
    path.write_text(
        f'name = "{name}"\nbase = "quick"\n[set]\n{sets}\n"training.epochs" = {epochs}\n[grid]\nseed = {list(seeds)}\n'
    )
    return path


@pytest.mark.backends
def test_two_pools_on_one_sweep_never_mark_a_finished_cell_crashed(backend, tmp_path):
    sweep = _sweep_file(tmp_path, epochs=30, seeds=(1, 2, 3))
    cmd = [sys.executable, "-m", "mftctl", "sweep", str(sweep), "--jobs", "1"]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: _opens(backend))
    store = open_store(backend)
    wait_for(lambda: reads.count_runs(store) == 3 and reads.get_run(store, 1).status == "running")
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    first.communicate(timeout=600)
    assert second.returncode == 0, second.stderr
    assert [reads.get_run(store, i).status for i in (1, 2, 3)] == ["completed"] * 3
    summary = json.loads(invoke("sweep", "show", 1, "--format", "json").output)
    assert summary["success_rate"] == 1.0


def test_a_sweep_name_reused_with_another_file_is_refused(isolated_db, tmp_path):
    assert invoke("sweep", _sweep_file(tmp_path, seeds=(1,))).exit_code == 0
    changed = tmp_path / "changed"
    changed.mkdir()
    other = _sweep_file(changed, seeds=(5, 6))
    runs = count_runs(isolated_db)
    one_line_refusal(invoke("sweep", other), "was run from a different file", "--name")
    assert count_runs(isolated_db) == runs
    renamed = invoke("sweep", other, "--name", "s-wider")
    assert renamed.exit_code == 0, renamed.output
    assert json.loads(invoke("sweep", "show", 2, "--format", "json").output)["name"] == "s-wider"
    assert json.loads(invoke("sweep", "show", 1, "--format", "json").output)["runs"] == 1  # the old one untouched
    assert count_runs(isolated_db) == runs + 2


def test_rm_of_a_queued_cell_does_not_abort_the_sweep(isolated_db, tmp_path):
    sweep = _sweep_file(tmp_path, epochs=40, seeds=(1, 2, 3))
    proc = start_mftctl("sweep", sweep, "--jobs", "1", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    store = open_store(isolated_db)
    wait_for(lambda: count_runs(isolated_db) == 3 and reads.get_run(store, 1).status == "running")
    assert invoke("rm", 2, "--yes").exit_code == 0
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert reads.get_run(store, 1).status == reads.get_run(store, 3).status == "completed"
    assert reads.find_run(store, 2) is None


# --- 6, 7: a full disk, and a parent that is gone ------------------------------------------------------


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
    parent = subprocess.Popen(
        [sys.executable, "-m", "mftctl", "train", "--preset", "quick", *SETS, "--set", "training.epochs=60"],
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


# --- 8: terminal injection -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["[/]", "[link=http://example.com]x[/link]", "red\x1b[31mX\x1b]8;;http://e\x07", "x[idx]"]
)
def test_user_text_reaches_the_terminal_as_typed(isolated_db, name):
    assert invoke("train", "--preset", "quick", *SETS, "--name", name).exit_code == 0
    for args in (("list",), ("show", 1)):
        out = invoke(*args)
        assert out.exit_code == 0, out.output
        assert "\x1b" not in out.output and "\x07" not in out.output
        printable = name.replace("\x1b", "").replace("\x07", "")
        assert printable in out.output


# --- 9, 10, 11: bad numbers, bombs, bad files: one line, exit 1, nothing written ---------------------


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["train", "--set", "training.learning_rate=inf"], "finite number"),
        (["train", "--set", "training.learning_rate=nan"], "finite number"),
        (["train", "--seed", str(2**64)], "too large"),
        (["train", "--epochs", str(2**63)], "too large"),
        (["show", str(2**64)], "no run with id"),
        (["list", "--limit", "-1"], "--limit"),
        (["list", "--where", f"seed={2**64}"], "too large"),
        (["train", "--set", "data.d=10000000"], "GiB"),
        (["train", "--set", "model.hidden_size=10000000"], "GiB"),
        (["train", "--config", "/dev/zero"], "not a regular file"),
        (["train", "--set", "training.learning_rate=" + "[" * 5000 + "]" * 5000], "nests too deeply"),
        (["list", "--db", ":memory:"], "needs a database file"),
    ],
)
def test_bad_numbers_and_bombs_are_one_line(store, isolated_db, args, fragment):
    one_line_refusal(invoke(*args), fragment)
    assert count_runs(isolated_db) == 0


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "is empty"),
        ("grid = 5", "grid must be a table"),
        ("set = [1]", "set must be a table"),
        ("[random]\ncount = 2\nparams = 5", "random.params must be a table"),
        ('[random]\ncount = 2\nseed = [1]\n[random.params]\nseed = {dist = "int", low = 1, high = 5}', "random.seed"),
        ('[random]\ncount = 2\n[random.params]\nseed = {dist = "int", low = nan, high = 5}', "finite"),
        ("[random]\ncount = 1000000000\n[random.params]\nseed = {dist = 'int', low = 1, high = 5}", "1,000,000,000"),
        (
            "[grid]\nseed = [" + ",".join(map(str, range(1000))) + "]\n'data.d' = [" + ",".join(["64"] * 1000) + "]",
            "cells",
        ),
        ("seeds = [1, 18446744073709551616]", "too large"),
    ],
)
def test_bad_sweep_files_are_one_line(isolated_db, tmp_path, text, fragment):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    one_line_refusal(invoke("sweep", path, "--dry-run"), fragment)
    one_line_refusal(invoke("sweep", path), fragment)
    assert count_runs(isolated_db) == 0


def test_files_that_are_not_config_files(isolated_db, tmp_path):
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00 not text")
    one_line_refusal(invoke("train", "--config", binary), "not UTF-8")
    one_line_refusal(invoke("sweep", binary), "not UTF-8")
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    one_line_refusal(invoke("train", "--config", fifo), "not a regular file")
    one_line_refusal(invoke("sweep", "/dev/null"), "not a regular file")
    assert count_runs(isolated_db) == 0


def test_output_folders_that_cannot_be_made(isolated_db, tmp_path):
    assert invoke("train", "--preset", "quick", *SETS).exit_code == 0
    (tmp_path / "afile").write_text("x")
    one_line_refusal(invoke("export", "afile/sub"), "Not a directory")
    one_line_refusal(invoke("plot", 1, "--out", "afile/sub"), "Not a directory")
    one_line_refusal(invoke("export", "x" * 300), "File name too long")
    store = open_store(isolated_db)
    ckpt = layout.checkpoint_path(store, reads.checkpoints(store, 1)[-1])
    ckpt.unlink()
    ckpt.mkdir()
    one_line_refusal(invoke("diagnose", 1), str(ckpt.name))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    value=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(min_value=-(2**70), max_value=2**70))
)
def test_any_number_for_a_numeric_key_is_stored_whole_or_refused(store, value):
    """Whatever number a user types, the config is refused with a ConfigError or stored and read back
    unchanged: never an OverflowError, never a null in place of inf/nan."""
    from mftctl.config import config_from_json
    from mftctl.config_input import load_config
    from mftctl.errors import ConfigError
    from mftctl.runs.lifecycle import new_run

    for key in ("training.learning_rate", "seed", "data.n_test", "loss.lambda_on"):
        try:
            config = load_config("quick", overrides=[f"{key}={value!r}"])
        except ConfigError as exc:
            assert str(exc).startswith(key.rsplit(".", 1)[0]) or "too large" in str(exc)
            continue
        run = new_run(store, config)
        assert config_from_json(reads.get_run(store, run.id).config_json) == config


# --- 12, 13, 15: database paths, a vanished WAL, newer schemas, ids --------------------------------


@pytest.mark.parametrize("name", ["a?b.db", "a#b.db", "a%20b.db", "we ird?x=1#y.db"])
def test_a_database_path_is_always_a_path(isolated_db, tmp_path, name):
    result = invoke("train", "--preset", "quick", *SETS, "--db", name)
    assert result.exit_code == 0, result.output
    assert (tmp_path / name).exists()
    assert json.loads(invoke("list", "--format", "json", "--db", name).output)[0]["status"] == "completed"


def test_a_deleted_wal_file_is_one_line(isolated_db):
    proc = subprocess.Popen(
        [sys.executable, "-m", "mftctl", "train", "--preset", "quick", *LONG, "--detach"], stdout=subprocess.PIPE
    )
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


# --- 14: divergence --------------------------------------------------------------------------------------


def test_a_diverging_run_fails_with_its_epoch_and_step(isolated_db):
    args = ["train", "--preset", "quick", *SETS, "--set", "training.epochs=4"]
    assert invoke(*args).exit_code == 0  # run 1 for comparison
    diverged = invoke(*args, "--set", "training.learning_rate=1e30")
    one_line_refusal(diverged, "loss became NaN at epoch 1 step", "learning_rate")
    run = reads.get_run(open_store(isolated_db), 2)
    assert run.status == "failed" and run.error.startswith("loss became NaN")
    assert invoke("show", 2).exit_code == 0
