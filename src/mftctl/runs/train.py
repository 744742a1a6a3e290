"""`mftctl train` as one library call: the request checked and its config parsed once, the run's row
written only after every check, then the worker followed in the foreground or left in the background.
The CLI (cli/runs.py) and `mftctl.train` both call `train_run`; each renders what it returns."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from ..config import ExperimentConfig
from ..errors import MftctlError
from ..store.engine import Store
from ..store.tables import Run


@dataclass
class TrainRequest:
    """What the run is to be: a preset (default reference_3blob), then a config file, then `--set` lines."""

    preset: str | None = None
    config_file: Path | None = None
    overrides: list[str] = field(default_factory=list)
    name: str | None = None
    tags: list[str] = field(default_factory=list)
    note: str | None = None


def checked_config(request: TrainRequest) -> ExperimentConfig:
    """The request's config, parsed and checked once (it fits the machine, its device exists, its tags and
    note are acceptable): every refusal before any row is written."""
    from ..config_input import load_config
    from ..devices import check_device, check_fits
    from ..runs.annotate import check_note, check_tag

    config = load_config(request.preset, request.config_file, request.overrides)
    check_fits(config)
    check_device(config.device)
    request.tags = [check_tag(t) for t in request.tags]
    check_note(request.note or "")
    return config


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C while a run trained attached: its worker was stopped and the run marked killed."""

    def __init__(self, run_id: int):
        super().__init__(run_id)
        self.run_id = run_id


@dataclass
class Trained:
    """What `train_run` did: the store, the run as it stands, and a detached worker's pid."""

    store: Store
    run: Run
    pid: int | None = None


def train_run(db: str | None, request: TrainRequest, *, detach: bool, console: Console) -> Trained:
    """Write the run's row and train it: attached (its progress on `console`; the completed run returned,
    else a one-line MftctlError; Ctrl-C stops the worker, marks the run killed and raises RunInterrupted)
    or detached (the worker started, the queued row returned)."""
    from ..runs.attached import run_attached
    from ..runs.launch import EarlyWorker, start_worker
    from ..runs.lifecycle import new_run
    from ..store import open_store, reads
    from ..store.location import resolve_location

    location = resolve_location(db)
    # Attached, the worker starts first: it imports torch while this process checks the config, imports
    # the store and writes the row (0.3 s and more). Anything refused on the way ends it.
    early = None if detach else EarlyWorker(location)
    with early or nullcontext():
        config = checked_config(request)
        store = open_store(db)
        run = new_run(
            store,
            config,
            name=request.name,
            preset=request.preset or "reference_3blob",
            tags=request.tags,
            note=request.note,
        )
    if detach:
        proc = start_worker(store, run.id, detach=True)
        return Trained(store, reads.get_run(store, run.id), proc.pid)
    try:
        run_attached(store, run.id, console, early, config=config)
    except KeyboardInterrupt:
        raise RunInterrupted(run.id) from None
    return Trained(store, finished(store, run.id))


def finished(store: Store, run_id: int) -> Run:
    """The run once its worker has ended: completed, or a one-line error with the reason it was not."""
    from ..status import RunStatus
    from ..store import reads
    from ..store.liveness import reconcile

    reconcile(store)
    run = reads.get_run(store, run_id)
    if run.status == RunStatus.completed:
        return run
    lines = (run.error or "").strip().splitlines() or ["no reason recorded"]
    # A traceback's last line names the exception; a message recorded first (disk full) says more.
    reason = lines[-1] if lines[0].startswith("Traceback") else lines[0]
    raise MftctlError(f"run {run.id} {run.status}: {reason}; `mftctl show {run.id}` has the details")
