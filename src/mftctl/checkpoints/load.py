"""A run's checkpoint read back: picked by epoch, verified, and rebuilt as its model from its config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import ExperimentConfig, validate
from ..errors import MftctlError
from ..store import layout, reads
from ..store.engine import Store
from ..store.tables import Checkpoint, Run
from .files import load_checkpoint


@dataclass
class LoadedCheckpoint:
    run: Run
    checkpoint: Checkpoint
    config: ExperimentConfig
    state: dict[str, Any]

    def model(self):
        from ..science.model import build_model

        net = build_model(self.config)
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
