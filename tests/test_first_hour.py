"""A researcher's first hour: runs taken by name wherever a run is taken (an ambiguous name refused in one
line, naming the ids), `show --format csv` as the run's epochs, help text whose brackets survive, and
`list` and `sweep show` that fit an 80-, 100- and 120-column terminal."""

import csv
import io
import json
import os
import signal
import subprocess

import pytest

from helpers import LONG, SETS, invoke, one_line_refusal, run_mftctl, set_args, start_mftctl, wait_for


def _train(name: str) -> None:
    assert invoke("train", "--preset", "quick", *SETS, "--name", name).exit_code == 0


def test_runs_by_name_wherever_a_run_is_taken(isolated_db):
    _train("baseline")
    _train("wide")
    by_id = json.loads(invoke("show", "1", "--format", "json").output)
    assert json.loads(invoke("show", "baseline", "--format", "json").output) == by_id
    report = json.loads(invoke("diagnose", "wide", "--format", "json").output)
    assert report["run"] == 2
    # diagnose's table says which row is the control, what the mixture's rows are, and what the
    # references mean in words.
    text = invoke("diagnose", "wide").output
    assert "(control)" in text and " component " in text and "Bayes posterior mean: the lowest loss" in text
    worse = report["test"]["loss"] > report["references"]["identity"]["loss"]
    assert worse == ("worse than returning its input" in text)
    assert invoke("plot", "baseline", "wide").exit_code == 0
    compared = json.loads(invoke("compare", "wide", "baseline", "--format", "json").output)
    assert all(set(row) >= {"run_2", "run_1", "delta_1"} for row in compared)  # deltas against the first
    assert invoke("tag", "baseline", "2", "mine").exit_code == 0
    assert invoke("note", "wide", "a note").exit_code == 0
    listed = {r["id"]: r for r in json.loads(invoke("list", "--format", "json").output)}
    assert listed[1]["tags"] == ["mine"] == listed[2]["tags"] and listed[2]["note"] == "a note"
    assert invoke("stage2", "baseline", "--set", "training.epochs=1").exit_code == 0
    assert json.loads(invoke("show", "3", "--format", "json").output)["parent"] == 1
    # A child of an earlier checkpoint is its own row of the summary, never pooled with the last one's.
    solve = ["--control", "parent", "--decoder", "solve"]
    assert invoke("stage2", "baseline", *solve, "--epoch", "1").exit_code == 0
    assert invoke("stage2", "baseline", *solve).exit_code == 0
    methods = {m["method"] for m in json.loads(invoke("show", "baseline", "--format", "json").output)["stage2"]}
    assert methods == {"gmm/iid", "parent (solved) @ epoch 1", "parent (solved)"}

    one_line_refusal(invoke("show", "nobody"), "no run named 'nobody'", "mftctl list")
    _train("wide")  # a second run of that name: the name no longer says which
    for command in (["show", "wide"], ["diagnose", "wide"], ["rm", "wide", "--yes"], ["train", "--resume", "wide"]):
        one_line_refusal(invoke(*command), "2 runs are named 'wide' (ids 2, 6); give the id")
    assert len(json.loads(invoke("list", "--format", "json").output)) == 6  # nothing was deleted
    assert invoke("rm", "baseline-s2-iid-0", "--yes").exit_code == 0  # the stage-2 child, by its name
    assert sorted(r["id"] for r in json.loads(invoke("list", "--format", "json").output)) == [1, 2, 4, 5, 6]


def test_show_as_csv_is_the_runs_epochs(isolated_db):
    _train("a")
    rows = list(csv.DictReader(io.StringIO(invoke("show", "a", "--format", "csv").output)))
    epochs = json.loads(invoke("show", "1", "--format", "json").output)["epochs"]
    assert [int(r["epoch"]) for r in rows] == [e["epoch"] for e in epochs] == [1, 2]
    assert all(r["run_id"] == "1" for r in rows)
    assert [float(r["test_loss"]) for r in rows] == [e["test_loss"] for e in epochs]


def test_help_keeps_its_brackets():
    """Typer reads help as rich markup: `[ui]` in `pip install 'mftctl[ui]'` was eaten as a style tag."""
    words = " ".join(invoke("--help").output.replace("│", " ").split())  # wherever the terminal wraps it
    assert "pip install 'mftctl[ui]'" in words


def test_help_reads_at_80_columns():
    """A flag shows no `<bool>` (it takes no value), repeatable options say what they take, and a
    docstring's source line breaks are not the terminal's: a sentence wraps where the terminal ends."""
    lines = _at_width(80, "train", "--help")
    text = "\n".join(lines)
    assert "<bool>" not in text and "<list[str]>" not in text
    assert "KEY=VALUE" in text and all(len(line) <= 80 for line in lines)
    # `then each --set.` was its own short line: the paragraph now fills the width before it breaks.
    para = next(i for i, line in enumerate(lines) if "The config is the preset" in line)
    assert len(lines[para].rstrip()) > 70, text


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


def _at_width(width: int, *args: str) -> list[str]:
    """The lines `mftctl ARGS` prints in a terminal of `width` columns (a real process; COLUMNS is how
    rich learns a terminal's width when its output is not a tty)."""
    done = run_mftctl(*args, env={**os.environ, "COLUMNS": str(width)})
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


SWEEP_TINY = '[set]\n"training.epochs" = 1\n"data.d" = 16\n"model.hidden_size" = 8\n'


LIST_HEADERS = ("id", "name", "status", "preset", "d×h", "opt", "lr", "ep", "test loss", "best", "K", "sep.")


def test_list_and_sweep_show_fit_the_terminal(isolated_db, tmp_path):
    long_name = "a-long-run-name-that-must-stay-whole"
    tagged = ["--name", long_name, "--tag", "baseline", "--set", "lr=0.05"]  # a short name for a config key
    assert invoke("train", "--preset", "quick", *SETS, *tagged).exit_code == 0
    for _ in range(9):  # ids of two digits
        assert invoke("train", "--preset", "quick", *SETS, "--set", "training.epochs=1").exit_code == 0
    for width in (80, 100, 120):
        title, *lines = _at_width(width, "list")  # the title names the database's path, which never breaks
        assert title.startswith("10 of 10 runs in")
        assert all(len(line) <= width for line in lines), "\n".join(lines)
        header = next(line for line in lines if line.split()[:1] == ["id"])
        assert "…" not in "\n".join(lines)  # no header, id or value cut short
        assert all(h in header for h in ("id", "name", "status", "ep", "test loss", "sep."))
        rows = [line.split() for line in lines if "hidden" not in line]
        ids = [int(row[0]) for row in rows if row[:1] and row[0].isdigit()]
        assert sorted(ids) == list(range(1, 11))
        # At 80 columns the name column is what is left: a name longer than that folds, whole, onto a
        # second line; wider, it stays on one.
        assert any(long_name in line for line in lines) or width == 80
        hidden = [h for h in LIST_HEADERS if f" {h} " not in f" {header} "]
        assert bool(hidden) == any("hidden at this width" in line for line in lines)
    wide = next(line for line in _at_width(80, "list", "--wide") if line.split()[:1] == ["id"])
    assert all(f" {h} " in f" {wide} " for h in (*LIST_HEADERS, "silh.", "samples/s", "created")), wide

    for width in (80, 100):  # show's epochs table: the least read columns hidden, no value cut
        lines = _at_width(width, "show", long_name)
        assert all(len(line) <= width for line in lines) and "…" not in "\n".join(lines), "\n".join(lines)
        title = next(i for i, line in enumerate(lines) if line.strip() == "epochs")
        epochs = next(line for line in lines[title:] if line.split()[:1] == ["ep"])
        assert all(f" {h} " in f" {epochs} " for h in ("ep", "train", "test", "K", "sep."))

    # Sweep files take short names and leaves as every other place does: the same cells, dotted.
    (tmp_path / "grid.toml").write_text(
        'base = "quick"\nseeds = [1]\n[set]\nepochs = 1\n"data.d" = 16\nhidden_size = 8\n'
        "[grid]\nlr = [0.01, 0.03]\nbatch_size = [64, 128]\n"
    )
    assert invoke("sweep", str(tmp_path / "grid.toml"), "--jobs", "1").exit_code == 0
    varied = json.loads(invoke("sweep", "show", "grid", "--format", "json").output)["varied"]
    assert varied == ["training.learning_rate", "training.batch_size", "seed"]
    (tmp_path / "twice.toml").write_text('base = "quick"\n[grid]\nlr = [0.01]\n"training.learning_rate" = [0.02]\n')
    one_line_refusal(invoke("sweep", str(tmp_path / "twice.toml")), "gives training.learning_rate twice (as lr and as")
    (tmp_path / "seeds.toml").write_text('base = "quick"\nseeds = [1, 2]\n' + SWEEP_TINY)
    assert invoke("sweep", str(tmp_path / "seeds.toml"), "--jobs", "1").exit_code == 0
    sweeps = invoke("sweep", "list").output
    assert " 4 " in sweeps and "1 × 2 seeds" in sweeps  # cells as `sweep show` counts them, seeds apart
    for width in (80, 100, 120):
        lines = _at_width(width, "sweep", "show", "1")
        assert all(len(line) <= width for line in lines), "\n".join(lines)
        assert "…" not in "\n".join(lines), "\n".join(lines)
        header = next(line for line in lines if line.split()[:1] == ["cell"])
        assert all(h in header for h in ("seeds", "final test loss", "separation"))
        assert sum(line.split()[:1] in (["c0"], ["c1"], ["c2"], ["c3"]) for line in lines) >= 4


def test_one_vocabulary_of_keys_for_set_sort_where_and_columns(isolated_db):
    """A config key by its dotted name, its short name (list's header) or its leaf, wherever a key is
    taken; a mistyped one gets a did-you-mean; a status no run can have is refused, not matched by none."""
    for seed, lr in enumerate(("lr=0.05", "learning_rate=0.01", "training.learning_rate=0.03")):
        sets = ["--set", "training.epochs=1", "--set", lr, "--set", f"seed={seed}"]
        assert invoke("train", "--preset", "quick", *SETS, *sets).exit_code == 0
    stored = {r["id"]: r["config"]["training"]["learning_rate"] for r in _listed()}
    assert stored == {1: 0.05, 2: 0.01, 3: 0.03}
    for sort in ("-lr", "-learning_rate", "-training.learning_rate"):
        assert [r["id"] for r in _listed("--sort", sort)] == [1, 3, 2]
    for where in ("lr>0.02", "learning_rate>0.02", "training.learning_rate>0.02"):
        assert sorted(r["id"] for r in _listed("--where", where)) == [1, 3]
    for columns in ("id,lr", "id,learning_rate", "id,training.learning_rate"):  # headed by the short name
        picked = json.loads(invoke("list", "--columns", columns, "--format", "json").output)
        assert {r["id"]: r["lr"] for r in picked} == stored

    one_line_refusal(invoke("list", "--sort", "-sepration"), "unknown column 'sepration'", "did you mean separation?")
    one_line_refusal(invoke("list", "--where", "learnin_rate>1"), "did you mean training.learning_rate?")
    one_line_refusal(
        invoke("train", "--preset", "quick", "--set", "learnin_rate=0.1"), "did you mean training.learning_rate?"
    )
    one_line_refusal(invoke("list", "--where", "status=complete"), "did you mean completed?", "statuses: queued")
    assert len(_listed()) == 3  # nothing written by the refusals
    rows = {r["key"]: r for r in json.loads(invoke("compare", "1", "3", "--format", "json").output)}
    assert rows["training.learning_rate"]["delta_3"] == pytest.approx(-0.02)
    assert rows["seed"]["run_3"] == 2 and rows["seed"]["delta_3"] is None  # a seed is a label, not a quantity

    # The same runs from Python, as a DataFrame: `list --format json` row for row, the same vocabulary.
    import pandas

    import mftctl
    from mftctl.errors import MftctlError

    frame = mftctl.list_runs()
    pandas.testing.assert_frame_equal(frame, pandas.json_normalize(_listed()))
    assert list(mftctl.list_runs(sort="-lr")["id"]) == [1, 3, 2]
    assert list(mftctl.list_runs(where="learning_rate>0.02", sort="id")["config.training.learning_rate"]) == [
        0.05,
        0.03,
    ]
    assert "list_runs" in dir(mftctl) and not {"Any", "TYPE_CHECKING", "annotations"} & set(dir(mftctl))
    with pytest.raises(MftctlError, match="no run has status 'complete'"):
        mftctl.list_runs(where=["status=complete"])


def _listed(*args: str) -> list[dict]:
    done = invoke("list", "--format", "json", *args)
    assert done.exit_code == 0, done.output
    return json.loads(done.output)


def test_the_scatter_draws_one_ellipse_per_measured_blob():
    """A heavy centre blob the shape model fits with two components is drawn as one ellipse: the
    components nearest each measured blob merged into one Gaussian with their pooled moments (checked
    against the moments of a large sample drawn from those components)."""
    import numpy as np

    from mftctl.analysis.plots import _per_blob

    mixture = {
        "weights": [0.5, 0.3, 0.1, 0.1],
        "means": [[0.0, 0.0], [0.1, 0.02], [1.5, 0.15], [-1.5, -0.15]],
        "covariances": [np.diag([0.04, 0.001]), np.diag([0.09, 0.002]), np.diag([0.02, 0.0004])]
        + [np.diag([0.02, 0.0004])],
    }
    blobs = [
        {"mass": 0.8, "centre": [0.04, 0.01], "width": [0.3, 0.04]},
        {"mass": 0.1, "centre": [1.5, 0.15], "width": [0.15, 0.02]},
        {"mass": 0.1, "centre": [-1.5, -0.15], "width": [0.15, 0.02]},
    ]
    merged = _per_blob(mixture, blobs)
    assert [m for m, _, _ in merged] == [0.8, 0.1, 0.1]  # three ellipses, labelled with the blobs' masses
    rng = np.random.default_rng(0)
    n = 400_000
    first = rng.random(n) < 0.5 / 0.8
    sample = np.where(
        first[:, None],
        rng.multivariate_normal(mixture["means"][0], mixture["covariances"][0], n),
        rng.multivariate_normal(mixture["means"][1], mixture["covariances"][1], n),
    )
    _, mean, cov = merged[0]
    assert np.allclose(mean, sample.mean(axis=0), atol=2e-3)
    assert np.allclose(cov, np.cov(sample.T), rtol=0.02, atol=1e-5)
    assert np.allclose(merged[1][1], [1.5, 0.15]) and np.allclose(merged[1][2], mixture["covariances"][2])


def test_an_overlay_of_runs_is_labelled_by_the_keys_that_differ():
    """`plot A B`'s legend names what tells the runs apart, not only their names."""
    import json as _json

    from mftctl.analysis.figures import _differing
    from mftctl.config import ExperimentConfig
    from mftctl.store.tables import Run

    def run(lr: float, seed: int) -> Run:
        config = ExperimentConfig().model_dump()
        config["training"]["learning_rate"], config["seed"] = lr, seed
        return Run(id=seed, name=f"r{seed}", kind="train", config_json=_json.dumps(config), config_hash="h", seed=seed)

    assert _differing([run(0.01, 1), run(0.02, 2)]) == ["seed", "training.learning_rate"]
    assert _differing([run(0.01, 1), run(0.01, 1)]) == [] and _differing([run(0.01, 1)]) == []
