"""The [search] table of a sweep file, checked: what is searched, for what, how, and for how long.

    [search]
    trials = 24                      # how many trials the search runs in all (resuming continues to it)
    sampler = "tpe"                  # tpe (default) | random | nsga2 (for two objectives) | gp
    objective = "test_loss"          # a summary column; "-separation" maximises; two: ["test_loss", "-separation"]
    pruner = "none"                  # none (default) | median | asha: stops a trial whose epochs lag
    seed = 0                         # the sampler's seed
    startup_trials = 5               # trials drawn at random before the sampler models (and the pruner waits)
    warmup_epochs = 0                # epochs of every trial that are never pruned
    [search.params]                  # the same forms as [random.params]
    "training.learning_rate" = { dist = "loguniform", low = 1e-3, high = 1e-1 }
    "training.batch_size" = { dist = "choice", values = [500, 1000] }

Pure: no Optuna (a file is checked, and refused in one line, before it is imported), no store.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..config import canonical_keys
from ..errors import ConfigError
from ..metrics import Metric, named, per_epoch
from ..metrics import aliases as metric_aliases

DISTRIBUTIONS = ("uniform", "loguniform", "choice", "int")
SAMPLERS = ("tpe", "random", "nsga2", "gp")
PRUNERS = ("none", "median", "asha")
SEARCH_KEYS = ("trials", "sampler", "objective", "pruner", "seed", "startup_trials", "warmup_epochs", "params")
# More trials than this is a typo more often than a plan (each is a whole training run).
MAX_TRIALS = 10_000

# The summary columns a search may aim at, by their `mftctl list` names, and their other names: the metric
# registry's (metrics.py, `objective`).
OBJECTIVES: dict[str, Metric] = {m.name: m for m in named(objective=True)}
OBJECTIVE_ALIASES = {alias: name for alias, name in metric_aliases().items() if name in OBJECTIVES}


@dataclass(frozen=True)
class Objective:
    column: str  # a key of OBJECTIVES
    maximise: bool

    @property
    def direction(self) -> str:
        """Optuna's word for it."""
        return "maximize" if self.maximise else "minimize"

    @property
    def shown(self) -> str:
        """As the file writes it: `-separation` is maximised."""
        return ("-" if self.maximise else "") + self.column

    @property
    def metric(self) -> Metric:
        return OBJECTIVES[self.column]

    @property
    def run_column(self) -> str:
        return self.metric.column

    @property
    def epoch_column(self) -> str | None:
        return self.metric.epoch_column


@dataclass
class SearchSpec:
    trials: int
    objectives: list[Objective]
    params: dict[str, dict[str, Any]]  # dotted config key -> its distribution, checked
    sampler: str = "tpe"
    pruner: str = "none"
    seed: int = 0
    startup_trials: int | None = None  # None: the sampler's own default
    warmup_epochs: int = 0
    table: dict[str, Any] = field(default_factory=dict)  # as the file wrote it: the sweep records it

    @property
    def multi(self) -> bool:
        return len(self.objectives) > 1


def distribution(where: str, spec: Any) -> dict[str, Any]:
    """A {dist = ...} table checked: numeric, finite and ordered bounds, a non-empty choice."""
    if not isinstance(spec, dict) or spec.get("dist") not in DISTRIBUTIONS:
        raise ConfigError(f"{where} needs dist = one of {', '.join(DISTRIBUTIONS)}")
    dist = spec["dist"]
    if dist == "choice":
        values = spec.get("values")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where}.values must be a non-empty list of values, not {values!r}")
        return {"dist": dist, "values": values}
    if "low" not in spec or "high" not in spec:
        raise ConfigError(f"{where} needs numeric low and high")
    for bound in ("low", "high"):  # TOML gives numbers; true or "0.1" is a slip, not a bound
        if isinstance(spec[bound], bool) or not isinstance(spec[bound], int | float):
            raise ConfigError(f"{where}.{bound} must be a number, not {spec[bound]!r}")
    try:
        low, high = float(spec["low"]), float(spec["high"])
    except OverflowError:
        raise ConfigError(f"{where} needs numeric low and high") from None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ConfigError(f"{where}: low and high must be finite numbers, not {low} and {high}")
    if low > high or (dist == "loguniform" and low <= 0):
        raise ConfigError(f"{where}: need 0 < low <= high for loguniform, low <= high otherwise")
    if dist == "int":
        if not (low.is_integer() and high.is_integer()):
            raise ConfigError(
                f"{where}: an int distribution's low and high must be whole numbers, not {low} and {high}"
            )
        return {"dist": dist, "low": int(low), "high": int(high)}
    return {"dist": dist, "low": low, "high": high}


def param_specs(params: dict[str, Any], prefix: str = "", where: str = "params") -> dict[str, Any]:
    """Dotted config keys (a short name or a leaf is made dotted: config.canonical_keys) -> {dist = ...}
    tables; nested tables are walked until one has dist."""
    specs: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and "dist" not in value:
            specs.update(param_specs(value, name + ".", where))
        else:
            specs[name] = value
    return canonical_keys(specs, where) if not prefix else specs


def _objective(text: Any) -> Objective:
    if not isinstance(text, str) or not text.removeprefix("-") or text.startswith("--"):
        raise ConfigError(
            f'search.objective must be a summary column such as "test_loss" or "-separation" (one "-" maximises), '
            f"not {text!r}"
        )
    name = text.removeprefix("-")
    column = OBJECTIVE_ALIASES.get(name, name)
    if column not in OBJECTIVES:
        raise ConfigError(
            f"search.objective {name!r} is not a summary column; use one of {', '.join(OBJECTIVES)} "
            '(a leading "-" maximises it)'
        )
    return Objective(column, text.startswith("-"))


def _count(table: dict[str, Any], key: str, default: int | None, minimum: int) -> int | None:
    value = table.get(key, default)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"search.{key} must be an integer of at least {minimum}, not {value!r}")
    return value


def _whole(table: dict[str, Any], key: str, default: int, minimum: int) -> int:
    """_count for a key that always has a value (its default when absent)."""
    value = _count(table, key, default, minimum)
    assert value is not None  # a default was given
    return value


def parse_search(table: Any) -> SearchSpec:
    """The [search] table, every key checked; one line naming the problem otherwise."""
    if not isinstance(table, dict):
        raise ConfigError("search must be a table ([search] with trials, objective and [search.params])")
    unknown = sorted(set(table) - set(SEARCH_KEYS))
    if unknown:
        raise ConfigError(f"unknown [search] key(s) {', '.join(unknown)}; valid: {', '.join(SEARCH_KEYS)}")
    if "trials" not in table:
        raise ConfigError("search needs trials = how many trials to run in all, e.g. trials = 24")
    trials = _whole(table, "trials", 1, 1)  # present: checked just above
    if trials > MAX_TRIALS:
        raise ConfigError(f"search.trials = {trials:,} is more than the limit of {MAX_TRIALS:,}")
    sampler = table.get("sampler", "tpe")
    if sampler not in SAMPLERS:
        raise ConfigError(f"search.sampler {sampler!r} is not one of {', '.join(SAMPLERS)}")
    pruner = table.get("pruner", "none")
    if pruner not in PRUNERS:
        raise ConfigError(f"search.pruner {pruner!r} is not one of {', '.join(PRUNERS)}")
    raw_objective = table.get("objective", "test_loss")
    raw_objectives = raw_objective if isinstance(raw_objective, list) else [raw_objective]
    if not 1 <= len(raw_objectives) <= 2:
        raise ConfigError("search.objective takes one summary column, or a list of two (a Pareto front)")
    objectives = [_objective(o) for o in raw_objectives]
    if len(objectives) == 2 and objectives[0].column == objectives[1].column:
        raise ConfigError(f"search.objective names {objectives[0].column} twice; give two different columns")
    if len(objectives) == 2 and pruner != "none":
        raise ConfigError(
            'search.pruner works on one objective\'s per-epoch value; with two objectives set pruner = "none"'
        )
    if pruner != "none" and not per_epoch(objectives[0].metric):
        raise ConfigError(
            f"search.pruner needs an objective with a value every epoch; {objectives[0].column} has none "
            "(use test_loss, separation, silhouette, ...)"
        )
    if sampler == "gp" and len(objectives) == 2:
        raise ConfigError('search.sampler "gp" takes one objective; for two use "tpe" or "nsga2"')
    seed = table.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ConfigError(f"search.seed must be an integer, not {seed!r}")
    raw_params = table.get("params")
    if not isinstance(raw_params, dict) or not raw_params:
        raise ConfigError(
            "search.params is empty: name at least one key with its distribution, e.g. "
            '[search.params] "training.learning_rate" = { dist = "loguniform", low = 1e-3, high = 1e-1 }'
        )
    params = {}
    for key, spec in param_specs(raw_params).items():
        params[key] = distribution(f"search.params.{key}", spec)
        values = params[key].get("values", [])
        if not all(v is None or isinstance(v, str | int | float | bool) for v in values):
            raise ConfigError(f"search.params.{key}: a choice holds numbers, words or booleans, not tables or lists")
    return SearchSpec(
        trials=trials,
        objectives=objectives,
        params=params,
        sampler=sampler,
        pruner=pruner,
        seed=seed,
        startup_trials=_count(table, "startup_trials", None, 0),
        warmup_epochs=_whole(table, "warmup_epochs", 0, 0),
        table=table,
    )


def corner_values(params: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Assignments that reach every bound and choice of every parameter (the others at their first value):
    each is validated before a search starts, so that a range reaching an invalid config is refused in
    one line before anything is written, not met by a trial half-way through."""

    def first(spec: dict[str, Any]) -> Any:
        return spec["values"][0] if spec["dist"] == "choice" else spec["low"]

    base = {k: first(s) for k, s in params.items()}
    corners = [base]
    for key, spec in params.items():
        for value in spec["values"] if spec["dist"] == "choice" else (spec["low"], spec["high"]):
            corners.append(base | {key: value})
    return corners
