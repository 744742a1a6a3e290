"""Sweep files: TOML in, validated cells out. Pure: no database, no processes.

    name = "lr_batch"              # default: the file's stem
    base = "quick"                 # a preset name, or base_config = "file.toml" (relative to this file)
    seeds = [0, 1]                 # repeat every cell over these seeds (default: the base's seed)
    tags = ["lr-scan"]             # tags on every cell's run (`mftctl list --where tag=lr-scan`)
    expected_clusters = 3          # for the blob-quality summary
    reference = { "training.learning_rate" = 0.02 }   # the cell speed-ups are measured against

    [set]                          # fixed overrides for every cell
    "training.epochs" = 3
    [grid]                         # cartesian product
    "training.learning_rate" = [0.01, 0.02, 0.05]
    [zip]                          # lists of equal length, varied together
    "model.hidden_size" = [32, 64]
    "model.encoder_initialization_scale" = [0.02, 0.01]
    [random]                       # `count` draws, seeded
    count = 4
    seed = 0
    [random.params]
    "training.learning_rate" = { dist = "loguniform", low = 1e-3, high = 1e-1 }
    "training.optimizer" = { dist = "choice", values = ["adam", "sgld"] }

Grid, zip and random combine as a cartesian product, then seeds. Keys may also be written as nested
tables ([grid.training] learning_rate = [...]).
"""

from __future__ import annotations

import itertools
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import ExperimentConfig, canonical_keys, config_hash, deep_merge, flatten, preset_dict, validate
from ..config_input import apply_overrides, parse_toml, read_config_file, read_text_file
from ..errors import ConfigError
from ..runs.annotate import check_tag
from ..search.space import SearchSpec, corner_values, distribution, param_specs, parse_search
from .slurm import slurm_parameters

TOP_KEYS = {
    "name",
    "base",
    "base_config",
    "seeds",
    "expected_clusters",
    "reference",
    "set",
    "grid",
    "zip",
    "random",
    "slurm",
    "tags",
    "search",
}
TABLE_KEYS = ("set", "grid", "zip", "random", "reference", "slurm", "search")
# More cells than this is a typo more often than a plan (and expanding a billion would not end):
# `mftctl sweep FILE --max-cells N` raises the cap on purpose.
MAX_CELLS = 10_000


@dataclass
class Cell:
    index: int
    values: dict[str, Any]  # the varied keys of this cell (seed included when seeds are swept)
    config: ExperimentConfig
    hash: str

    @property
    def label(self) -> str:
        return cell_label(self.values)


def cell_label(values: dict[str, Any]) -> str:
    """`learning_rate=0.02, batch_size=5000`: a cell's varied values by their last key part."""
    return ", ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in values.items()) or "base"


def is_reference(values: dict[str, Any], reference: dict[str, Any]) -> bool:
    """Whether a cell (or a group of cells over seeds) is the sweep's reference; a seed named in the
    reference is passed over, since seeds are pooled."""
    keys = {k: v for k, v in reference.items() if k != "seed"}
    return bool(keys) and all(values.get(k) == v for k, v in keys.items())


@dataclass
class SweepSpec:
    name: str
    text: str
    cells: list[Cell]
    varied: list[str]  # varied keys, in the order they were declared
    expected_clusters: int = 3
    reference: dict[str, Any] = field(default_factory=dict)
    base: str = "reference_3blob"  # the preset the cells start from (their `show` compares with it)
    slurm: dict[str, Any] = field(default_factory=dict)  # the [slurm] table: sbatch settings for the cells
    tags: list[str] = field(default_factory=list)  # tags every cell's run gets
    # The config the cells start from (the preset, merged with a base_config file as it read then): the
    # sweep records it, so that resuming never re-reads a file that may have changed since.
    base_config: dict[str, Any] = field(default_factory=dict)
    # A [search] sweep: no cells up front; each trial's config is trial_config(its values).
    search: SearchSpec | None = None
    fixed: list[str] = field(default_factory=list)  # the [set] table as overrides
    seeds: list[Any] | None = None

    @property
    def sample_config(self) -> ExperimentConfig:
        """One config the sweep runs (its first cell, or its search's lower corner): its device and size."""
        if self.search is None:
            return self.cells[0].config
        seed = {"seed": self.seeds[0]} if self.seeds else {}
        return self.trial_config(corner_values(self.search.params)[0] | seed)

    def trial_config(self, values: dict[str, Any]) -> ExperimentConfig:
        """The config of one search trial (its sampled values, and its seed if seeds are given)."""
        return validate(apply_overrides(self.base_config, self.fixed + [_override(k, v) for k, v in values.items()]))


def _literal(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where} must be a non-empty list of values, not {value!r}")
    return value


def _draw(rng: random.Random, key: str, spec: Any) -> Any:
    spec = distribution(f"random.params.{key}", spec)
    dist = spec["dist"]
    if dist == "choice":
        return rng.choice(spec["values"])
    low, high = spec["low"], spec["high"]
    if dist == "uniform":
        return rng.uniform(low, high)
    if dist == "int":
        return rng.randint(low, high)
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def _count_cells(data: dict[str, Any]) -> int:
    """How many cells the file asks for, computed before any is built."""
    total = 1
    for key, values in _flat(data.get("grid", {}), "grid").items():
        total *= len(_literal(values, f"grid.{key}"))
    zipped = _flat(data.get("zip", {}), "zip")
    if zipped:
        total *= len(_literal(next(iter(zipped.values())), f"zip.{next(iter(zipped))}"))
    rnd = data.get("random")
    if rnd:
        count = rnd.get("count")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ConfigError("random needs count = a positive integer (and params, seed)")
        if not isinstance(rnd.get("seed", 0), int) or isinstance(rnd.get("seed", 0), bool):
            raise ConfigError(f"random.seed must be an integer, not {rnd.get('seed')!r}")
        if not isinstance(rnd.get("params", {}), dict):
            raise ConfigError("random.params must be a table of key = { dist = ... }")
        total *= count
    if data.get("seeds") is not None:
        total *= len(_literal(data["seeds"], "seeds"))
    return total


def _flat(table: dict[str, Any], where: str, prefix: str = "") -> dict[str, Any]:
    """A table's dotted keys; one key written both ways ("training.lr" and [x.training] lr) is refused,
    where merging them would silently keep only one."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        for k, v in (_flat(value, where, name + ".") if isinstance(value, dict) else {name: value}).items():
            if k in flat:
                raise ConfigError(f"[{where}] gives {k} twice (as a dotted key and inside a table); keep one")
            flat[k] = v
    return flat


def _axes(data: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """Each axis is a list of partial assignments; cells are their cartesian product."""
    axes = []
    for key, values in canonical_keys(flatten(data.get("grid", {})), "grid").items():
        axes.append([{key: v} for v in _literal(values, f"grid.{key}")])
    zipped = canonical_keys(flatten(data.get("zip", {})), "zip")
    if zipped:
        lengths = {k: len(_literal(v, f"zip.{k}")) for k, v in zipped.items()}
        if len(set(lengths.values())) > 1:
            raise ConfigError(f"zip lists must have equal lengths, got {lengths}")
        n = next(iter(lengths.values()))
        axes.append([{k: v[i] for k, v in zipped.items()} for i in range(n)])
    rnd = data.get("random")
    if rnd:
        if not isinstance(rnd, dict) or not isinstance(rnd.get("count"), int) or rnd["count"] < 1:
            raise ConfigError("random needs count = a positive integer (and params, seed)")
        params = param_specs(rnd.get("params", {}))
        if not params:
            raise ConfigError("random.params is empty: name at least one key with its distribution")
        rng = random.Random(rnd.get("seed", 0))
        axes.append([{k: _draw(rng, k, spec) for k, spec in params.items()} for _ in range(rnd["count"])])
    return axes


def _override(key: str, value: Any) -> str:
    import json

    return f"{key}={json.dumps(value)}"


def expand(
    data: dict[str, Any],
    *,
    name: str,
    text: str,
    base_dir: Path,
    max_cells: int = MAX_CELLS,
    recorded_base: dict[str, Any] | None = None,
) -> SweepSpec:
    unknown = set(data) - TOP_KEYS
    if unknown:
        raise ConfigError(f"unknown sweep key(s) {', '.join(sorted(unknown))}; valid: {', '.join(sorted(TOP_KEYS))}")
    for key in TABLE_KEYS:
        if key in data and not isinstance(data[key], dict):
            raise ConfigError(f"{key} must be a table ([{key}] with key = value lines), not {data[key]!r}")
    n_cells = _count_cells(data)
    if n_cells > max_cells:
        raise ConfigError(
            f"the sweep has {n_cells:,} cells, more than the limit of {max_cells:,}; "
            "check the grid, or raise the limit with --max-cells"
        )
    if "base" in data and "base_config" in data:
        raise ConfigError("give either base (a preset) or base_config (a file), not both")
    base = data.get("base", "reference_3blob")
    if not isinstance(base, str):
        raise ConfigError(f"base must be a preset name (`mftctl presets`), not {base!r}")
    if recorded_base is not None:
        raw = recorded_base
    else:
        raw = preset_dict(base)
        if "base_config" in data:
            raw = deep_merge(raw, read_config_file(base_dir / str(data["base_config"])))
    fixed = [_override(k, v) for k, v in _flat(data.get("set", {}), "set").items()]
    seeds = _literal(data["seeds"], "seeds") if data.get("seeds") is not None else None
    search = None
    if "search" in data:
        search, varied = _search(data, raw, fixed, seeds)
        cells: list[Cell] = []
    else:
        cells, varied = _cells(data, raw, fixed, seeds)
    reference = data.get("reference", {})
    if not isinstance(reference, dict):
        raise ConfigError("reference must be a table of key = value picking one cell")
    reference = canonical_keys(flatten(reference), "reference")
    if reference and not any(is_reference(c.values, reference) for c in cells):
        raise ConfigError(f"no cell matches reference {reference}")
    expected = data.get("expected_clusters", 3)
    if not isinstance(expected, int) or expected < 1:
        raise ConfigError("expected_clusters must be a positive integer")
    slurm = data.get("slurm", {})
    tags = data.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ConfigError(f'tags must be a list of words, e.g. tags = ["lr-scan"], not {tags!r}')
    tags = [check_tag(t) for t in tags]
    slurm_parameters(slurm)  # a typo in [slurm] is refused whichever executor runs the file
    return SweepSpec(
        name=name,
        text=text,
        cells=cells,
        varied=varied,
        expected_clusters=expected,
        reference=reference,
        base=base,
        slurm=slurm,
        tags=tags,
        base_config=raw,
        search=search,
        fixed=fixed,
        seeds=seeds,
    )


def _cells(
    data: dict[str, Any], raw: dict[str, Any], fixed: list[str], seeds: list[Any] | None
) -> tuple[list[Cell], list[str]]:
    """The cells of a [grid]/[zip]/[random] sweep, each validated, and the varied keys in file order."""
    axes = _axes(data)
    seen: set[str] = set()
    for axis in axes:
        twice = seen & set(axis[0])
        if twice:
            raise ConfigError(f"{sorted(twice)[0]} is varied twice (in two of [grid], [zip], [random]); keep one")
        seen |= set(axis[0])
    if seeds is not None:
        axes.append([{"seed": s} for s in seeds])
    varied: list[str] = []
    for axis in axes:
        for key in axis[0]:
            if key not in varied:
                varied.append(key)
    cells = []
    for index, combo in enumerate(itertools.product(*axes) if axes else [()]):
        values: dict[str, Any] = {}
        for part in combo:
            values.update(part)
        try:
            config = validate(apply_overrides(raw, fixed + [_override(k, v) for k, v in values.items()]))
        except ConfigError as exc:
            raise ConfigError(f"sweep cell {index} ({_shown(values)}): {exc}") from None
        cells.append(Cell(index, values, config, config_hash(config)))
    hashes = [c.hash for c in cells]
    if len(set(hashes)) != len(hashes):
        dup = next(c for c in cells if hashes.count(c.hash) > 1)
        raise ConfigError(f"sweep cell {dup.index} ({dup.label}) repeats another cell's config; remove the duplicate")
    return cells, varied


def _shown(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(v) if isinstance(v, str) else v}" for k, v in values.items()) or "the base"


def _search(
    data: dict[str, Any], raw: dict[str, Any], fixed: list[str], seeds: list[Any] | None
) -> tuple[SearchSpec, list[str]]:
    """A [search] sweep's table, checked, and every bound and choice of its space validated as a config."""
    beside = [key for key in ("grid", "zip", "random", "reference") if key in data]
    if beside:
        raise ConfigError(
            f"[search] cannot be combined with [{beside[0]}]: a search chooses its own cells; put fixed values "
            "in [set] and searched ones in [search.params]"
        )
    search = parse_search(data["search"])
    fixed_keys = set(_flat(data.get("set", {}), "set"))
    for key in search.params:
        if key in fixed_keys:
            raise ConfigError(f"{key} is both fixed in [set] and searched in [search.params]; keep one")
        if key == "seed":
            raise ConfigError("search.params cannot search the seed; give the seeds every trial runs as seeds = [...]")
    for values in corner_values(search.params):
        values = values | ({"seed": seeds[0]} if seeds else {})
        try:
            validate(apply_overrides(raw, fixed + [_override(k, v) for k, v in values.items()]))
        except ConfigError as exc:
            raise ConfigError(f"search space at ({_shown(values)}): {exc}") from None
    _distinct_choices(search, raw, fixed, seeds)
    return search, list(search.params) + (["seed"] if seeds and len(seeds) > 1 else [])


def _distinct_choices(search: SearchSpec, raw: dict[str, Any], fixed: list[str], seeds: list[Any] | None) -> None:
    """Refuse a choice list with two values that are one value as a config (500, "500" and 500.0 for an
    integer key; true and 1): they would be distinct trials of one config, trained twice."""
    corner = corner_values(search.params)[0] | ({"seed": seeds[0]} if seeds else {})
    for key, spec in search.params.items():
        if spec["dist"] != "choice":
            continue
        seen: dict[str, Any] = {}
        for value in spec["values"]:
            try:
                config = validate(
                    apply_overrides(raw, fixed + [_override(k, v) for k, v in (corner | {key: value}).items()])
                )
            except ConfigError as exc:
                raise ConfigError(f"search.params.{key} choice {value!r}: {exc}") from None
            as_config = json.dumps(flatten(config.model_dump(mode="json"))[key])
            if as_config in seen:
                raise ConfigError(
                    f"search.params.{key} choices {seen[as_config]!r} and {value!r} are the same value as a config "
                    f"({as_config}); list each value once"
                )
            seen[as_config] = value


def load_sweep(path: Path, *, name: str | None = None, max_cells: int = MAX_CELLS) -> SweepSpec:
    """A sweep file, validated cell by cell; `name` (the --name option) replaces the file's own."""
    text = read_text_file(path, "sweep file")
    data = parse_toml(text, f"sweep file {path}")
    if not data:
        raise ConfigError(f"sweep file {path} is empty; it needs at least a base and a [grid] (see docs/sweeps.md)")
    name = name or data.get("name", path.stem)
    if not isinstance(name, str) or not name:
        raise ConfigError("name must be a non-empty string")
    return expand(data, name=name, text=text, base_dir=path.parent, max_cells=max_cells)


def stored_sweep(
    text: str, *, name: str, file_path: str | None, base_config: dict[str, Any] | None = None
) -> SweepSpec:
    """A sweep as recorded in the store, expanded again (`sweep --resume ID`) from the base config it
    recorded; a sweep recorded before bases were (no base_config) reads its base_config file again,
    relative to where the sweep file was."""
    base_dir = Path(file_path).parent if file_path else Path.cwd()
    data = parse_toml(text, f"stored sweep {name!r}")
    return expand(data, name=name, text=text, base_dir=base_dir, recorded_base=base_config)
