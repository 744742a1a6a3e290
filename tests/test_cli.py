import csv
import io
import json

import pytest

from helpers import SETS, count_runs, invoke, one_line_refusal, serving_workers
from mftctl.cli import app
from mftctl.store import Run, layout, open_store, reads, writes


def test_train_list_show_end_to_end(isolated_db):
    result = invoke("train", "--preset", "quick", *SETS, "--name", "first", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "run 1 completed: 2 epochs" in result.output
    runs = json.loads(invoke("list", "--format", "json").output)
    assert [(r["id"], r["name"], r["status"], r["epochs_done"]) for r in runs] == [(1, "first", "completed", 2)]
    assert runs[0]["config"]["data"]["d"] == 32 and runs[0]["device"] == "cpu"
    detail = json.loads(invoke("show", 1, "--format", "json").output)
    assert [e["epoch"] for e in detail["epochs"]] == [1, 2]
    assert detail["epochs"][1]["test_loss"] == pytest.approx(runs[0]["test_loss"])
    assert detail["epochs"][0]["n_clusters"] == detail["epochs"][0]["diagnostics"]["n_blobs"] >= 1
    assert [c["epoch"] for c in detail["checkpoints"]] == [1, 2]
    for c in detail["checkpoints"]:
        assert (isolated_db.parent / c["path"]).stat().st_size == c["bytes"]
    table = invoke("list").output
    assert "first" in table and "completed" in table
    shown = invoke("show", 1).output
    assert "training.epochs" in shown and "epochs" in shown


def test_list_csv_and_where(isolated_db):
    assert invoke("train", "--preset", "quick", *SETS).exit_code == 0
    assert invoke("train", "--preset", "quick", *SETS, "--set", "training.learning_rate=0.005").exit_code == 0
    rows = list(csv.DictReader(io.StringIO(invoke("list", "--format", "csv", "--sort", "learning_rate").output)))
    assert [r["id"] for r in rows] == ["2", "1"]
    assert rows[0]["config.training.learning_rate"] == "0.005"
    only = json.loads(invoke("list", "--format", "json", "--where", "training.learning_rate<0.01").output)
    assert [r["id"] for r in only] == [2]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--preset", "nope"], "unknown preset 'nope'"),
        (["train", "--preset", "quick", "--set", "training.batch_size=-5"], "training.batch_size: Input should be"),
        (["train", "--preset", "quick", "--set", "model.width=3"], "unknown key 'model.width'"),
        (["train", "--preset", "quick", "--device", "cuda:99"], "device 'cuda:99' asked for"),
        (["list", "--sort", "loudness"], "unknown column 'loudness'"),
        (["list", "--where", "silhouette"], "cannot read --where"),
    ],
)
def test_bad_input_is_one_line_exit_1_nothing_written(isolated_db, args, message):
    result = invoke(*args)
    assert result.exit_code == 1
    assert message in result.output
    assert result.output.startswith("Error: ") and "Traceback" not in result.output
    assert count_runs(isolated_db) == 0
    assert not serving_workers(isolated_db)  # `train` starts its worker first; a refusal ends it


def test_malformed_toml_file(isolated_db, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[training]\nepochs = = 3\n")
    result = invoke("train", "--config", bad)
    assert result.exit_code == 1 and "is not valid toml" in result.output and count_runs(isolated_db) == 0


def test_missing_run_and_missing_database(isolated_db):
    result = invoke("show", 42)
    assert result.exit_code == 1 and "no database at" in result.output
    listed = invoke("list")  # a read never creates the database
    assert listed.exit_code == 1 and "no database at" in listed.output and not isolated_db.exists()
    open_store(isolated_db)
    result = invoke("show", 42)
    assert result.exit_code == 1 and "no run with id 42" in result.output


def test_corrupt_database(isolated_db):
    isolated_db.write_bytes(b"garbage" * 1000)
    result = invoke("list")
    assert result.exit_code == 1 and "cannot open database" in result.output and "Traceback" not in result.output


def test_unreadable_stored_config_fails_the_run_not_the_tool(isolated_db):
    from mftctl.runs.launch import start_worker
    from mftctl.store import open_store

    assert invoke("train", "--preset", "quick", *SETS).exit_code == 0
    store = open_store(isolated_db)
    run = writes.create_run(
        store, name="bad", config_json='{"data": {"d": -1}}', config_hash="x", seed=0, epochs_total=1
    )
    layout.run_dir(store, run.id).mkdir(parents=True)
    assert start_worker(store, run.id).wait(300) == 1
    bad = reads.get_run(store, run.id)
    assert bad.status == "failed" and "cannot start" in bad.error and "data.d" in bad.error
    listed = json.loads(invoke("list", "--format", "json").output)  # the tool reads on, the good run intact
    assert [(r["id"], r["status"]) for r in listed] == [(2, "failed"), (1, "completed")]


def _commands(group, prefix=()):
    import typer.main

    click_group = typer.main.get_command(group)
    for name, cmd in click_group.commands.items():
        if getattr(cmd, "hidden", False):
            continue
        if hasattr(cmd, "commands"):
            for sub in cmd.commands:
                yield (*prefix, name, sub)
        else:
            yield (*prefix, name)


@pytest.mark.parametrize("command", list(_commands(app)))
def test_every_command_has_help_with_an_example(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    assert "Example" in result.output


def test_presets_and_config_show():
    out = invoke("presets").output
    assert "reference_3blob" in out and "quick" in out
    shown = json.loads(invoke("config", "show", "quick", "--set", "training.epochs=2", "--format", "json").output)
    assert shown["training"]["epochs"] == 2 and shown["data"]["d"] == 128
    assert "learning_rate" in invoke("config", "show").output


def test_db_info_and_upgrade(isolated_db):
    open_store(isolated_db)
    from mftctl.store.migrations import MIGRATIONS

    assert MIGRATIONS[-1][0] in invoke("db", "info").output
    assert "schema is current" in invoke("db", "upgrade").output


@pytest.mark.backends
def test_rm_where_deletes_exactly_the_matching_runs_and_their_files(backend):
    from mftctl.store import open_store

    for seed in (1, 2, 3):
        assert invoke("train", "--preset", "quick", *SETS, "--seed", seed).exit_code == 0
    store = open_store(backend)
    with store.write() as s:
        s.get(Run, 2).status = "failed"
    folder = layout.run_dir(store, 2)
    kept = [layout.checkpoint_path(store, c) for i in (1, 3) for c in reads.checkpoints(store, i)]
    assert folder.is_dir() and kept
    one_line_refusal(invoke("rm", "--where", "seed>=9", "--yes"), "no run selected")
    result = invoke("rm", "--where", "status=failed", "--yes")
    assert result.exit_code == 0 and "deleted 1 run(s): 2" in result.output
    assert reads.run_ids(store) == [1, 3] and not folder.exists() and all(p.exists() for p in kept)
    assert invoke("rm", "--where", "seed=1", 3, "--yes").exit_code == 0  # ids and --where together
    assert reads.run_ids(store) == []


def test_a_late_epoch_event_does_not_move_the_progress_bar_back():
    """On a GPU an epoch's record is written while the next epoch trains, so its event can come after
    the next epoch's first steps: the bar keeps its place, the test loss is still taken."""
    from mftctl.runs.events import EpochEnd, Step
    from mftctl.runs.progress import ProgressState

    state = ProgressState(epochs=3, steps_per_epoch=10)
    state.apply(Step(run=1, epoch=2, step=4, steps=10, loss=1.5))
    state.apply(EpochEnd(run=1, epoch=1, train_loss=2.0, test_loss=1.9, samples_per_s=100.0))
    assert (state.epoch, state.step, state.done_steps, state.loss) == (2, 4, 14, 1.5)
    assert state.test_loss == 1.9
    state.apply(EpochEnd(run=1, epoch=2, train_loss=1.4, test_loss=1.3, samples_per_s=100.0))
    assert (state.done_steps, state.loss, state.test_loss) == (20, 1.4, 1.3)
