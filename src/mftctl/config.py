"""Experiment configuration: typed sections (a description on every field), presets, validation, the
config hash. What the science imports; reading files and `--set` overrides is config_input.py.

Pydantic does the type coercion and range checks (it already ships with SQLModel); this module only
turns its errors into one line that names the key and what it accepts.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .choices import (
    Activation,
    Control,
    DecoderInit,
    DecoderKernel,
    LossType,
    LrSchedule,
    MatmulPrecision,
    MixtureKind,
    Optimizer,
    Sampler,
    Stage2Bias,
    Stage2Decoder,
)
from .errors import ConfigError

INT64_MAX = 2**63 - 1


class _Section(BaseModel):
    # inf and nan are refused: they would be stored as null and make the run unreadable.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @model_validator(mode="after")
    def _fits_the_database(self) -> _Section:
        for name, value in self:
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) > INT64_MAX:
                raise ValueError(f"{name} = {value} is too large (at most {INT64_MAX})")
        return self


class DataConfig(_Section):
    d: int = Field(1024, ge=2, description="Signal dimension (input and output width).")
    sparsity: int = Field(2, ge=1, description="Active coordinates per clean signal.")
    noise_variance: float = Field(0.005, ge=0, description="Variance of the i.i.d. Gaussian input noise.")
    amplitude_min: float = Field(1.0, description="Lower end of U[min, max] for an active value.")
    amplitude_max: float = Field(1.0, description="Upper end of U[min, max]; equal to min = fixed amplitude.")
    n_train: int = Field(300_000, ge=1, description="Fresh training samples streamed per epoch.")
    n_test: int = Field(5_000, ge=1, description="Size of the fixed, seeded test set.")


class ModelConfig(_Section):
    hidden_size: int = Field(512, ge=1, description="Hidden units h (rows of the encoder W1).")
    encoder_initialization_scale: float = Field(0.03, gt=0, description="Multiplier on Xavier-normal W1.")
    decoder_initialization_scale: float = Field(0.03, gt=0, description="Multiplier on Xavier-normal W2.")
    activation: Activation = Field(
        "tanh3",
        description="σ in W2·σ(W1 x): tanh3 = tanh(z)³ (the research's, fused), tanh, cube = z³, relu, square = z² "
        "(even).",
    )


class LossConfig(_Section):
    loss_type: LossType = Field("scaled_mse", description="Training and test loss.")
    lambda_on: float = Field(16.0, ge=0, description="Weight of the active-coordinate part (scaled_mse).")
    lambda_off: float = Field(1.0, ge=0, description="Weight of the inactive-coordinate part (scaled_mse).")


class TrainingConfig(_Section):
    optimizer: Optimizer = Field("adam", description="Adam, or Langevin dynamics (SGLD).")
    learning_rate: float = Field(0.02, gt=0, description="Step size (peak value when scheduled).")
    batch_size: int = Field(10_000, ge=1, description="Samples per optimisation step.")
    epochs: int = Field(20, ge=1, description="Passes of n_train fresh samples.")
    encoder_regularization: float = Field(0.0, ge=0, description="L2 coefficient on ||W1||_F^2.")
    decoder_regularization: float = Field(0.03, ge=0, description="L2 coefficient on ||W2||_F^2.")
    temperature: float = Field(0.0, ge=0, description="SGLD temperature T (noise sqrt(2 lr T)).")
    lr_schedule: LrSchedule = Field("constant", description="warmup_cosine: linear warm-up, then cosine decay to 0.")
    warmup_fraction: float = Field(0.05, ge=0, le=1, description="Share of all steps spent warming up.")
    checkpoint_every: int = Field(
        1, ge=0, description="Save a full checkpoint every N epochs and at the last (0: no checkpoints at all)."
    )
    keep_checkpoints: int = Field(
        1, ge=0, description="Full checkpoints (optimizer state, for resume) kept: the newest N; 0 keeps all."
    )
    evolution_snapshots: int = Field(
        6, ge=0, description="Epochs, evenly spaced, whose weights are kept for the evolution figure and diagnose."
    )
    enable_diagnostics: bool = Field(True, description="Blob metrics after every epoch.")
    diagnostic_sample_size: int = Field(
        5_000, ge=100, description="Unused since the blob measurement modes-1, which reads every pair."
    )
    decoder_kernel: DecoderKernel = Field(
        "auto",
        description="How the loss meets the decoder: dense forms W2·a; gram uses W2ᵀW2 (same math, fewer "
        "FLOP when h < d); auto picks the cheaper.",
    )
    matmul_precision: MatmulPrecision = Field(
        "highest",
        description="torch float32 matmul precision: highest = true float32 (the science default); high/medium "
        "allow TF32/bf16 on hardware that has them (GPUs), faster and less exact.",
    )


class DiagnosticsConfig(_Section):
    # The blob measurement (science/blobs.py, `mftctl.measure_blobs`): every pair, a density grid,
    # modes kept by how deep their valley is, how far their peak stands above counting noise, their mass.
    min_depth: float = Field(
        0.2, ge=0, lt=1, description="A blob's valley must fall this far below its peak (1 − saddle/peak)."
    )
    min_significance: float = Field(
        4.0, ge=0, description="A blob's peak must stand this many Poisson sigmas above its valley."
    )
    min_mass: float = Field(5e-4, ge=0, lt=1, description="A blob must hold at least this share of all pairs.")
    gmm_max_components: int = Field(6, ge=1, le=12, description="BIC chooses K in 1..this (diagnose's shape model).")
    # Early condensation (science/condensation.py, `mftctl condensation RUN`): off unless asked for.
    condensation_every: int = Field(
        0,
        ge=0,
        description="Count the encoder rows' directions every N steps of the first condensation_steps (0: off).",
    )
    condensation_steps: int = Field(
        200, ge=1, description="How many first optimisation steps condensation_every reads (from the initialisation)."
    )
    # The first release's sampled DBSCAN: no longer used, accepted so that stored configs still load.
    dbscan_eps: float = Field(0.5, gt=0, description="Unused since the blob measurement modes-1 (old DBSCAN radius).")
    dbscan_min_fraction: float = Field(
        2e-4, gt=0, lt=1, description="Unused since the blob measurement modes-1 (old DBSCAN density)."
    )
    tail_radius: float = Field(3.0, gt=0, description="Unused since the blob measurement modes-1 (old tail sample).")


class Stage2Config(_Section):
    num_clusters: int = Field(3, ge=1, le=64, description="Mixture components fitted to the parent's pairs.")
    num_traces: int = Field(1, ge=1, le=1000, description="Independent encoder samples, one child run each.")
    mixture: MixtureKind = Field(
        "pair", description="Fit 2-D (encoder, decoder) pairs, or 1-D encoder entries as the research code."
    )
    control: Control = Field(
        "gmm", description="gmm: sample the mixture; gaussian: matched-variance noise; parent: its encoder."
    )
    decoder_init: DecoderInit = Field(
        "xavier", description="Initialise W2' as stage 1 does, or from the sampled decoder coordinate."
    )
    sampler: Sampler = Field(
        "iid",
        description="How control gmm draws W1': iid entries, per-row outlier counts (row), per-row blob "
        "composition with random row sign (row-sign), the parent's rows permuted (shuffle), its outliers "
        "moved keeping every row's and column's count (rewire), or a fresh code with those counts and "
        "annealed crosstalk (code).",
    )
    decoder: Stage2Decoder = Field(
        "train",
        description="The children's decoder: trained by the optimiser for training.epochs, or solved exactly "
        "for the frozen encoder (one epoch: no optimiser noise).",
    )
    b1: Stage2Bias = Field(
        "auto",
        description="The children's encoder bias: parent (each row's own where the sampler keeps rows, else "
        "drawn from the parent's), zero, or auto (parent for control parent, zero for the samplers).",
    )


class ExperimentConfig(_Section):
    seed: int = Field(42, ge=0, description="Seeds torch, numpy and Python, the data and the test set.")
    device: str = Field("auto", description="auto (CUDA when present, else CPU), cpu, cuda, cuda:N.")
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    diagnostics: DiagnosticsConfig = Field(default_factory=DiagnosticsConfig)
    stage2: Stage2Config = Field(default_factory=Stage2Config)

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentConfig:
        if self.data.sparsity > self.data.d:
            raise ValueError(f"data.sparsity ({self.data.sparsity}) must be at most data.d ({self.data.d})")
        if self.data.amplitude_min > self.data.amplitude_max:
            raise ValueError("data.amplitude_min must be at most data.amplitude_max")
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise ValueError(f"device must be auto, cpu, cuda or cuda:N, not {self.device!r}")
        return self


PRESETS: dict[str, dict[str, Any]] = {
    # The recorded reference run of SCIENCE.md.
    "reference_3blob": {},
    # Seconds on one CPU core: for demos, tests and trying the tool.
    "quick": {
        "data": {"d": 128, "n_train": 20_000, "n_test": 2_000},
        "model": {"hidden_size": 64},
        "training": {"batch_size": 1_000, "epochs": 5, "diagnostic_sample_size": 2_000},
    },
    # Three formed blobs in about 15 s on a 2-core CPU: half the reference width, a larger learning rate
    # and smaller batches (300 steps). Measured: 3 blobs, separation 0.99, silhouette 0.88 at epoch 15.
    "demo": {
        "data": {"d": 512, "n_train": 100_000, "n_test": 2_000},
        "model": {"hidden_size": 256},
        "training": {"batch_size": 2_500, "learning_rate": 0.08, "epochs": 15},
    },
    # The reference shapes, shortened: a first look at blobs in minutes on a CPU.
    "reference_short": {"training": {"epochs": 5}},
    # Langevin dynamics on the quick shapes.
    "quick_sgld": {
        "data": {"d": 128, "n_train": 20_000, "n_test": 2_000},
        "model": {"hidden_size": 64},
        "training": {
            "optimizer": "sgld",
            "learning_rate": 0.01,
            "temperature": 1e-6,
            "batch_size": 1_000,
            "epochs": 5,
            "diagnostic_sample_size": 2_000,
        },
    },
}


def preset_names() -> list[str]:
    return sorted(PRESETS)


def _format_error(err: dict[str, Any], schema: type[BaseModel]) -> str:
    loc = ".".join(str(part) for part in err["loc"])
    if err["type"] == "extra_forbidden":
        section, _, key = loc.rpartition(".")
        valid = sorted(_section_fields(section))
        close = difflib.get_close_matches(key, valid, n=1)
        hint = f" (did you mean {section + '.' if section else ''}{close[0]}?)" if close else ""
        return f"unknown key {loc!r}{hint}; valid keys here: {', '.join(valid)}"
    msg = err["msg"].removeprefix("Value error, ")
    if not loc:
        return msg
    return f"{loc}: {msg} (got {err.get('input')!r})"


def _section_fields(section: str) -> list[str]:
    model: type[BaseModel] = ExperimentConfig
    for part in filter(None, section.split(".")):
        annotation = model.model_fields[part].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def validate(raw: dict[str, Any]) -> ExperimentConfig:
    """Build a config from nested dicts, refusing unknown keys, wrong types and impossible values."""
    try:
        return ExperimentConfig.model_validate(raw)
    except RecursionError:
        raise ConfigError("a config value nests too deeply") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
        raise ConfigError(_format_error(dict(first), ExperimentConfig) + more) from None


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def preset_dict(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        close = difflib.get_close_matches(name, PRESETS, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigError(
            f"unknown preset {name!r}{hint}; choose one of: {', '.join(preset_names())} (see `mftctl presets`)"
        )
    return deep_merge(ExperimentConfig().model_dump(), PRESETS[name])


# Every key of the first release, frozen. The hash reads these always and any later key only when set
# away from its default, so a config stored before a key existed keeps its hash (a sweep resumed across
# an upgrade still finds its cells) and a new key needs no entry here: add the field, and the hash is right.
FIRST_RELEASE_KEYS = (
    "seed",
    "device",
    *("data." + k for k in ("d", "sparsity", "noise_variance", "amplitude_min", "amplitude_max", "n_train", "n_test")),
    *("model." + k for k in ("hidden_size", "encoder_initialization_scale", "decoder_initialization_scale")),
    *("loss." + k for k in ("loss_type", "lambda_on", "lambda_off")),
    *(
        "training." + k
        for k in (
            "optimizer",
            "learning_rate",
            "batch_size",
            "epochs",
            "encoder_regularization",
            "decoder_regularization",
            "temperature",
            "lr_schedule",
            "warmup_fraction",
            "checkpoint_every",
            "enable_diagnostics",
            "diagnostic_sample_size",
        )
    ),
    *("diagnostics." + k for k in ("gmm_max_components", "dbscan_eps", "dbscan_min_fraction", "tail_radius")),
    *("stage2." + k for k in ("num_clusters", "num_traces", "mixture", "control", "decoder_init")),
)
# Keys of the first release's sampled measurement, unused since modes-1: accepted and stored (two presets
# set one, and a stored config must hash as it did when it was written), never shown: not in `config
# keys`, `show`, `presets --format json`, `compare`, nor in a run's record (list/export --format json|csv).
RETIRED_KEYS = (
    "training.diagnostic_sample_size",
    "diagnostics.dbscan_eps",
    "diagnostics.dbscan_min_fraction",
    "diagnostics.tail_radius",
)


def config_hash(config: ExperimentConfig) -> str:
    """Stable across processes, key order and mftctl versions: the sweep uses it to skip cells already done."""
    values = config.model_dump(mode="json")
    defaults = type(config)().model_dump(mode="json")
    first = set(FIRST_RELEASE_KEYS)
    for section, leaves in values.items():
        if not isinstance(leaves, dict):
            continue
        for leaf in list(leaves):
            key = f"{section}.{leaf}"
            if key not in first and leaves[leaf] == defaults[section].get(leaf):
                del leaves[leaf]
    canonical = json.dumps(values, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def without_retired(raw: dict[str, Any]) -> dict[str, Any]:
    """A stored config as dict, less the retired keys an older version wrote (what is shown and compared)."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()}
    for key in RETIRED_KEYS:
        section, _, leaf = key.partition(".")
        if isinstance(out.get(section), dict):
            out[section].pop(leaf, None)
    return out


@functools.cache
def _defaults_json() -> str:
    return json.dumps(ExperimentConfig().model_dump(mode="json"))


def config_defaults() -> dict[str, Any]:
    """Every key's default, as a stored config holds it (a fresh copy each call)."""
    return json.loads(_defaults_json())


def default_value(dotted: str) -> Any:
    """The default of one dotted key (`model.activation`), None where the key has none."""
    value: Any = config_defaults()
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def as_stored_now(raw: dict[str, Any]) -> dict[str, Any]:
    """A stored config in today's shape: the retired keys an older version wrote dropped, and the keys
    added since (model.activation, ...) filled with their defaults — which is what the run trained with.
    What is shown, compared and put in columns; `list --where` reads the same defaults in SQL."""
    out = without_retired(raw)
    for key, value in config_defaults().items():
        if isinstance(value, dict):
            section = out.get(key)
            if isinstance(section, dict):
                for leaf, default in value.items():
                    section.setdefault(leaf, default)
            elif section is None:
                out[key] = value
        else:
            out.setdefault(key, value)
    return out


def steps_per_epoch(config: ExperimentConfig) -> int:
    """Optimisation steps in one epoch (the last batch may be short)."""
    return math.ceil(config.data.n_train / config.training.batch_size)


# What checkpoint_every, keep_checkpoints and evolution_snapshots mean, beside their declaration: the
# training loop asks wants_checkpoint (science/train.py), the worker's keeper applies the rest
# (checkpoints/keep.py). Sizes at reference shapes are in docs/performance.md.
def snapshot_epochs(training: TrainingConfig) -> set[int]:
    """`evolution_snapshots` epochs spread evenly over the run, always the first and the last; none when
    checkpoint_every is 0 (no checkpoint of any kind)."""
    total, n = training.epochs, training.evolution_snapshots
    if n <= 0 or not training.checkpoint_every:
        return set()
    if n == 1 or total == 1:
        return {total}
    return {1 + round(i * (total - 1) / (n - 1)) for i in range(n)}


def is_full_epoch(training: TrainingConfig, epoch: int) -> bool:
    """A full checkpoint (optimizer and RNG state, for resume): every `checkpoint_every` epochs and the last."""
    every = training.checkpoint_every
    return bool(every) and (epoch % every == 0 or epoch == training.epochs)


def wants_checkpoint(training: TrainingConfig, epoch: int) -> bool:
    """Whether the training loop hands this epoch's state to its sink at all."""
    return is_full_epoch(training, epoch) or epoch in snapshot_epochs(training)


def full_to_drop(training: TrainingConfig, full_epochs: list[int]) -> list[int]:
    """Full checkpoints beyond the newest `keep_checkpoints` (0: keep every one)."""
    keep = training.keep_checkpoints
    return [] if keep == 0 else sorted(full_epochs)[:-keep]


def config_from_json(text: str) -> ExperimentConfig:
    """A config stored by any mftctl version: keys added since are filled with their defaults."""
    return validate(json.loads(text))


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def diff_from_preset(config: ExperimentConfig, preset: str | None) -> dict[str, tuple[Any, Any]]:
    """{dotted key: (preset value, run value)} for every value the run changed."""
    base = flatten(preset_dict(preset or "reference_3blob"))
    mine = flatten(config.model_dump(mode="json"))
    return {k: (base.get(k), v) for k, v in mine.items() if base.get(k) != v}


def config_keys() -> list[str]:
    return sorted(flatten(without_retired(ExperimentConfig().model_dump())))


def config_key(name: str) -> str | None:
    """The dotted config key `name` stands for — the key itself, its short name (`lr`, `batch`: the short
    names of list's headers) or a leaf only one key ends in (`learning_rate`) — or None where it names
    none. One vocabulary for `--set`, `list --sort/--where/--columns` and `mftctl.train(set=...)`. A
    leaf that several keys end in is refused, naming them."""
    from .short_names import LONG_NAMES

    keys = config_keys()
    if name in keys:
        return name
    if name in LONG_NAMES:
        return LONG_NAMES[name]
    leaves = [k for k in keys if k.rsplit(".", 1)[-1] == name]
    if len(leaves) > 1:
        raise ConfigError(f"key {name!r} is ambiguous: it may be {', '.join(leaves)}; give the dotted key")
    return leaves[0] if leaves else None


def canonical_keys(table: dict[str, Any], where: str) -> dict[str, Any]:
    """A flat table's keys as dotted config keys (`lr` -> `training.learning_rate`; a key that names no
    config key stays as written, for the caller to refuse with its own words); one key given twice under
    two names is refused, where keeping one would silently drop the other."""
    canonical: dict[str, Any] = {}
    written: dict[str, str] = {}
    for key, value in table.items():
        dotted = config_key(key) or key
        if dotted in canonical:
            raise ConfigError(f"[{where}] gives {dotted} twice (as {written[dotted]} and as {key}); keep one")
        canonical[dotted], written[dotted] = value, key
    return canonical


def key_suggestion(name: str) -> str:
    """` (did you mean training.learning_rate?)` for a mistyped key, dotted, short or leaf; else ''."""
    from .short_names import LONG_NAMES

    keys = config_keys()
    words = {**{k: k for k in keys}, **LONG_NAMES, **{k.rsplit(".", 1)[-1]: k for k in keys}}
    close = difflib.get_close_matches(name, list(words), n=1)
    return f" (did you mean {words[close[0]]}?)" if close else ""


def describe(config: ExperimentConfig) -> list[tuple[str, Any, str]]:
    """(dotted key, value, meaning) for every key of a config, in declaration order."""
    rows = []
    for key, value in flatten(without_retired(config.model_dump())).items():
        section, _, field = key.rpartition(".")
        model: Any = ExperimentConfig.model_fields[section].annotation if section else ExperimentConfig
        rows.append((key, value, model.model_fields[field].description or ""))
    return rows


def preset_summary(name: str) -> dict[str, Any]:
    """The main settings of a preset, as `mftctl presets` shows them: the headline keys, then its length."""
    from .short_names import HEADLINE_KEYS, short

    flat = flatten(preset_dict(name))
    return {
        "preset": name,
        **{short(key): flat[key] for key in HEADLINE_KEYS},
        "n_train": flat["data.n_train"],
        "epochs": flat["training.epochs"],
        "diagnostics": flat["training.enable_diagnostics"],
    }
