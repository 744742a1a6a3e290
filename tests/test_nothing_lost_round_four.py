"""Nothing lost, round four: the search, stability and Python surfaces under hostile input. Each test is
named for the behaviour it specifies; the round's list is in docs/guarantees.md."""

import json
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

import mftctl
from helpers import SETS, TINY, invoke, one_line_refusal, run_mftctl, set_table
from mftctl.config_input import load_config
from mftctl.errors import MftctlError
from mftctl.runs.lifecycle import new_run
from mftctl.search.space import Objective, parse_search
from mftctl.search.study import trial_records
from mftctl.store import open_store, reads, writes

SPACE = """
[search.params]
"training.learning_rate" = { dist = "loguniform", low = 1e-3, high = 1e-1 }
"""


def search_file(tmp_path, *, search="trials = 2", top="seeds = [0]", space=SPACE, name="s"):
    path = tmp_path / f"{name}.toml"
    path.write_text(f'name = "{name}"\nbase = "quick"\n{top}\n[set]\n{set_table(*TINY)}\n[search]\n{search}\n{space}')
    return path


# --- a file written that was not asked for -------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("odd", ["other?x.db", "other%3Fy.db", "with #hash.db"])
def test_export_study_writes_exactly_the_path_given_whatever_its_characters(isolated_db, tmp_path, odd):
    assert run_mftctl("sweep", search_file(tmp_path)).returncode == 0
    other = tmp_path / "other"
    other.write_bytes(b"a file that must not change")
    target = tmp_path / odd
    done = run_mftctl("sweep", "export-study", "1", target)
    assert done.returncode == 0, done.stderr
    assert other.read_bytes() == b"a file that must not change"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("other", "with"))) == sorted({"other", odd})
    import optuna

    url = done.stdout.split("study written to ", 1)[1].split(";", 1)[0]
    study = optuna.load_study(study_name="s", storage=url)  # the URL printed opens the file written
    assert len(study.trials) == 2
    # Each trial carries mftctl's trial number and runs, and its runs' real start (not the export's instant).
    runs = reads.sweep_runs(open_store(isolated_db), 1)
    by_trial = {r.extra["trial"]: r for r in runs}
    for trial in study.trials:
        run = by_trial[trial.user_attrs["mftctl_trial"]]
        assert trial.user_attrs["run_ids"] == [run.id]
        assert trial.datetime_start == run.started_at.astimezone().replace(tzinfo=None)  # Optuna's: naive local


# --- wrong results, silently ---------------------------------------------------------------------------


def test_a_never_formed_value_is_imputed_strictly_worse_than_every_real_one():
    """Every real trial formed at epoch 3: the trial that never formed must not tie with them."""

    def run(trial, formed):
        return SimpleNamespace(
            id=trial, status="completed", extra={"trial": trial, "search": {"params": {}}}, formed_epoch=formed
        )

    search = SimpleNamespace(objectives=[Objective("formed_epoch", False)])
    records = trial_records(search, [run(0, 3), run(1, None), run(2, 3)])
    values = {r.number: r.values[0] for r in records}
    assert values[0] == values[2] == 3 and values[1] > 3 and records[1].missing
    maximise = SimpleNamespace(objectives=[Objective("separation", True)])
    runs = [SimpleNamespace(**vars(run(i, None)), separation=s) for i, s in enumerate([0.9, None, 0.9])]
    imputed = trial_records(maximise, runs)[1].values[0]
    assert imputed < 0.9


def test_two_trials_of_one_point_are_two_cells_never_one_cell_of_two_seeds(isolated_db):
    """When the re-asks run out a search trains a point again: its two trials stay two cells, each with
    its one seed, and neither is called stable over seeds it does not have."""
    store = open_store(isolated_db)
    sweep = writes.create_sweep(
        store, name="s", file_text="", file_path=None, meta={"varied": ["training.learning_rate"], "search": {}}
    )
    config = load_config("quick", overrides=TINY)
    for trial in (0, 1):
        values = {"training.learning_rate": 0.02}
        extra = {"cell": trial, "values": values, "trial": trial, "search": {"params": values}}
        new_run(store, config, preset="quick", sweep_id=sweep.id, extra=extra)
    from mftctl.analysis.sweep_summary import summarize

    cells = summarize(store, reads.get_sweep(store, sweep.id), stability=False).cells
    assert len(cells) == 2 and [len(c.runs) for c in cells] == [1, 1]


@pytest.mark.parametrize(
    ("choices", "message"),
    [('[0.01, "0.01"]', "are the same value as a config"), ("[1, 1.0]", "are the same value as a config")],
)
def test_choices_that_are_one_config_value_are_refused(isolated_db, tmp_path, choices, message):
    space = f'[search.params]\n"training.learning_rate" = {{ dist = "choice", values = {choices} }}\n'
    one_line_refusal(invoke("sweep", search_file(tmp_path, space=space)), message)
    assert not isolated_db.exists()


@pytest.mark.slow
def test_a_trial_that_lost_one_seeds_run_trains_that_seed_again_on_resume(isolated_db, tmp_path):
    path = search_file(tmp_path, search='trials = 1\nobjective = "best_test_loss"', top="seeds = [0, 1]")
    assert run_mftctl("sweep", path, "--jobs", "1").returncode == 0
    store = open_store(isolated_db)
    lost = reads.sweep_runs(store, 1)[1]
    assert invoke("rm", lost.id, "--yes").exit_code == 0
    shown = json.loads(run_mftctl("sweep", "show", "1", "--format", "json").stdout)
    assert shown["search"]["trials"][0]["state"] != "completed"  # never the remaining seed's value alone
    done = run_mftctl("sweep", "--resume", "1", "--jobs", "1")
    assert done.returncode == 0, done.stderr
    runs = reads.sweep_runs(open_store(isolated_db), 1)
    assert sorted(r.seed for r in runs) == [0, 1] and all(r.status == "completed" for r in runs)
    trial = json.loads(run_mftctl("sweep", "show", "1", "--format", "json").stdout)["search"]["trials"][0]
    assert trial["values"][0] == pytest.approx(sum(r.best_test_loss for r in runs) / 2)


@pytest.mark.backends
def test_a_key_added_after_a_run_was_recorded_reads_as_its_default_in_filters_columns_and_compare(backend):
    """A run recorded before model.activation existed trained with tanh3: every command says so."""
    store = open_store()
    old = new_run(store, load_config("quick", overrides=TINY), preset="quick")
    new_run(store, load_config("quick", overrides=[*TINY, 'model.activation="relu"']), preset="quick")
    with store.write() as s:  # the config as an earlier release wrote it: no activation key
        row = s.get(type(old), old.id)
        raw = json.loads(row.config_json)
        del raw["model"]["activation"]
        row.config_json = json.dumps(raw)
    listed = lambda *where: [r["id"] for r in json.loads(invoke("list", *where, "--format", "json").output)]  # noqa: E731
    assert listed("--where", "model.activation=tanh3") == [old.id]
    assert listed("--where", "model.activation!=tanh3") == [old.id + 1]
    assert listed("--where", "activation=tanh3") == [old.id]
    assert listed("--sort", "model.activation") == [old.id + 1, old.id]  # relu < tanh3
    table = invoke("list", "--columns", "id,activation")
    assert table.exit_code == 0 and "tanh3" in table.output, table.output
    compared = invoke("compare", old.id, old.id + 1)
    assert compared.exit_code == 0 and "tanh3" in compared.output and "relu" in compared.output


# --- hangs, tracebacks, unclear errors -----------------------------------------------------------------


@pytest.mark.slow
def test_diagnose_and_plot_from_python_take_any_whole_number_as_a_run_id(isolated_db, tmp_path):
    assert invoke("train", "-p", "quick", *SETS).exit_code == 0
    code = (
        "import numpy, mftctl\n"
        "print(mftctl.diagnose(numpy.int64(1))['run'], mftctl.diagnose('1')['run'])\n"
        f"print(len(mftctl.plot([numpy.int32(1)], out={str(tmp_path / 'figs')!r})) > 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "1", "True"]


@pytest.mark.parametrize("bad", [1.5, True, None, "one", [1]])
def test_a_run_id_that_is_no_whole_number_is_one_line_at_once(isolated_db, bad):
    with pytest.raises(MftctlError, match="is not a whole number"):
        mftctl.diagnose(bad)


def test_python_arguments_of_the_wrong_kind_are_refused_not_misread(isolated_db):
    with pytest.raises(MftctlError, match="epoch '2' is not a whole number"):
        mftctl.diagnose(1, epoch="2")
    with pytest.raises(MftctlError, match="recompute 'no' is not True or False"):
        mftctl.diagnose(1, recompute="no")


@pytest.mark.slow
def test_plot_from_python_into_a_folder_that_cannot_be_made_is_an_mftctl_error(isolated_db, tmp_path):
    assert invoke("train", "-p", "quick", *SETS).exit_code == 0
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for out in (blocker / "sub", tmp_path / "missing" / "\0bad"):
        with pytest.raises(MftctlError):
            mftctl.plot(1, out=out)
    with pytest.raises(MftctlError, match="run 1 is given twice"):
        mftctl.plot([1, 1])


# --- minor ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"objective": "--test_loss"}, 'one "-" maximises'),
        ({"params": {"model.hidden_size": {"dist": "int", "low": 0.2, "high": 0.8}}}, "must be whole numbers"),
        ({"params": {"training.learning_rate": {"dist": "uniform", "low": True, "high": 0.1}}}, "low must be a number"),
    ],
)
def test_search_tables_that_would_be_misread_are_refused(table, message):
    space = {"params": {"training.learning_rate": {"dist": "uniform", "low": 0.01, "high": 0.1}}}
    with pytest.raises(MftctlError, match=message):
        parse_search({"trials": 2} | space | table)


@pytest.mark.parametrize(
    ("where", "message"),
    [("test_loss<abc", "test_loss is a number"), ("status=complete", "did you mean completed?")],
)
def test_a_where_that_can_never_match_is_refused(isolated_db, where, message):
    one_line_refusal(invoke("list", "--where", where), message)


def test_a_bidi_override_in_a_name_never_reaches_the_terminal(isolated_db):
    store = open_store(isolated_db)
    new_run(store, load_config("quick", overrides=TINY), preset="quick", name="evil\u202etxt.exe")
    for args in (("list",), ("show", "1")):
        result = invoke(*args)
        assert result.exit_code == 0 and "\u202e" not in result.output and "evil" in result.output


def test_stability_refuses_clouds_of_the_wrong_shape_and_reports_of_nan():
    rng = np.random.default_rng(0)
    cloud = rng.normal(0, 0.01, (2_000, 2))
    report = mftctl.measure_blobs(cloud).as_dict()
    with pytest.raises(MftctlError, match=r"\(N, 2\)"):
        mftctl.measure_stability([report, report], [cloud, np.zeros((100, 3))])
    spoiled = json.loads(json.dumps(report))
    spoiled["blobs"][0]["mass"] = float("nan")
    with pytest.raises(MftctlError, match="finite"):
        mftctl.measure_stability([report, spoiled])
    with pytest.raises(ValueError):  # still a ValueError, as before
        mftctl.measure_stability([report])


@pytest.mark.slow
def test_row_sign_is_refused_when_the_children_are_given_an_activation_that_is_not_odd(isolated_db):
    assert invoke("train", "-p", "quick", *SETS).exit_code == 0
    result = invoke("stage2", 1, "--sampler", "row-sign", "--set", 'model.activation="square"')
    one_line_refusal(result, "children's is square")
    assert reads.children(open_store(isolated_db), 1) == []
