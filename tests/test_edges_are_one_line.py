"""Edges a careless user reaches (round three): each is one line, exit 1, nothing written — or, where it
is not a mistake, does the one thing it says."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import (
    SETS,
    TINY,
    count_runs,
    invoke,
    one_line_refusal,
    set_args,
    set_table,
    start_mftctl,
    wait_for,
)
from mftctl.store import layout, open_store, reads


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("postgresql://root:pw@[::1/adv1", "is not a readable URL"),
        ("postgresql://root:pw@[zz]/adv1", "is not a readable URL"),
        ("postgresql://root:pw@host:99999/adv1", "is not a readable URL"),
        ("postgresql:adv1", "a PostgreSQL URL starts with postgresql://"),
    ],
)
def test_a_malformed_database_url_is_one_line_and_creates_nothing(url, fragment, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for args in (("list",), ("show", 1), ("train", "--preset", "quick", *SETS)):
        result = invoke(*args, "--db", url)
        one_line_refusal(result, fragment)
        assert "pw" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_non_utf8_arguments_are_one_line(isolated_db):
    assert invoke("train", "--preset", "quick", *SETS).exit_code == 0
    store = open_store(isolated_db)
    before = reads.get_run(store, 1)
    for args in ([b"tag", b"1", b"\xff"], [b"note", b"1", b"caf\xe9"], [b"list", b"--where", b"name=a\xffb"]):
        result = subprocess.run([sys.executable.encode(), b"-m", b"mftctl", *args], capture_output=True)
        err = result.stderr.decode()
        assert result.returncode == 1 and "is not UTF-8 text" in err and "Traceback" not in err, err
        assert err.count("\n") == 1
    after = reads.get_run(store, 1)
    assert (after.note, reads.tags_of(store, [1])) == (before.note, {})
    trained = subprocess.run(
        [sys.executable.encode(), b"-m", b"mftctl", b"train", b"--name", b"\xff", *(a.encode() for a in SETS)],
        capture_output=True,
    )
    assert trained.returncode == 1 and reads.count_runs(store) == 1


def test_a_read_command_never_creates_a_database(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for args in (("list", "--db", "fresh.db"), ("list",), ("sweep", "list"), ("db", "info"), ("gc",)):
        one_line_refusal(invoke(*args), "no database at")
    assert list(tmp_path.iterdir()) == []


def test_limits_on_train_and_stage2_options(isolated_db):
    one_line_refusal(invoke("train", "--preset", "quick", *SETS, "--note", "x" * 10_001), "at most 10,000 characters")
    assert not isolated_db.exists() or reads.count_runs(open_store(isolated_db)) == 0
    assert invoke("train", "--preset", "quick", *SETS).exit_code == 0
    for jobs in ("0", "-3"):
        one_line_refusal(invoke("stage2", 1, "--jobs", jobs), "--jobs must be at least 1")
    one_line_refusal(invoke("stage2", 1, "--control", "parent", "--sampler", "shuffle"), "--sampler", "--control gmm")
    assert reads.count_runs(open_store(isolated_db)) == 1


@pytest.mark.parametrize("tag", ["a\u200bb", "evil\u202etxt", "a]b", "[x", "tab\there"])
def test_tags_that_look_like_other_tags_or_markup_are_refused(isolated_db, tag):
    assert invoke("train", "--preset", "quick", *SETS).exit_code == 0
    one_line_refusal(invoke("tag", 1, tag), "is not usable")
    one_line_refusal(invoke("train", "--preset", "quick", *SETS, "--tag", tag), "is not usable")
    store = open_store(isolated_db)
    assert reads.tags_of(store, [1]) == {} and reads.count_runs(store) == 1


def test_csv_writes_tags_as_json_and_no_escape_codes(isolated_db):
    name = "evil\x1b]8;;http://x\x07link\x1b[31mred"
    assert invoke("train", "--preset", "quick", *SETS, "--name", name, "--tag", "b", "--tag", "a").exit_code == 0
    out = invoke("list", "--format", "csv").output
    assert "\x1b" not in out and "\x07" not in out
    row = next(csv.DictReader(io.StringIO(out)))
    assert json.loads(row["tags"]) == ["a", "b"]
    assert row["name"] == "evil\\u001b]8;;http://x\\u0007link\\u001b[31mred"


def test_one_key_given_twice_in_a_sweep_file_is_refused(isolated_db, tmp_path):
    twice = tmp_path / "twice.toml"
    twice.write_text(
        f'base = "quick"\n[set]\n{set_table(*TINY)}\n[grid]\n"training.learning_rate" = [0.01, 0.02]\n'
        "[grid.training]\nlearning_rate = [0.03]\n"
    )
    one_line_refusal(invoke("sweep", twice), "gives training.learning_rate twice")
    both = tmp_path / "both.toml"
    both.write_text(f'base = "quick"\n[set]\n{set_table(*TINY)}\n[grid]\nseed = [1, 2]\n[zip]\nseed = [3, 4]\n')
    one_line_refusal(invoke("sweep", both), "seed is varied twice")
    assert not isolated_db.exists()


def test_where_with_a_non_finite_number_is_refused(isolated_db):
    assert invoke("train", "--preset", "quick", *SETS).exit_code == 0
    for text in ("test_loss<nan", "test_loss>inf", "separation=-inf"):
        one_line_refusal(invoke("list", "--where", text), "is not a finite number")


def test_compare_of_one_run_twice_is_refused_and_stop_of_one_run_twice_stops_it_once(isolated_db):
    assert invoke("train", "--preset", "quick", *SETS).exit_code == 0
    assert invoke("train", "--preset", "quick", *set_args(*TINY, "training.epochs=100000"), "--detach").exit_code == 0
    one_line_refusal(invoke("compare", 1, 1), "run 1 is given twice")

    wait_for(lambda: reads.get_run(open_store(isolated_db), 2).status == "running")
    one_line_refusal(invoke("rm", 2, "--yes"), "run 2 is running", "stop it first")
    stopped = invoke("stop", 2, 2)
    assert stopped.exit_code == 0, stopped.output
    assert stopped.output.count("run 2:") == 1 and reads.get_run(open_store(isolated_db), 2).status == "killed"


def test_each_run_records_what_its_numbers_depend_on_and_a_pool_keeps_a_thread_count_set(isolated_db, tmp_path):
    sweep = tmp_path / "s.toml"
    sweep.write_text(f'base = "quick"\n[set]\n{set_table(*TINY)}\n[grid]\nseed = [1, 2]\n')
    env = dict(os.environ, MFTCTL_THREADS="1")
    assert subprocess.run([sys.executable, "-m", "mftctl", "sweep", sweep, "--jobs", "2"], env=env).returncode == 0
    import torch

    runs = reads.sweep_runs(open_store(isolated_db), 1)
    recorded = [{k: r.extra["numerics"][k] for k in ("threads", "threads_from", "device", "torch")} for r in runs]
    assert (
        recorded == [{"threads": 1, "threads_from": "MFTCTL_THREADS", "device": "cpu", "torch": torch.__version__}] * 2
    )
    shown = json.loads(invoke("show", 1, "--format", "json").output)
    assert shown["extra"]["numerics"]["threads"] == 1
    summary = json.loads(invoke("sweep", "show", 1, "--format", "json").output)
    assert summary["slurm_jobs"] == []


def test_a_postgresql_password_stays_out_of_the_workers_command_line(postgres_url, monkeypatch):

    secret = postgres_url.replace("postgres@", "postgres:hunter2secret@") if "postgres@" in postgres_url else None
    if secret is None:
        pytest.skip("the test server's URL names no user to give a password")
    monkeypatch.setenv("MFTCTL_DB", secret)
    started = invoke("train", "--preset", "quick", *set_args(*TINY, "training.epochs=100000"), "--detach")
    assert started.exit_code == 0 and "hunter2secret" not in started.output
    store = open_store(secret)
    run = wait_for(lambda: (r := reads.get_run(store, 1)).status == "running" and r)
    try:
        cmdline = open(f"/proc/{run.pid}/cmdline", "rb").read()
        assert b"worker" in cmdline and b"hunter2secret" not in cmdline
    finally:
        assert invoke("stop", 1).exit_code == 0


def test_diagnose_and_plot_of_a_run_whose_weights_blew_up(isolated_db):
    """A run that diverged leaves non-finite weights in its last checkpoint (here written through the
    store's own checkpoint functions): diagnose and plot measure the finite pairs and leave the rest out."""
    import torch

    from mftctl.checkpoints.files import load_checkpoint, save_checkpoint
    from mftctl.store import layout, writes

    assert invoke("train", "--preset", "quick", *SETS).exit_code == 0
    store = open_store(isolated_db)
    last = reads.checkpoints(store, 1)[-1]
    path = layout.checkpoint_path(store, last)
    state = load_checkpoint(path, last.sha256)
    weights = state["model"]
    first = next(k for k, v in weights.items() if v.ndim == 2)
    weights[first].view(-1)[: weights[first].numel() // 4] = float("nan")
    weights[first].view(-1)[-3:] = torch.inf
    size, digest = save_checkpoint(path, state, last.epoch)
    writes.record_checkpoint(store, 1, last.epoch, path, size, digest, last.kind)
    diagnosed = invoke("diagnose", 1, "--format", "json")
    assert diagnosed.exit_code == 0, diagnosed.output
    assert "Traceback" not in diagnosed.output
    plotted = invoke("plot", 1)
    assert plotted.exit_code == 0, plotted.output
    assert any(p.suffix == ".png" for p in layout.run_dir(store, 1).iterdir())


def test_rm_of_queued_stage2_children_mid_run_leaves_a_summary_of_the_rest(isolated_db):
    import subprocess

    assert invoke("train", "--preset", "quick", *SETS).exit_code == 0
    proc = start_mftctl(
        "stage2", 1, "--traces", 3, "--jobs", 1, "--set", "training.epochs=60",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    store = open_store(isolated_db)
    wait_for(lambda: reads.count_runs(store) == 4 and reads.get_run(store, 2).status == "running")
    removed = invoke("rm", 3, 4, "--yes")
    assert removed.exit_code == 0, removed.output
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert "children 3, 4 were deleted while stage 2 ran" in out and "Error" not in err
    assert reads.get_run(store, 2).status == "completed" and reads.find_run(store, 3) is None


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
