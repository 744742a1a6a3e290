"""Adaptive search ([search] sweep files, Optuna): trials are ordinary runs of the sweep, claimed one at a
time from the store (SQLite and PostgreSQL), pruned on their epochs, resumed after a SIGKILL, shared by two
searching processes and by Slurm array tasks, with every bad file refused in one line before a row."""

import json
import os
import signal
import subprocess
import sys

import pytest

from helpers import TINY, invoke, mftctl_without, one_line_refusal, run_mftctl, set_table, wait_for
from mftctl.status import RunStatus
from mftctl.store import open_store, reads

SPACE = """
[search.params]
"training.learning_rate" = { dist = "loguniform", low = 1e-3, high = 1e-1 }
"model.encoder_initialization_scale" = { dist = "uniform", low = 0.005, high = 0.05 }
"""


def search_file(tmp_path, name="s", *, search="trials = 12", overrides=(), space=SPACE, top=""):
    path = tmp_path / f"{name}.toml"
    path.write_text(
        f'name = "{name}"\nbase = "quick"\nseeds = [0]\n{top}\n[set]\n{set_table(*TINY, *overrides)}\n'
        f"[search]\n{search}\n{space}"
    )
    return path


def trials_of(store, sweep_id=1):
    runs = reads.sweep_runs(store, sweep_id)
    return sorted(r.extra["trial"] for r in runs), runs


def shown(sweep_id=1):
    result = run_mftctl("sweep", "show", str(sweep_id), "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.backends
def test_a_12_trial_search_on_two_workers_makes_12_runs_and_names_the_best(backend, tmp_path):
    result = run_mftctl("sweep", search_file(tmp_path, search="trials = 12\nstartup_trials = 4"), "--jobs", "2")
    assert result.returncode == 0, result.stderr
    store = open_store(backend)
    numbers, runs = trials_of(store)
    assert numbers == list(range(12))  # twelve trials, each number once
    assert len(runs) == 12 and {r.status for r in runs} == {RunStatus.completed}
    assert all(r.name == f"s-t{r.extra['trial']}" for r in runs)
    # Each trial's config is its sampled point over the fixed [set] values.
    for run in runs:
        params = run.extra["search"]["params"]
        assert run.config["training"]["learning_rate"] == params["training.learning_rate"]
        assert run.config["model"]["hidden_size"] == 16
    search = shown()["search"]
    losses = {t["number"]: t["values"][0] for t in search["trials"]}
    assert search["best"] == [min(losses, key=losses.get)]  # the best is the lowest test loss
    assert set(search["importances"]) == {"training.learning_rate", "model.encoder_initialization_scale"}
    table = invoke("sweep", "show", "1")
    assert "best trial ★: trial" in table.output and "12 of 12 trials (12 completed)" in table.output
    assert {t["state"] for t in search["trials"]} == {"completed"}  # the runs' word, not Optuna's `complete`
    assert invoke("sweep", "show", "s").output == table.output  # a sweep by its name
    # A trial's lineage reads as its sampled values, never the sampler's JSON state.
    trial = invoke("show", runs[0].id).output
    assert "lr " in trial and "system_attrs" not in trial and "{" not in trial.split("lineage")[1].split("epochs")[0]
    listed = invoke("list", "--where", "sweep=1", "--format", "json")
    assert len(json.loads(listed.output)) == 12  # trials are rows of `mftctl list` like any run
    assert "12 trials (search)" in invoke("sweep", "list").output
    again = run_mftctl("sweep", search_file(tmp_path, search="trials = 12\nstartup_trials = 4"))
    assert again.returncode == 0 and "0 to claim" in again.stdout  # the same file again: nothing more to do
    assert len(reads.sweep_runs(store, 1)) == 12


def test_a_median_pruner_prunes_lagging_trials_which_keep_their_epochs(tmp_path):
    path = search_file(
        tmp_path,
        search='trials = 8\npruner = "median"\nstartup_trials = 2',
        overrides=("training.epochs=8",),
    )
    assert run_mftctl("sweep", path, "--jobs", "1").returncode == 0
    store = open_store()
    numbers, runs = trials_of(store)
    assert numbers == list(range(8))
    pruned = [r for r in runs if r.status == RunStatus.pruned]
    assert pruned, [(r.status, r.epochs_done) for r in runs]
    for run in pruned:
        assert 1 <= run.epochs_done < 8  # stopped early, its epochs so far kept
        assert [e.epoch for e in reads.epochs(store, run.id)] == list(range(1, run.epochs_done + 1))
        assert run.error.startswith(f"pruned at epoch {run.epochs_done} by the median pruner")
    summary = shown()
    assert summary["success_rate"] == 1.0  # pruned is a finished status, not a failure
    states = {t["number"]: t for t in summary["search"]["trials"]}
    assert all(states[r.extra["trial"]]["state"] == "pruned" for r in pruned)
    assert all(states[r.extra["trial"]]["pruned_at"] == r.epochs_done for r in pruned)
    listed = json.loads(invoke("list", "--where", "status=pruned", "--format", "json").output)
    assert sorted(r["id"] for r in listed) == sorted(r.id for r in pruned)
    assert invoke("show", pruned[0].id).exit_code == 0
    assert invoke("plot", "--sweep", 1).exit_code == 0
    assert (store.runs_dir / "sweep-1" / "search.png").stat().st_size > 0
    # The same trials as an Optuna study of Optuna's own schema (what optuna-dashboard opens).
    import optuna

    assert invoke("sweep", "export-study", 1, tmp_path / "study.db").exit_code == 0
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'study.db'}")
    ours = {"complete": "completed", "fail": "failed"}  # Optuna's words -> the runs' (what sweep show prints)
    assert [ours.get(t.state.name.lower(), t.state.name.lower()) for t in study.trials] == [
        states[n]["state"] for n in range(8)
    ]
    assert study.best_trial.number in summary["search"]["best"]
    assert all(study.trials[r.extra["trial"]].intermediate_values for r in pruned)
    one_line_refusal(invoke("sweep", "export-study", 1, tmp_path / "study.db"), "exists; give a new file")


def test_a_killed_search_resumes_to_exactly_its_trials_with_none_left_running(tmp_path):
    path = search_file(tmp_path, search="trials = 5\nstartup_trials = 2", overrides=("training.epochs=40",))
    proc = subprocess.Popen(
        [sys.executable, "-m", "mftctl", "sweep", str(path), "--jobs", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    store = open_store()
    # Mid-way: two trials training, each past a checkpoint.
    wait_for(lambda: len([r for r in reads.sweep_runs(store, 1) if r.epochs_done >= 3]) >= 2)
    os.killpg(proc.pid, signal.SIGKILL)  # the searching process and its workers, without a word
    proc.wait()
    interrupted = [r.id for r in reads.sweep_runs(store, 1) if r.status == RunStatus.running]
    assert interrupted  # left `running` by the kill
    result = run_mftctl("sweep", "--resume", "1", "--jobs", "2")
    assert result.returncode == 0, result.stderr
    numbers, runs = trials_of(store)
    assert numbers == list(range(5))  # exactly five trials, none twice
    assert {r.status for r in runs} == {RunStatus.completed}  # and none left running
    for run_id in interrupted:  # taken up from their last checkpoint, not started over, not told failed
        run = reads.get_run(store, run_id)
        assert run.extra["resume_from_epoch"] >= 1
        assert [e.epoch for e in reads.epochs(store, run_id)] == list(range(1, 41))
    assert len(shown()["search"]["trials"]) == 5


def test_two_searching_processes_on_one_postgres_study_make_its_trials_once(postgres_url, tmp_path):
    path = search_file(tmp_path, search="trials = 8\nstartup_trials = 3", overrides=("training.epochs=30",))
    first = subprocess.Popen([sys.executable, "-m", "mftctl", "sweep", str(path), "--jobs", "1"], text=True)
    store = open_store(postgres_url)
    wait_for(lambda: reads.sweep_runs(store, 1) if reads.sweeps(store) else None)
    second = subprocess.Popen([sys.executable, "-m", "mftctl", "sweep", str(path), "--jobs", "1"], text=True)
    assert first.wait(timeout=600) == 0 and second.wait(timeout=600) == 0
    numbers, runs = trials_of(store)
    assert numbers == list(range(8))  # eight trials between them, not sixteen, no number twice
    assert len(reads.sweeps(store)) == 1
    assert {r.status for r in runs} == {RunStatus.completed}
    assert len({r.pid for r in runs}) >= 2  # both processes' workers trained some


def test_two_objectives_give_a_pareto_front_of_undominated_trials(tmp_path):
    path = search_file(
        tmp_path,
        search='trials = 8\nsampler = "nsga2"\nstartup_trials = 4\nobjective = ["test_loss", "-silhouette"]',
        overrides=("training.epochs=4",),
    )
    assert run_mftctl("sweep", path, "--jobs", "2").returncode == 0
    search = shown()["search"]
    assert search["objectives"] == ["test_loss", "-silhouette"]
    done = {t["number"]: t["values"] for t in search["trials"] if t["values"]}
    front = search["best"]
    assert front and set(front) <= set(done)

    def dominates(a, b):  # lower loss and higher silhouette
        return a[0] <= b[0] and a[1] >= b[1] and a != b

    for number in front:  # nothing beats a front trial on both objectives
        assert not any(dominates(v, done[number]) for v in done.values())
    for number in set(done) - set(front):  # and every other trial is beaten by one on the front
        assert any(dominates(done[f], done[number]) for f in front)
    assert "Pareto front ★" in invoke("sweep", "show", "1").output
    assert invoke("plot", "--sweep", 1).exit_code == 0


@pytest.mark.parametrize(
    "search, message",
    [
        ('trials = 4\nsampler = "bayes"', "search.sampler 'bayes' is not one of tpe"),
        ('trials = 4\npruner = "hyperband"', "search.pruner 'hyperband' is not one of"),
        ('trials = 4\nobjective = "accuracy"', "search.objective 'accuracy' is not a summary column"),
        ("trials = 0", "search.trials must be an integer of at least 1"),
        ('trials = 4\nobjective = ["test_loss", "-separation"]\npruner = "median"', "with two objectives"),
        ('trials = 4\npruner = "median"\nobjective = "formed_epoch"', "has none"),
        ("trials = 4\nlearning_rate = 2", "unknown [search] key(s) learning_rate"),
    ],
)
def test_a_bad_search_table_is_one_line_and_writes_nothing(isolated_db, tmp_path, search, message):
    one_line_refusal(invoke("sweep", search_file(tmp_path, search=search)), message)
    assert not isolated_db.exists()


@pytest.mark.parametrize(
    "space, top, message",
    [
        ('[search.params]\n"training.learning_rate" = { dist = "loguniform", low = 0, high = 1 }', "", "0 < low"),
        ('[search.params]\n"training.learning_rate" = { dist = "gauss", low = 0, high = 1 }', "", "needs dist"),
        ('[search.params]\n"training.batch_size" = { dist = "int", low = 1, high = 99999999 }', "", "batch_size"),
        ("", "", "search.params is empty"),
        (SPACE + '\n[grid]\n"training.epochs" = [1, 2]', "", "[search] cannot be combined with [grid]"),
        (SPACE, 'reference = { "training.epochs" = 2 }', "cannot be combined with [reference]"),
    ],
)
def test_a_bad_search_space_is_one_line_and_writes_nothing(isolated_db, tmp_path, space, top, message):
    one_line_refusal(invoke("sweep", search_file(tmp_path, space=space, top=top)), message)
    assert not isolated_db.exists()


def test_a_search_without_optuna_names_the_extra_and_writes_nothing(isolated_db, tmp_path):
    done = mftctl_without("optuna", "sweep", search_file(tmp_path, search="trials = 2"))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "pip install 'mftctl[search]'" in done.stderr
    assert not isolated_db.exists()


def test_the_dry_run_shows_the_space_and_writes_nothing(isolated_db, tmp_path):
    result = invoke("sweep", search_file(tmp_path, search="trials = 3"), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "3 trials, sampler tpe" in result.output and "loguniform" in result.output
    assert "3 still to claim" in result.output
    assert not isolated_db.exists() or reads.count_runs(open_store()) == 0


@pytest.mark.slurm
def test_a_search_on_slurm_shares_its_trials_among_array_tasks(slurm, postgres_url, tmp_path):
    path = search_file(
        tmp_path,
        search="trials = 4\nstartup_trials = 2",
        top="",
        overrides=('device="cpu"',),
    )
    path.write_text(path.read_text() + "\n[slurm]\ntime = 20\ncpus_per_task = 1\n")
    result = run_mftctl("sweep", path, "--executor", "slurm", "--jobs", "2", "--wait", timeout=900)
    assert result.returncode == 0, result.stderr
    assert "2 Slurm array task(s)" in result.stdout
    store = open_store(postgres_url)
    numbers, runs = trials_of(store)
    assert numbers == list(range(4)) and {r.status for r in runs} == {RunStatus.completed}
    assert shown()["search"]["best"]


def test_each_trial_runs_once_per_seed_and_its_value_is_their_mean(tmp_path):
    path = search_file(tmp_path, search='trials = 2\nobjective = "best_test_loss"', top="seeds = [0, 1]")
    path.write_text(path.read_text().replace("seeds = [0]\n", "", 1))
    assert run_mftctl("sweep", path, "--jobs", "2").returncode == 0
    store = open_store()
    numbers, runs = trials_of(store)
    assert numbers == [0, 0, 1, 1]
    for trial in shown()["search"]["trials"]:
        members = [r for r in runs if r.extra["trial"] == trial["number"]]
        assert sorted(r.seed for r in members) == [0, 1]
        assert {r.name for r in members} == {f"s-t{trial['number']}-s0", f"s-t{trial['number']}-s1"}
        assert trial["values"][0] == pytest.approx(sum(r.best_test_loss for r in members) / 2)


def test_the_asha_pruner_prunes_by_rungs(tmp_path):
    path = search_file(tmp_path, search='trials = 6\npruner = "asha"', overrides=("training.epochs=8",))
    assert run_mftctl("sweep", path, "--jobs", "1").returncode == 0
    runs = reads.sweep_runs(open_store(), 1)
    pruned = [r for r in runs if r.status == RunStatus.pruned]
    assert pruned and all("by the asha pruner" in r.error for r in pruned)
    # ASHA's rung values, noted by the pruner on the trials, are kept with them for the next study.
    assert any(k.startswith("completed_rung") for r in runs for k in r.extra["search"]["system_attrs"])


def test_a_point_already_tried_is_asked_for_again_until_the_space_is_exhausted():
    """Unit level (no training): on a three-point space every sampler's first three trials are the three
    points, for each of eight search seeds (without the re-asks, 15 of these 24 searches repeat a point
    within three trials); the fourth, with every point tried, is accepted as a repeat."""
    from types import SimpleNamespace

    from mftctl.search.space import parse_search
    from mftctl.search.study import ask, trial_records

    for sampler in ("tpe", "random", "nsga2"):
        for seed in range(8):
            choice = {"dist": "choice", "values": [250, 500, 1000]}
            search = parse_search(
                {"trials": 4, "sampler": sampler, "seed": seed, "params": {"training.batch_size": choice}}
            )
            runs = []
            for number in range(4):
                params, attrs = ask(search, trial_records(search, runs))
                extra = {"trial": number, "search": {"params": params, "system_attrs": attrs}}
                runs.append(SimpleNamespace(id=number, extra=extra, status="completed", last_test_loss=float(number)))
            points = [r.extra["search"]["params"]["training.batch_size"] for r in runs]
            assert sorted(points[:3]) == [250, 500, 1000], (sampler, seed, points)
            assert points[3] in (250, 500, 1000)


@pytest.mark.slow
@pytest.mark.parametrize("pruner", ["asha", "median"])
def test_no_trial_is_pruned_within_its_warmup_epochs(tmp_path, pruner):
    """warmup_epochs = 3: epochs 1 to 3 of every trial are never pruned, by either pruner (ASHA once pruned
    at epoch 1, the median pruner at epoch 3 itself)."""
    path = search_file(
        tmp_path,
        search=f'trials = 5\npruner = "{pruner}"\nwarmup_epochs = 3\nstartup_trials = 1',
        overrides=("training.epochs=5",),
    )
    assert run_mftctl("sweep", path, "--jobs", "1").returncode == 0
    runs = reads.sweep_runs(open_store(), 1)
    stopped_at = [r.extra["search"]["pruned_at"][0] for r in runs if r.status == RunStatus.pruned]
    assert all(epoch > 3 for epoch in stopped_at), stopped_at
