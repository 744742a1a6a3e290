"""Which checkpoints a run keeps: the newest full ones (with optimizer and RNG state, for resume) and
the weights alone at a few evenly spaced epochs (for the blob evolution figure, `diagnose --epoch`,
`reanalyse` and stage 2). Sizes at reference shapes are in docs/performance.md."""

from __future__ import annotations

from .config import TrainingConfig
from .science.checkpoints import is_full_epoch, snapshot_epochs

__all__ = ["full_to_drop", "is_full_epoch", "snapshot_epochs"]


def full_to_drop(training: TrainingConfig, full_epochs: list[int]) -> list[int]:
    """Full checkpoints beyond the newest `keep_checkpoints` (0: keep every one)."""
    keep = training.keep_checkpoints
    return [] if keep == 0 else sorted(full_epochs)[:-keep]
