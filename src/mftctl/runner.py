"""The run lifecycle on the tool side: create the row, start the worker subprocess, relay its progress,
stop it on Ctrl-C."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from .config import ExperimentConfig, config_hash
from .store import Run, Store

STOP_GRACE_S = 15


def create_run(
    store: Store,
    config: ExperimentConfig,
    *,
    name: str | None = None,
    preset: str | None = None,
    kind: str = "train",
    parent_id: int | None = None,
    sweep_id: int | None = None,
    extra: dict[str, Any] | None = None,
) -> Run:
    run = store.create_run(
        name=name or "",
        config_json=config.model_dump_json(),
        config_hash=config_hash(config),
        seed=config.seed,
        epochs_total=config.training.epochs,
        preset=preset,
        kind=kind,
        parent_id=parent_id,
        sweep_id=sweep_id,
        extra=extra,
    )
    store.claim_run_dir(run.id)
    return run


def estimated_bytes(config: ExperimentConfig) -> int:
    """What training this config holds in memory at its peak, roughly (float32): weights with their
    gradients and Adam's two moments, one batch's input, hidden and output tensors, the test set."""
    d, h, b = config.data.d, config.model.hidden_size, config.training.batch_size
    params = 2 * d * h + d + h
    batch = b * (4 * d + 6 * h)
    test = config.data.n_test * (d + 2 * config.data.sparsity)
    return 4 * (4 * params + batch + test)


def available_bytes() -> int | None:
    """Memory the kernel says a new process can have (MemAvailable); None where it cannot be read."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_fits(config: ExperimentConfig, what: str = "this config") -> None:
    """Refuse, before any row is written, a model or batch that cannot fit this machine's memory. CUDA
    devices are checked by the worker (torch would need to be imported here)."""
    from .errors import ConfigError

    need, have = estimated_bytes(config), available_bytes()
    if config.device.startswith("cuda") or have is None or need <= have:
        return
    gib = 1 << 30
    raise ConfigError(
        f"{what} needs about {need / gib:.1f} GiB (data.d={config.data.d}, model.hidden_size="
        f"{config.model.hidden_size}, training.batch_size={config.training.batch_size}) but this machine has "
        f"{have / gib:.1f} GiB available; make them smaller"
    )


def worker_command(store: Store, run_id: int) -> list[str]:
    return [sys.executable, "-m", "mftctl", "worker", str(run_id), "--db", str(store.path)]


def start_worker(store: Store, run_id: int, *, detach: bool = False, env: dict | None = None) -> subprocess.Popen:
    """The worker's stderr goes to worker.log in the run's folder; its stdout carries progress events
    (discarded when detached: the database has the record)."""
    child_env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    # A run recorded before runs folders were named after their database (or whose folder was deleted)
    # gets its folder here; its recorded checkpoints are read where they lie.
    folder = store.run_dir(run_id) if store.run_dir(run_id).is_dir() else store.claim_run_dir(run_id)
    # The child gets its own copy of the log's descriptor; the parent closes its one at once.
    with open(folder / "worker.log", "ab") as log:
        return subprocess.Popen(
            worker_command(store, run_id),
            stdout=subprocess.DEVNULL if detach else subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            env=child_env,
            start_new_session=detach,  # a detached worker outlives the terminal and ignores its Ctrl-C
            text=True,
        )


def parse_event(line: str) -> dict[str, Any] | None:
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) and "event" in event else None


def stop_worker(proc: subprocess.Popen, store: Store, run_id: int) -> None:
    """Ask the worker to stop (it records `killed`), wait, then force; never leave the run `running`."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    run = store.find_run(run_id)
    if run is not None and run.pid in (None, proc.pid):  # never a run another mftctl's worker claimed
        store.finish_run(run_id, "killed", "stopped by the user (Ctrl-C)")


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

    def apply(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "step":
            self.epoch, self.step, self.loss = event["epoch"], event["step"], event["loss"]
        elif kind == "epoch":
            self.epoch, self.step = event["epoch"], self.steps_per_epoch
            self.loss, self.test_loss = event["train_loss"], event["test_loss"]
            self.samples_per_s = event["samples_per_s"]
        elif kind == "done":
            self.status, self.error = event["status"], event.get("error")


def progress_state(config: ExperimentConfig) -> ProgressState:
    return ProgressState(config.training.epochs, math.ceil(config.data.n_train / config.training.batch_size))


RESUMABLE = ("crashed", "killed", "failed")


def last_good_checkpoint(store: Store, run: Run) -> tuple[int, list[str]]:
    """The newest checkpoint whose file matches its recorded hash and before which every epoch is
    recorded (0 if none), and why newer ones were passed over."""
    from .artifacts import sha256_of

    recorded = {e.epoch for e in store.epochs(run.id)}
    skipped = []
    for ckpt in reversed(store.checkpoints(run.id)):
        path = store.checkpoint_path(ckpt)
        if ckpt.kind != "full":  # the weights alone cannot resume a run
            continue
        if not recorded.issuperset(range(1, ckpt.epoch + 1)):
            skipped.append(f"epoch {ckpt.epoch}: earlier epochs are missing from the record")
        elif not path.exists():
            skipped.append(f"epoch {ckpt.epoch}: file missing")
        elif path.stat().st_size != ckpt.bytes or sha256_of(path) != ckpt.sha256:
            skipped.append(f"epoch {ckpt.epoch}: file corrupt")
        else:
            return ckpt.epoch, skipped
    return 0, skipped


def prepare_resume(store: Store, run_id: int) -> tuple[int, list[str]]:
    """Queue a crashed, killed or failed run to continue from its last good checkpoint."""
    from .errors import MftctlError

    run = store.get_run(run_id)
    if run.status not in RESUMABLE:
        raise MftctlError(f"run {run_id} is {run.status}; only {', '.join(RESUMABLE)} runs can be resumed")
    epoch, skipped = last_good_checkpoint(store, run)
    store.prepare_resume(run_id, epoch)
    return epoch, skipped
