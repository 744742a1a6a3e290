"""The worker subprocess: load a run's row, train it, write its epochs and checkpoints, end it. One run
(`mftctl worker ID`), or one after another as their ids arrive on stdin (`mftctl worker --serve`: the
pools keep such workers, so torch is imported once per worker, not once per run).

It reports progress to its parent as the events of events.py on stdout; the database is the record,
stdout only the live view. The checkpoints it is handed go to checkpoints/keep.py.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..checkpoints.keep import CheckpointKeeper, resume_state
from ..config import TrainingConfig, config_from_json
from ..errors import MftctlError, environment_message
from ..search.prune import TrialPruner
from ..status import RunStatus
from ..store import layout, reads, writes
from ..store.engine import Store, open_store
from ..store.liveness import HEARTBEAT_S
from ..store.tables import Run, blob_summary
from ..threads import ThreadPolicy, check_environment, claim_process, configure_torch, run_policy
from .events import STEP_EVENT_INTERVAL_S, Done, EpochEnd, Event, Ready, Step, encode

if TYPE_CHECKING:
    from ..science.records import EpochRecord

_EMITTING = threading.Lock()  # step events come from the training loop, epoch events from its tail thread


def emit(event: Event) -> None:
    """One progress event to the parent, a line of its own. A parent that is gone (killed, its terminal
    closed) must not end the run: the events stop, the training and the record go on."""
    try:
        with _EMITTING:
            sys.stdout.write(encode(event) + "\n")
            sys.stdout.flush()
    except (BrokenPipeError, OSError, ValueError):
        # Point stdout at /dev/null so that neither later events nor the flush at exit raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


class StoreSink:
    """The training loop's sink for a tool run: epochs to the store, checkpoints to the run's keeper,
    events to stdout."""

    def __init__(self, store: Store, run: Run, training: TrainingConfig, stop_request: StopRequest):
        self.store, self.run = store, run
        self.stop_request = stop_request  # the run's, installed as its signal handler
        self.checkpoints = CheckpointKeeper(store, run.id, training)
        self._last_step_event = 0.0
        self.epochs = training.epochs
        self.pruner = TrialPruner.for_run(store, run)  # a search trial whose search prunes; else None

    def on_step(self, epoch: int, step: int, steps: int, loss) -> None:
        self.stop_request.check()  # a stop (Ctrl-C, SIGTERM, Slurm's SIGUSR2) takes effect between steps
        t = time.monotonic()
        if t - self._last_step_event >= STEP_EVENT_INTERVAL_S or step == steps:
            self._last_step_event = t
            emit(Step(self.run.id, epoch, step, steps, float(loss.detach())))

    def on_epoch(self, record: EpochRecord) -> None:
        """The epoch's three consequences, in this order: the record, the live view, the search's pruning."""
        values = record.as_dict()
        diagnostics = values.pop("diagnostics")
        condensation = values.pop("condensation")
        if condensation:  # kept in the epoch's report, beside the blob measurement
            diagnostics = (diagnostics or {}) | {"condensation": condensation}
        writes.record_epoch(self.store, self.run.id, values, diagnostics)
        emit(self._epoch_event(record, blob_summary(diagnostics)))
        self._maybe_prune(record.epoch)

    def _epoch_event(self, record: EpochRecord, summary: dict[str, Any]) -> EpochEnd:
        return EpochEnd(
            self.run.id,
            record.epoch,
            record.train_loss,
            record.test_loss,
            record.samples_per_s,
            summary.get("n_clusters"),
            summary.get("separation"),
        )

    def _maybe_prune(self, epoch: int) -> None:
        if self.pruner is None or epoch >= self.epochs:
            return
        reason = self.pruner.check(epoch)
        if reason is not None:  # acted on at the next step, like a stop: this epoch is recorded whole
            self.stop_request.prune(reason)

    def on_checkpoint(self, epoch: int, state: dict[str, Any]) -> None:
        self.checkpoints.keep(epoch, state)


def _heartbeat(store: Store, run_id: int, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_S):
        try:
            writes.heartbeat(store, run_id)
        except Exception:  # a busy or vanished database must not kill the training thread
            pass


def numerics(device, policy: ThreadPolicy | None) -> dict[str, Any]:
    """What a run's numbers depend on beside its config and seed: float sums are reduced in a different
    order with another thread count, device or torch build (last digits differ from epoch 2 on), so a
    re-run that must match exactly needs the same three. Beside the count: where it came from and how
    the threads wait (threads.py), which change speed, never a number."""
    import torch

    record = policy.as_record() if policy is not None else {}
    return record | {"threads": torch.get_num_threads(), "device": str(device), "torch": torch.__version__}


STOPPED = "stopped by the user (Ctrl-C or SIGTERM)"
PREEMPTED = (
    "stopped by Slurm (preempted or at its time limit: SIGUSR2); its checkpoints are kept and it resumes "
    "from the last one when requeued or when the sweep is run again"
)


class StopRequest:
    """The run's handler for SIGINT, SIGTERM and SIGUSR2. It raises nothing: it notes the first stop and
    why, and the run acts on it at a point of its own choosing — between two training steps (StoreSink's
    on_step raises KeyboardInterrupt there), or before training begins.

    Python's way, raising from the handler, lands the exception wherever the main thread happens to be.
    Inside a database transaction, SQLAlchemy takes it for a lost connection and drops the connection
    with SQLite's write lock still held, so the final write waits out the busy timeout, fails, and the
    worker dies with its run `running`; inside a weakref callback run by the garbage collector
    (SQLAlchemy's event registry has one) it is printed and swallowed, and the run trains on to
    `completed`; inside the `except` that records an earlier stop it ends the worker before the record.
    `python benchmarks/stop_signals.py --runs 200` counts such losses: 20 of 200 raising, none noting
    (docs/guarantees.md). Stops also come in pairs (Slurm signals the array task and the worker, and
    submitit's handler signals the worker again; Ctrl-C reaches the worker and its parent, which passes
    it on): every one after the first is a no-op."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.pruned: str | None = None

    def prune(self, reason: str) -> None:
        self.pruned = reason

    def __call__(self, signum, frame) -> None:
        if self.reason is None:
            self.reason = PREEMPTED if signum == signal.SIGUSR2 else STOPPED

    def install(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR2):
            signal.signal(signum, self)

    def check(self) -> None:
        """Stop here if a stop was asked for: KeyboardInterrupt, carrying why."""
        if self.reason is not None:
            raise KeyboardInterrupt(self.reason)
        if self.pruned is not None:
            raise TrialPruned(self.pruned)


class TrialPruned(Exception):
    """A search trial stopped by its search's pruner (search/prune.py): the run ends `pruned`."""


# Space the worker holds on the database's disk from the start: if the disk fills during the run, it is
# given back so that the final status (failed: disk full) can still be written.
BALLAST_BYTES = 256 * 1024


def _hold_ballast(store: Store, run_id: int) -> Path | None:
    path = layout.run_dir(store, run_id) / ".ballast"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(b"\0" * BALLAST_BYTES)
            fh.flush()
            os.fsync(fh.fileno())
        return path
    except OSError:
        return None


def _finish(store: Store, run_id: int, status: RunStatus, error: str | None, ballast: Path | None) -> None:
    """Record the final status; on a full disk, give back the ballast and try once more."""
    try:
        writes.finish_run(store, run_id, status, error)
    except Exception as exc:
        if ballast is not None:
            ballast.unlink(missing_ok=True)
        message = environment_message(exc)
        final = RunStatus.failed if status == RunStatus.completed else status
        writes.finish_run(store, run_id, final, error or message)
    finally:
        if ballast is not None:
            ballast.unlink(missing_ok=True)


# Why this worker process can take no thread policy (a thread setting no process can use), or None:
# each run it is handed then fails with that reason, never left queued.
_REFUSED: list[str] = []


def _prepare_process() -> None:
    """Once per worker process: the threads it may use and how they wait (before torch loads), the
    allocator setting, the heavy imports."""
    from .allocator import keep_large_blocks

    claim_process()
    keep_large_blocks()
    import torch  # noqa: F401 - loaded here, after the wait policy is in the environment libgomp reads

    # Imported now, so that a persistent worker pays for them before its first run, not during it: the
    # training loop and the blob measurement (scipy). torch._dynamo, which torch.optim would import on the
    # first optimizer (a second here), is skipped altogether.
    from ..science import diagnostics, train  # noqa: F401
    from ..science.optim import skip_lazy_dynamo_import

    skip_lazy_dynamo_import()

    # Each run takes its thread count as it starts (run_policy); a setting that none could use is found here.
    try:
        check_environment()
    except MftctlError as exc:
        _REFUSED.append(str(exc))


def run_worker(db: str | None, run_id: int) -> int:
    """`mftctl worker ID`: train one run, in this process."""
    _prepare_process()
    store = open_store(db, create=False, migrate=False)
    try:
        return 0 if _run_one(store, run_id) in (RunStatus.completed, RunStatus.pruned) else 1
    finally:
        store.close()


def serve(db: str | None) -> int:
    """`mftctl worker --serve`: a worker that stays alive and trains the runs whose ids arrive on stdin,
    one per line, until stdin closes — torch and the science imported once for all of them. Each run's
    stderr goes to its own worker.log; a run that fails is recorded and the next one starts. A run stopped
    by a signal (Ctrl-C, SIGTERM, Slurm's SIGUSR2) ends the worker after it is recorded. It says `ready`
    whenever it will take another id, and only then: a parent hands out runs on `ready` alone, so no id is
    ever written to a worker that is on its way out."""
    _prepare_process()
    emit(Ready())
    store = None
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            run_id = int(line)
            store = store or open_store(db, create=False, migrate=False)  # the parent made it before the first id
            with _stderr_to(layout.ensure_run_dir(store, run_id) / "worker.log"):
                status = _run_one(store, run_id)
            if status == RunStatus.killed:
                break
            _restore_signals()
            emit(Ready())
    except KeyboardInterrupt:  # stopped while waiting for the next run: nothing to record
        pass
    finally:
        if store is not None:
            store.close()
    return 0


class _stderr_to:
    """Point this process's stderr (fd 2: Python's, torch's and any library's) at a file, then back."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self) -> None:
        sys.stderr.flush()
        self._saved = os.dup(2)
        with open(self.path, "ab") as log:
            os.dup2(log.fileno(), 2)

    def __exit__(self, *exc: object) -> None:
        sys.stderr.flush()
        os.dup2(self._saved, 2)
        os.close(self._saved)


def _restore_signals() -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for signum in (signal.SIGTERM, signal.SIGUSR2):
        signal.signal(signum, signal.SIG_DFL)


def _overlap_tails() -> bool | None:
    """$MFTCTL_OVERLAP_TAILS=1/0 turns the epoch tail's thread on or off (unset: train's default, a GPU
    only), so that the GPU's path can be run, tested and timed on a CPU."""
    value = os.environ.get("MFTCTL_OVERLAP_TAILS")
    return None if value is None else value == "1"


def ending(exc: BaseException) -> tuple[RunStatus, str]:
    """How a run that raised `exc` ended: its status and the error recorded with it. One mapping, read in
    order: a stop (Ctrl-C, SIGTERM, Slurm's warning), a search's pruning, a divergence (the user's config,
    not a bug: its message says it all), then anything else as a failure with its traceback, a full disk or
    a vanished file said first."""
    from ..science.train import TrainingDiverged

    if isinstance(exc, KeyboardInterrupt):
        return RunStatus.killed, (exc.args[0] if exc.args else STOPPED)
    if isinstance(exc, TrialPruned):
        return RunStatus.pruned, str(exc)
    if isinstance(exc, TrainingDiverged):
        return RunStatus.failed, str(exc)
    error = "".join(traceback.format_exception(exc))
    message = environment_message(exc) if isinstance(exc, Exception) else None
    return RunStatus.failed, (error if message is None else f"{message}\n\n{error}")


def _run_one(store: Store, run_id: int) -> RunStatus | None:
    """Claim the run, train it, record how it ended; its final status (None if it was not ours to run)."""
    from ..science.train import overlaps_tails, resolve_device, train

    # From here on a stop is noted, not raised (SIGUSR2: Slurm's warning before preemption or the time limit);
    # one that comes before the run is claimed still stops it before it trains.
    stop_request = StopRequest()
    stop_request.install()
    run = reads.get_run(store, run_id)
    try:
        if _REFUSED:
            raise MftctlError(_REFUSED[0])
        config = config_from_json(run.config_json)
        device = resolve_device(config.device)
    except (MftctlError, ValueError) as exc:  # a bad device, or a row another version wrote: say why
        writes.finish_run(store, run_id, RunStatus.failed, f"cannot start: {exc}")
        emit(Done(run_id, RunStatus.failed, str(exc)))
        return RunStatus.failed
    # This run's threads: fixed here for its whole run, recorded, and kept when it is resumed.
    policy = configure_torch(run_policy(run.extra.get("numerics")))
    if not writes.mark_running(store, run_id, pid=os.getpid(), device=str(device), numerics=numerics(device, policy)):
        status = reads.get_run(store, run_id).status
        print(f"run {run_id} is {status}, not queued; nothing to do", file=sys.stderr)
        emit(Done(run_id, None, f"{status} elsewhere"))
        return None
    overlap = overlaps_tails(device, _overlap_tails())
    tails = "; each epoch's tail on a thread beside the next" if overlap else ""
    print(f"run {run_id}: started by worker {os.getpid()} on {device}{tails}", file=sys.stderr, flush=True)
    ballast = _hold_ballast(store, run_id)
    stop = threading.Event()
    threading.Thread(target=_heartbeat, args=(store, run_id, stop), daemon=True).start()
    try:
        resume = resume_state(store, run.id, run.extra.get("resume_from_epoch", 0))
        model = None
        if run.kind == "stage2":  # its sampled encoder, frozen
            from ..stage2.child import prepare_child

            model = prepare_child(store, run, config)
        stop_request.check()  # asked to stop while it was being prepared
        sink = StoreSink(store, run, config.training, stop_request)
        train(config, sink, model=model, frozen_encoder=model is not None, resume=resume, overlap_tails=overlap)
        status, error = RunStatus.completed, None
    except BaseException as exc:  # every ending is recorded; ending() says which status it is
        status, error = ending(exc)
    finally:
        stop.set()
    _finish(store, run_id, status, error, ballast)
    emit(Done(run_id, status, error))
    return status
