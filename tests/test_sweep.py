"""Sweep files expand deterministically, refuse bad cells whole, resume by config hash, and run in a
real pool of worker subprocesses writing one SQLite file."""

import json
from pathlib import Path

import pytest
from sqlalchemy import delete

from helpers import TINY, runner, set_table
from mftctl.cli import app
from mftctl.errors import ConfigError
from mftctl.store import Epoch, Run, open_store, reads
from mftctl.sweeps.file import expand, load_sweep

EXAMPLES = Path(__file__).parent.parent / "examples"


def spec(text: str, tmp_path=Path(".")):
    import tomllib

    return expand(tomllib.loads(text), name="t", text=text, base_dir=tmp_path)


def test_grid_zip_random_seeds_expand_as_a_product():
    s = spec("""
base = "quick"
seeds = [1, 2]
[grid]
"training.learning_rate" = [0.01, 0.02, 0.04]
[zip]
"model.hidden_size" = [8, 16]
"model.encoder_initialization_scale" = [0.1, 0.2]
[random]
count = 2
seed = 5
[random.params]
"training.batch_size" = { dist = "int", low = 100, high = 900 }
"loss.lambda_on" = { dist = "loguniform", low = 1, high = 100 }
"training.optimizer" = { dist = "choice", values = ["adam", "sgld"] }
""")
    assert len(s.cells) == 3 * 2 * 2 * 2
    assert s.varied == [
        "training.learning_rate",
        "model.hidden_size",
        "model.encoder_initialization_scale",
        "training.batch_size",
        "loss.lambda_on",
        "training.optimizer",
        "seed",
    ]
    zipped = {(c.config.model.hidden_size, c.config.model.encoder_initialization_scale) for c in s.cells}
    assert zipped == {(8, 0.1), (16, 0.2)}
    assert {c.config.seed for c in s.cells} == {1, 2}
    for c in s.cells:
        assert 100 <= c.config.training.batch_size <= 900 and 1 <= c.config.loss.lambda_on <= 100
    again = spec(s.text)
    assert [c.hash for c in again.cells] == [c.hash for c in s.cells]  # deterministic
    assert len({c.hash for c in s.cells}) == len(s.cells)


def test_nested_tables_and_fixed_overrides():
    s = spec('base = "quick"\n[set]\n"training.epochs" = 2\n[grid.training]\nlearning_rate = [0.1, 0.2]\n')
    assert [c.config.training.learning_rate for c in s.cells] == [0.1, 0.2]
    assert all(c.config.training.epochs == 2 for c in s.cells)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'base = "quick"\n[grid]\n"training.learning_rate" = [0.1, -1]',
            "sweep cell 1 (training.learning_rate=-1): training.learning_rate: Input should be greater than 0",
        ),
        ('base = "quick"\n[grid]\n"training.lr" = [0.1]', "sweep cell 0 (training.lr=0.1): unknown key"),
        ('base = "quick"\n[zip]\n"data.d" = [8, 16]\n"model.hidden_size" = [4]', "zip lists must have equal lengths"),
        ('base = "nope"', "unknown preset 'nope'"),
        ('base = "quick"\ngrids = 1', "unknown sweep key(s) grids"),
        ('base = "quick"\n[random]\ncount = 2\n[random.params]\n"seed" = { dist = "normal" }', "needs dist = one of"),
        ('base = "quick"\nreference = { "training.learning_rate" = 9 }', "no cell matches reference"),
        ('base = "quick"\n[grid]\n"seed" = [1, 1]', "repeats another cell's config"),
    ],
)
def test_one_bad_cell_refuses_the_sweep(text, message):
    with pytest.raises(ConfigError) as err:
        spec(text)
    assert message in str(err.value)


def test_malformed_file_via_cli_writes_nothing(isolated_db, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[grid\n")
    result = runner.invoke(app, ["sweep", str(bad)])
    assert result.exit_code == 1 and "is not valid TOML" in result.output
    assert not isolated_db.exists()


def test_example_dry_run_prints_cells_and_runs_nothing(isolated_db):
    result = runner.invoke(app, ["sweep", str(EXAMPLES / "lr_batch.toml"), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "4 cells, 4 to run" in result.output and "training.batch_size" in result.output
    assert len(load_sweep(EXAMPLES / "lr_batch.toml").cells) == 4
    assert not isolated_db.exists() or reads.count_runs(open_store(isolated_db)) == 0


SWEEP = """
name = "tiny"
base = "quick"
reference = { "training.learning_rate" = 0.02 }
[set]
{sets}
[grid]
"training.learning_rate" = [0.01, 0.02]
"loss.lambda_on" = [16.0, 1e38]
"""


@pytest.mark.backends
def test_two_workers_a_failing_cell_and_resume(backend, tmp_path):
    sets = set_table(*TINY)
    path = tmp_path / "tiny.toml"
    path.write_text(SWEEP.replace("{sets}", sets))
    result = runner.invoke(app, ["sweep", str(path), "--jobs", "2"])
    assert result.exit_code == 0, result.output
    store = open_store(backend)
    runs = reads.sweep_runs(store, 1)
    statuses = {(r.config["training"]["learning_rate"], r.config["loss"]["lambda_on"]): r.status for r in runs}
    # The lambda_on = 1e38 cells overflow in their first epoch: recorded failed with the reason, the sweep goes on.
    assert statuses == {
        (0.01, 16.0): "completed",
        (0.02, 16.0): "completed",
        (0.01, 1e38): "failed",
        (0.02, 1e38): "failed",
    }
    assert all("loss became" in r.error for r in runs if r.status == "failed")
    assert "success rate 50%" in result.output
    listed = json.loads(runner.invoke(app, ["list", "--where", "sweep=1", "--format", "json"]).output)
    assert len(listed) == 4

    # Again, without retries: nothing runs. With retries: exactly the failed cells run.
    dry = runner.invoke(app, ["sweep", str(path), "--dry-run", "--no-retry"]).output
    assert "4 cells, 0 to run" in dry
    dry = runner.invoke(app, ["sweep", str(path), "--dry-run"]).output
    assert "4 cells, 2 to run" in dry and dry.count("retry") == 2

    # A completed cell whose result is lost (marked failed) runs again, alone, on the same row.
    done = next(r for r in runs if r.status == "completed")
    with store.write() as s:
        s.get(Run, done.id).status = "failed"
    again = runner.invoke(app, ["sweep", "--resume", "1", "--no-retry"])
    assert "0 to run" in again.output
    with store.write() as s:
        s.exec(delete(Epoch).where(Epoch.run_id == done.id))
    redo = runner.invoke(app, ["sweep", str(path), "--jobs", "1"])
    assert redo.exit_code == 0
    rerun = reads.get_run(store, done.id)
    assert rerun.status == "completed" and [e.epoch for e in reads.epochs(store, done.id)] == [1, 2]
    assert len(reads.sweep_runs(store, 1)) == 4  # no new rows

    summary = json.loads(runner.invoke(app, ["sweep", "show", "1", "--format", "json"]).output)
    ref = next(c for c in summary["cells"] if c["values"] == {"training.learning_rate": 0.02, "loss.lambda_on": 16.0})
    assert ref["speedup"] == pytest.approx(1.0)
    csv_rows = runner.invoke(app, ["sweep", "show", "1", "--format", "csv"]).output.splitlines()
    assert len(csv_rows) == 5 and csv_rows[0].startswith("values.")
    plots = runner.invoke(app, ["plot", "--sweep", "1"]).output.split()
    assert [p.rsplit("/", 1)[-1] for p in plots] == ["sweep.png", "parallel.png", "heatmap.png"]
    assert all(Path(p).stat().st_size > 5000 for p in plots)
    listed_sweeps = runner.invoke(app, ["sweep", "list"]).output
    assert "tiny" in listed_sweeps and "2 completed, 2 failed" in listed_sweeps
    assert reads.sweep_status_counts(store) == {1: {"completed": 2, "failed": 2}}


@pytest.mark.backends
def test_seeds_are_pooled_as_mean_and_std(backend, tmp_path):
    sets = set_table(*TINY)
    path = tmp_path / "seeds.toml"
    path.write_text(
        f'name = "seeds"\nbase = "quick"\nseeds = [1, 2]\n[set]\n{sets}\n'
        '"training.enable_diagnostics" = false\n"training.checkpoint_every" = 0\n'
    )
    assert runner.invoke(app, ["sweep", str(path), "--jobs", "2"]).exit_code == 0
    summary = json.loads(runner.invoke(app, ["sweep", "show", "1", "--format", "json"]).output)
    (cell,) = summary["cells"]
    losses = [r.last_test_loss for r in reads.sweep_runs(open_store(backend), 1)]
    assert cell["seeds"] == 2 and cell["test_loss"] == pytest.approx(sum(losses) / 2)
    assert cell["test_loss_std"] is not None and cell["test_loss_std"] > 0


def test_persistent_workers_isolate_a_killed_worker_and_keep_each_runs_log(isolated_db, tmp_path):
    """One worker trains the cells one after another; killed with SIGKILL mid-cell, its cell is crashed
    and a fresh worker takes the cells still waiting."""
    import os
    import signal
    import subprocess

    from helpers import start_mftctl, wait_for
    from mftctl.store import layout

    sets = set_table(*TINY, without="epochs")
    path = tmp_path / "four.toml"
    path.write_text(
        f'name = "four"\nbase = "quick"\n[set]\n{sets}\ndevice = "cpu"\n'
        '[zip]\nseed = [1, 2, 3, 4]\n"training.epochs" = [2, 400, 2, 2]\n"training.checkpoint_every" = [1, 0, 1, 1]\n'
    )
    sweep = start_mftctl("sweep", path, "--jobs", "1", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(lambda: os.path.exists(isolated_db) and reads.count_runs(open_store(isolated_db)) == 4)
    store = open_store(isolated_db)
    first = wait_for(lambda: (r := reads.get_run(store, 1)).status == "completed" and r)
    second = wait_for(lambda: (r := reads.get_run(store, 2)).status == "running" and r.epochs_done >= 1 and r)
    assert second.pid == first.pid  # the same worker process took the next cell
    os.kill(second.pid, signal.SIGKILL)
    _, err = sweep.communicate(timeout=600)
    assert sweep.returncode == 0, err
    statuses = [reads.get_run(store, i).status for i in (1, 2, 3, 4)]
    assert statuses == ["completed", "crashed", "completed", "completed"]
    assert "exited with code -9" in reads.get_run(store, 2).error
    assert reads.get_run(store, 3).pid != second.pid  # a fresh worker
    for run_id in (1, 3):  # each run's stderr in its own log, nothing of the others'
        log = (layout.run_dir(store, run_id) / "worker.log").read_text()
        assert f"run {run_id}: started by worker" in log and log.count("started by worker") == 1


def test_a_stopped_cell_ends_its_worker_and_the_next_cell_runs_on_a_fresh_one(isolated_db, tmp_path):
    """`mftctl stop` on a sweep's running cell: that cell is killed; its worker exits; the cells after it
    are neither lost nor marked crashed — a fresh worker runs them."""
    import subprocess

    from helpers import invoke, start_mftctl, wait_for

    sets = set_table(*TINY, without="epochs")
    path = tmp_path / "three.toml"
    path.write_text(
        f'name = "three"\nbase = "quick"\n[set]\n{sets}\ndevice = "cpu"\n"training.enable_diagnostics" = false\n'
        '[zip]\nseed = [1, 2, 3]\n"training.epochs" = [400, 2, 2]\n'
    )
    sweep = start_mftctl("sweep", path, "--jobs", "1", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(lambda: isolated_db.exists() and reads.count_runs(open_store(isolated_db)) == 3)
    store = open_store(isolated_db)
    first = wait_for(lambda: (r := reads.get_run(store, 1)).status == "running" and r.epochs_done >= 1 and r)
    assert invoke("stop", 1).exit_code == 0
    _, err = sweep.communicate(timeout=600)
    assert sweep.returncode == 0, err
    assert [reads.get_run(store, i).status for i in (1, 2, 3)] == ["killed", "completed", "completed"]
    assert reads.get_run(store, 2).pid != first.pid
