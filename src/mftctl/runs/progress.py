"""Live progress for runs whose workers report on stdout: each run's state folded from its events, and
the rich progress bar that shows it."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from ..config import ExperimentConfig, steps_per_epoch
from ..terminal import fmt
from .events import Done, EpochEnd, Event, Step, decode


@dataclass
class ProgressState:
    """What the live view shows of one run, folded from its worker's events."""

    epochs: int
    steps_per_epoch: int
    epoch: int = 0
    step: int = 0
    loss: float | None = None
    test_loss: float | None = None
    samples_per_s: float | None = None
    status: str | None = None
    error: str | None = None

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    @property
    def done_steps(self) -> int:
        return max(0, self.epoch - 1) * self.steps_per_epoch + self.step

    def apply(self, event: Event) -> None:
        if isinstance(event, Step):
            self.epoch, self.step, self.loss = event.epoch, event.step, event.loss
        elif isinstance(event, EpochEnd):  # it may come after the next epoch's first steps (the tail runs beside them)
            if event.epoch >= self.epoch:
                self.epoch, self.step, self.loss = event.epoch, self.steps_per_epoch, event.train_loss
            self.test_loss, self.samples_per_s = event.test_loss, event.samples_per_s
        elif isinstance(event, Done):
            self.status, self.error = event.status, event.error


def progress_state(config: ExperimentConfig) -> ProgressState:
    return ProgressState(config.training.epochs, steps_per_epoch(config))


def fields(state: ProgressState) -> dict[str, str]:
    return {
        "epoch": f"{state.epoch}/{state.epochs}",
        "loss": fmt(state.loss),
        "test": fmt(state.test_loss),
        "rate": fmt(state.samples_per_s, 3),
    }


def make_progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("epoch {task.fields[epoch]}"),
        TextColumn("loss {task.fields[loss]}"),
        TextColumn("test {task.fields[test]}"),
        TextColumn("{task.fields[rate]} samples/s"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def follow(proc: subprocess.Popen, state: ProgressState, label: str, console: Console) -> ProgressState:
    """Read the worker's events until it exits, showing them as one progress bar."""
    with make_progress(console) as progress:
        task = progress.add_task(label, total=state.total_steps, **fields(state))
        assert proc.stdout is not None
        for line in proc.stdout:
            event = decode(line)
            if event is None:
                continue
            state.apply(event)
            progress.update(task, completed=state.done_steps, **fields(state))
        proc.wait()
    return state
