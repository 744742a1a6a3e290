"""Loading a run's checkpoint as a model, and the `diagnose` analysis of one checkpoint, cached in the store."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .artifacts import load_checkpoint
from .config import ExperimentConfig, validate
from .errors import MftctlError
from .store import layout, reads, writes
from .store.engine import Store
from .store.tables import Checkpoint, Run

# Bump when full_analysis changes what it computes: older cached results are then recomputed.
DIAGNOSIS_VERSION = 2  # 2: the blob measurement modes-1


@dataclass
class LoadedCheckpoint:
    run: Run
    checkpoint: Checkpoint
    config: ExperimentConfig
    state: dict[str, Any]

    def model(self):  # noqa: ANN201 - torch stays a lazy import
        from .science.model import TwoLayerNet

        net = TwoLayerNet(self.config.data.d, self.config.model.hidden_size)
        try:
            net.load_state_dict(self.state["model"])
        except (RuntimeError, KeyError) as exc:
            raise MftctlError(
                f"checkpoint {self.checkpoint.path} does not fit its config ({str(exc).splitlines()[0][:100]})"
            ) from None
        return net


def pick_checkpoint(store: Store, run: Run, epoch: int | None) -> Checkpoint:
    checkpoints = reads.checkpoints(store, run.id)
    if not checkpoints:
        raise MftctlError(
            f"run {run.id} has no checkpoint ({run.status}, {run.epochs_done} epochs); "
            "train with training.checkpoint_every >= 1"
        )
    if epoch is None:
        return checkpoints[-1]
    for ckpt in checkpoints:
        if ckpt.epoch == epoch:
            return ckpt
    have = ", ".join(str(c.epoch) for c in checkpoints)
    raise MftctlError(f"run {run.id} has no checkpoint at epoch {epoch}; it has epochs {have}")


def load_run_checkpoint(store: Store, run: Run, epoch: int | None = None) -> LoadedCheckpoint:
    ckpt = pick_checkpoint(store, run, epoch)
    state = load_checkpoint(layout.checkpoint_path(store, ckpt), ckpt.sha256)
    return LoadedCheckpoint(run, ckpt, validate(state["config"]), state)


def diagnose_checkpoint(
    store: Store, run_id: int, *, epoch: int | None = None, recompute: bool = False
) -> dict[str, Any]:
    """The full analysis of one checkpoint, from the cache unless asked to recompute."""
    run = reads.get_run(store, run_id)
    ckpt = pick_checkpoint(store, run, epoch)
    cached = None if recompute else reads.get_diagnosis(store, run.id, ckpt.epoch, DIAGNOSIS_VERSION)
    if cached is not None:
        return json.loads(cached.result_json) | {"cached": True}

    import numpy as np
    import torch

    from .science.baselines import reference_losses
    from .science.data import fixed_test_set
    from .science.diagnostics import full_analysis
    from .science.train import evaluate

    loaded = load_run_checkpoint(store, run, ckpt.epoch)
    config = loaded.config.model_copy(update={"device": "cpu"})
    model = loaded.model()
    test = fixed_test_set(config.data, config.seed, torch.device("cpu"))
    total, on, off = evaluate(model, test, config)
    result = {
        "run": run.id,
        "epoch": ckpt.epoch,
        "test": {"loss": total, "loss_on": on, "loss_off": off},
        "references": reference_losses(config),
        **full_analysis(model, config, np.random.default_rng([config.seed, ckpt.epoch, 7])),
    }
    if not store.read_only:  # a cache: a read-only store computes it each time
        writes.save_diagnosis(store, run.id, ckpt.epoch, DIAGNOSIS_VERSION, result)
    return result | {"cached": False}
