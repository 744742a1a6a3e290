"""Live progress for runs whose workers report on stdout: a rich progress bar fed by their events."""

from __future__ import annotations

import subprocess

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from .render import fmt
from .runner import ProgressState, parse_event


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
            event = parse_event(line)
            if event is None:
                continue
            state.apply(event)
            progress.update(task, completed=state.done_steps, **fields(state))
        proc.wait()
    return state
