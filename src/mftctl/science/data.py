"""Two-hot denoising data, generated a whole batch at a time on the training device."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..config import DataConfig


@dataclass
class Batch:
    """A noisy input and its clean target, kept sparse: the target is (idx, amps) rather than a dense x*."""

    x: torch.Tensor  # (B, d) noisy input x* + n
    idx: torch.Tensor  # (B, k) active coordinates, distinct within a row
    amps: torch.Tensor  # (B, k) their clean values

    def __len__(self) -> int:
        return self.x.shape[0]

    def clean(self) -> torch.Tensor:
        """The dense target x* (for references and tests; the losses never need it)."""
        return torch.zeros_like(self.x).scatter_(1, self.idx, self.amps)

    def on_mask(self) -> torch.Tensor:
        return torch.zeros_like(self.x).scatter_(1, self.idx, 1.0)

    def slice(self, start: int, stop: int) -> Batch:
        return Batch(self.x[start:stop], self.idx[start:stop], self.amps[start:stop])


def active_indices(batch_size: int, d: int, k: int, generator: torch.Generator) -> torch.Tensor:
    """k distinct coordinates per row, uniformly at random.

    For k = 2 this is O(B): draw i in 0..d-1 and j in 0..d-2, then shift j past i. Otherwise the k
    smallest of d uniform keys per row (O(B·d), the size of the batch itself).
    """
    device = generator.device
    if k == 1:
        return torch.randint(d, (batch_size, 1), generator=generator, device=device)
    if k == 2:
        i = torch.randint(d, (batch_size,), generator=generator, device=device)
        j = torch.randint(d - 1, (batch_size,), generator=generator, device=device)
        j = j + (j >= i).long()
        return torch.stack((i, j), dim=1)
    keys = torch.rand(batch_size, d, generator=generator, device=device)
    return keys.topk(k, dim=1, largest=False).indices


def two_hot_batch(
    batch_size: int, cfg: DataConfig, generator: torch.Generator, out: torch.Tensor | None = None
) -> Batch:
    """A fresh batch; `out`, a (batch_size, d) float tensor, is reused for the input when given (the
    training loop passes the previous step's: a new 40 MB tensor every step costs page faults on CPU)."""
    device = generator.device
    idx = active_indices(batch_size, cfg.d, cfg.sparsity, generator)
    if cfg.amplitude_min == cfg.amplitude_max:
        amps = torch.full(idx.shape, cfg.amplitude_min, device=device)
    else:
        amps = torch.rand(idx.shape, generator=generator, device=device)
        amps = cfg.amplitude_min + (cfg.amplitude_max - cfg.amplitude_min) * amps
    if out is not None and out.shape == (batch_size, cfg.d):
        x = out.normal_(generator=generator)
    else:
        x = torch.randn(batch_size, cfg.d, generator=generator, device=device)
    x.mul_(cfg.noise_variance**0.5).scatter_add_(1, idx, amps)
    return Batch(x, idx, amps)


def make_generator(seed: int, device: torch.device) -> torch.Generator:
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen


def fixed_test_set(cfg: DataConfig, seed: int, device: torch.device) -> Batch:
    """The fixed test set of a run: the same for every epoch and for every run with this seed."""
    # Offset keeps the test stream apart from the training stream of the same seed.
    return two_hot_batch(cfg.n_test, cfg, make_generator(seed + 1_000_003, device))
