"""A researcher's first hour: runs taken by name wherever a run is taken (an ambiguous name refused in one
line, naming the ids), `show --format csv` as the run's epochs, and help text whose brackets survive."""

import csv
import io
import json
import signal
import subprocess

from helpers import LONG, SETS, invoke, one_line_refusal, set_args, start_mftctl, wait_for


def _train(name: str) -> None:
    assert invoke("train", "--preset", "quick", *SETS, "--name", name).exit_code == 0


def test_runs_by_name_wherever_a_run_is_taken(isolated_db):
    _train("baseline")
    _train("wide")
    by_id = json.loads(invoke("show", "1", "--format", "json").output)
    assert json.loads(invoke("show", "baseline", "--format", "json").output) == by_id
    assert json.loads(invoke("diagnose", "wide", "--format", "json").output)["run"] == 2
    assert invoke("plot", "baseline", "wide").exit_code == 0
    compared = json.loads(invoke("compare", "wide", "baseline", "--format", "json").output)
    assert all(set(row) >= {"run_2", "run_1", "delta_1"} for row in compared)  # deltas against the first
    assert invoke("tag", "baseline", "2", "mine").exit_code == 0
    assert invoke("note", "wide", "a note").exit_code == 0
    listed = {r["id"]: r for r in json.loads(invoke("list", "--format", "json").output)}
    assert listed[1]["tags"] == ["mine"] == listed[2]["tags"] and listed[2]["note"] == "a note"
    assert invoke("stage2", "baseline", "--set", "training.epochs=1").exit_code == 0
    assert json.loads(invoke("show", "3", "--format", "json").output)["parent"] == 1

    one_line_refusal(invoke("show", "nobody"), "no run named 'nobody'", "mftctl list")
    _train("wide")  # a second run of that name: the name no longer says which
    for command in (["show", "wide"], ["diagnose", "wide"], ["rm", "wide", "--yes"], ["train", "--resume", "wide"]):
        one_line_refusal(invoke(*command), "2 runs are named 'wide' (ids 2, 4); give the id")
    assert len(json.loads(invoke("list", "--format", "json").output)) == 4  # nothing was deleted
    assert invoke("rm", "baseline-s2-iid-0", "--yes").exit_code == 0  # the stage-2 child, by its name
    assert sorted(r["id"] for r in json.loads(invoke("list", "--format", "json").output)) == [1, 2, 4]


def test_show_as_csv_is_the_runs_epochs(isolated_db):
    _train("a")
    rows = list(csv.DictReader(io.StringIO(invoke("show", "a", "--format", "csv").output)))
    epochs = json.loads(invoke("show", "1", "--format", "json").output)["epochs"]
    assert [int(r["epoch"]) for r in rows] == [e["epoch"] for e in epochs] == [1, 2]
    assert all(r["run_id"] == "1" for r in rows)
    assert [float(r["test_loss"]) for r in rows] == [e["test_loss"] for e in epochs]


def test_help_keeps_its_brackets():
    """Typer reads help as rich markup: `[ui]` in `pip install 'mftctl[ui]'` was eaten as a style tag."""
    assert "pip install 'mftctl[ui]'" in invoke("--help").output.replace("\n", " ").replace("│", " ")


def test_follow_shows_the_next_epoch_and_ctrl_c_leaves_the_run_running(isolated_db):
    """A real detached worker and a real `follow` process: an epoch line appears, SIGINT (Ctrl-C) ends
    `follow` with exit 0, and the run is still running afterwards; `follow` of a finished run prints its
    epochs and how it ended."""
    started = invoke("train", "--preset", "quick", *set_args(*LONG), "--name", "long", "--detach")
    assert "mftctl follow 1" in started.output
    follower = start_mftctl("follow", "long", stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    first = wait_for(lambda: follower.stdout.readline())
    assert first.startswith("run 1 epoch ") and "/400: test loss " in first, first
    follower.send_signal(signal.SIGINT)
    out, _ = follower.communicate(timeout=120)
    assert follower.returncode == 0, out
    assert "stopped following; run 1 goes on" in out
    assert json.loads(invoke("show", "1", "--format", "json").output)["status"] == "running"
    assert invoke("stop", "long").exit_code == 0
    ended = invoke("follow", "1")
    one_line_refusal(ended, "run 1 killed")
    _train("short")
    done = invoke("follow", "short")
    assert done.exit_code == 0 and "run 2 epoch 2/2: test loss" in done.output and "run 2 completed" in done.output
