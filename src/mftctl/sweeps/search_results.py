"""What a search found: its trials in order with their values, the best trial (or, for two objectives,
the Pareto front), and how much each searched parameter mattered. Read from the store alone; `sweep
show`, its JSON and the search figures read these."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..search.space import SearchSpec, parse_search
from ..search.study import build_study, require_optuna, trial_records
from ..store import reads
from ..store.engine import Store
from ..store.tables import Sweep


@dataclass
class TrialRow:
    number: int
    state: str  # running | completed | pruned | failed
    params: dict[str, Any]
    values: list[float] | None  # per objective (completed trials)
    runs: list[int]
    statuses: list[str]
    pruned_at: int | None = None  # the epoch a pruned trial was stopped after
    pruned_value: float | None = None  # its first objective's value there
    imputed: bool = False  # an objective had no value and was given the worst seen (study.py)
    best: bool = False  # the best trial, or on the Pareto front


@dataclass
class SearchResults:
    trials_asked: int  # the file's trials = N
    sampler: str
    pruner: str
    objectives: list[str]  # as the file wrote them: "-separation" is maximised
    trials: list[TrialRow] = field(default_factory=list)
    best: list[int] = field(default_factory=list)  # trial numbers: one, or the Pareto front
    # How much of the (first) objective's variation each parameter explains (Optuna's fANOVA); None with
    # fewer than two finished trials of distinct values.
    importances: dict[str, float] | None = None

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for trial in self.trials:
            counts[trial.state] = counts.get(trial.state, 0) + 1
        return counts

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"counts": self.counts}


def search_of(sweep: Sweep) -> SearchSpec | None:
    table = sweep.meta.get("search")
    return parse_search(table) if table else None


def search_results(store: Store, sweep: Sweep) -> SearchResults | None:
    """The results of a [search] sweep; None for any other sweep."""
    search = search_of(sweep)
    if search is None:
        return None
    records = trial_records(search, reads.sweep_runs(store, sweep.id), seeds=sweep.meta.get("seeds"))
    results = SearchResults(
        trials_asked=search.trials,
        sampler=search.sampler,
        pruner=search.pruner,
        objectives=[o.shown for o in search.objectives],
    )
    for record in records:
        pruned_at = max(record.intermediate) if record.state == "pruned" and record.intermediate else None
        results.trials.append(
            TrialRow(
                number=record.number,
                state=record.state,
                params=record.params,
                values=record.values,
                runs=record.run_ids,
                statuses=record.statuses,
                pruned_at=pruned_at,
                pruned_value=record.intermediate[pruned_at] if pruned_at is not None else None,
                imputed=record.missing,
            )
        )
    if not any(r.state == "completed" for r in records):
        return results
    study = build_study(search, records)
    by_index = dict(enumerate(records))  # the rebuilt study's trials are the records, in order
    best = study.best_trials if search.multi else [study.best_trial]
    results.best = sorted(by_index[t.number].number for t in best)
    for row in results.trials:
        row.best = row.number in results.best
    results.importances = _importances(study, search)
    return results


def _importances(study: Any, search: SearchSpec) -> dict[str, float] | None:
    optuna = require_optuna()
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    if len(complete) < 2 or len(search.params) < 1:
        return None
    try:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
        target = (lambda t: t.values[0]) if search.multi else None
        found = optuna.importance.get_param_importances(study, evaluator=evaluator, target=target)
    except (RuntimeError, ValueError, ZeroDivisionError):  # one distinct value of every parameter, and such
        return None
    return {key: float(value) for key, value in found.items()}


def export_study(store: Store, sweep: Sweep, path: Path) -> str:
    """The search as an Optuna study in an SQLite file of Optuna's own schema, for optuna-dashboard and
    Optuna's own plots; returns the storage URL. A copy made now: the store stays the record."""
    from ..errors import MftctlError, environment_message
    from ..search.prune import epoch_objective

    search = search_of(sweep)
    if search is None:
        raise MftctlError(f"sweep {sweep.id} is not a search (it has no [search] table); only searches have a study")
    if path.exists():
        raise MftctlError(f"{path} exists; give a new file (the study is written whole, never merged)")
    optuna = require_optuna()
    runs = reads.sweep_runs(store, sweep.id)
    values = epoch_objective(store, search, [r.id for r in runs])
    study = build_study(search, trial_records(search, runs, values, seeds=sweep.meta.get("seeds")))
    # Written first to a file of a plain name in a folder of mftctl's own, then copied to the path asked
    # for: a path is never pasted into a database URL, where `?`, `#` and `%` would be read as URL syntax
    # and the study written into some other file; and a failed write leaves nothing at the path.
    with tempfile.TemporaryDirectory(prefix="mftctl-study-") as folder:
        scratch = Path(folder) / "study.db"
        made = False
        try:
            optuna.copy_study(
                from_study_name=study.study_name,
                from_storage=study._storage,
                to_storage=f"sqlite:///{scratch}",
                to_study_name=sweep.name,
            )
            with open(path, "xb") as out, open(scratch, "rb") as src:  # x: never over a file made meanwhile
                made = True
                shutil.copyfileobj(src, out)
        except FileExistsError:
            raise MftctlError(f"{path} exists; give a new file (the study is written whole, never merged)") from None
        except Exception as exc:  # an unwritable folder, a full disk: one line, and no half-made file left
            if made:
                path.unlink(missing_ok=True)
            reason = environment_message(exc) or str(exc).splitlines()[0]
            raise MftctlError(f"cannot write the study to {path}: {reason}") from None
    return f"sqlite:///{quote(str(path.resolve()))}"
