"""Optimisers and the learning-rate schedule."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from ..config import TrainingConfig


class SGLD(torch.optim.Optimizer):
    """Stochastic gradient Langevin dynamics: θ ← θ − lr·∇L + sqrt(2·lr·T)·ξ, ξ ~ N(0, I).

    A real Optimizer, so its state (none beyond hyper-parameters) checkpoints like Adam's. The noise
    comes from torch's global generator, which the checkpoint saves and restores.
    """

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float, temperature: float = 0.0):
        if lr <= 0:
            raise ValueError(f"SGLD lr must be positive, not {lr}")
        if temperature < 0:
            raise ValueError(f"SGLD temperature must be non-negative, not {temperature}")
        super().__init__(params, {"lr": lr, "temperature": temperature})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, temperature = group["lr"], group["temperature"]
            noise_std = math.sqrt(2.0 * lr * temperature)
            for p in group["params"]:
                if p.grad is None:
                    continue
                p.add_(p.grad, alpha=-lr)
                if noise_std > 0:
                    p.add_(torch.randn_like(p), alpha=noise_std)
        return loss


def skip_lazy_dynamo_import() -> None:
    """torch.optim wraps Optimizer.add_param_group, zero_grad, state_dict and load_state_dict in
    torch._disable_dynamo, whose first call imports torch._dynamo (1.0 s here, a third of a worker's
    start-up) only so that torch.compile will not trace them. Nothing here is compiled, so each wrapper is
    handed the plain function as its cached "disabled" version, and the import never happens. Should a
    torch release change the wrapper, this matches nothing and torch imports dynamo as before.
    It changes torch's functions for the whole process, so only the worker calls it (a notebook that
    imports mftctl and also compiles its own optimizer keeps torch's behaviour).
    (tests/test_science.py checks that a worker's training, checkpointing and resuming leave it unimported.)"""
    disable = getattr(torch, "_disable_dynamo", None)
    if disable is None:
        return
    wrapper_code = disable(lambda: None).__code__
    for fn in vars(torch.optim.Optimizer).values():
        original = getattr(fn, "__wrapped__", None)
        if getattr(fn, "__code__", None) is wrapper_code and original is not None:
            if getattr(original, "__dynamo_disable", None) is None:
                original.__dynamo_disable = original


# Adam.step as written, without the decorator torch.optim puts on it (None if a release drops __wrapped__).
_ADAM_STEP = getattr(torch.optim.Adam.step, "__wrapped__", None)


class Adam(torch.optim.Adam):
    """torch's Adam, stepping without the wrapper torch.optim puts around every step(): it imports
    torch._dynamo (the first call costs a second) to place graph breaks for torch.compile, and sets grad
    mode from `differentiable`, which is False here — the same as no_grad. Same arithmetic (tested bit for
    bit against torch.optim.Adam), same state_dict, so checkpoints load into either."""

    @torch.no_grad()
    def step(self, closure=None):
        if _ADAM_STEP is None:  # a torch without the undecorated step: its own, decorator and all
            return super().step(closure)
        return _ADAM_STEP(self, closure)


def build_optimizer(params: list[torch.nn.Parameter], cfg: TrainingConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgld":
        return SGLD(params, lr=cfg.learning_rate, temperature=cfg.temperature)
    return (Adam if _ADAM_STEP is not None else torch.optim.Adam)(params, lr=cfg.learning_rate)


def lr_factor(step: int, total_steps: int, cfg: TrainingConfig) -> float:
    """Multiplier on the base learning rate at `step` (0-based)."""
    if cfg.lr_schedule == "constant":
        return 1.0
    warmup = int(cfg.warmup_fraction * total_steps)
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total_steps - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: TrainingConfig, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, total_steps, cfg))
