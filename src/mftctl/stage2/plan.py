"""Stage 2 on the parent's side: check the parent and the options, fit the blob mixture once, and write
one queued child row per trace, holding everything the child needs to rebuild its encoder: the parent's
checkpoint epoch, the fitted mixture (weights, means, covariances), the control and the sampling seed.
The child's worker re-samples from that row (child.py), so a stage-2 run is reproducible from the
database alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..checkpoints.load import load_run_checkpoint
from ..choices import ACTIVATION_SYMMETRY, SAMPLER_TRAITS
from ..config import ExperimentConfig, validate
from ..config_input import apply_overrides
from ..devices import check_fits
from ..errors import MftctlError
from ..runs.lifecycle import new_run
from ..status import FITTABLE, names
from ..store import reads
from ..store.engine import Store
from ..store.tables import Run

MIXTURE_FIT_SAMPLE = 200_000


def stage2_parents(store: Store, sweep_id: int) -> list[int]:
    """The completed stage-1 runs of a sweep (`stage2 --sweep`), in id order."""
    sweep = reads.get_sweep(store, sweep_id)
    parents = [r.id for r in reads.sweep_runs(store, sweep.id) if r.kind == "train" and r.status == "completed"]
    if not parents:
        raise MftctlError(f"sweep {sweep_id} has no completed run yet; `mftctl sweep show {sweep_id}` says why")
    return parents


def child_config(
    parent_config: ExperimentConfig, stage2: dict[str, Any], hidden: int | None, overrides: list[str]
) -> ExperimentConfig:
    raw = parent_config.model_dump(mode="json")
    raw["stage2"].update({k: v for k, v in stage2.items() if v is not None})
    if hidden is not None:
        raw["model"]["hidden_size"] = hidden
    if raw["stage2"]["decoder"] == "solve":  # one solve, recorded as the child's one epoch
        raw["training"]["epochs"] = 1
    return validate(apply_overrides(raw, overrides))


def fit_child_mixture(pairs, config: ExperimentConfig, seed: int) -> dict[str, Any]:
    """The distribution the children's encoders are drawn from, as plain data for the run rows."""
    import numpy as np

    from ..science.mixture import fit_mixture

    s2 = config.stage2
    rng = np.random.default_rng(seed)
    if len(pairs) > MIXTURE_FIT_SAMPLE:
        pairs = pairs[rng.choice(len(pairs), MIXTURE_FIT_SAMPLE, replace=False)]
    points = pairs if s2.mixture == "pair" else pairs[:, :1]
    # The `gaussian` control: one component, i.e. the parent's mean and (co)variance — random features.
    k = 1 if s2.control == "gaussian" else s2.num_clusters
    mixture, _ = fit_mixture(points, k, seed)
    return mixture.as_dict()


@dataclass
class ChildPlan:
    """A stage-2 child not yet written: its config, name and the facts its row records."""

    parent: Run
    config: ExperimentConfig
    name: str
    extra: dict[str, Any]


def _refuse_unfit(config: ExperimentConfig, parent_config: ExperimentConfig) -> None:
    """The combinations of options a child cannot be made from, each in one line."""
    s2, parent_h, h = config.stage2, parent_config.model.hidden_size, config.model.hidden_size
    if config.data.d != parent_config.data.d:
        raise MftctlError(
            f"stage 2 keeps the parent's data.d ({parent_config.data.d}); the children asked for {config.data.d}"
        )
    if s2.control == "parent" and h != parent_h:
        raise MftctlError(
            f"--control parent freezes the parent's own encoder ({parent_h} hidden units); it cannot have --hidden {h}"
        )
    if s2.decoder_init == "sampled" and (s2.mixture != "pair" or s2.control == "parent"):
        raise MftctlError("--decoder-init sampled needs the 2-D pair mixture (--mixture pair, control gmm or gaussian)")
    if s2.control == "parent" and s2.num_traces > 1:
        raise MftctlError("--control parent has one encoder to freeze; use --traces 1")
    if s2.sampler != "iid" and s2.control != "gmm":
        raise MftctlError(f"--sampler {s2.sampler} draws from the fitted mixture: it needs --control gmm")
    if s2.control != "gmm":
        return
    traits = SAMPLER_TRAITS[s2.sampler]
    for whose, activation in (("parent's", parent_config.model.activation), ("children's", config.model.activation)):
        if traits.needs_odd and ACTIVATION_SYMMETRY[activation] != "odd":
            *others, last = [name for name, t in SAMPLER_TRAITS.items() if not t.needs_odd]
            usable = f"{', '.join(others)} or {last}" if others else last
            raise MftctlError(
                f"--sampler {s2.sampler} chooses signs freely, which keeps a network's function only for an odd "
                f"activation; the {whose} is {activation} ({ACTIVATION_SYMMETRY[activation]}): use {usable}"
            )
    if traits.needs_parent_encoder and h != parent_h:
        raise MftctlError(
            f"--sampler {s2.sampler} keeps the parent's {parent_h} rows' outlier counts; it cannot have --hidden {h}"
            if s2.sampler != "shuffle"
            else f"--sampler shuffle permutes the parent's {parent_h} rows; it cannot have --hidden {h}"
        )
    if not traits.draws_decoder and s2.decoder_init == "sampled":
        raise MftctlError(
            f"--sampler {s2.sampler} keeps the parent's encoder values; --decoder-init sampled needs a draw"
        )


def resolved_bias(s2) -> str:
    """The child's encoder bias, `auto` resolved: the parent's for the parent control, zero otherwise."""
    if s2.b1 != "auto":
        return s2.b1
    return "parent" if s2.control == "parent" else "zero"


def plan_children(
    store: Store,
    parent_id: int,
    *,
    epoch: int | None,
    stage2: dict[str, Any],
    samplers: list[str],
    hidden: int | None,
    overrides: list[str],
    name: str | None = None,
) -> list[ChildPlan]:
    """Check the parent and every sampler's config, fit the mixture once, and plan one child per sampler
    and trace. Writes nothing: `write_children` does, once every parent and sampler has been checked."""
    parent = reads.get_run(store, parent_id)
    if parent.status not in FITTABLE:
        raise MftctlError(
            f"run {parent.id} is {parent.status}; stage 2 needs a finished parent "
            f"({names(FITTABLE)}) — wait for it or pick another run"
        )
    loaded = load_run_checkpoint(store, parent, epoch)
    configs = {
        sampler: child_config(loaded.config, stage2 | {"sampler": sampler}, hidden, overrides) for sampler in samplers
    }
    for config in configs.values():
        check_fits(config, "the stage-2 children")
        _refuse_unfit(config, loaded.config)
    model = loaded.model()  # also the check that the checkpoint fits its config, before any child row

    from ..science.diagnostics import epoch_metrics, pairs_of
    from ..science.samplers import outlier_threshold

    # The parent's blobs by the one measurement, recorded beside the mixture fitted to the same pairs.
    # The mixture and the row compositions depend on the parent and the mixture options, not on the
    # sampler: computed once for all of them.
    parent_blobs = epoch_metrics(model, loaded.config)
    threshold = outlier_threshold(parent_blobs["blobs"])
    reading = [s for s, c in configs.items() if c.stage2.control == "gmm" and SAMPLER_TRAITS[s].needs_outliers]
    if reading and threshold is None:
        raise MftctlError(
            f"--sampler {reading[0]} reads the parent's outliers, and run {parent.id} has one blob at epoch "
            f"{loaded.checkpoint.epoch} (no outer blob formed): pick a checkpoint or run whose blobs have formed"
        )
    ceiling = parent_ceiling(model, loaded.config)
    first = next(iter(configs.values()))
    mixture = compositions = None
    if first.stage2.control != "parent":
        pairs = pairs_of(model)
        mixture = fit_child_mixture(pairs, first, seed=first.seed + loaded.checkpoint.epoch)
        if any(SAMPLER_TRAITS[c.stage2.sampler].needs_compositions for c in configs.values()):
            compositions = parent_row_compositions(mixture, pairs, first, loaded.config.model.hidden_size)
    plans = []
    for config in configs.values():
        s2 = config.stage2
        method = s2.sampler if s2.control == "gmm" else s2.control
        for trace in range(s2.num_traces):
            extra = {
                "parent_epoch": loaded.checkpoint.epoch,
                "control": s2.control,
                "sampler": s2.sampler if s2.control == "gmm" else None,
                "row_compositions": compositions if SAMPLER_TRAITS[s2.sampler].needs_compositions else None,
                "b1": resolved_bias(s2),
                "mixture_kind": s2.mixture,
                "decoder_init": s2.decoder_init,
                "trace": trace,
                "sampling_seed": config.seed * 1_000_003 + parent.id * 1_009 + trace,
                "mixture": mixture,
                "parent_solved": ceiling,
                # Where an encoder entry counts as an outlier (science/samplers.outlier_threshold).
                "outlier_threshold": threshold,
                "parent_blobs": {
                    "n_blobs": parent_blobs["n_blobs"],
                    "separation": parent_blobs["separation"],
                    "masses": [b["mass"] for b in parent_blobs["blobs"]],
                    "method": parent_blobs["method"],
                },
            }
            plans.append(ChildPlan(parent, config, f"{name or f'{parent.name}-s2-{method}'}-{trace}", extra))
    return plans


def parent_ceiling(model, config: ExperimentConfig) -> dict[str, float]:
    """The parent's own encoder with its decoder solved exactly (science/decoder.py): the loss the
    children's encoders are held against, without any optimiser's noise in it."""
    import torch

    from ..science.data import fixed_test_set
    from ..science.decoder import solve_decoder, with_decoder
    from ..science.train import evaluate

    test = fixed_test_set(config.data, config.seed, torch.device("cpu"))
    loss, on, off = evaluate(with_decoder(model, solve_decoder(model, config)), test, config)
    return {"loss": loss, "loss_on": on, "loss_off": off}


def write_children(store: Store, plans: list[ChildPlan]) -> list[Run]:
    """One queued child row per plan."""
    return [
        new_run(
            store,
            plan.config,
            name=plan.name,
            preset=plan.parent.preset,
            kind="stage2",
            parent_id=plan.parent.id,
            extra=plan.extra,
        )
        for plan in plans
    ]


def parent_row_compositions(mixture: dict[str, Any], pairs, config: ExperimentConfig, h: int) -> list:
    """How many of each parent row's entries fall in each mixture component (plain lists, for the row)."""
    from ..science.mixture import Mixture
    from ..science.samplers import row_compositions

    points = pairs if config.stage2.mixture == "pair" else pairs[:, :1]
    return row_compositions(Mixture.from_dict(mixture), points, h).tolist()
