"""Losses with their on (active) and off (inactive) parts.

The target is sparse, so no loss builds the dense x* or the on-mask: the on part gathers the prediction
at the active coordinates, and the off part is the whole squared norm minus that.

Both losses are w_on·Σ_on (f − a)² + w_off·Σ_off f² with per-loss weights (scaled_mse: λ/B, summed over
coordinates and averaged over the batch; mse: 1/(B·d)).

Two kernels compute the training loss from the hidden activations A (B, h) and the decoder (W2, b2):

- dense: f = A W2ᵀ + b2, then one autograd Function computes the loss and its gradient w.r.t. f in two
  passes over the (B, d) prediction. Decoder cost 6·B·d·h FLOP (forward, dW2, dA).
- gram: never forms f. Σ_b ‖f_b‖² = Σ_b a_b·(G a_b + 2v) + B‖b2‖² with G = W2ᵀW2 and v = W2ᵀb2, and the
  off-part gradient 2·w_off·f_b enters dA as 2·w_off·(G a_b + v) and dW2 as 2·w_off·(W2 AᵀA + b2 Σa_bᵀ);
  the active coordinates (k per row) are gathered and corrected exactly. Decoder cost 4·B·h² + 4·d·h²
  FLOP: for h = d/2 a third of the dense kernel's, and no (B, d) tensor besides the input.
Both are the same function of the weights; they differ only in float rounding (tested to 1e-12 in
float64). `auto` picks gram on CPU when its FLOP count is the smaller, and dense on CUDA: a GPU step of
these shapes is bound by kernel launches rather than FLOP, gram's index_add_ uses atomics there (results
reproducible only to rounding), and it has not been measured on a GPU yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from ..config import LossConfig
from .data import Batch

if TYPE_CHECKING:
    from .model import TwoLayerNet


@dataclass
class LossParts:
    total: torch.Tensor
    on: torch.Tensor
    off: torch.Tensor


class _SparseSquaredError(torch.autograd.Function):
    """(total, on, off) of w_on·Σ_on (f − a)² + w_off·Σ_off f², the gradient computed in the forward pass.

    Only the total carries a gradient; the on and off parts are reported, never optimised."""

    @staticmethod
    def forward(ctx, pred, idx, amps, w_on: float, w_off: float):
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
    def backward(ctx, upstream, _on, _off):
        (grad,) = ctx.saved_tensors
        # In place: the saved gradient is used once, and a fresh (B, d) tensor costs page faults on CPU.
        return grad.mul_(upstream), None, None, None, None


class _GramSquaredError(torch.autograd.Function):
    """The same (total, on, off) as _SparseSquaredError of f = A W2ᵀ + b2, from A and the decoder's Gram
    matrix (see the module docstring); gradients for A, W2 and b2."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, idx, amps, w_on: float, w_off: float):
        n, k = idx.shape
        v = weight.t().mv(bias)
        p = torch.addmm(v, hidden, weight.t() @ weight)  # row b: W2ᵀ f_b
        hidden_sum = hidden.sum(0)
        total_sq = torch.dot(hidden.reshape(-1), p.reshape(-1)) + hidden_sum.dot(v) + n * bias.dot(bias)
        rows = weight.index_select(0, idx.reshape(-1)).view(n, k, -1)  # W2 at each active coordinate
        pred_on = torch.linalg.vecdot(rows, hidden.unsqueeze(1)) + bias[idx]
        diff = pred_on - amps
        on = w_on * diff.square().sum()
        off = w_off * (total_sq - pred_on.square().sum())
        # dLoss/df is 2·w_off·f everywhere except at the active coordinates, where it is 2·w_on·(f − a):
        # `correction` is the difference there.
        correction = (2.0 * w_on) * diff - (2.0 * w_off) * pred_on
        ctx.save_for_backward(hidden, hidden_sum, weight, bias, idx, p, rows, correction)
        ctx.w_off = w_off
        ctx.mark_non_differentiable(on, off)
        return on + off, on, off

    @staticmethod
    def backward(ctx, upstream, _on, _off):
        hidden, hidden_sum, weight, bias, idx, p, rows, correction = ctx.saved_tensors
        s = 2.0 * ctx.w_off
        d_hidden = d_weight = d_bias = None
        if ctx.needs_input_grad[0]:  # W2ᵀ dLoss/df_b
            d_hidden = torch.baddbmm(p.unsqueeze(1), correction.unsqueeze(1), rows, beta=s).squeeze(1)
            d_hidden.mul_(upstream)
        if ctx.needs_input_grad[1]:  # Σ_b dLoss/df_b a_bᵀ
            d_weight = torch.addmm(torch.outer(bias, hidden_sum), weight, hidden.t() @ hidden, beta=s, alpha=s)
            for j in range(idx.shape[1]):
                d_weight.index_add_(0, idx[:, j], hidden * correction[:, j : j + 1])
            d_weight.mul_(upstream)
        if ctx.needs_input_grad[2]:  # Σ_b dLoss/df_b
            d_bias = (weight.mv(hidden_sum) + hidden.shape[0] * bias).mul_(s)
            d_bias.index_add_(0, idx.reshape(-1), correction.reshape(-1))
            d_bias.mul_(upstream)
        return d_hidden, d_weight, d_bias, None, None, None, None


def _weights(n: int, d: int, cfg: LossConfig) -> tuple[float, float]:
    if cfg.loss_type == "scaled_mse":
        return cfg.lambda_on / n, cfg.lambda_off / n
    return 1.0 / (n * d), 1.0 / (n * d)


def sample_weights(d: int, cfg: LossConfig) -> tuple[float, float]:
    """(w_on, w_off) of one sample's loss: scaled_mse's λ_on and λ_off, or mse's 1/d for both."""
    return _weights(1, d, cfg)


def loss_parts(pred: torch.Tensor, batch: Batch, cfg: LossConfig) -> LossParts:
    """The loss of a dense prediction f (B, d)."""
    n, d = pred.shape
    w_on, w_off = _weights(n, d, cfg)
    if torch.is_grad_enabled() and pred.requires_grad:
        total, on, off = _SparseSquaredError.apply(pred, batch.idx, batch.amps, w_on, w_off)
        return LossParts(total, on, off)
    pred_on = pred.gather(1, batch.idx)
    on = w_on * (pred_on - batch.amps).square().sum()
    flat = pred.reshape(-1)
    off = w_off * (torch.dot(flat, flat) - pred_on.square().sum())
    return LossParts(on + off, on, off)


def gram_pays(batch_size: int, d: int, hidden_size: int) -> bool:
    """Whether the gram kernel's decoder FLOPs (4·B·h² + 4·d·h²) undercut the dense kernel's forward and
    weight gradient alone (4·B·d·h), the dense cost even when the encoder is frozen."""
    return hidden_size * (batch_size + d) < batch_size * d


def decoder_loss_parts(
    hidden: torch.Tensor, decoder: torch.nn.Linear, batch: Batch, cfg: LossConfig, kernel: str = "auto"
) -> LossParts:
    """The loss of f = decoder(hidden), by the dense or the gram kernel (see the module docstring)."""
    n, h = hidden.shape
    d = decoder.out_features
    if kernel == "dense" or (kernel == "auto" and (hidden.is_cuda or not gram_pays(n, d, h))):
        return loss_parts(decoder(hidden), batch, cfg)
    w_on, w_off = _weights(n, d, cfg)
    total, on, off = _GramSquaredError.apply(hidden, decoder.weight, decoder.bias, batch.idx, batch.amps, w_on, w_off)
    return LossParts(total, on, off)


def l2_penalty(model: TwoLayerNet, encoder_coef: float, decoder_coef: float) -> torch.Tensor | float:
    penalty: torch.Tensor | float = 0.0
    if encoder_coef:
        penalty = penalty + encoder_coef * model.fc1.weight.square().sum()
    if decoder_coef:
        penalty = penalty + decoder_coef * model.fc2.weight.square().sum()
    return penalty
