"""A search's runs as an Optuna study, rebuilt in memory from the store each time it is needed.

A trial is the runs of one trial number (one per seed); its state follows theirs:

    queued, running              -> RUNNING   (constant liar: the sampler does not pile trials on it)
    completed                    -> COMPLETE  (the objective: the mean over its seeds' runs)
    pruned                       -> PRUNED    (with its per-epoch values; TPE reads the last)
    failed, crashed, killed      -> FAIL      (a resumed one becomes RUNNING again, then COMPLETE)

Optuna's own storage is not used: the runs are already the record, and a second one would drift from
it (a trial left RUNNING by a killed process, a run deleted with `mftctl rm`). What the sampler and the
pruner write about a trial (NSGA-II's generation, ASHA's rungs) is kept in the trial's runs and given back
to each rebuilt study, which is all their state.
"""

from __future__ import annotations

import json
import math
import statistics
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..errors import MftctlError
from .space import Objective, SearchSpec

INSTALL = "pip install 'mftctl[search]'"
# Optuna's defaults where they suit a search of a few dozen whole training runs (its own are tuned for
# thousands of cheap trials: NSGA-II's population of 50 would leave a 24-trial search random).
DEFAULT_STARTUP = 10
DEFAULT_POPULATION = 8


def require_optuna() -> Any:
    """optuna, quiet (its INFO line per trial and experimental warnings would break the progress display),
    or a one-line error naming the install."""
    try:
        import optuna
    except ImportError:
        raise MftctlError(
            f"a [search] sweep needs optuna, which is not installed; install it with `{INSTALL}`"
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


@dataclass
class TrialRecord:
    """One trial as the store holds it."""

    number: int
    params: dict[str, Any]
    run_ids: list[int]
    statuses: list[str]
    state: str  # running | completed | pruned | failed: the runs' own words (Optuna's are _STATES')
    values: list[float] | None = None  # per objective; None unless completed
    intermediate: dict[int, float] = field(default_factory=dict)  # epoch -> the first objective's value
    system_attrs: dict[str, Any] = field(default_factory=dict)
    missing: bool = False  # completed, but an objective had no value (blobs that never formed): imputed
    started: datetime | None = None  # its first run's start, its last run's end (the export's timeline)
    finished: datetime | None = None


def _state(statuses: list[str]) -> str:
    if any(s in ("queued", "running") for s in statuses):
        return "running"
    if any(s in ("failed", "crashed", "killed") for s in statuses):
        return "failed"
    if any(s == "pruned" for s in statuses):
        return "pruned"
    return "completed"


def _mean(values: list[float | None]) -> float | None:
    present = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return statistics.fmean(present) if len(present) == len(values) and present else None


def trial_records(
    search: SearchSpec,
    runs: list[Any],
    epoch_values: dict[int, dict[int, float]] | None = None,
    *,
    seeds: int | None = None,
) -> list[TrialRecord]:
    """The trials of a search from its runs (tables.Run rows or anything with their fields), in trial
    order; `epoch_values` {run id: {epoch: the first objective's epoch value}} gives the intermediate
    values (pruning, and the PRUNED trials the sampler reads). `seeds`: the runs each trial has when whole
    (the sweep's meta records it; default: the most any trial has)."""
    groups: dict[int, list[Any]] = {}
    for run in runs:
        trial = run.extra.get("trial")
        if trial is not None:
            groups.setdefault(int(trial), []).append(run)
    # Every trial runs the same seeds; one with fewer runs than the fullest lost a seed's run (`mftctl rm`)
    # and waits for `sweep --resume` to train it again: its value is not the remaining seeds' mean.
    full = max([seeds or 0, *(len(g) for g in groups.values())])
    records = []
    for number in sorted(groups):
        members = groups[number]
        extra = members[0].extra
        attrs: dict[str, Any] = {}
        for run in members:
            attrs |= run.extra.get("search", {}).get("system_attrs", {})
        statuses = [run.status for run in members]
        record = TrialRecord(
            number=number,
            params=extra.get("search", {}).get("params", {}),
            run_ids=[run.id for run in members],
            statuses=statuses,
            state=_state(statuses) if len(members) == full else "running",
            system_attrs=attrs,
            started=min((r.started_at for r in members if getattr(r, "started_at", None)), default=None),
            finished=max((r.finished_at for r in members if getattr(r, "finished_at", None)), default=None),
        )
        if epoch_values is None:  # the value each pruned run was stopped at, which it keeps
            for run in members:
                last = run.extra.get("search", {}).get("pruned_at")
                if last is not None:
                    record.intermediate[int(last[0])] = float(last[1])
        else:
            epochs = sorted({e for run in members for e in epoch_values.get(run.id, {})})
            for epoch in epochs:
                value = _mean([epoch_values.get(run.id, {}).get(epoch) for run in members])
                if value is not None:
                    record.intermediate[epoch] = value
        if record.state == "completed":
            record.values = [_mean([getattr(r, o.run_column) for r in members]) for o in search.objectives]
        records.append(record)
    _impute(search.objectives, records)
    return records


def _impute(objectives: list[Objective], records: list[TrialRecord]) -> None:
    """A completed trial whose objective has no value (a separation where one blob formed, a formation
    epoch that never came) is given a value strictly worse than every value seen: it is a bad point, not
    an unknown one, and it must never tie with a real value (were every real trial's blobs formed at
    epoch 3, "never formed" imputed as 3 could be named best). With no value seen at all it fails."""
    for index, objective in enumerate(objectives):
        seen = [r.values[index] for r in records if r.values and r.values[index] is not None]
        worst = None
        if seen:
            spread = max(seen) - min(seen)
            margin = max(spread, 0.1 * abs(max(seen, key=abs)), 1e-9)  # past the worst by one spread at least
            worst = min(seen) - margin if objective.maximise else max(seen) + margin
        for record in records:
            if record.values and record.values[index] is None:
                record.missing = True
                if worst is None:
                    record.state, record.values = "failed", None
                else:
                    record.values[index] = worst


def distributions(search: SearchSpec) -> dict[str, Any]:
    optuna = require_optuna()
    d = optuna.distributions
    built = {}
    for key, spec in search.params.items():
        if spec["dist"] == "choice":
            built[key] = d.CategoricalDistribution(spec["values"])
        elif spec["dist"] == "int":
            built[key] = d.IntDistribution(spec["low"], spec["high"])
        else:
            built[key] = d.FloatDistribution(spec["low"], spec["high"], log=spec["dist"] == "loguniform")
    return built


def sampler_seed(search: SearchSpec, number: int, attempt: int = 0) -> int:
    """Each ask gets its own seed (the same seed for every ask of a rebuilt study would draw the same
    point each time), fixed by the search's seed, the trial's number and the re-ask (see ask)."""
    import numpy as np

    entropy = [search.seed & 0xFFFFFFFF, number] + ([attempt] if attempt else [])
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def make_sampler(search: SearchSpec, number: int, attempt: int = 0) -> Any:
    optuna = require_optuna()
    seed = sampler_seed(search, number, attempt)
    startup = search.startup_trials
    if search.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if search.sampler == "nsga2":
        population = max(2, startup or DEFAULT_POPULATION)
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=population)
    if search.sampler == "gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=DEFAULT_STARTUP if startup is None else startup)
    return optuna.samplers.TPESampler(
        seed=seed, constant_liar=True, n_startup_trials=DEFAULT_STARTUP if startup is None else startup
    )


def make_pruner(search: SearchSpec) -> Any:
    optuna = require_optuna()
    if search.pruner == "median":
        startup = 5 if search.startup_trials is None else search.startup_trials
        return optuna.pruners.MedianPruner(n_startup_trials=startup, n_warmup_steps=search.warmup_epochs)
    if search.pruner == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(min_early_stopping_rate=0, bootstrap_count=0)
    return optuna.pruners.NopPruner()


_STATES = {"running": "RUNNING", "completed": "COMPLETE", "pruned": "PRUNED", "failed": "FAIL"}


def build_study(search: SearchSpec, records: list[TrialRecord], *, number: int | None = None, attempt: int = 0) -> Any:
    """An in-memory study holding the records, with the sampler for trial `number` (default: the next)."""
    optuna = require_optuna()
    dists = distributions(search)
    number = (max((r.number for r in records), default=-1) + 1) if number is None else number
    study = optuna.create_study(
        directions=[o.direction for o in search.objectives],
        sampler=make_sampler(search, number, attempt),
        pruner=make_pruner(search),
    )
    State = optuna.trial.TrialState
    for record in records:
        state = State[_STATES[record.state]]
        intermediate = dict(record.intermediate)
        if state == State.PRUNED and not intermediate:
            state = State.FAIL  # pruned before any epoch was measured: nothing to learn from
        trial = optuna.trial.create_trial(
            state=state,
            params={k: v for k, v in record.params.items() if k in dists},
            distributions={k: dists[k] for k in record.params if k in dists},
            values=record.values if state == State.COMPLETE else None,
            intermediate_values=intermediate,
            system_attrs=record.system_attrs,
            # Optuna numbers its trials 0, 1, ... as added: after `mftctl rm` of a whole trial the numbers
            # shift, so each carries mftctl's own number and its runs (what an exported study shows).
            user_attrs={"mftctl_trial": record.number, "run_ids": record.run_ids},
        )
        # The runs' real times, not the moment of this rebuild (optuna-dashboard's timeline reads them), as
        # Optuna keeps its own: naive local time.
        if record.started is not None:
            trial.datetime_start = _optuna_time(record.started)
            if state.is_finished() and record.finished is not None and record.finished >= record.started:
                trial.datetime_complete = _optuna_time(record.finished)
        study.add_trial(trial)
    return study


def _optuna_time(moment: datetime) -> datetime:
    return moment.astimezone().replace(tzinfo=None) if moment.tzinfo is not None else moment


# How many times a point already tried is asked for again before it is accepted (a small discrete
# space the search has exhausted): each re-ask rebuilds the study with another seed.
MAX_REASKS = 30


def _point(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True)


def ask(search: SearchSpec, records: list[TrialRecord]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The next trial's parameters and the sampler's notes on it (its system attributes). A point some
    trial already has is asked for again (the same config and seed would train to the same numbers, so
    training it twice teaches nothing), up to MAX_REASKS times."""
    tried = {_point(r.params) for r in records}
    dists = distributions(search)
    for attempt in range(MAX_REASKS + 1):
        study = build_study(search, records, attempt=attempt)
        trial = study.ask(dists)
        if _point(trial.params) not in tried:
            break
    frozen = study.get_trials(deepcopy=False)[trial.number]
    return dict(trial.params), dict(frozen.system_attrs)
