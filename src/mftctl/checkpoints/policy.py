"""Which checkpoints a run keeps (pure: no torch, no store): the newest full ones (with optimizer and
RNG state, for resume) and the weights alone at a few evenly spaced epochs (for the blob evolution
figure, `diagnose --epoch`, `reanalyse` and stage 2). The training loop asks `wants_checkpoint`; the
worker's keeper (keep.py) applies the rest. Sizes at reference shapes are in docs/performance.md."""

from __future__ import annotations

from ..config import TrainingConfig


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
