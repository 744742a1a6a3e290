"""The loss's curvature at each weight, for the Gibbs comparison (docs/science.md, "Temperature against
curvature"): at SGLD temperature T a weight's stationary extra variance is about T/κ, κ = ∂²L/∂θ² there.

κ is the Hessian's diagonal, estimated by Hutchinson's estimator E[z ⊙ Hz] over Rademacher z, each Hz a
Hessian-vector product (two backward passes through a plainly differentiable copy of the training loss:
the training loop's own loss computes its gradient in the forward pass and has no second derivative).
"""

from __future__ import annotations

import torch

from ..config import ExperimentConfig
from .data import Batch
from .losses import sample_weights
from .model import TwoLayerNet


def plain_loss(model: TwoLayerNet, batch: Batch, config: ExperimentConfig) -> torch.Tensor:
    """The training objective's data term, w_on·Σ_on (f − a)² + w_off·Σ_off f² per sample averaged over
    the batch, in ordinary torch operations (differentiable twice). Equal to the training loop's total."""
    pred = model(batch.x)
    n = pred.shape[0]
    w_on, w_off = sample_weights(pred.shape[1], config.loss)
    on_mask = torch.zeros_like(pred, dtype=torch.bool).scatter_(1, batch.idx, True)
    target = torch.zeros_like(pred).scatter_(1, batch.idx, batch.amps)
    error = (pred - target).square()
    return (w_on * error[on_mask].sum() + w_off * error[~on_mask].sum()) / n


def hessian_diagonal(
    model: TwoLayerNet,
    batch: Batch,
    config: ExperimentConfig,
    probes: int = 64,
    generator: torch.Generator | None = None,
    penalty: bool = True,
) -> dict[str, torch.Tensor]:
    """Hutchinson's estimate of ∂²L/∂θ² for every weight of W1 and W2 (named `fc1.weight`, `fc2.weight`),
    L the loss on `batch` (plus the L2 penalty's constant curvature 2ρ where `penalty`)."""
    params = {"fc1.weight": model.fc1.weight, "fc2.weight": model.fc2.weight}
    loss = plain_loss(model, batch, config)
    grads = torch.autograd.grad(loss, list(params.values()), create_graph=True)
    sums = {name: torch.zeros_like(p) for name, p in params.items()}
    for _ in range(probes):
        zs = [
            torch.randint(0, 2, p.shape, generator=generator, device=p.device).to(p.dtype) * 2 - 1
            for p in params.values()
        ]
        hz = torch.autograd.grad(grads, list(params.values()), grad_outputs=zs, retain_graph=True)
        for name, z, h in zip(params, zs, hz, strict=True):
            sums[name] += z * h
    diagonal = {name: total.detach() / probes for name, total in sums.items()}
    if penalty:
        tc = config.training
        diagonal["fc1.weight"] += 2 * tc.encoder_regularization
        diagonal["fc2.weight"] += 2 * tc.decoder_regularization
    return diagonal
