"""Two-hot denoising data, generated a whole batch at a time on the training device."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
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


NOISE_STREAMS = 8
_NOISE_SALT = 0x6E6F697365  # keeps the noise seeds apart from any other use of the run's seed
_PARALLEL_MIN = 1 << 20  # below a million numbers, handing blocks to threads costs more than it saves


class NoiseStreams:
    """Standard normal noise from NOISE_STREAMS generators, each filling its own block of rows, in
    parallel threads on CPU.

    torch's CPU normal_ runs on one core (one Mersenne Twister per generator), a large share of a step
    on a many-core machine (docs/performance.md). Which rows each generator fills is fixed, so the
    numbers depend on the seed alone, never on the thread count.
    """

    def __init__(self, seed: int, device: torch.device):
        seeds = np.random.SeedSequence([seed, _NOISE_SALT]).generate_state(NOISE_STREAMS, np.uint64)
        self.generators = [make_generator(int(s), device) for s in seeds]
        workers = min(NOISE_STREAMS, torch.get_num_threads())
        parallel = torch.device(device).type == "cpu" and workers > 1
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="mftctl-noise") if parallel else None

    def fill_(self, x: torch.Tensor) -> torch.Tensor:
        pairs = list(zip(x.tensor_split(NOISE_STREAMS), self.generators, strict=True))
        if self._pool is None or x.numel() < _PARALLEL_MIN:
            for block, gen in pairs:
                block.normal_(generator=gen)
        else:  # normal_ releases the GIL, so the threads fill their blocks at once
            list(self._pool.map(lambda pair: pair[0].normal_(generator=pair[1]), pairs))
        return x

    def get_state(self) -> list[torch.Tensor]:
        return [gen.get_state() for gen in self.generators]

    def set_state(self, states: Sequence[torch.Tensor]) -> None:
        for gen, state in zip(self.generators, states, strict=True):
            gen.set_state(state)

    def __enter__(self) -> NoiseStreams:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pool is not None:
            self._pool.shutdown()


def two_hot_batch(
    batch_size: int,
    cfg: DataConfig,
    generator: torch.Generator,
    out: torch.Tensor | None = None,
    noise: NoiseStreams | None = None,
) -> Batch:
    """A fresh batch: active coordinates and amplitudes from `generator`, the noise from `noise` when given
    (the training loop's parallel streams), else from `generator` too.

    `out`, a (batch_size, d) float tensor, is reused for the input when given (the training loop passes
    the previous step's: a new 40 MB tensor every step costs page faults on CPU)."""
    device = generator.device
    idx = active_indices(batch_size, cfg.d, cfg.sparsity, generator)
    if cfg.amplitude_min == cfg.amplitude_max:
        amps = torch.full(idx.shape, cfg.amplitude_min, device=device)
    else:
        amps = torch.rand(idx.shape, generator=generator, device=device)
        amps = cfg.amplitude_min + (cfg.amplitude_max - cfg.amplitude_min) * amps
    reuse = out if out is not None and out.shape == (batch_size, cfg.d) else None
    if noise is not None:
        x = noise.fill_(reuse if reuse is not None else torch.empty(batch_size, cfg.d, device=device))
    elif reuse is not None:
        x = reuse.normal_(generator=generator)
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
