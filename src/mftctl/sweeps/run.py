"""`mftctl sweep FILE`: a sweep file checked, planned against the store, and run on the local pool or
submitted to Slurm. The CLI parses its options, calls these, and renders what they return."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from ..devices import default_jobs
from ..errors import MftctlError
from ..runs.pool import PoolResult
from ..store import open_settled
from ..store.engine import Store
from ..store.tables import Sweep
from ..terminal import safe
from .file import SweepSpec, load_sweep
from .plan import CellPlan, SweepTarget, check_cells, find_target, materialise, plan_sweep


@dataclass
class SweepOrder:
    """A sweep checked and planned, nothing written yet (what `--dry-run` shows)."""

    store: Store
    target: SweepTarget
    plans: list[CellPlan]

    @property
    def spec(self) -> SweepSpec:
        return self.target.spec


@dataclass
class SweepOutcome:
    sweep: Sweep
    to_run: list[int]
    skipped: int
    result: PoolResult | None = None  # None: nothing ran here (all done, or submitted to Slurm)
    slurm_job: str | None = None


def plan_run(
    db: str | None,
    file: Path | None,
    resume: int | None,
    *,
    name: str | None,
    max_cells: int,
    retry_failed: bool,
    slurm: bool,
) -> SweepOrder:
    """Every refusal before anything is written: the file, Slurm's availability, the cells' configs."""
    if (file is None) == (resume is None):
        raise MftctlError("give a sweep FILE or --resume SWEEP_ID (one of them)")
    # A bad file is refused before the database opens.
    spec = load_sweep(file, name=name, max_cells=max_cells) if file is not None else None
    if spec is not None and spec.search is not None:
        from ..search.study import require_optuna

        require_optuna()
    if slurm:
        from .slurm import check_can_submit

        check_can_submit(db, spec)
    store = open_settled(db, create=True)
    target = find_target(store, spec, file, resume)
    check_cells(target.spec)
    return SweepOrder(store, target, plan_sweep(store, target, retry_failed=retry_failed))


def run_local(order: SweepOrder, jobs: int | None, console: Console) -> SweepOutcome:
    """The cells to run, on a pool of `jobs` persistent workers (default: one per core or GPU)."""
    from ..runs.pool import run_pool

    sweep, to_run = materialise(order.store, order.target, order.plans)
    spec = order.spec
    skipped = len(order.plans) - len(to_run)
    if spec.search is not None:
        return _search_local(order, sweep, to_run, skipped, jobs, console)
    n_jobs = jobs or default_jobs(len(to_run), spec.cells[0].config.device if spec.cells else "cpu")
    console.print(
        f"sweep [bold]{sweep.id}[/] {safe(spec.name)}: {len(to_run)} to run on {n_jobs} worker(s), "
        f"{skipped} skipped (done or not retried)"
    )
    result = run_pool(order.store, to_run, jobs=n_jobs, console=console, label=f"sweep {sweep.id}") if to_run else None
    return SweepOutcome(sweep, to_run, skipped, result)


def _search_local(
    order: SweepOrder, sweep: Sweep, to_run: list[int], skipped: int, jobs: int | None, console: Console
) -> SweepOutcome:
    """A search on the local pool: its interrupted trials first, then each free worker's next trial claimed
    from the store as it frees up (never a batch: a trial is asked for knowing every trial so far)."""
    from ..runs.pool import run_pool
    from .search import claim_trial, restore_missing_seeds, trials_left

    spec = order.spec
    search = spec.search
    assert search is not None  # only a [search] sweep comes here
    to_run = to_run + restore_missing_seeds(order.store, sweep.id, spec)
    left = trials_left(order.store, sweep.id, spec)
    per_trial = len(spec.seeds or [None])
    expected = len(to_run) + left * per_trial
    n_jobs = jobs or default_jobs(expected, spec.sample_config.device)
    console.print(
        f"search [bold]{sweep.id}[/] {safe(spec.name)}: {search.trials} trials "
        f"({search.sampler}, {', '.join(o.shown for o in search.objectives)}), {left} to claim and "
        f"{len(to_run)} to take up, on {n_jobs} worker(s)"
    )
    result = None
    if expected:
        result = run_pool(
            order.store,
            to_run,
            jobs=n_jobs,
            console=console,
            label=f"search {sweep.id}",
            more=lambda: claim_trial(order.store, sweep.id, spec),
            expected=expected,
        )
    return SweepOutcome(sweep, to_run, skipped, result)


def submit(order: SweepOrder, jobs: int | None, wait: bool, console: Console) -> SweepOutcome:
    """The cells to run as one Slurm job array (at most `jobs` at once); followed to the end if wait."""
    from .slurm import follow_sweep, submit_sweep

    sweep, to_run = materialise(order.store, order.target, order.plans)
    outcome = SweepOutcome(sweep, to_run, len(order.plans) - len(to_run))
    if order.spec.search is not None:
        return _search_slurm(order, outcome, jobs, wait, console)
    if not to_run:
        return outcome
    outcome.slurm_job = submit_sweep(order.store, sweep, to_run, order.spec.slurm, parallelism=jobs)
    console.print(
        f"sweep [bold]{sweep.id}[/] {safe(order.spec.name)}: {len(to_run)} cell(s) submitted as Slurm job "
        f"{safe(outcome.slurm_job)}; follow with `mftctl sweep show {sweep.id}`"
    )
    if wait:
        follow_sweep(order.store, sweep.id, to_run, console)
    return outcome


def _search_slurm(
    order: SweepOrder, outcome: SweepOutcome, jobs: int | None, wait: bool, console: Console
) -> SweepOutcome:
    """A search on Slurm: `jobs` array tasks (default 4), each claiming trials from the shared store until
    the search has them all; the interrupted trials are taken up by the tasks first."""
    from .search import follow_search, restore_missing_seeds, submit_search, trials_left

    spec = order.spec
    outcome.to_run += restore_missing_seeds(order.store, outcome.sweep.id, spec)  # queued: the tasks take them up
    left = trials_left(order.store, outcome.sweep.id, spec)
    work = left + len(outcome.to_run)
    if not work:
        return outcome
    tasks = min(jobs or 4, work)
    outcome.slurm_job = submit_search(order.store, outcome.sweep, spec, tasks=tasks)
    console.print(
        f"search [bold]{outcome.sweep.id}[/] {safe(spec.name)}: {tasks} Slurm array task(s) in job "
        f"{safe(outcome.slurm_job)} share its {left} trial(s) still to claim; follow with "
        f"`mftctl sweep show {outcome.sweep.id}`"
    )
    if wait:
        follow_search(order.store, outcome.sweep.id, spec, console)
    return outcome
