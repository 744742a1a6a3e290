"""The exact decoder: for a frozen encoder the training objective is quadratic in the decoder (W2, b2),
so its optimum is a closed form (docs/science.md, "The exact decoder").

With ã = (σ(W1 x + b1), 1) the hidden activations and a 1 for the bias, per sample the loss is
w_on Σ_on (f_k − x*_k)² + w_off Σ_off f_k² (scaled_mse: λ_on, λ_off; mse: 1/d each), plus ρ‖W2‖² (the
decoder L2). Each output k is its own problem: with C = E[ã ãᵀ], C_k = E[1{k on} ã ãᵀ] and
r_k = E[1{k on} x*_k ã], its row u_k = (w_k, b_k) solves

    (w_off C + (w_on − w_off) C_k + ρ I′) u_k = w_on r_k,        I′ = I with 0 for the bias,

d solves of size h + 1. C, C_k and r_k are estimated in float64 from fresh samples of the run's own data
law (a stream apart from its training and test data); each sample has `sparsity` active outputs, so C_k
sums only the ~n·sparsity/d samples where k is on: all of them cost n·sparsity·(h+1)² multiply-adds, done
a block of outputs at a time as one batched product.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..config import ExperimentConfig
from .data import Batch, make_generator, two_hot_batch
from .losses import loss_parts, sample_weights
from .model import TwoLayerNet

# Enough that the solved decoder's test loss is stable to < 0.5% at quick and demo shapes (SCIENCE.md).
SOLVE_SAMPLES = 200_000
_SOLVE_STREAM = 2_000_003  # keeps the solve's samples apart from the training (seed) and test (seed + 1_000_003)
_BLOCK = 64  # outputs solved at once: their C_k side by side in memory


@dataclass
class SolvedDecoder:
    """The optimal decoder of one encoder: W2 (d, h) and b2 (d), float32 as the model holds them."""

    weight: torch.Tensor
    bias: torch.Tensor
    samples: int
    train_loss: tuple[float, float, float]  # (total, on, off) on the samples it was solved from, L2 excluded


def _solve(system: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """Batched `system x = rhs`; where a system is singular (an encoder whose hidden units are linearly
    dependent on the data, e.g. rows of near-zero weights with no decoder L2), its minimum-norm solution
    by the pseudo-inverse: every minimiser of a singular quadratic has the same loss."""
    try:
        solution, info = torch.linalg.solve_ex(system, rhs)
    except RuntimeError:  # torch's batched LU can raise on an exactly zero pivot instead of reporting it
        solution, info = torch.zeros_like(rhs), torch.zeros(len(system), dtype=torch.int32, device=rhs.device)
        for i in range(len(system)):
            try:
                solution[i] = torch.linalg.solve(system[i], rhs[i])
            except RuntimeError:
                info[i] = 1
    # Singular (or unsolved) systems whose entries are finite: the pseudo-inverse. A system holding a NaN
    # or an infinity (a diverged encoder) keeps its non-finite solution, as its loss is not finite either.
    finite = torch.isfinite(system).flatten(1).all(dim=1) & torch.isfinite(rhs).all(dim=1)
    bad = ((info != 0) | ~torch.isfinite(solution).all(dim=-1)) & finite
    if bad.any():
        solution[bad] = (torch.linalg.pinv(system[bad], hermitian=True) @ rhs[bad].unsqueeze(-1)).squeeze(-1)
    return solution


def _hidden_with_one(model: TwoLayerNet, x: torch.Tensor) -> torch.Tensor:
    hidden = model.hidden(x).double()
    return torch.cat((hidden, hidden.new_ones(len(hidden), 1)), dim=1)


@torch.no_grad()
def solve_decoder(
    model: TwoLayerNet,
    config: ExperimentConfig,
    *,
    samples: int = SOLVE_SAMPLES,
    batch_size: int = 10_000,
    data: Batch | None = None,
) -> SolvedDecoder:
    """The (W2, b2) minimising the run's expected training objective for `model`'s encoder, estimated from
    `samples` fresh samples (or exactly on `data`, when given), on the model's device."""
    if data is not None:
        samples = len(data)
    if samples < 1:
        raise ValueError(f"samples must be at least 1, not {samples}")
    device = model.fc1.weight.device
    d, h = config.data.d, model.fc1.out_features
    w_on, w_off = sample_weights(d, config.loss)
    rho = config.training.decoder_regularization
    generator = make_generator(config.seed + _SOLVE_STREAM, device)
    # Every sample's ã (float64) and its active outputs and amplitudes, to gather per output below.
    parts, idx_parts, amp_parts = [], [], []
    gram = torch.zeros(h + 1, h + 1, dtype=torch.float64, device=device)
    for start in range(0, samples, batch_size):
        if data is not None:
            batch = data.slice(start, start + batch_size)
        else:
            batch = two_hot_batch(min(batch_size, samples - start), config.data, generator)
        a = _hidden_with_one(model, batch.x)
        gram.addmm_(a.t(), a)
        parts.append(a)
        idx_parts.append(batch.idx)
        amp_parts.append(batch.amps.double())
    hidden = torch.cat(parts)
    gram /= samples
    # (sample, output) pairs for every active output, sorted by output: each output's samples are a run.
    k_active = idx_parts[0].shape[1]
    outputs = torch.cat(idx_parts).reshape(-1)
    rows = torch.arange(samples, device=device).repeat_interleave(k_active)
    amps = torch.cat(amp_parts).reshape(-1)
    order = torch.argsort(outputs, stable=True)
    outputs, rows, amps = outputs[order], rows[order], amps[order]
    counts = torch.bincount(outputs, minlength=d)
    offsets = torch.cumsum(counts, 0) - counts
    ridge = torch.full((h + 1,), rho, dtype=torch.float64, device=device)
    ridge[-1] = 0.0  # the bias is not penalised
    solution = torch.empty(d, h + 1, dtype=torch.float64, device=device)
    for first in range(0, d, _BLOCK):
        block = range(first, min(first + _BLOCK, d))
        width = int(counts[first : block.stop].max()) if len(block) else 0
        # Each output's active samples, zero-padded to the block's largest count (zeros add nothing).
        gathered = torch.zeros(len(block), max(width, 1), h + 1, dtype=torch.float64, device=device)
        targets = torch.zeros(len(block), max(width, 1), dtype=torch.float64, device=device)
        for j, k in enumerate(block):
            n_k, at = int(counts[k]), int(offsets[k])
            gathered[j, :n_k] = hidden[rows[at : at + n_k]]
            targets[j, :n_k] = amps[at : at + n_k]
        c_k = torch.bmm(gathered.transpose(1, 2), gathered) / samples
        r_k = torch.bmm(gathered.transpose(1, 2), targets.unsqueeze(2)).squeeze(2) / samples
        system = w_off * gram + (w_on - w_off) * c_k + torch.diag(ridge)
        solution[first : block.stop] = _solve(system, w_on * r_k)
    # Its loss on the samples it was solved from (the training loss, as an epoch records it), in chunks.
    totals = torch.zeros(3, dtype=torch.float64, device=device)
    for a, idx, amp in zip(parts, idx_parts, amp_parts, strict=True):
        pred = a @ solution.t()
        loss = loss_parts(pred, Batch(pred, idx, amp), config.loss)
        totals += torch.stack((loss.total, loss.on, loss.off)) * len(a)
    total, on, off = (totals / samples).tolist()
    return SolvedDecoder(
        weight=solution[:, :h].float().contiguous(),
        bias=solution[:, h].float().contiguous(),
        samples=samples,
        train_loss=(total, on, off),
    )


def with_decoder(model: TwoLayerNet, solved: SolvedDecoder) -> TwoLayerNet:
    """A copy of `model` whose decoder is `solved` (the encoder shared, unchanged)."""
    import copy

    out = copy.deepcopy(model)
    with torch.no_grad():
        out.fc2.weight.copy_(solved.weight)
        out.fc2.bias.copy_(solved.bias)
    return out
