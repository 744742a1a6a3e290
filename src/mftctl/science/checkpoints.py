"""Which epochs the training loop hands to its sink as checkpoints (pure: no torch)."""

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
    return is_full_epoch(training, epoch) or epoch in snapshot_epochs(training)
