"""Real worker subprocesses: a worker killed with SIGKILL shows as crashed; Ctrl-C in the parent
marks the run killed."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from helpers import LONG, TINY, gone, run_mftctl, serving_workers, set_args, set_table, start_mftctl, wait_for
from mftctl.store import layout, open_store, reads

LONG_BARE = [*LONG, "training.checkpoint_every=0"]


@pytest.mark.backends
def test_sigkilled_worker_shows_as_crashed(backend):
    proc = start_mftctl("train", "--preset", "quick", *set_args(*LONG_BARE), "--detach", stdout=subprocess.PIPE)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0
    store = open_store(backend)
    run = wait_for(lambda: (r := reads.get_run(store, 1)).epochs_done >= 1 and r)
    assert run.status == "running" and run.pid
    os.kill(run.pid, signal.SIGKILL)
    # The killed process may linger a moment (or as a zombie); list must see through both.
    wait_for(lambda: json.loads(run_mftctl("list", "--format", "json").stdout)[0]["status"] == "crashed")
    crashed = reads.get_run(store, 1)
    assert crashed.status == "crashed" and crashed.epochs_done >= 1
    assert len(reads.epochs(store, 1)) == crashed.epochs_done


@pytest.mark.backends
def test_ctrl_c_in_the_parent_marks_the_run_killed(backend):
    proc = start_mftctl(
        "train", "--preset", "quick", *set_args(*LONG_BARE), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    store = open_store(backend)
    wait_for(lambda: reads.count_runs(store) and reads.get_run(store, 1).epochs_done >= 1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130
    assert "marked killed" in err
    run = reads.get_run(store, 1)
    assert run.status == "killed" and "stopped by the user" in run.error
    assert run.finished_at is not None


def test_a_burst_of_stop_signals_still_records_killed(isolated_db):
    """Slurm's SIGUSR2 reaches the worker twice (directly and through submitit's handler); Ctrl-C reaches it
    from the terminal and from its parent. Thousands of stops, from the first at any point of an epoch (a
    database write, a library's cleanup) to well after: the run is recorded `killed`, once, without a
    traceback. Raising from the signal handler failed this about once in a hundred tries (the worker died
    with its run `running`, or trained on to `completed`)."""
    proc = start_mftctl("train", "--preset", "quick", *set_args(*LONG_BARE), "--detach", stdout=subprocess.PIPE)
    proc.communicate(timeout=300)
    store = open_store(isolated_db)
    run = wait_for(lambda: (r := reads.get_run(store, 1)).epochs_done >= 1 and r)
    deadline = time.monotonic() + 2.0
    try:
        while time.monotonic() < deadline:  # as fast as signals can be sent, from the first to well after
            os.kill(run.pid, signal.SIGUSR2)
    except ProcessLookupError:
        pass
    wait_for(lambda: gone(run.pid))
    stopped = reads.get_run(store, 1)
    assert stopped.status == "killed" and "stopped by Slurm" in stopped.error
    assert "Traceback" not in (layout.run_dir(store, 1) / "worker.log").read_text()


@pytest.fixture
def stop_handlers_restored():
    """_run_one installs the worker's stop handler in this (the test's) process: put pytest's back after."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR2)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.mark.backends
def test_a_stop_during_a_database_write_lets_the_write_land_and_stops_at_the_next_step(
    store, tiny_config, monkeypatch, stop_handlers_restored
):
    """Two SIGUSR2s arrive while epoch 2 is being written: epoch 2 is recorded whole, no step of epoch 3 runs,
    and the run ends `killed` with Slurm's reason (the handler used to raise inside the write)."""
    from mftctl.runs import worker
    from mftctl.runs.lifecycle import new_run
    from mftctl.store import writes

    six_epochs = tiny_config.training.model_copy(update={"epochs": 6})
    run = new_run(store, tiny_config.model_copy(update={"training": six_epochs}))
    real_record_epoch = writes.record_epoch
    steps_after = []

    def record_epoch_under_a_stop(store_, run_id, values, diagnostics):
        if values["epoch"] == 2:
            os.kill(os.getpid(), signal.SIGUSR2)
            os.kill(os.getpid(), signal.SIGUSR2)
        real_record_epoch(store_, run_id, values, diagnostics)

    real_on_step = worker.StoreSink.on_step

    def on_step(self, epoch, step, steps, loss):
        real_on_step(self, epoch, step, steps, loss)
        if epoch > 2:
            steps_after.append((epoch, step))

    monkeypatch.setattr(writes, "record_epoch", record_epoch_under_a_stop)
    monkeypatch.setattr(worker.StoreSink, "on_step", on_step)
    monkeypatch.setattr(worker, "emit", lambda event: None)
    assert worker._run_one(store, run.id) == "killed"
    stopped = reads.get_run(store, run.id)
    assert stopped.status == "killed" and stopped.error == worker.PREEMPTED
    assert [e.epoch for e in reads.epochs(store, run.id)] == [1, 2] and stopped.epochs_done == 2
    assert steps_after == []


@pytest.mark.backends
def test_ctrl_c_in_a_sweep_kills_running_cells_and_leaves_the_rest_queued(backend, tmp_path):
    sets = set_table(*LONG_BARE)
    sweep = tmp_path / "long.toml"
    sweep.write_text(f'name = "long"\nbase = "quick"\n[set]\n{sets}\n[grid]\nseed = [1, 2, 3]\n')
    proc = start_mftctl("sweep", str(sweep), "--jobs", "1", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    store = open_store(backend)
    wait_for(lambda: reads.count_runs(store) == 3 and reads.get_run(store, 1).epochs_done >= 1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130 and "--resume 1" in err
    assert [reads.get_run(store, i).status for i in (1, 2, 3)] == ["killed", "queued", "queued"]
    dry = run_mftctl("sweep", sweep, "--dry-run", check=True).stdout
    assert "3 cells, 3 to run" in dry


def test_the_heartbeat_thread_touches_the_run_until_stopped_and_survives_a_lost_database(store, monkeypatch):
    import threading

    from helpers import add_run
    from mftctl.runs import worker
    from mftctl.store import writes

    run = add_run(store, status="queued")
    writes.mark_running(store, run.id, pid=os.getpid(), device="cpu")
    first = reads.get_run(store, run.id).heartbeat_at
    monkeypatch.setattr(worker, "HEARTBEAT_S", 0.05)
    stop = threading.Event()
    thread = threading.Thread(target=worker._heartbeat, args=(store, run.id, stop), daemon=True)
    thread.start()
    wait_for(lambda: reads.get_run(store, run.id).heartbeat_at > first)
    failed = []

    def failing_beat(*_):
        failed.append(1)
        raise OSError("disk gone")

    monkeypatch.setattr(worker.writes, "heartbeat", failing_beat)
    wait_for(lambda: len(failed) >= 3)  # several beats fail: the thread must live on and keep beating
    assert thread.is_alive()
    beats = len(failed)
    wait_for(lambda: len(failed) > beats)
    stop.set()
    thread.join(timeout=60)
    assert not thread.is_alive()


def test_stop_escalates_to_sigkill_when_the_worker_ignores_sigint(store):
    from helpers import add_run
    from mftctl.runs.launch import stop_worker
    from mftctl.store import writes

    ignore = (
        "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); print('ready', flush=True); time.sleep(600)"
    )
    stubborn = subprocess.Popen([sys.executable, "-c", ignore], stdout=subprocess.PIPE, text=True)
    run = add_run(store, status="queued")
    writes.mark_running(store, run.id, pid=stubborn.pid, device="cpu")
    assert stubborn.stdout.readline().strip() == "ready"  # its handler is installed
    stop_worker(stubborn, store, run.id, grace_s=1)
    assert stubborn.returncode == -signal.SIGKILL
    stopped = reads.get_run(store, run.id)
    assert stopped.status == "killed" and "stopped by the user" in stopped.error


def test_resume_detached_continues_in_the_background(isolated_db):
    from helpers import SETS, invoke
    from mftctl.store import Run, writes

    first = invoke(
        "train", "--preset", "quick", *SETS, "--set", "training.epochs=4", "--set", "training.keep_checkpoints=0"
    )
    assert first.exit_code == 0
    store = open_store(isolated_db)
    writes.prepare_resume(store, 1, 2)  # as if it had been stopped after epoch 2: later epochs and files gone
    with store.write() as s:
        s.get(Run, 1).status = "killed"
    result = invoke("train", "--resume", 1, "--detach")
    assert result.exit_code == 0 and "resumes after epoch 2" in result.output
    done = wait_for(lambda: (r := reads.get_run(store, 1)).status == "completed" and r)
    assert done.extra["resume_from_epoch"] == 2
    assert [e.epoch for e in reads.epochs(store, 1)] == [1, 2, 3, 4]


def test_the_early_worker_keeps_what_it_said_before_its_run(isolated_db):
    """`train` starts its worker before the run's row exists; what that worker prints before the run
    begins (here: every import's timing, as PYTHONPROFILEIMPORTTIME makes Python print) heads worker.log."""
    done = run_mftctl("train", "--preset", "quick", *set_args(*TINY), env=dict(os.environ, PYTHONPROFILEIMPORTTIME="1"))
    assert done.returncode == 0, done.stderr[-2000:]
    log = (layout.run_dir(open_store(isolated_db), 1) / "worker.log").read_text()
    assert log.startswith("import time:") and "| torch\n" in log
    assert log.index("| torch\n") < log.index("run 1: started by worker")


def test_a_refused_store_ends_the_early_worker(isolated_db):
    """The worker starts before the store is opened; when opening is refused (a newer schema) it must go."""
    import sqlite3

    con = sqlite3.connect(isolated_db)
    con.execute("CREATE TABLE mftctl_migrations (name VARCHAR PRIMARY KEY, applied_at DATETIME)")
    con.execute("INSERT INTO mftctl_migrations VALUES ('999_future', '2030-01-01')")
    con.commit()
    con.close()
    done = run_mftctl("train", "--preset", "quick", *set_args(*TINY))
    assert done.returncode == 1 and "newer mftctl" in done.stderr and "Traceback" not in done.stderr
    assert not serving_workers(str(isolated_db))
