"""Real worker subprocesses: a worker killed with SIGKILL shows as crashed; Ctrl-C in the parent
marks the run killed."""

import json
import os
import signal
import subprocess
import sys

from conftest import TINY
from helpers import wait_for
from mftctl.store import open_store

LONG = [*TINY, "training.epochs=500", "training.enable_diagnostics=false", "training.checkpoint_every=0"]


def mftctl(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "mftctl", *args], text=True, **kwargs)


def sets(values):
    return [arg for s in values for arg in ("--set", s)]


def test_sigkilled_worker_shows_as_crashed(isolated_db):
    proc = mftctl("train", "--preset", "quick", *sets(LONG), "--detach", stdout=subprocess.PIPE)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0
    store = open_store(isolated_db)
    run = wait_for(lambda: (r := store.get_run(1)).epochs_done >= 1 and r)
    assert run.status == "running" and run.pid
    os.kill(run.pid, signal.SIGKILL)
    # The killed process may linger a moment (or as a zombie); list must see through both.
    wait_for(
        lambda: (
            json.loads(
                subprocess.run(
                    [sys.executable, "-m", "mftctl", "list", "--format", "json"], capture_output=True, text=True
                ).stdout
            )[0]["status"]
            == "crashed"
        )
    )
    crashed = store.get_run(1)
    assert crashed.status == "crashed" and crashed.epochs_done >= 1
    assert len(store.epochs(1)) == crashed.epochs_done


def test_ctrl_c_in_the_parent_marks_the_run_killed(isolated_db):
    proc = mftctl("train", "--preset", "quick", *sets(LONG), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    store = open_store(isolated_db)
    wait_for(lambda: store.count_runs() and store.get_run(1).epochs_done >= 1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130
    assert "marked killed" in err
    run = store.get_run(1)
    assert run.status == "killed" and "stopped by the user" in run.error
    assert run.finished_at is not None


def test_ctrl_c_in_a_sweep_kills_running_cells_and_leaves_the_rest_queued(isolated_db, tmp_path):
    sets = "\n".join(f'"{k}" = {v}' for k, v in dict(s.split("=") for s in LONG).items())
    sweep = tmp_path / "long.toml"
    sweep.write_text(f'name = "long"\nbase = "quick"\n[set]\n{sets}\n[grid]\nseed = [1, 2, 3]\n')
    proc = mftctl("sweep", str(sweep), "--jobs", "1", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    store = open_store(isolated_db)
    wait_for(lambda: store.count_runs() == 3 and store.get_run(1).epochs_done >= 1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130 and "--resume 1" in err
    assert [store.get_run(i).status for i in (1, 2, 3)] == ["killed", "queued", "queued"]
    dry = subprocess.run(
        [sys.executable, "-m", "mftctl", "sweep", str(sweep), "--dry-run"], capture_output=True, text=True, check=True
    ).stdout
    assert "3 cells, 3 to run" in dry
