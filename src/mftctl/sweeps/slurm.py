"""Sweep cells on a Slurm cluster, as one job array submitted through submitit.

Each array task runs `SlurmCell(run_id)`: the ordinary worker subprocess on one queued cell, writing to the
shared PostgreSQL store. Preemption and time limits: submitit asks Slurm for SIGUSR2 before the limit
(and a preempting admin or `scancel --signal=USR2` sends it too); the worker records `killed` after its last
checkpoint, submitit calls `SlurmCell.checkpoint` and requeues the task, and the requeued task resumes the
run from that checkpoint. A cell lost without warning (SIGKILL, a dead node) is `crashed` once its heartbeat
is stale; the requeued task, or the sweep run again, takes it up from its last checkpoint.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import ConfigError, MftctlError
from ..status import FINISHED, RESUMABLE, RunStatus
from ..store.location import resolve_location

# The [slurm] table of a sweep file: key -> (submitit's SlurmExecutor parameter, type, meaning).
SLURM_KEYS: dict[str, tuple[str, type, str]] = {
    "partition": ("partition", str, "the partition (queue) the cells run in"),
    "time": ("time", int, "time limit per cell, in minutes"),
    "cpus_per_task": ("cpus_per_task", int, "CPU cores per cell"),
    "gpus_per_node": ("gpus_per_node", int, "GPUs per cell"),
    "mem_gb": ("mem", int, "memory per cell, GiB"),
    "array_parallelism": ("array_parallelism", int, "cells running at once (`--jobs` overrides)"),
    "job_name": ("job_name", str, "the Slurm job name (default mftctl-SWEEP)"),
    "setup": ("setup", list, "shell lines run before each cell, e.g. ['module load cuda']"),
    "additional": ("additional_parameters", dict, "further #SBATCH options, e.g. { account = 'lab', qos = 'low' }"),
}
FOLLOW_POLL_S = 2.0
STOP_GRACE_S = 60


def slurm_parameters(table: dict[str, Any], *, parallelism: int | None = None) -> dict[str, Any]:
    """The [slurm] table as SlurmExecutor.update_parameters() keywords, checked key by key."""
    unknown = sorted(set(table) - set(SLURM_KEYS))
    if unknown:
        raise ConfigError(f"unknown [slurm] key(s) {', '.join(unknown)}; valid: {', '.join(SLURM_KEYS)}")
    params: dict[str, Any] = {"signal_delay_s": 120}  # SIGUSR2 two minutes before the time limit
    for key, value in table.items():
        name, kind, _ = SLURM_KEYS[key]
        assert isinstance(kind, type)
        if not isinstance(value, kind) or isinstance(value, bool) or (isinstance(value, int) and value < 1):
            raise ConfigError(f"slurm.{key} must be {'a positive integer' if kind is int else kind.__name__}")
        params[name] = value
    if "mem" in params:
        params["mem"] = f"{params['mem']}G"
    if parallelism is not None:
        params["array_parallelism"] = parallelism
    return params


def check_can_submit(db: str | None, spec: Any) -> None:
    """Refuse before any row is written: an SQLite store, submitit or Slurm missing, an unknown partition."""
    location = resolve_location(db)
    if location.is_sqlite:
        raise MftctlError(
            f"--executor slurm needs a store every compute node can reach; {location.shown} is an SQLite file "
            "(unsafe on a network filesystem). Use a PostgreSQL store: --db postgresql://user@host/db"
        )
    try:
        import submitit  # noqa: F401
    except ImportError:
        raise MftctlError("--executor slurm needs submitit; install it with `pip install 'mftctl[slurm]'`") from None
    if shutil.which("sbatch") is None:
        raise MftctlError("--executor slurm: Slurm is not installed here (no `sbatch` on PATH); run on a login node")
    if spec is not None:
        slurm_parameters(spec.slurm)
        partition = spec.slurm.get("partition")
        if partition is not None:
            known = subprocess.run(["sinfo", "-h", "-o", "%R"], capture_output=True, text=True, timeout=60)
            names = known.stdout.split()
            if known.returncode == 0 and partition not in names:
                raise MftctlError(
                    f"slurm.partition {partition!r} is not a partition of this cluster; it has {', '.join(names)}"
                )


def _log_folder(store: Any, sweep_id: int) -> Path:
    return store.runs_dir / "slurm" / f"sweep-{sweep_id}"


class SlurmCell:
    """One array task: run (or resume) one cell's worker; on SIGUSR2 stop it and ask to be requeued.

    A submitit Checkpointable by duck typing (it has `checkpoint`), so that importing this module does not
    need submitit."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None

    def __call__(self, run_id: int) -> str:
        from ..runs.resume import queue_resume
        from ..store import layout, open_store, reads
        from ..store.liveness import reconcile

        store = open_store(create=False, migrate=False)
        reconcile(store)  # a previous attempt of this task on this node, killed hard: its run is crashed
        run = reads.get_run(store, run_id)
        if run.status in RESUMABLE:  # preempted, timed out or lost: continue from its last checkpoint
            queue_resume(store, run_id)
        elif run.status != RunStatus.queued:  # completed, or another worker has it
            return run.status
        # The worker stops on SIGUSR2 (Slurm's warning) as on SIGTERM, recording why; its log is the run's.
        with open(layout.ensure_run_dir(store, run_id) / "worker.log", "ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "mftctl", "worker", str(run_id)],
                env=dict(os.environ, PYTHONUNBUFFERED="1"),
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        self._wait(None)
        status = reads.get_run(store, run_id).status
        store.close()
        return status

    def checkpoint(self, run_id: int):
        """Preempted or out of time: the worker stops after recording `killed` (its checkpoints are kept),
        and the task is submitted again with the same run."""
        from submitit.helpers import DelayedSubmission

        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGUSR2)  # it may have had Slurm's signal already: stopping is idempotent
            if not self._wait(STOP_GRACE_S):
                self._proc.kill()
        return DelayedSubmission(SlurmCell(), run_id)

    def _wait(self, timeout_s: float | None) -> bool:
        """Whether the worker ended within timeout_s. Polled, not Popen.wait(): submitit's signal handler
        runs inside this loop and waits for the same process, and Popen.wait holds a lock it would need."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        proc = self._proc
        if proc is None:  # never started: nothing to wait for
            return True
        while proc.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.2)
        return True


def submit_sweep(
    store: Any,
    sweep: Any,
    run_ids: list[int],
    table: dict[str, Any],
    *,
    parallelism: int | None = None,
) -> str:
    """Submit the queued cells as one job array; record its id on the sweep; return it."""
    import submitit

    from ..store import writes

    params = slurm_parameters(table, parallelism=parallelism)
    params.setdefault("job_name", f"mftctl-{sweep.id}")
    params.setdefault("time", 60)
    executor = submitit.SlurmExecutor(folder=_log_folder(store, sweep.id) / "%j", max_num_timeout=3)
    executor.update_parameters(**params)
    try:
        jobs = executor.map_array(SlurmCell(), run_ids)
    except Exception as exc:  # sbatch refused: say why, and leave no cell waiting for a job that does not exist
        lines = str(exc).splitlines() or [type(exc).__name__]
        reason = next((line for line in lines if "error" in line.lower()), lines[0]).strip()
        for run_id in run_ids:
            writes.finish_run(store, run_id, RunStatus.failed, f"sbatch refused the job array: {reason}")
        raise MftctlError(f"sbatch refused the job array: {reason}") from None
    job_id = jobs[0].job_id.split("_")[0]
    previous = sweep.meta.get("slurm_jobs", [])
    writes.update_sweep_meta(store, sweep.id, slurm_jobs=[*previous, job_id])
    return job_id


def follow_sweep(store: Any, sweep_id: int, run_ids: list[int], console: Any) -> None:
    """Poll the store until every submitted cell has finished, with a progress bar of finished cells."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..store import reads

    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task(f"sweep {sweep_id} on Slurm", total=len(run_ids))
        while True:
            runs = reads.runs_by_id(store, run_ids)
            done = sum(r.status in FINISHED for r in runs)
            running = sum(r.status == RunStatus.running for r in runs)
            progress.update(task, completed=done, description=f"sweep {sweep_id} on Slurm: {running} running")
            if done == len(run_ids):
                return
            time.sleep(FOLLOW_POLL_S)
