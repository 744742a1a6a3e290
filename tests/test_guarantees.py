"""The promises of docs/guarantees.md, each under the fault that would break it.

Faults are real: workers are SIGKILLed at exact points (MFTCTL_FAULT, see mftctl/faults.py), files are
truncated, a file-size limit stands in for a full disk, several processes write one SQLite file. After
each: the database passes integrity_check, every completed epoch is present once, statuses are true.
"""

import json
import multiprocessing
import resource
import signal
import sqlite3
import subprocess
import sys

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from helpers import TINY, add_run, invoke
from mftctl.checkpoints.load import load_run_checkpoint
from mftctl.config_input import load_config
from mftctl.errors import ConfigError
from mftctl.store import layout, liveness, open_store, reads, writes
from mftctl.store.gc import find_garbage
from mftctl.sweeps.file import expand

FOUR = [*TINY, "training.epochs=4", "training.enable_diagnostics=false"]
SETS = [a for s in FOUR for a in ("--set", s)]


def assert_sound(db, run_id, epochs):
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    got = [r[0] for r in con.execute("SELECT epoch FROM epoch WHERE run_id=? ORDER BY epoch", (run_id,))]
    assert got == epochs  # every completed epoch present once


def final_weights(store, run_id):
    return load_run_checkpoint(store, reads.get_run(store, run_id)).model().state_dict()


@pytest.mark.parametrize(
    ("fault", "left_epochs", "left_checkpoints"),
    [("epoch-write:3", [1, 2], [1, 2]), ("checkpoint-write:2", [1, 2], [1])],
)
def test_killed_mid_write_then_resumed_equals_an_uninterrupted_run(isolated_db, fault, left_epochs, left_checkpoints):
    assert invoke("train", "--preset", "quick", *SETS).exit_code == 0  # run 1: never interrupted
    crashed = invoke("train", "--preset", "quick", *SETS, env={"MFTCTL_FAULT": fault})
    assert crashed.exit_code == 1 and "run 2 crashed" in crashed.output
    store = open_store(isolated_db)
    assert reads.get_run(store, 2).status == "crashed"
    assert_sound(isolated_db, 2, left_epochs)
    assert [c.epoch for c in reads.checkpoints(store, 2)] == left_checkpoints
    for ckpt in reads.checkpoints(store, 2):  # no half-written checkpoint is ever recorded
        assert layout.checkpoint_path(store, ckpt).stat().st_size == ckpt.bytes

    resumed = invoke("train", "--resume", 2)
    assert resumed.exit_code == 0, resumed.output
    assert f"resumes after epoch {left_checkpoints[-1]}" in resumed.output
    assert reads.get_run(store, 2).status == "completed"
    assert_sound(isolated_db, 2, [1, 2, 3, 4])
    a, b = final_weights(store, 1), final_weights(store, 2)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [e.test_loss for e in reads.epochs(store, 1)] == [e.test_loss for e in reads.epochs(store, 2)]
    assert invoke("gc").exit_code == 0
    assert not list(layout.run_dir(store, 2).glob("*.tmp"))


def test_corrupt_checkpoint_is_detected_and_resume_falls_back(isolated_db):
    crashed = invoke("train", "--preset", "quick", *SETS, env={"MFTCTL_FAULT": "epoch-write:4"})
    assert crashed.exit_code == 1
    store = open_store(isolated_db)
    last = reads.checkpoints(store, 1)[-1]
    path = layout.checkpoint_path(store, last)
    path.write_bytes(path.read_bytes()[: last.bytes // 2])  # truncated, as by a crash or a full disk
    diag = invoke("diagnose", 1, "--epoch", last.epoch)
    assert diag.exit_code == 1 and "is corrupt" in diag.output and "Traceback" not in diag.output
    resumed = invoke("train", "--resume", 1)
    assert resumed.exit_code == 0, resumed.output
    assert f"passing over checkpoint epoch {last.epoch}: file corrupt" in resumed.output
    assert_sound(isolated_db, 1, [1, 2, 3, 4])


def test_resume_refuses_finished_runs(isolated_db):
    assert invoke("train", "--preset", "quick", *SETS).exit_code == 0
    result = invoke("train", "--resume", 1)
    assert result.exit_code == 1 and "run 1 is completed; only crashed, killed, failed runs" in result.output


def _write_epochs(db: str, run_id: int, n: int) -> None:
    store = open_store(db, migrate=False)
    for epoch in range(1, n + 1):
        values = {
            "epoch": epoch,
            "train_loss": 1.0,
            "train_loss_on": 0.5,
            "train_loss_off": 0.5,
            "test_loss": 1.0 / epoch,
            "test_loss_on": 0.5,
            "test_loss_off": 0.5,
            "seconds": 0.1,
            "train_seconds": 0.1,
            "samples_per_s": 1.0,
            "lr": 0.1,
        }
        writes.record_epoch(store, run_id, values, {"n_clusters": 1, "silhouette": None})


def test_eight_writers_on_one_file(isolated_db):
    store = open_store(isolated_db)
    ids = [add_run(store, status="running").id for _ in range(8)]
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_epochs, args=(str(isolated_db), i, 200)) for i in ids]
    for p in procs:
        p.start()
    for p in procs:
        p.join(180)
    assert [p.exitcode for p in procs] == [0] * 8  # no "database is locked"
    for i in ids:
        assert_sound(isolated_db, i, list(range(1, 201)))
    assert {reads.get_run(store, i).epochs_done for i in ids} == {200}


def test_full_disk_fails_the_run_cleanly(isolated_db):
    """A file-size limit stands in for a full disk: the checkpoint write fails with EFBIG."""
    cfg = [*FOUR, "data.d=256", "model.hidden_size=256"]
    assert (
        invoke(
            "train",
            "--preset",
            "quick",
            *[a for s in cfg for a in ("--set", s)],
            "--detach",
            env={"MFTCTL_FAULT": "epoch-write:1"},
        ).exit_code
        == 0
    )  # dies at once: we reuse its row
    store = open_store(isolated_db)
    import time

    for _ in range(300):
        if reads.get_run(store, 1).pid and liveness.reconcile(store):
            break
        time.sleep(0.1)
    writes.prepare_resume(store, 1, 0)

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))

    worker = subprocess.run(
        [sys.executable, "-m", "mftctl", "worker", "1", "--db", str(isolated_db)],
        preexec_fn=limit,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert worker.returncode == 1
    run = reads.get_run(store, 1)
    assert run.status == "failed" and "File too large" in run.error
    assert reads.checkpoints(store, 1) == []
    assert_sound(isolated_db, 1, [1])
    garbage = find_garbage(store)
    assert garbage.lost == [] and all(p.name.endswith(".tmp") for p in garbage.orphans)


@pytest.mark.parametrize(
    ("db", "message"),
    [
        ("/nonexistent-folder/x.db", "folder /nonexistent-folder does not exist"),
        ("/proc/self/mftctl.db", "cannot open database /proc/self/mftctl.db"),
    ],
)
def test_unwritable_or_missing_database_folder(db, message):
    listed = invoke("list", "--db", db)  # a read command never creates one
    assert listed.exit_code == 1 and f"no database at {db}" in listed.output and "Traceback" not in listed.output
    result = invoke("train", "--preset", "quick", *SETS, "--db", db)
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


@pytest.mark.backends
def test_rm_gc_and_export(backend, tmp_path):
    assert invoke("train", "--preset", "quick", *SETS).exit_code == 0
    assert invoke("stage2", 1, "--set", "training.epochs=1").exit_code == 0
    refused = invoke("rm", 1, "--yes")
    assert refused.exit_code == 1 and "runs 2 are children" in refused.output
    no_confirm = invoke("rm", 2)
    assert no_confirm.exit_code == 1 and "confirm with --yes" in no_confirm.output
    store = open_store(backend)
    stray = layout.run_dir(store, 1) / "epoch_0099.pt"
    stray.write_bytes(b"x")
    layout.checkpoint_path(store, reads.checkpoints(store, 1)[0]).unlink()
    dry = invoke("gc", "--dry-run").output
    assert "would remove file" in dry and "epoch_0099.pt" in dry and "would drop row: run 1 epoch 1" in dry
    assert stray.exists()
    assert "1 orphan file(s), 1 row(s) without a file" in invoke("gc").output
    assert not stray.exists() and [c.epoch for c in reads.checkpoints(store, 1)] == [2, 3, 4]

    (tmp_path / "a-file").write_text("x")
    into_file = invoke("export", tmp_path / "a-file")
    assert into_file.exit_code == 1 and "is a file; give a folder" in into_file.output
    out = invoke("export", tmp_path / "out", "--format", "json")
    assert out.exit_code == 0
    runs = json.loads((tmp_path / "out" / "runs.json").read_text())
    epochs = json.loads((tmp_path / "out" / "epochs.json").read_text())
    assert [r["id"] for r in runs] == [1, 2] and len(epochs) == 4 + 1
    csv_out = invoke("export", tmp_path / "csv", "--where", "kind=stage2")
    assert csv_out.exit_code == 0 and (tmp_path / "csv" / "epochs.csv").read_text().count("\n") == 2

    assert invoke("rm", 1, 2, "--yes").exit_code == 0
    assert reads.count_runs(store) == 0 and not layout.run_dir(store, 1).exists()
    assert reads.epochs_of(store, [1, 2]) == [] and reads.checkpoints(store, 1) == []


# --- garbage in every input a user can give ----------------------------------------------------------

KEYS = [
    "training.learning_rate",
    "training.epochs",
    "data.d",
    "data.sparsity",
    "loss.loss_type",
    "device",
    "training.enable_diagnostics",
    "model.hidden_size",
    "nonsense.key",
    "training",
    "seed",
]


@settings(max_examples=150, deadline=None)
@given(key=st.sampled_from(KEYS) | st.text(max_size=20), value=st.text(max_size=20))
def test_any_set_string_is_accepted_or_refused_with_a_config_error(key, value):
    try:
        config = load_config("quick", overrides=[f"{key}={value}"])
    except ConfigError as exc:
        assert "\n" not in str(exc).strip()
    else:
        assert config.training.learning_rate > 0 and config.data.sparsity <= config.data.d


# JSON's numbers, strings and booleans are TOML's too, except that TOML also forbids a raw DEL (U+007F) in a
# string, which JSON leaves as it is: escaped as \u007f (the same character in both), every file parses.
_TOML_VALUES = (
    st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.booleans()
    | st.text(max_size=12)
).map(lambda v: json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f"))


@settings(max_examples=150, deadline=None)
@given(key=st.sampled_from(KEYS), values=st.lists(_TOML_VALUES, min_size=1, max_size=3))
def test_any_sweep_file_is_expanded_or_refused_with_a_config_error(key, values):
    import tomllib
    from pathlib import Path

    text = f'base = "quick"\n[grid]\n"{key}" = [{", ".join(values)}]'
    data = tomllib.loads(text)
    try:
        spec = expand(data, name="h", text=text, base_dir=Path("."))
    except ConfigError as exc:
        message = str(exc).strip()
        assert message and "\n" not in message
        return
    # Expanded: one cell per value, each config holding its cell's value for that key.
    assert len(spec.cells) == len(values) and spec.varied == [key]
    for cell, raw in zip(spec.cells, data["grid"][key], strict=True):
        section, _, leaf = key.rpartition(".")
        stored = cell.config.model_dump(mode="json")
        stored = stored[section][leaf] if section else stored[leaf]
        assert stored == raw or float(stored) == float(raw)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(run_id=st.text(min_size=1, max_size=12).filter(lambda s: not s.startswith("-")))
@example(run_id="¹")  # str.isdigit() holds for a superscript one, which int() refuses (a CI draw found it)
def test_any_run_id_gives_one_line_and_exit_1(isolated_db, run_id, capsys):
    from mftctl.cli import main

    if not isolated_db.exists():  # a real store, so that the id is looked up rather than the file missed
        open_store(isolated_db).close()
    sys.argv = ["mftctl", "show", run_id]
    with pytest.raises(SystemExit) as exit_info:
        main()
    err = capsys.readouterr().err
    assert exit_info.value.code == 1
    assert err.startswith("Error:") and "Traceback" not in err and err.count("\n") == 1
    assert "no database at" not in err
    # Digits are an id; anything else is a run's name (`show NAME`), which no run here has.
    assert ("no run with id" in err) or ("no run named" in err) or ("Got unexpected extra" in err), err
