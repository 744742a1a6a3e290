"""What the training loop reports each epoch: the one declaration of an epoch's numbers (the store's epoch
table takes its columns from it). Plain data, no torch: the store imports it for nothing."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
