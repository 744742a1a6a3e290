"""One thread policy for every process that computes (threads.py): the CPUs a process may really use —
its affinity, its cgroup's quota, Slurm's grant — or the count the user set; a brief spin before sleeping
at OpenMP's barriers unless the user chose a wait; each run's policy recorded; junk refused in one line
before anything is written. Speed under contention is measured by benchmarks/contention.py, not here."""

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from helpers import SETS, TINY, invoke, one_line_refusal, set_table
from mftctl import threads
from mftctl.config_input import load_config
from mftctl.runs.lifecycle import new_run
from mftctl.store import open_store, reads

MINE = f"GOMP_SPINCOUNT={threads.SPIN_TURNS} (mftctl)"


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any thread or wait setting, plus `extra`."""
    drop = ("MFTCTL_THREADS", "OMP_NUM_THREADS", "SLURM_CPUS_PER_TASK", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
    env = {k: v for k, v in os.environ.items() if k not in drop and k != "MFTCTL_SPIN"}
    return env | extra


def train(db: Path, env: dict[str, str], prefix: tuple[str, ...] = ()) -> dict:
    """One tiny `mftctl train` as its own process; the numerics its run recorded."""
    cmd = [*prefix, sys.executable, "-m", "mftctl", "train", "-p", "quick", *SETS, "--db", str(db)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    store = open_store(db)
    return reads.get_run(store, max(reads.run_ids(store))).extra["numerics"]


def usable() -> int:
    return threads.usable_cpus()[0]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("extra", "threads_count", "threads_from", "wait"),
    [
        ({}, None, "", MINE),
        ({"MFTCTL_THREADS": "3"}, 3, "MFTCTL_THREADS", MINE),
        ({"SLURM_CPUS_PER_TASK": "1"}, 1, "SLURM_CPUS_PER_TASK: 1 CPU", MINE),
        (
            {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"},
            1,
            "OMP_NUM_THREADS",
            "OMP_WAIT_POLICY=PASSIVE (yours)",
        ),
    ],
    ids=["default", "mftctl-threads", "slurm", "user-openmp"],
)
def test_each_run_records_its_threads_where_they_came_from_and_how_they_wait(
    isolated_db, extra, threads_count, threads_from, wait
):
    numerics = train(isolated_db, clean_env(**extra))
    assert numerics["threads_from"].startswith(threads_from or threads.usable_cpus()[1])
    if threads_count is not None:
        assert numerics["threads"] == threads_count
    elif numerics["threads"] != usable():  # the default share, cut where other work kept CPUs busy at start
        assert 1 <= numerics["threads"] < usable(), numerics
        assert "busy with other work at its start" in numerics["threads_from"], numerics
    # The wait reached the worker's environment before torch loaded (it is read there, not passed as data).
    assert numerics["wait_policy"] == wait
    assert numerics["device"] == "cpu" and "torch" in numerics


@pytest.mark.slow
def test_a_run_pinned_to_one_cpu_by_taskset_trains_on_one_thread(isolated_db):
    if shutil.which("taskset") is None:
        pytest.skip("taskset (util-linux) is not installed")
    numerics = train(isolated_db, clean_env(), prefix=("taskset", "-c", "0"))
    assert numerics["threads"] == 1 and numerics["threads_from"] == "affinity: 1 CPU"


def _cgroup_v1_cpu() -> Path | None:
    """A fresh cgroup (v1 cpu controller) this test may fill and move a process into, or None."""
    root = Path("/sys/fs/cgroup/cpu")
    if not (root / "cgroup.procs").exists() or not os.access(root, os.W_OK):
        return None
    folder = root / f"mftctl-test-{uuid.uuid4().hex[:8]}"
    try:
        folder.mkdir()
    except OSError:
        return None
    return folder


@pytest.mark.slow
def test_a_cgroup_cpu_quota_of_one_cpu_trains_on_one_thread(isolated_db):
    """A real cgroup with a quota of one CPU (as a container, a systemd slice or Slurm's cgroup plugin
    grants), the worker started inside it: it sees 2 CPUs in its affinity but may use one."""
    folder = _cgroup_v1_cpu()
    if folder is None:
        pytest.skip("cannot make a cgroup here (needs root and a writable cgroup v1 cpu controller)")
    try:
        (folder / "cpu.cfs_period_us").write_text("100000")
        (folder / "cpu.cfs_quota_us").write_text("100000")
        join = ("sh", "-c", f'echo $$ > {folder}/cgroup.procs && exec "$@"', "sh")
        numerics = train(isolated_db, clean_env(), prefix=join)
    finally:
        folder.rmdir()
    assert numerics["threads"] == 1 and numerics["threads_from"] == "cgroup quota: 1 CPU"


def test_cgroup_quotas_are_read_as_whole_cpus_and_the_tightest_level_wins(tmp_path):
    """The readers on cgroup files as the kernel writes them (v2 cpu.max, v1 cfs quota and period)."""
    top = tmp_path / "v2"
    child = top / "slice" / "job"
    child.mkdir(parents=True)
    (top / "cpu.max").write_text("max 100000\n")
    (top / "slice" / "cpu.max").write_text("150000 100000\n")  # 1.5 CPUs: every thread runs, throttled together
    (child / "cpu.max").write_text("max 100000\n")
    assert threads.cgroup_v2_cpus(child, top) == 2
    (child / "cpu.max").write_text("50000 100000\n")
    assert threads.cgroup_v2_cpus(child, top) == 1
    v1 = tmp_path / "v1"
    v1.mkdir()
    (v1 / "cpu.cfs_quota_us").write_text("-1\n")
    (v1 / "cpu.cfs_period_us").write_text("100000\n")
    assert threads.cgroup_v1_cpus(v1, v1) is None
    (v1 / "cpu.cfs_quota_us").write_text("400000\n")
    assert threads.cgroup_v1_cpus(v1, v1) == 4


@pytest.mark.parametrize("junk", ["abc", "0", "-1", "1.5", "1e2", "99999", ""])
@pytest.mark.parametrize("command", ["train", "sweep"])
def test_a_junk_thread_count_is_one_line_and_writes_nothing(isolated_db, tmp_path, monkeypatch, junk, command):
    if junk == "":
        monkeypatch.setenv("SLURM_CPUS_PER_TASK", "two")
        name = "SLURM_CPUS_PER_TASK"
    else:
        monkeypatch.setenv("MFTCTL_THREADS", junk)
        name = "MFTCTL_THREADS"
    if command == "train":
        result = invoke("train", "-p", "quick", *SETS)
    else:
        path = tmp_path / "s.toml"
        path.write_text(f'base = "quick"\n[set]\n{set_table(*TINY)}\n[grid]\nseed = [1, 2]\n')
        result = invoke("sweep", path)
    one_line_refusal(result, name, "unset it")
    assert not isolated_db.exists()


@pytest.mark.slow
def test_a_worker_handed_a_run_under_a_junk_setting_fails_it_with_the_reason(isolated_db):
    """A worker whose environment differs from its parent's (a Slurm node, a hand-started worker) records
    the refusal on the run it was handed: never a run left queued with no reason."""
    store = open_store(isolated_db)
    run = new_run(store, load_config("quick", overrides=TINY), preset="quick")
    env = clean_env(MFTCTL_THREADS="abc")
    done = subprocess.run([sys.executable, "-m", "mftctl", "worker", str(run.id)], env=env, capture_output=True)
    assert done.returncode == 1
    failed = reads.get_run(open_store(isolated_db), run.id)
    assert failed.status == "failed" and "MFTCTL_THREADS='abc'" in failed.error


@pytest.mark.slow
def test_a_pool_gives_each_worker_its_share_of_the_cpus(isolated_db, tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(f'base = "quick"\n[set]\n{set_table(*TINY)}\n[grid]\nseed = [1, 2]\n')
    done = subprocess.run(
        [sys.executable, "-m", "mftctl", "sweep", str(path), "--jobs", "2"], env=clean_env(), capture_output=True
    )
    assert done.returncode == 0, done.stderr
    cpus = usable()
    for run in reads.sweep_runs(open_store(isolated_db), 1):
        numerics = run.extra["numerics"]
        assert numerics["threads"] == max(1, cpus // 2)
        assert numerics["threads_from"].endswith("shared by 2 jobs")


def test_show_says_how_many_threads_a_run_used_and_why(isolated_db):
    store = open_store(isolated_db)
    run = new_run(store, load_config("quick", overrides=TINY), preset="quick")
    from mftctl.store import writes

    policy = {"threads": 1, "threads_from": "cgroup quota: 1 CPU", "wait_policy": MINE}
    numerics = policy | {"device": "cpu", "torch": "2.x"}
    writes.mark_running(store, run.id, pid=os.getpid(), device="cpu", numerics=numerics)
    shown = invoke("show", run.id)
    assert shown.exit_code == 0, shown.output
    line = next(line for line in shown.output.splitlines() if line.strip().startswith("threads"))
    assert "1 (cgroup quota: 1 CPU; wait GOMP_SPINCOUNT=1000 (mftctl)); torch 2.x" in line
    assert json.loads(invoke("show", run.id, "--format", "json").output)["extra"]["numerics"] == numerics


@pytest.mark.slow
def test_a_run_started_beside_cpu_bound_work_takes_the_cpus_left_and_says_why(isolated_db):
    if usable() < 2:
        pytest.skip("needs two usable CPUs to have any to give up")
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]
    try:
        numerics = train(isolated_db, clean_env())
    finally:
        for proc in burners:
            proc.kill()
            proc.wait()
    assert numerics["threads"] < usable()
    assert "busy with other work at its start" in numerics["threads_from"]


@pytest.mark.slow
def test_a_resumed_run_keeps_the_thread_count_it_started_with(isolated_db):
    """A run's numbers depend on its thread count: resumed under another setting (or another load), it
    goes on with the count it began with."""
    cmd = [sys.executable, "-m", "mftctl", "train", "-p", "quick", *SETS, "--set", "training.epochs=4"]
    env = clean_env(MFTCTL_THREADS="1", MFTCTL_FAULT="epoch-write:3")
    assert subprocess.run(cmd, env=env, capture_output=True).returncode != 0  # crashed at epoch 3
    resumed = subprocess.run(
        [sys.executable, "-m", "mftctl", "train", "--resume", "1"], env=clean_env(), capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    run = reads.get_run(open_store(isolated_db), 1)
    assert run.status == "completed" and run.extra["numerics"]["threads"] == 1
    assert run.extra["numerics"]["threads_from"] == "kept from the run's first start (MFTCTL_THREADS)"
