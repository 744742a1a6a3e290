"""The worker's question after each epoch of a search trial: does the search's pruner stop it here?

Asked in the worker, so that pruning works wherever trials run (the local pool, a Slurm array task):
the study is rebuilt from the store with every trial's per-epoch values, this trial RUNNING with its own,
and the pruner (Optuna's MedianPruner or SuccessiveHalvingPruner) decides. What the pruner notes on the
trial (ASHA's rung values) is written back to the run, so that the next epoch's rebuilt study, and the
other trials' pruners, see it.
"""

from __future__ import annotations

from typing import Any

from ..metrics import per_epoch
from ..store import reads, writes
from ..store.engine import Store
from ..store.tables import Run
from .space import SearchSpec, parse_search
from .study import build_study, trial_records


def epoch_objective(store: Store, search: SearchSpec, run_ids: list[int]) -> dict[int, dict[int, float]]:
    """{run id: {epoch: the first objective's value that epoch}} (the lowest test loss so far for
    best_test_loss)."""
    metric = search.objectives[0].metric
    running_min = metric.summary == "min"  # its value at an epoch: the lowest of its column so far
    values: dict[int, dict[int, float]] = {}
    if not per_epoch(metric) or metric.epoch_column is None:
        return values
    for run_id, epoch, value in reads.epoch_column(store, run_ids, metric.epoch_column):
        if value is None:
            continue
        per_run = values.setdefault(run_id, {})
        if running_min and per_run:
            value = min(value, per_run[max(per_run)])
        per_run[epoch] = float(value)
    return values


class TrialPruner:
    """For one run of a search trial: `check(epoch)` returns why it is pruned, or None."""

    def __init__(self, store: Store, run: Run, search: SearchSpec, seeds: int | None = None):
        self.store, self.run, self.search, self.seeds = store, run, search, seeds
        self.trial = int(run.extra["trial"])

    @classmethod
    def for_run(cls, store: Store, run: Run) -> TrialPruner | None:
        """The pruner of a search trial whose search prunes; None for any other run."""
        if run.sweep_id is None or run.extra.get("trial") is None:
            return None
        meta = reads.get_sweep(store, run.sweep_id).meta
        table = meta.get("search")
        if not table:
            return None
        search = parse_search(table)
        return cls(store, run, search, meta.get("seeds")) if search.pruner != "none" else None

    def check(self, epoch: int) -> str | None:
        # The warm-up is mftctl's promise, kept here rather than left to each pruner's own reading of it
        # (Optuna's median pruner may prune *at* its n_warmup_steps; ASHA has no warm-up at all).
        if epoch <= self.search.warmup_epochs:
            return None
        if self.run.sweep_id is None:  # for_run builds a pruner only for a search's trial
            return None
        runs = reads.sweep_runs(self.store, self.run.sweep_id)
        values = epoch_objective(self.store, self.search, [r.id for r in runs])
        records = trial_records(self.search, runs, values, seeds=self.seeds)
        study = build_study(self.search, records, number=self.trial)
        frozen = next(
            t for t, r in zip(study.get_trials(deepcopy=False), records, strict=True) if r.number == self.trial
        )
        before = dict(frozen.system_attrs)
        pruned = study.pruner.prune(study, study.get_trials(deepcopy=False)[frozen.number])
        after = dict(study.get_trials(deepcopy=False)[frozen.number].system_attrs)
        value = frozen.intermediate_values.get(epoch)
        kept = {"pruned_at": [epoch, value]} if pruned and value is not None else {}
        if after != before or kept:
            self._keep(system_attrs=after, **kept)
        if not pruned:
            return None
        objective = self.search.objectives[0]
        shown = f"{value:.4g}" if value is not None else "no value"
        return (
            f"pruned at epoch {epoch} by the {self.search.pruner} pruner: {objective.column} {shown} "
            f"lags the search's other trials at this epoch"
        )

    def _keep(self, **facts: Any) -> None:
        """Into the run's extra["search"]: the pruner's notes, and the value the trial was stopped at."""
        extra = reads.get_run(self.store, self.run.id).extra
        writes.update_run_extra(self.store, self.run.id, search=extra.get("search", {}) | facts)
