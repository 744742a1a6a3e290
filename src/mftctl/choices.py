"""The closed sets of names that config keys take, declared once: the config's fields (config.py) are
typed with them, and the CLI's options (cli/) make their choices from them with `choice_enum`, without
importing pydantic to print `--help`."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, get_args

Activation = Literal["tanh3", "tanh", "cube", "relu", "square"]
LossType = Literal["scaled_mse", "mse"]
Optimizer = Literal["adam", "sgld"]
LrSchedule = Literal["constant", "warmup_cosine"]
DecoderKernel = Literal["auto", "dense", "gram"]
MatmulPrecision = Literal["highest", "high", "medium"]
MixtureKind = Literal["pair", "encoder"]
Control = Literal["gmm", "gaussian", "parent"]
DecoderInit = Literal["xavier", "sampled"]
Sampler = Literal["iid", "row", "row-sign", "shuffle"]
# How a stage-2 child gets its decoder: trained by the run's optimiser, or solved exactly (science/decoder.py).
Stage2Decoder = Literal["train", "solve"]
FigureFormat = Literal["png", "svg", "pdf"]  # the files `plot` writes (CLI and mftctl.plot)


# Which sign flips leave a hidden unit's contribution unchanged, per activation: odd σ(−z) = −σ(z) pairs a
# weight pair (w₁, w₂) with (−w₁, −w₂); even σ(−z) = σ(z) pairs it with (−w₁, w₂); relu has neither.
Symmetry = Literal["odd", "even", "none"]
ACTIVATION_SYMMETRY: dict[str, Symmetry] = {
    "tanh3": "odd",
    "tanh": "odd",
    "cube": "odd",
    "relu": "none",
    "square": "even",
}


def choice_enum(name: str, literal: object) -> type[StrEnum]:
    """A StrEnum of a Literal's values, for a typer option (typer takes no list of Literals)."""
    return StrEnum(name, {value.replace("-", "_"): value for value in get_args(literal)})
