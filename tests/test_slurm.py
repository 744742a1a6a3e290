"""Sweep cells on a real single-node Slurm (scripts/slurm-single-node.sh) through submitit, against a real
PostgreSQL store. Without Slurm these are skipped, except under CI, where a missing Slurm fails them."""

import json
import subprocess
import time

import pytest

from helpers import invoke, mftctl_without, one_line_refusal, run_mftctl, wait_for
from mftctl.status import RunStatus
from mftctl.store import open_store, reads

LONG_EPOCHS = 200


def _sweep_file(tmp_path, name="four"):
    path = tmp_path / f"{name}.toml"
    path.write_text(
        f'name = "{name}"\nbase = "quick"\n'
        '[set]\ndevice = "cpu"\n"training.enable_diagnostics" = false\n'
        f'[zip]\nseed = [1, 2, 3, 4]\n"training.epochs" = [3, 3, 3, {LONG_EPOCHS}]\n'
        "[slurm]\ntime = 20\ncpus_per_task = 1\n"
    )
    return path


def _task_state(task: str) -> str:
    out = subprocess.run(["squeue", "-h", "-j", task, "-o", "%T"], capture_output=True, text=True, timeout=60)
    return out.stdout.strip()


@pytest.mark.slurm
def test_a_four_cell_array_with_a_preempted_cell_completes_each_cell_once(slurm, postgres_url, tmp_path):
    start = time.monotonic()
    submitted = run_mftctl("sweep", str(_sweep_file(tmp_path)), "--executor", "slurm")
    assert submitted.returncode == 0, submitted.stderr
    assert "submitted as Slurm job" in submitted.stdout
    store = open_store(postgres_url)
    sweep = reads.get_sweep(store, 1)
    (job,) = sweep.meta["slurm_jobs"]  # recorded on the sweep at submission
    assert job in submitted.stdout
    runs = {r.extra["cell"]: r.id for r in reads.sweep_runs(store, 1)}
    long_run = runs[3]

    # Preempt the long cell once it has a checkpoint: SIGUSR2, as Slurm sends before preemption/the limit.
    wait_for(lambda: reads.get_run(store, long_run).epochs_done >= 2 and reads.checkpoints(store, long_run))
    task = f"{job}_3"
    subprocess.run(["scancel", "--signal=USR2", task], check=True, timeout=60)
    killed = wait_for(lambda: (r := reads.get_run(store, long_run)).status != RunStatus.running and r)
    assert killed.status == RunStatus.killed and "stopped by Slurm" in killed.error
    stopped_at = killed.epochs_done
    # Requeued by submitit. Slurm holds a requeued job about two minutes before it may start again; it is
    # left to do so (starting it at once can race the old attempt's cleanup, which ends the job instead).
    wait_for(lambda: _task_state(task) == "PENDING")

    finished = wait_for(
        lambda: all(reads.get_run(store, i).status in (RunStatus.completed, RunStatus.failed) for i in runs.values()),
        timeout=900,
    )
    wall = time.monotonic() - start
    assert finished
    statuses = [reads.get_run(store, i).status for i in runs.values()]
    assert statuses == [RunStatus.completed] * 4
    resumed = reads.get_run(store, long_run)
    assert resumed.extra["resume_from_epoch"] >= 1 and resumed.extra["resume_from_epoch"] <= stopped_at
    assert [e.epoch for e in reads.epochs(store, long_run)] == list(range(1, LONG_EPOCHS + 1))  # each epoch once
    assert len(reads.sweep_runs(store, 1)) == 4  # no new rows: the same run continued
    shown = json.loads(run_mftctl("sweep", "show", "1", "--format", "json").stdout)
    assert shown["success_rate"] == 1.0
    print(f"\n4-cell Slurm array with one preempted cell: {wall:.1f} s wall")


@pytest.mark.slurm
def test_wait_follows_the_array_to_the_end(slurm, postgres_url, tmp_path):
    path = tmp_path / "two.toml"
    path.write_text(
        'name = "two"\nbase = "quick"\n[set]\ndevice = "cpu"\n"training.epochs" = 2\n' + "[grid]\nseed = [1, 2]\n"
    )
    result = invoke("sweep", path, "--executor", "slurm", "--wait")
    assert result.exit_code == 0, result.output
    assert "2 runs (2 completed); success rate 100%" in result.output
    again = invoke("sweep", path, "--executor", "slurm")
    assert "nothing to run" in again.output  # a finished sweep submits no empty array


def test_slurm_refuses_an_sqlite_store(isolated_db, tmp_path):
    one_line_refusal(
        invoke("sweep", _sweep_file(tmp_path), "--executor", "slurm"),
        "is an SQLite file",
        "postgresql://",
    )
    assert not isolated_db.exists()


def test_slurm_without_sbatch_is_one_line(postgres_url, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    one_line_refusal(invoke("sweep", _sweep_file(tmp_path), "--executor", "slurm"), "no `sbatch` on PATH")
    assert reads.count_runs(open_store(postgres_url)) == 0


def test_slurm_without_submitit_names_the_extra(postgres_url, tmp_path):
    done = mftctl_without("submitit", "sweep", _sweep_file(tmp_path), "--executor", "slurm")
    assert done.returncode == 1 and "pip install 'mftctl[slurm]'" in done.stderr and "Traceback" not in done.stderr
    assert reads.count_runs(open_store(postgres_url)) == 0


@pytest.mark.slurm
def test_an_unknown_partition_or_slurm_key_writes_nothing(slurm, postgres_url, tmp_path):
    path = _sweep_file(tmp_path)
    path.write_text(path.read_text().replace("time = 20", 'time = 20\npartition = "nosuch"'))
    one_line_refusal(invoke("sweep", path, "--executor", "slurm"), "'nosuch' is not a partition")
    path.write_text(path.read_text().replace('partition = "nosuch"', "gpus = 1"))
    one_line_refusal(invoke("sweep", path, "--executor", "slurm"), "unknown [slurm] key(s) gpus")
    assert reads.count_runs(open_store(postgres_url)) == 0
