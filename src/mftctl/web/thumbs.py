"""A run's blob-scatter thumbnail, drawn on first request from its last checkpoint and cached — outside
the store (the lab's pages write nothing there, and a read-only store has nowhere to write): in the
system's temporary folder, one folder per store, one file per run and checkpoint epoch, so a run that
checkpoints again gets a new thumbnail."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from ..store import reads
from ..store.engine import Store

_DRAWING = threading.Lock()  # matplotlib's pyplot state is one per process: one thumbnail at a time


def cache_folder(store: Store) -> Path:
    key = hashlib.sha1(store.location.shown.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / "mftctl-ui" / key


def thumbnail(store: Store, run_id: int, *, large: bool = False) -> Path:
    """The PNG of run `run_id`'s blob scatter at its last checkpoint ("no weights yet" without one).
    `large`: the run page's, with the mixture's ellipses where `mftctl diagnose` has fitted that
    checkpoint's (its stored analysis; the page never fits one, which would write to the store)."""
    from ..analysis.plots import plot_thumbnail

    run = reads.get_run(store, run_id)  # a StoreError (one line) for a run that does not exist
    checkpoints = reads.checkpoints(store, run.id)
    epoch = checkpoints[-1].epoch if checkpoints else None
    mixture = _stored_mixture(store, run.id, epoch) if large and epoch is not None else None
    size = ("-large" if large else "") + ("-gmm" if mixture else "")
    path = cache_folder(store) / f"run-{run.id}-{'e' + str(epoch) if epoch is not None else 'none'}{size}.png"
    if path.exists():
        return path
    with _DRAWING:
        if path.exists():
            return path
        pairs, blobs = None, None
        if epoch is not None:
            from ..checkpoints.load import load_run_checkpoint
            from ..science.diagnostics import pairs_of

            pairs = pairs_of(load_run_checkpoint(store, run, epoch).model())
            report = next((e.diagnostics for e in reads.epochs(store, run.id) if e.epoch == epoch), None) or {}
            blobs = report.get("blobs")
        caption = f"run {run.id}" + (f" · epoch {epoch}" if epoch is not None else "")
        if large:
            caption += (
                " · mixture from `mftctl diagnose`" if mixture else f" · `mftctl diagnose {run.id}` adds its mixture"
            )
        partial = path.with_suffix(f".{os.getpid()}.tmp.png")
        plot_thumbnail(pairs, blobs, caption, partial, mixture=mixture, inches=5.2 if large else 2.4)
        os.replace(partial, path)  # whole or absent: a page never loads half a file
    return path


def _stored_mixture(store: Store, run_id: int, epoch: int) -> dict[str, Any] | None:
    """The on-path mixture `mftctl diagnose` stored for this checkpoint, if it has analysed it."""
    from ..analysis.diagnose import DIAGNOSIS_VERSION

    stored = reads.get_diagnosis(store, run_id, epoch, DIAGNOSIS_VERSION)
    if stored is None:
        return None
    return (json.loads(stored.result_json).get("on_path") or {}).get("gmm")
