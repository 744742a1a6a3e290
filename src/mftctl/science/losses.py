"""Losses with their on (active) and off (inactive) parts.

The target is sparse, so neither loss builds the dense x* or the on-mask: the on part gathers the
prediction at the active coordinates, and the off part is the whole squared norm minus that.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..config import LossConfig
from .data import Batch


@dataclass
class LossParts:
    total: torch.Tensor
    on: torch.Tensor
    off: torch.Tensor


def loss_parts(pred: torch.Tensor, batch: Batch, cfg: LossConfig) -> LossParts:
    pred_on = pred.gather(1, batch.idx)
    on_sq = (pred_on - batch.amps).square().sum()
    off_sq = pred.square().sum() - pred_on.square().sum()
    if cfg.loss_type == "scaled_mse":
        # Summed over coordinates, averaged over the batch (SCIENCE.md).
        n = pred.shape[0]
        on, off = cfg.lambda_on * on_sq / n, cfg.lambda_off * off_sq / n
    else:
        n = pred.numel()
        on, off = on_sq / n, off_sq / n
    return LossParts(on + off, on, off)


def l2_penalty(model: torch.nn.Module, encoder_coef: float, decoder_coef: float) -> torch.Tensor | float:
    penalty: torch.Tensor | float = 0.0
    if encoder_coef:
        penalty = penalty + encoder_coef * model.fc1.weight.square().sum()
    if decoder_coef:
        penalty = penalty + decoder_coef * model.fc2.weight.square().sum()
    return penalty
