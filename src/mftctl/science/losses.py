"""Losses with their on (active) and off (inactive) parts.

The target is sparse, so neither loss builds the dense x* or the on-mask: the on part gathers the
prediction at the active coordinates, and the off part is the whole squared norm minus that.

Both losses are w_on·Σ_on (f − a)² + w_off·Σ_off f² with per-loss weights (scaled_mse: λ/B, summed over
coordinates and averaged over the batch; mse: 1/(B·d)). When a gradient is wanted, one autograd
Function computes the value and the gradient w.r.t. f in two passes over the (B, d) prediction; left to
autograd, the same loss costs several more passes (square, sum, their backward, the gather's scatter).
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


class _SparseSquaredError(torch.autograd.Function):
    """(total, on, off) of w_on·Σ_on (f − a)² + w_off·Σ_off f², the gradient computed in the forward pass.

    Only the total carries a gradient; the on and off parts are reported, never optimised."""

    @staticmethod
    def forward(ctx, pred, idx, amps, w_on: float, w_off: float):  # noqa: ANN001, ANN205
        pred_on = pred.gather(1, idx)
        diff = pred_on - amps
        flat = pred.reshape(-1)
        on = w_on * diff.square().sum()
        off = w_off * (torch.dot(flat, flat) - pred_on.square().sum())
        grad = pred * (2.0 * w_off)
        grad.scatter_(1, idx, diff * (2.0 * w_on))
        ctx.save_for_backward(grad)
        ctx.mark_non_differentiable(on, off)
        return on + off, on, off

    @staticmethod
    def backward(ctx, upstream, _on, _off):  # noqa: ANN001, ANN205
        (grad,) = ctx.saved_tensors
        # In place: the saved gradient is used once, and a fresh (B, d) tensor costs page faults on CPU.
        return grad.mul_(upstream), None, None, None, None


def _weights(pred: torch.Tensor, cfg: LossConfig) -> tuple[float, float]:
    if cfg.loss_type == "scaled_mse":
        n = pred.shape[0]
        return cfg.lambda_on / n, cfg.lambda_off / n
    n = pred.numel()
    return 1.0 / n, 1.0 / n


def loss_parts(pred: torch.Tensor, batch: Batch, cfg: LossConfig) -> LossParts:
    w_on, w_off = _weights(pred, cfg)
    if torch.is_grad_enabled() and pred.requires_grad:
        total, on, off = _SparseSquaredError.apply(pred, batch.idx, batch.amps, w_on, w_off)
        return LossParts(total, on, off)
    pred_on = pred.gather(1, batch.idx)
    on = w_on * (pred_on - batch.amps).square().sum()
    flat = pred.reshape(-1)
    off = w_off * (torch.dot(flat, flat) - pred_on.square().sum())
    return LossParts(on + off, on, off)


def l2_penalty(model: torch.nn.Module, encoder_coef: float, decoder_coef: float) -> torch.Tensor | float:
    penalty: torch.Tensor | float = 0.0
    if encoder_coef:
        penalty = penalty + encoder_coef * model.fc1.weight.square().sum()
    if decoder_coef:
        penalty = penalty + decoder_coef * model.fc2.weight.square().sum()
    return penalty
