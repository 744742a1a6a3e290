"""Stage 2: frozen encoders sampled from the blob mixture of a finished run, decoder-only training.

The parent process fits the mixture once and writes one child row per trace, holding everything the
child needs to rebuild its encoder: the parent's checkpoint epoch, the fitted mixture (weights, means,
covariances), the control and the sampling seed. The child's worker re-samples from that row, so a
stage-2 run is reproducible from the database alone.
"""

from __future__ import annotations

from typing import Any

from .analysis import load_run_checkpoint
from .config import ExperimentConfig, validate
from .config_input import apply_overrides
from .devices import check_fits
from .errors import MftctlError
from .runner import new_run
from .status import FITTABLE, names
from .store import reads
from .store.engine import Store
from .store.tables import Run

MIXTURE_FIT_SAMPLE = 200_000


def child_config(
    parent_config: ExperimentConfig, stage2: dict[str, Any], hidden: int | None, overrides: list[str]
) -> ExperimentConfig:
    raw = parent_config.model_dump(mode="json")
    raw["stage2"].update({k: v for k, v in stage2.items() if v is not None})
    if hidden is not None:
        raw["model"]["hidden_size"] = hidden
    return validate(apply_overrides(raw, overrides))


def fit_child_mixture(pairs, config: ExperimentConfig, seed: int) -> dict[str, Any]:  # noqa: ANN001
    """The distribution the children's encoders are drawn from, as plain data for the run rows."""
    import numpy as np

    from .science.mixture import fit_mixture

    s2 = config.stage2
    rng = np.random.default_rng(seed)
    if len(pairs) > MIXTURE_FIT_SAMPLE:
        pairs = pairs[rng.choice(len(pairs), MIXTURE_FIT_SAMPLE, replace=False)]
    points = pairs if s2.mixture == "pair" else pairs[:, :1]
    # The `gaussian` control: one component, i.e. the parent's mean and (co)variance — random features.
    k = 1 if s2.control == "gaussian" else s2.num_clusters
    mixture, _ = fit_mixture(points, k, seed)
    return mixture.as_dict()


def plan_children(
    store: Store,
    parent_id: int,
    *,
    epoch: int | None,
    stage2: dict[str, Any],
    hidden: int | None,
    overrides: list[str],
    name: str | None = None,
) -> list[Run]:
    """Check the parent, fit the mixture, write one queued child row per trace. Refusals write nothing."""
    parent = reads.get_run(store, parent_id)
    if parent.status not in FITTABLE:
        raise MftctlError(
            f"run {parent.id} is {parent.status}; stage 2 needs a finished parent "
            f"({names(FITTABLE)}) — wait for it or pick another run"
        )
    loaded = load_run_checkpoint(store, parent, epoch)
    config = child_config(loaded.config, stage2, hidden, overrides)
    s2 = config.stage2
    check_fits(config, "the stage-2 children")
    model = loaded.model()  # also the check that the checkpoint fits its config, before any child row
    if config.data.d != loaded.config.data.d:
        raise MftctlError(
            f"stage 2 keeps the parent's data.d ({loaded.config.data.d}); the children asked for {config.data.d}"
        )
    if s2.control == "parent" and config.model.hidden_size != loaded.config.model.hidden_size:
        raise MftctlError(
            f"--control parent freezes the parent's own encoder ({loaded.config.model.hidden_size} hidden units); "
            f"it cannot have --hidden {config.model.hidden_size}"
        )
    if s2.decoder_init == "sampled" and (s2.mixture != "pair" or s2.control == "parent"):
        raise MftctlError("--decoder-init sampled needs the 2-D pair mixture (--mixture pair, control gmm or gaussian)")
    if s2.control == "parent" and config.stage2.num_traces > 1:
        raise MftctlError("--control parent has one encoder to freeze; use --traces 1")

    from .science.diagnostics import epoch_metrics, pairs_of

    # The parent's blobs by the one measurement, recorded beside the mixture fitted to the same pairs.
    parent_blobs = epoch_metrics(model, loaded.config)
    mixture = None
    if s2.control != "parent":
        mixture = fit_child_mixture(pairs_of(model), config, seed=config.seed + loaded.checkpoint.epoch)
    children = []
    for trace in range(s2.num_traces):
        extra = {
            "parent_epoch": loaded.checkpoint.epoch,
            "control": s2.control,
            "mixture_kind": s2.mixture,
            "decoder_init": s2.decoder_init,
            "trace": trace,
            "sampling_seed": config.seed * 1_000_003 + parent.id * 1_009 + trace,
            "mixture": mixture,
            "parent_blobs": {
                "n_blobs": parent_blobs["n_blobs"],
                "separation": parent_blobs["separation"],
                "masses": [b["mass"] for b in parent_blobs["blobs"]],
                "method": parent_blobs["method"],
            },
        }
        label = name or f"{parent.name}-s2-{s2.control}"
        children.append(
            new_run(
                store,
                config,
                name=f"{label}-{trace}",
                preset=parent.preset,
                kind="stage2",
                parent_id=parent.id,
                extra=extra,
            )
        )
    return children


def sample_encoder(extra: dict[str, Any], h: int, d: int):  # noqa: ANN201
    """(W1', W2' or None) drawn from the child's recorded mixture, entry by entry, in one call."""
    import numpy as np
    import torch

    from .science.mixture import Mixture

    mixture = Mixture.from_dict(extra["mixture"])
    draws = mixture.sample(h * d, np.random.default_rng(extra["sampling_seed"]))
    encoder = torch.from_numpy(draws[:, 0].reshape(h, d)).float()
    decoder = None
    if extra["decoder_init"] == "sampled":
        decoder = torch.from_numpy(draws[:, 1].reshape(h, d).T.copy()).float()
    return encoder, decoder


def prepare_child(store: Store, run: Run, config: ExperimentConfig):  # noqa: ANN201
    """The child's network before training: its frozen encoder in place, the decoder initialised."""
    import torch

    from .science.model import TwoLayerNet
    from .science.train import seed_everything

    extra = run.extra
    seed_everything(config.seed)
    model = TwoLayerNet.from_config(config.data.d, config.model)
    with torch.no_grad():
        if extra["control"] == "parent":
            parent_model = load_run_checkpoint(
                store, reads.get_run(store, run.parent_id), extra["parent_epoch"]
            ).model()
            model.fc1.weight.copy_(parent_model.fc1.weight)
            model.fc1.bias.copy_(parent_model.fc1.bias)
        else:
            encoder, decoder = sample_encoder(extra, config.model.hidden_size, config.data.d)
            model.fc1.weight.copy_(encoder)
            model.fc1.bias.zero_()
            if decoder is not None:
                model.fc2.weight.copy_(decoder)
    return model


def time_to_reach(epochs, target: float) -> tuple[int, float] | None:  # noqa: ANN001
    """(epoch, training seconds so far) of the first epoch whose test loss is at most target."""
    seconds = 0.0
    for e in epochs:
        seconds += e.train_seconds
        if e.test_loss <= target:
            return e.epoch, seconds
    return None
