"""The worker's side of the checkpoint policy: write what the training loop hands over, record it, and
drop or slim the older ones as the run's training config says (config.py: is_full_epoch,
snapshot_epochs, full_to_drop) — never one a stage-2 child was planned from."""

from __future__ import annotations

from typing import Any

from ..config import TrainingConfig, full_to_drop, is_full_epoch, snapshot_epochs
from ..store import layout, reads, writes
from ..store.engine import Store
from ..store.layout import FULL, WEIGHTS
from .files import load_checkpoint, save_checkpoint, weights_only


class CheckpointKeeper:
    """One run's checkpoints as it trains."""

    def __init__(self, store: Store, run_id: int, training: TrainingConfig):
        self.store, self.run_id, self.training = store, run_id, training

    def keep(self, epoch: int, state: dict[str, Any]) -> None:
        """A full checkpoint on full epochs (older ones beyond keep_checkpoints dropped, or slimmed to their
        weights on snapshot epochs), else the weights."""
        if not is_full_epoch(self.training, epoch):
            self._save(epoch, weights_only(state), WEIGHTS)
            return
        self._save(epoch, state, FULL)
        full = [c.epoch for c in reads.checkpoints(self.store, self.run_id) if c.kind == FULL]
        pinned = reads.pinned_epochs(self.store, self.run_id)  # a child planned from it still needs it whole
        for old in full_to_drop(self.training, [e for e in full if e not in pinned]):
            if old in snapshot_epochs(self.training):
                self._slim(old)
            else:
                writes.drop_checkpoint(self.store, self.run_id, old)

    def _save(self, epoch: int, state: dict[str, Any], kind: str) -> None:
        path = layout.new_checkpoint_path(self.store, self.run_id, epoch, kind)
        size, digest = save_checkpoint(path, state, epoch)
        writes.record_checkpoint(self.store, self.run_id, epoch, path, size, digest, kind)

    def _slim(self, epoch: int) -> None:
        """A full checkpoint that is also an evolution snapshot keeps its weights, loses the rest."""
        row = next(c for c in reads.checkpoints(self.store, self.run_id) if c.epoch == epoch)
        full_path = layout.checkpoint_path(self.store, row)
        self._save(epoch, weights_only(load_checkpoint(full_path, row.sha256)), WEIGHTS)
        full_path.unlink(missing_ok=True)


def resume_state(store: Store, run_id: int, epoch: int) -> dict[str, Any] | None:
    """The checkpoint a resumed run continues from (verified against its recorded hash); None for epoch 0."""
    if not epoch:
        return None
    ckpt = next(c for c in reads.checkpoints(store, run_id) if c.epoch == epoch)
    return load_checkpoint(layout.checkpoint_path(store, ckpt), ckpt.sha256)
