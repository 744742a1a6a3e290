"""Reference test losses for a run's own loss definition: output 0, identity, Bayes posterior mean."""

from __future__ import annotations

import torch

from ..config import ExperimentConfig
from .data import Batch, fixed_test_set
from .losses import loss_parts


def bayes_posterior_mean(x: torch.Tensor, amplitude: float, noise_variance: float) -> torch.Tensor:
    """E[x* | x] for two-hot signals of fixed amplitude A, computed in log space.

    With w_j = exp(A x_j / σ²) and p = softmax(log w): P(j active | x) = w_j (W − w_j) / Z
    = p_j (1 − p_j) / (½ Σ_k p_k (1 − p_k)), so the estimate is A times that. log(1 − p_j) of the
    largest p_j is taken from the sum of the others: 1 − p_j itself cancels to 0 in floating point.
    """
    logp = torch.log_softmax((amplitude / noise_variance) * x.double(), dim=1)
    log_rest = torch.log1p(-logp.exp().clamp(max=0.5))  # exact wherever p_j <= 1/2
    top = logp.argmax(dim=1, keepdim=True)
    others = logp.scatter(1, top, float("-inf")).logsumexp(dim=1, keepdim=True)
    log_rest = log_rest.scatter(1, top, others)
    log_pair = logp + log_rest
    posterior = 2.0 * torch.softmax(log_pair, dim=1)  # two coordinates are active
    return (amplitude * posterior).to(x.dtype)


def _loss(pred: torch.Tensor, data: Batch, config: ExperimentConfig) -> dict[str, float]:
    parts = loss_parts(pred, data, config.loss)
    return {"loss": parts.total.item(), "loss_on": parts.on.item(), "loss_off": parts.off.item()}


@torch.no_grad()
def reference_losses(config: ExperimentConfig, device: torch.device | str = "cpu") -> dict[str, dict | None]:
    """Each reference on the run's own fixed test set. Bayes is None unless the task is two-hot with a
    fixed amplitude and some noise (where the formula above is exact)."""
    data = fixed_test_set(config.data, config.seed, torch.device(device))
    refs: dict[str, dict | None] = {
        "zero": _loss(torch.zeros_like(data.x), data, config),
        "identity": _loss(data.x, data, config),
        "bayes": None,
    }
    dc = config.data
    if dc.sparsity == 2 and dc.amplitude_min == dc.amplitude_max and dc.noise_variance > 0:
        refs["bayes"] = _loss(bayes_posterior_mean(data.x, dc.amplitude_min, dc.noise_variance), data, config)
    return refs
