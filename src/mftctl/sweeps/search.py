"""A [search] sweep on the parent's side: its next trial claimed from the store, its trials planned for a
resume, and its Slurm array tasks, each of which claims trials until the search has all it asked for.

A trial is claimed in one transaction under the sweep's lock (writes.claim_sweep_runs): the search's
runs are read, the study rebuilt from them and asked for a point, and the trial's runs (one per seed)
written, so that two searching processes, or thirty array tasks, never make more trials than the file
asks for and never two with one number.
"""

from __future__ import annotations

import json
import time
from typing import Any

from ..config import config_hash
from ..errors import ConfigError
from ..search.study import ask, trial_records
from ..status import ACTIVE, FINISHED, RunStatus
from ..store import layout, reads, writes
from ..store.engine import Store
from ..store.tables import Run
from .file import SweepSpec

FOLLOW_POLL_S = 2.0


def trial_numbers(runs: list[Run]) -> set[int]:
    return {int(r.extra["trial"]) for r in runs if r.extra.get("trial") is not None}


def _trial_runs(spec: SweepSpec, number: int, params: dict[str, Any], attrs: dict[str, Any]) -> list[dict]:
    """The new runs of trial `number` (one per seed), as claim_sweep_runs takes them."""
    seeds = spec.seeds or [None]
    rows = []
    for seed in seeds:
        values = params | ({"seed": seed} if seed is not None else {})
        row: dict[str, Any] = {
            "name": f"{spec.name}-t{number}" + (f"-s{seed}" if len(seeds) > 1 else ""),
            "preset": spec.base,
            "extra": {"cell": number, "values": values, "trial": number, "search": {"params": params}},
        }
        row["extra"]["search"]["system_attrs"] = attrs
        try:
            config = spec.trial_config(values)
        except ConfigError as exc:  # a point inside the space that the config refuses: the trial fails
            row |= {"config_json": json.dumps(spec.base_config), "config_hash": "", "seed": 0, "epochs_total": 0}
            row |= {"status": RunStatus.failed.value, "error": f"its config is invalid: {exc}"}
            row["extra"]["search"]["invalid"] = True
        else:
            row |= {
                "config_json": config.model_dump_json(),
                "config_hash": config_hash(config),
                "seed": config.seed,
                "epochs_total": config.training.epochs,
            }
        rows.append(row)
    return rows


def claim_trial(store: Store, sweep_id: int, spec: SweepSpec) -> list[int]:
    """The queued runs of the search's next trial, or [] when it has all its trials. A trial whose point
    the config refuses is recorded failed (the sampler learns to avoid it) and the next one is asked for."""
    search = spec.search
    assert search is not None
    while True:

        def decide(runs: list[Run]) -> list[dict[str, Any]]:
            numbers = trial_numbers(runs)
            if len(numbers) >= search.trials:
                return []
            params, attrs = ask(search, trial_records(search, runs, seeds=len(spec.seeds or [None])))
            return _trial_runs(spec, max(numbers, default=-1) + 1, params, attrs)

        created = writes.claim_sweep_runs(store, sweep_id, decide, tags=spec.tags)
        for run in created:
            layout.claim_run_dir(store, run.id)
        if not created:
            return []
        queued = [r.id for r in created if r.status == RunStatus.queued]
        if queued:
            return queued


def restore_missing_seeds(store: Store, sweep_id: int, spec: SweepSpec) -> list[int]:
    """Queued runs for the seeds a trial lost (`mftctl rm` of one seed's run): a trial's value is the mean
    over all its seeds, so a trial short of one is not finished until that seed is trained again."""
    seeds = spec.seeds or [None]
    if len(seeds) < 2:
        return []  # a one-seed trial that lost its run is a trial number with no runs: asked for again

    def decide(runs: list[Run]) -> list[dict[str, Any]]:
        by_trial: dict[int, list[Run]] = {}
        for run in runs:
            if run.extra.get("trial") is not None:
                by_trial.setdefault(int(run.extra["trial"]), []).append(run)
        rows = []
        for number, members in sorted(by_trial.items()):
            have = {r.seed for r in members}
            params = members[0].extra.get("search", {}).get("params", {})
            attrs = members[0].extra.get("search", {}).get("system_attrs", {})
            for row in _trial_runs(spec, number, params, attrs):
                if row["seed"] not in have and not row["extra"]["search"].get("invalid"):
                    rows.append(row)
        return rows

    created = writes.claim_sweep_runs(store, sweep_id, decide, tags=spec.tags)
    for run in created:
        layout.claim_run_dir(store, run.id)
    return [r.id for r in created]


def trials_left(store: Store, sweep_id: int | None, spec: SweepSpec) -> int:
    """How many trials the search has yet to claim."""
    assert spec.search is not None
    have = len(trial_numbers(reads.sweep_runs(store, sweep_id))) if sweep_id is not None else 0
    return max(0, spec.search.trials - have)


class SlurmSearchTask:
    """One array task of a search on Slurm: take up the search's interrupted trials, then claim new ones
    and run each (through SlurmCell, which resumes a run from its checkpoint), until the search has all
    its trials. Requeued on preemption like a cell."""

    def __init__(self) -> None:
        self._cell: Any = None

    def __call__(self, sweep_id: int) -> int:
        from ..store import open_store
        from ..store.liveness import reconcile
        from .file import stored_sweep
        from .slurm import SlurmCell

        store = open_store(create=False, migrate=False)
        reconcile(store)
        sweep = reads.get_sweep(store, sweep_id)
        spec = stored_sweep(
            sweep.file_text, name=sweep.name, file_path=sweep.file_path, base_config=sweep.meta.get("base_config")
        )
        ran, tried = 0, set()
        while True:
            # Trials interrupted (preempted, a node lost) or claimed by a task that has not started them yet;
            # each is tried once by this task, so a run that keeps dying cannot hold it forever.
            waiting = [
                r.id
                for r in reads.sweep_runs(store, sweep_id)
                if r.extra.get("trial") is not None
                and r.status in (RunStatus.queued, RunStatus.crashed, RunStatus.killed)
                and r.id not in tried
            ]
            run_ids = waiting[:1] or claim_trial(store, sweep_id, spec)
            if not run_ids:
                break
            for run_id in run_ids:
                tried.add(run_id)
                self._cell = SlurmCell()
                self._cell(run_id)
                ran += 1
        store.close()
        return ran

    def checkpoint(self, sweep_id: int):
        from submitit.helpers import DelayedSubmission

        if self._cell is not None and self._cell._proc is not None:
            self._cell.checkpoint(0)  # stops its worker (the run is recorded killed, resumable)
        return DelayedSubmission(SlurmSearchTask(), sweep_id)


def submit_search(store: Store, sweep: Any, spec: SweepSpec, *, tasks: int) -> str:
    """Submit `tasks` array tasks that share the search's trials; record the job on the sweep."""
    import submitit

    from .slurm import _log_folder, slurm_parameters

    params = slurm_parameters(spec.slurm)
    params.setdefault("job_name", f"mftctl-{sweep.id}")
    params.setdefault("time", 60)
    params["array_parallelism"] = tasks
    executor = submitit.SlurmExecutor(folder=_log_folder(store, sweep.id) / "%j", max_num_timeout=3)
    executor.update_parameters(**params)
    try:
        jobs = executor.map_array(SlurmSearchTask(), [sweep.id] * tasks)
    except Exception as exc:
        from ..errors import MftctlError

        lines = str(exc).splitlines() or [type(exc).__name__]
        reason = next((line for line in lines if "error" in line.lower()), lines[0]).strip()
        raise MftctlError(f"sbatch refused the job array: {reason}") from None
    job_id = jobs[0].job_id.split("_")[0]
    writes.update_sweep_meta(store, sweep.id, slurm_jobs=[*sweep.meta.get("slurm_jobs", []), job_id])
    return job_id


def follow_search(store: Store, sweep_id: int, spec: SweepSpec, console: Any) -> None:
    """Poll the store until the search has all its trials and none is active."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    assert spec.search is not None
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task(f"search {sweep_id} on Slurm", total=spec.search.trials)
        while True:
            runs = [r for r in reads.sweep_runs(store, sweep_id) if r.extra.get("trial") is not None]
            finished = {int(r.extra["trial"]) for r in runs if r.status in FINISHED}
            finished -= {int(r.extra["trial"]) for r in runs if r.status in ACTIVE}
            running = sum(r.status == RunStatus.running for r in runs)
            progress.update(task, completed=len(finished), description=f"search {sweep_id} on Slurm: {running} running")
            if len(finished) >= spec.search.trials:
                return
            time.sleep(FOLLOW_POLL_S)
