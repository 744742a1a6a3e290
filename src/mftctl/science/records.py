"""What the training loop reports each epoch: the one declaration of an epoch's numbers (the store's epoch
table takes its columns from it), and what a run's blob history says: formed or not, and since when.
Plain data, no torch: the store imports it for nothing."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# Blobs whose shallowest valley is at least this deep count as formed (docs/science.md: the reference
# run crosses it at epoch 13 of 20; lumps of a forming continuum stay well below).
FORMED_SEPARATION = 0.8


@dataclass
class EpochRecord:
    epoch: int  # 1-based
    train_loss: float
    train_loss_on: float
    train_loss_off: float
    test_loss: float
    test_loss_on: float
    test_loss_off: float
    seconds: float  # the whole epoch: training, evaluation, diagnostics
    train_seconds: float
    samples_per_s: float  # training samples per second of training time
    lr: float
    diagnostics: dict[str, Any] | None = None
    # The condensation snapshots taken during the epoch (science/condensation.Condensation.as_dict), where
    # `diagnostics.condensation_every` asks for them; stored in the epoch's report beside the blobs.
    condensation: list[dict[str, Any]] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# EpochRecord's fields that are not an epoch's numbers (the store's epoch columns are the others).
NOT_COLUMNS = ("epoch", "diagnostics", "condensation")


def blob_state(n_blobs: int | None, separation: float | None) -> str:
    """formed (every valley at least FORMED_SEPARATION deep), forming (shallower) or none (one blob)."""
    if not n_blobs or n_blobs < 2 or separation is None:
        return "none"
    return "formed" if separation >= FORMED_SEPARATION else "forming"


def formed_epoch(history: list[tuple[int, int | None, float | None]]) -> int | None:
    """The first epoch from which the blobs stay formed to the end — every later measured epoch formed,
    with the final blob count — from (epoch, n_blobs, separation) in epoch order; epochs without a blob
    report are passed over. None when the last measured epoch is not formed (or none was measured)."""
    measured = [(e, n, s) for e, n, s in history if n is not None]
    if not measured or blob_state(measured[-1][1], measured[-1][2]) != "formed":
        return None
    final = measured[-1][1]
    since = measured[-1][0]
    for epoch, n, separation in reversed(measured):
        if n != final or blob_state(n, separation) != "formed":
            break
        since = epoch
    return since
