"""The worker subprocess: load the run row, train, write epochs and checkpoints, end the run.

It reports progress to its parent as JSON lines on stdout (one `step` event every quarter second at
most, one `epoch` event per epoch); the database is the record, stdout only the live view.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from .artifacts import save_checkpoint, weights_only
from .config import TrainingConfig, config_from_json
from .errors import MftctlError, environment_message
from .retention import FULL, WEIGHTS, full_to_drop, is_full_epoch, snapshot_epochs
from .store import HEARTBEAT_S, Run, Store, blob_summary, open_store

STEP_EVENT_INTERVAL_S = 0.25


def emit(event: dict[str, Any]) -> None:
    """One progress event to the parent. A parent that is gone (killed, its terminal closed) must not
    end the run: the events stop, the training and the record go on."""
    try:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()
    except (BrokenPipeError, OSError, ValueError):
        # Point stdout at /dev/null so that neither later events nor the flush at exit raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


class StoreSink:
    """The training loop's sink for a tool run: epochs and checkpoints to the store, events to stdout."""

    def __init__(self, store: Store, run: Run, training: TrainingConfig):
        self.store, self.run, self.training = store, run, training
        self._last_step_event = 0.0

    def on_step(self, epoch: int, step: int, steps: int, loss) -> None:  # noqa: ANN001
        t = time.monotonic()
        if t - self._last_step_event >= STEP_EVENT_INTERVAL_S or step == steps:
            self._last_step_event = t
            emit({"event": "step", "epoch": epoch, "step": step, "steps": steps, "loss": float(loss.detach())})

    def on_epoch(self, record) -> None:  # noqa: ANN001
        values = record.as_dict()
        diagnostics = values.pop("diagnostics")
        self.store.record_epoch(self.run.id, values, diagnostics)
        summary = {k: v for k, v in blob_summary(diagnostics).items() if k in ("n_clusters", "separation")}
        emit({"event": "epoch", **values, **summary})

    def on_checkpoint(self, epoch: int, state: dict[str, Any]) -> None:
        """Keep what retention.py asks for: a full checkpoint on full epochs (older ones beyond
        keep_checkpoints dropped, or slimmed to their weights on snapshot epochs), else the weights."""
        if not is_full_epoch(self.training, epoch):
            self._save(epoch, weights_only(state), WEIGHTS)
            return
        self._save(epoch, state, FULL)
        full = [c.epoch for c in self.store.checkpoints(self.run.id) if c.kind == FULL]
        for old in full_to_drop(self.training, full):
            if old in snapshot_epochs(self.training):
                self._slim(old)
            else:
                self.store.drop_checkpoint(self.run.id, old)

    def _save(self, epoch: int, state: dict[str, Any], kind: str) -> None:
        path = self.store.new_checkpoint_path(self.run.id, epoch, kind)
        size, digest = save_checkpoint(path, state, epoch)
        self.store.record_checkpoint(self.run.id, epoch, path, size, digest, kind)

    def _slim(self, epoch: int) -> None:
        """A full checkpoint that is also an evolution snapshot keeps its weights, loses the rest."""
        from .artifacts import load_checkpoint

        row = next(c for c in self.store.checkpoints(self.run.id) if c.epoch == epoch)
        full_path = self.store.checkpoint_path(row)
        self._save(epoch, weights_only(load_checkpoint(full_path, row.sha256)), WEIGHTS)
        full_path.unlink(missing_ok=True)


def _heartbeat(store: Store, run_id: int, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_S):
        try:
            store.heartbeat(run_id)
        except Exception:  # a busy or vanished database must not kill the training thread
            pass


def _resume_state(store: Store, run: Run) -> dict[str, Any] | None:
    """The checkpoint a resumed run continues from (verified against its recorded hash)."""
    epoch = run.extra.get("resume_from_epoch", 0)
    if not epoch:
        return None
    from .artifacts import load_checkpoint

    ckpt = next(c for c in store.checkpoints(run.id) if c.epoch == epoch)
    return load_checkpoint(store.checkpoint_path(ckpt), ckpt.sha256)


def _raise_interrupt(signum, frame):  # noqa: ANN001
    raise KeyboardInterrupt


# Space the worker holds on the database's disk from the start: if the disk fills during the run, it is
# given back so that the final status (failed: disk full) can still be written.
BALLAST_BYTES = 256 * 1024


def _hold_ballast(store: Store, run_id: int) -> Path | None:
    path = store.run_dir(run_id) / ".ballast"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(b"\0" * BALLAST_BYTES)
            fh.flush()
            os.fsync(fh.fileno())
        return path
    except OSError:
        return None


def _finish(store: Store, run_id: int, status: str, error: str | None, ballast: Path | None) -> None:
    """Record the final status; on a full disk, give back the ballast and try once more."""
    try:
        store.finish_run(run_id, status, error)
    except Exception as exc:
        if ballast is not None:
            ballast.unlink(missing_ok=True)
        message = environment_message(exc)
        store.finish_run(run_id, "failed" if status == "completed" else status, error or message)
    finally:
        if ballast is not None:
            ballast.unlink(missing_ok=True)


def run_worker(db_path: str, run_id: int) -> int:
    from .allocator import keep_large_blocks
    from .science.train import TrainingDiverged, resolve_device, train

    keep_large_blocks()

    store = open_store(db_path, create=False, migrate=False)
    run = store.get_run(run_id)
    try:
        config = config_from_json(run.config_json)
        device = resolve_device(config.device)
    except (MftctlError, ValueError) as exc:  # a bad device, or a row another version wrote: say why
        store.finish_run(run_id, "failed", f"cannot start: {exc}")
        emit({"event": "done", "status": "failed", "error": str(exc)})
        return 1
    if not store.mark_running(run_id, pid=os.getpid(), device=str(device)):
        print(f"run {run_id} is {store.get_run(run_id).status}, not queued; nothing to do", file=sys.stderr)
        return 1
    if os.environ.get("MFTCTL_THREADS"):  # the pool divides the cores among its workers
        import torch

        torch.set_num_threads(int(os.environ["MFTCTL_THREADS"]))
    signal.signal(signal.SIGTERM, _raise_interrupt)
    ballast = _hold_ballast(store, run_id)
    stop = threading.Event()
    threading.Thread(target=_heartbeat, args=(store, run_id, stop), daemon=True).start()
    try:
        resume = _resume_state(store, run)
        if run.kind == "stage2":
            from .stage2 import prepare_child

            model = prepare_child(store, run, config)
            train(config, StoreSink(store, run, config.training), model=model, frozen_encoder=True, resume=resume)
        else:
            train(config, StoreSink(store, run, config.training), resume=resume)
        status, error = "completed", None
    except KeyboardInterrupt:
        status, error = "killed", "stopped by the user (Ctrl-C or SIGTERM)"
    except TrainingDiverged as exc:  # the user's config, not a bug: the message says it all
        status, error = "failed", str(exc)
    except Exception as exc:
        status, error = "failed", traceback.format_exc()
        message = environment_message(exc)
        if message is not None:  # a full disk or a vanished file: say so first, the traceback after
            error = f"{message}\n\n{error}"
    except BaseException:
        status, error = "failed", traceback.format_exc()
    finally:
        stop.set()
    # A second Ctrl-C must not interrupt the final write.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _finish(store, run_id, status, error, ballast)
    emit({"event": "done", "status": status, "error": error})
    store.close()
    return 0 if status == "completed" else 1
