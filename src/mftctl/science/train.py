"""The training loop: config in, epochs out to a sink, a result back.

It reads top to bottom; the math lives in data.py, losses.py and optim.py. Nothing here knows about
SQLite or the terminal: the caller passes a sink (NullSink for notebooks and tests).
"""

from __future__ import annotations

import concurrent.futures
import math
import random
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from ..config import ExperimentConfig, steps_per_epoch, wants_checkpoint
from .data import Batch, NoiseStreams, fixed_test_set, make_generator, two_hot_batch
from .losses import decoder_loss_parts, l2_penalty
from .model import TwoLayerNet, build_model
from .optim import build_optimizer, build_scheduler
from .records import EpochRecord

CHECKPOINT_FORMAT = "mftctl-checkpoint-1"


@dataclass
class TrainResult:
    model: TwoLayerNet
    epochs: list[EpochRecord] = field(default_factory=list)

    @property
    def final(self) -> EpochRecord | None:
        return self.epochs[-1] if self.epochs else None


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite: the run cannot continue (its finite epochs are kept)."""


def _check_finite(step_losses: torch.Tensor, epoch: int, test_loss: float, config: ExperimentConfig) -> None:
    """One check per epoch (no host sync per step): the first step whose loss is not finite, if any."""
    bad = (~torch.isfinite(step_losses)).nonzero()
    if len(bad) == 0 and math.isfinite(test_loss):
        return
    where = f"step {int(bad[0]) + 1} of {len(step_losses)}" if len(bad) else "its test evaluation"
    value = "NaN" if len(bad) == 0 or torch.isnan(step_losses[bad[0]]).item() else "infinite"
    raise TrainingDiverged(
        f"loss became {value} at epoch {epoch} {where}; the epochs before it are kept. Try a smaller "
        f"training.learning_rate (now {config.training.learning_rate}) or smaller init scales"
    )


class Sink(Protocol):
    def on_step(self, epoch: int, step: int, steps: int, loss: torch.Tensor) -> None: ...
    def on_epoch(self, record: EpochRecord) -> None: ...
    def on_checkpoint(self, epoch: int, state: dict[str, Any]) -> None: ...


class NullSink:
    def on_step(self, epoch: int, step: int, steps: int, loss: torch.Tensor) -> None:
        pass

    def on_epoch(self, record: EpochRecord) -> None:
        pass

    def on_checkpoint(self, epoch: int, state: dict[str, Any]) -> None:
        pass


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device '{name}' asked for, but torch sees no CUDA device; use --device cpu")
    device = torch.device(name)
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(
            f"device '{name}' asked for, but torch sees {torch.cuda.device_count()} CUDA device(s); "
            f"use cuda:0 to cuda:{torch.cuda.device_count() - 1}"
        )
    return device


def overlaps_tails(device: torch.device, asked: bool | None) -> bool:
    """Whether each epoch's tail runs beside the next epoch: as asked, else on a GPU only."""
    return device.type == "cuda" if asked is None else asked


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@torch.no_grad()
def evaluate(model: TwoLayerNet, data: Batch, config: ExperimentConfig) -> tuple[float, float, float]:
    """Test loss (total, on, off) without the L2 penalty, in chunks of the training batch size."""
    model.eval()
    sums = torch.zeros(3, device=data.x.device)
    chunk = config.training.batch_size
    for start in range(0, len(data), chunk):
        part = data.slice(start, start + chunk)
        loss = decoder_loss_parts(model.hidden(part.x), model.fc2, part, config.loss, config.training.decoder_kernel)
        sums += torch.stack((loss.total, loss.on, loss.off)) * len(part)
    model.train()
    total, on, off = (sums / len(data)).tolist()
    return total, on, off


def checkpoint_state(
    epoch: int,
    config: ExperimentConfig,
    model: TwoLayerNet,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    data_gen: torch.Generator,
    noise: NoiseStreams,
    frozen_encoder: bool,
) -> dict[str, Any]:
    """Everything needed to continue exactly where this epoch ended (loadable with weights_only)."""
    rng = {"torch": torch.get_rng_state(), "data": data_gen.get_state(), "noise": noise.get_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return {
        "format": CHECKPOINT_FORMAT,
        "epoch": epoch,
        "config": config.model_dump(mode="json"),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": rng,
        "frozen_encoder": frozen_encoder,
    }


def _restore(state, model, optimizer, scheduler, data_gen, noise) -> int:
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    data_gen.set_state(state["rng"]["data"])
    # Checkpoints written before the noise had its own streams continue with freshly seeded ones: the
    # same distribution, not the numbers that version would have drawn.
    if "noise" in state["rng"]:
        noise.set_state(state["rng"]["noise"])
    torch.set_rng_state(state["rng"]["torch"])
    if "cuda" in state["rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])
    return int(state["epoch"])


def train(
    config: ExperimentConfig,
    sink: Sink | None = None,
    *,
    model: TwoLayerNet | None = None,
    frozen_encoder: bool = False,
    resume: dict[str, Any] | None = None,
    overlap_tails: bool | None = None,
) -> TrainResult:
    """Train `config` for its epochs (continuing after `resume`'s epoch when given).

    `model` replaces the freshly initialised network (stage 2 passes one with a sampled encoder);
    `frozen_encoder` trains only the decoder (W2, b2). `overlap_tails`: measure and record each epoch
    while the next one trains (default: on a GPU, where the host is otherwise idle; on the CPU the
    tail would take cores from the training and muddy its seconds, for no gain in wall time).
    """
    device = resolve_device(config.device)
    precision = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(config.training.matmul_precision)
    try:
        with NoiseStreams(config.seed, device) as noise:
            overlap = overlaps_tails(device, overlap_tails)
            return _train(config, sink or NullSink(), model, frozen_encoder, resume, device, noise, overlap)
    finally:
        torch.set_float32_matmul_precision(precision)


def _train(
    config: ExperimentConfig,
    sink: Sink,
    model: TwoLayerNet | None,
    frozen_encoder: bool,
    resume: dict[str, Any] | None,
    device: torch.device,
    noise: NoiseStreams,
    overlap_tails: bool,
) -> TrainResult:
    tc = config.training
    seed_everything(config.seed)
    if model is None:
        model = build_model(config)
    model.to(device)
    if frozen_encoder:
        model.freeze_encoder()
    optimizer = build_optimizer([p for p in model.parameters() if p.requires_grad], tc)
    steps = steps_per_epoch(config)
    scheduler = build_scheduler(optimizer, tc, steps * tc.epochs)
    data_gen = make_generator(config.seed, device)
    test = fixed_test_set(config.data, config.seed, device)
    done = _restore(resume, model, optimizer, scheduler, data_gen, noise) if resume else 0

    result = TrainResult(model)
    if frozen_encoder and config.stage2.decoder == "solve":  # no optimiser: the decoder's exact optimum
        if not done:
            args = (optimizer, scheduler, data_gen, noise)
            _solved_epoch(config, sink, model, test, args, result)
        return result
    rows = RowSnapshots(config)
    if not done:
        rows.take(0, model)  # the initialisation
    with EpochTails(background=overlap_tails) as tails:
        for epoch in range(done + 1, tc.epochs + 1):
            started = time.perf_counter()
            sums = torch.zeros(3, device=device)
            step_losses = torch.empty(steps, device=device)
            batch = None
            for step in range(steps):
                size = min(tc.batch_size, config.data.n_train - step * tc.batch_size)
                reuse: torch.Tensor | None = batch.x if batch is not None else None
                batch = two_hot_batch(size, config.data, data_gen, out=reuse, noise=noise)
                loss = decoder_loss_parts(model.hidden(batch.x), model.fc2, batch, config.loss, tc.decoder_kernel)
                objective = loss.total + l2_penalty(model, tc.encoder_regularization, tc.decoder_regularization)
                optimizer.zero_grad(set_to_none=True)
                objective.backward()
                optimizer.step()
                scheduler.step()
                sums += torch.stack((loss.total, loss.on, loss.off)).detach() * size
                step_losses[step] = loss.total.detach()
                rows.take((epoch - 1) * steps + step + 1, model)
                sink.on_step(epoch, step + 1, steps, loss.total)
            train_parts = tuple((sums / config.data.n_train).tolist())
            train_seconds = time.perf_counter() - started

            test_parts = evaluate(model, test, config)
            _check_finite(step_losses, epoch, test_parts[0], config)
            # What the rest of the epoch needs; copied to the host when the tail runs beside the next epoch
            # (whose steps change the weights and the optimizer state in place).
            weights = tails.keep((model.fc1.weight, model.fc2.weight)) if tc.enable_diagnostics else None
            state = None
            if wants_checkpoint(tc, epoch):  # the sink decides what of it to keep (checkpoints/keep.py)
                state = checkpoint_state(epoch, config, model, optimizer, scheduler, data_gen, noise, frozen_encoder)
                state = tails.keep(state)
            lr = optimizer.param_groups[0]["lr"]
            record = _epoch_record(epoch, train_parts, test_parts, started, train_seconds, config.data.n_train, lr)
            tails.submit(_finish_epoch, record, weights, state, config, sink, result, rows.pop())
    return result


class RowSnapshots:
    """The encoder's rows (W1, b1) read every `diagnostics.condensation_every` steps over the first
    `condensation_steps` (none when it is 0), kept as host copies until their epoch's tail counts them."""

    def __init__(self, config: ExperimentConfig):
        self.every = config.diagnostics.condensation_every
        self.last = config.diagnostics.condensation_steps
        self.taken: list[tuple[int, Any, Any]] = []

    def take(self, step: int, model: TwoLayerNet) -> None:
        if not self.every or step > self.last or step % self.every:
            return
        weight, bias = (p.detach().cpu().numpy().copy() for p in (model.fc1.weight, model.fc1.bias))
        self.taken.append((step, weight, bias))

    def pop(self) -> list[tuple[int, Any, Any]]:
        taken, self.taken = self.taken, []
        return taken


def _epoch_record(
    epoch: int,
    train: tuple[float, float, float],
    test: tuple[float, float, float],
    started: float,
    train_seconds: float,
    samples: int,
    lr: float,
) -> EpochRecord:
    """An epoch's record from its (total, on, off) train and test losses; its seconds run from `started`
    to now (the tail adds its diagnostics' time)."""
    return EpochRecord(
        epoch=epoch,
        train_loss=train[0],
        train_loss_on=train[1],
        train_loss_off=train[2],
        test_loss=test[0],
        test_loss_on=test[1],
        test_loss_off=test[2],
        seconds=time.perf_counter() - started,
        train_seconds=train_seconds,
        samples_per_s=samples / train_seconds,
        lr=lr,
    )


def _solved_epoch(
    config: ExperimentConfig,
    sink: Sink,
    model: TwoLayerNet,
    test: Batch,
    state_parts: tuple[Any, Any, Any, NoiseStreams],
    result: TrainResult,
) -> None:
    """A stage-2 child's one epoch with `stage2.decoder = "solve"`: its decoder solved exactly for its frozen
    encoder (science/decoder.py), recorded as epoch 1 — its train loss on the samples it was solved
    from, its test loss, the solve's seconds — with its blob report and checkpoint like any epoch."""
    from .decoder import solve_decoder

    started = time.perf_counter()
    solved = solve_decoder(model, config)
    with torch.no_grad():
        model.fc2.weight.copy_(solved.weight)
        model.fc2.bias.copy_(solved.bias)
    solve_seconds = time.perf_counter() - started
    test_parts = evaluate(model, test, config)
    tc = config.training
    weights = (model.fc1.weight, model.fc2.weight) if tc.enable_diagnostics else None
    optimizer, scheduler, data_gen, noise = state_parts
    state = None
    if wants_checkpoint(tc, 1):
        state = checkpoint_state(1, config, model, optimizer, scheduler, data_gen, noise, frozen_encoder=True)
    record = _epoch_record(1, solved.train_loss, test_parts, started, solve_seconds, solved.samples, lr=0.0)
    _finish_epoch(record, weights, state, config, sink, result)


def _finish_epoch(
    record: EpochRecord,
    weights: tuple[torch.Tensor, torch.Tensor] | None,
    state: dict[str, Any] | None,
    config: ExperimentConfig,
    sink: Sink,
    result: TrainResult,
    snapshots: list[tuple[int, Any, Any]] | None = None,
) -> None:
    """The epoch's tail: its blob measurement, its condensation snapshots counted, its record and its
    checkpoint, to the sink."""
    if weights is not None:
        from .diagnostics import weight_metrics

        started = time.perf_counter()
        record.diagnostics = weight_metrics(*weights, config)
        record.seconds += time.perf_counter() - started
    if snapshots:
        from .condensation import measure_condensation

        record.condensation = [measure_condensation(w1, b1, step).as_dict() for step, w1, b1 in snapshots]
    result.epochs.append(record)
    sink.on_epoch(record)
    if state is not None:
        sink.on_checkpoint(record.epoch, state)


def host_copy(value: Any) -> Any:
    """A copy on the host of every tensor in `value`, the rest as it is."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {k: host_copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(host_copy(v) for v in value)
    return value


class EpochTails:
    """Runs each epoch's tail (the blob measurement, the database rows, the checkpoint file: 0.1-0.3 s
    here, most of an epoch on a GPU) on one background thread, in epoch order, while the next epoch
    trains (or at once, in the loop, when not `background`). A tail's error surfaces in the training
    loop at the next epoch's end, or when the loop ends. When training stops early (a stop signal,
    divergence, an error) the tail already under way still lands, so the last epoch and checkpoint
    recorded are the last one trained; its own error then yields to the one that stopped training."""

    def __init__(self, *, background: bool = True):
        self.background = background

    def keep(self, value: Any) -> Any:
        """`value` as the tail may read it: a host copy of its tensors when the tail runs later."""
        return host_copy(value) if self.background else value

    def __enter__(self) -> EpochTails:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mftctl-epoch-tail")
        self._pending: Future | None = None
        return self

    def submit(self, fn: Any, *args: Any) -> None:
        self.wait()
        if not self.background:
            fn(*args)
            return
        self._pending = self._pool.submit(fn, *args)

    def wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def __exit__(self, kind: type | None, *exc: object) -> None:
        try:
            if kind is None:
                self.wait()
            elif self._pending is not None:
                concurrent.futures.wait([self._pending])  # its error, if any, yields to the one in flight
        finally:
            self._pool.shutdown(wait=True)
