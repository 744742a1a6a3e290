"""The closed sets of names that config keys take, declared once: the config's fields (config.py) are
typed with them, and the CLI's options (cli/) make their choices from them with `choice_enum`, without
importing pydantic to print `--help`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, cast, get_args

Activation = Literal["tanh3", "tanh", "cube", "relu", "square"]
LossType = Literal["scaled_mse", "mse"]
Optimizer = Literal["adam", "sgld"]
LrSchedule = Literal["constant", "warmup_cosine"]
DecoderKernel = Literal["auto", "dense", "gram"]
MatmulPrecision = Literal["highest", "high", "medium"]
MixtureKind = Literal["pair", "encoder"]
Control = Literal["gmm", "gaussian", "parent"]
DecoderInit = Literal["xavier", "sampled"]
Sampler = Literal["iid", "row", "row-sign", "shuffle", "rewire", "code"]
# A stage-2 child's encoder bias b1: the parent's (each row's own where the sampler keeps rows), none, or
# auto — the parent's for `--control parent`, none for the samplers (every release before this key).
Stage2Bias = Literal["auto", "parent", "zero"]
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


@dataclass(frozen=True)
class SamplerTraits:
    """What a stage-2 sampler needs and keeps, declared once: the planner's refusals, what the plan
    records for the child, and how the child rebuilds its encoder all read these."""

    summary: str  # for --help and the docs
    # Reads the parent's encoder itself (its rows, or its outlier degrees): the child loads the parent's
    # checkpoint, and the children keep the parent's hidden size.
    needs_parent_encoder: bool = False
    needs_compositions: bool = False  # per-row blob counts of the parent, recorded in the child's row
    needs_odd: bool = False  # flips signs, which keeps a unit's function only for an odd activation
    draws_decoder: bool = True  # draws (encoder, decoder) pairs, so --decoder-init sampled can use them
    # Reads the parent's outliers (entries beyond half its outer blobs' |W1| centre): a parent with one
    # blob, whose outer blobs have not formed, has none and is refused.
    needs_outliers: bool = False


SAMPLER_TRAITS: dict[str, SamplerTraits] = {
    "iid": SamplerTraits("every entry drawn from the pair mixture on its own"),
    "row": SamplerTraits("per row, a parent row's outlier count", needs_compositions=True),
    "row-sign": SamplerTraits(
        "per row, a parent row's blob composition, the row's sign random", needs_compositions=True, needs_odd=True
    ),
    "shuffle": SamplerTraits("the parent's rows, each permuted", needs_parent_encoder=True, draws_decoder=False),
    "rewire": SamplerTraits(
        "the parent's outliers moved by degree-preserving swaps",
        needs_parent_encoder=True,
        draws_decoder=False,
        needs_outliers=True,
    ),
    "code": SamplerTraits(
        "a fresh code with the parent's row and column degrees, its crosstalk annealed",
        needs_parent_encoder=True,
        needs_odd=True,
        needs_outliers=True,
    ),
}


def choice_enum(name: str, literal: object) -> type[StrEnum]:
    """A StrEnum of a Literal's values, for a typer option (typer takes no list of Literals)."""
    members = {value.replace("-", "_"): value for value in get_args(literal)}
    return cast("type[StrEnum]", StrEnum(name, members))  # the functional API makes a class, not a member
