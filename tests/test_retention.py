"""Checkpoint retention: the newest full checkpoint for resume, the weights at evenly spaced epochs for
figures and diagnose, nothing else on disk."""

from __future__ import annotations

import json

import pytest

from helpers import TINY, invoke, run_mftctl, set_args
from mftctl.config import snapshot_epochs
from mftctl.config_input import load_config
from mftctl.store import layout, open_store, reads


@pytest.mark.parametrize(
    ("epochs", "snapshots", "expected"),
    [(10, 6, {1, 3, 5, 6, 8, 10}), (2, 6, {1, 2}), (5, 1, {5}), (5, 0, set()), (1, 6, {1})],
)
def test_snapshot_epochs_are_spread_evenly(epochs, snapshots, expected):
    config = load_config("quick", overrides=[f"training.epochs={epochs}", f"training.evolution_snapshots={snapshots}"])
    assert snapshot_epochs(config.training) == expected
    never = config.training.model_copy(update={"checkpoint_every": 0})
    assert snapshot_epochs(never) == set()


def test_a_run_keeps_the_last_full_checkpoint_and_weights_at_snapshot_epochs(isolated_db):
    assert invoke("train", "--preset", "quick", *set_args(*TINY, "training.epochs=10")).exit_code == 0
    store = open_store(isolated_db)
    kept = [(c.epoch, c.kind) for c in reads.checkpoints(store, 1)]
    assert kept == [(1, "weights"), (3, "weights"), (5, "weights"), (6, "weights"), (8, "weights"), (10, "full")]
    on_disk = sorted(p.name for p in layout.run_dir(store, 1).glob("*.pt*"))
    assert on_disk == sorted(layout.checkpoint_path(store, c).name for c in reads.checkpoints(store, 1))
    full, weights = (layout.checkpoint_path(store, c).stat().st_size for c in reads.checkpoints(store, 1)[-1:-3:-1])
    assert weights < full / 2  # no optimizer moments in a weights file
    diag = json.loads(invoke("diagnose", 1, "--epoch", 5, "--format", "json").output)
    assert diag["epoch"] == 5 and diag["on_path"]["n_blobs"] >= 1
    listed = json.loads(invoke("list", "--format", "json").output)[0]
    assert json.loads(invoke("diagnose", 1, "--format", "json").output)["on_path"]["n_blobs"] == listed["n_clusters"]
    assert invoke("reanalyse", 1).exit_code == 0
    assert invoke("plot", 1).exit_code == 0


def test_keep_zero_keeps_every_full_checkpoint_and_resume_uses_only_full_ones(isolated_db):
    trained = invoke("train", "--preset", "quick", *set_args(*TINY, "training.epochs=4", "training.keep_checkpoints=0"))
    assert trained.exit_code == 0
    store = open_store(isolated_db)
    assert [(c.epoch, c.kind) for c in reads.checkpoints(store, 1)] == [(e, "full") for e in (1, 2, 3, 4)]
    crashed = invoke(
        "train",
        "--preset",
        "quick",
        *set_args(*TINY, "training.epochs=6", "training.checkpoint_every=2"),
        env={"MFTCTL_FAULT": "epoch-write:5"},
    )
    assert crashed.exit_code == 1
    # full at 2 and 4 (every 2); 2 slimmed to its weights once 4 was kept; 1 and 3 snapshots only
    assert [(c.epoch, c.kind) for c in reads.checkpoints(store, 2)] == [
        (1, "weights"),
        (2, "weights"),
        (3, "weights"),
        (4, "full"),
    ]
    resumed = invoke("train", "--resume", 2)
    assert resumed.exit_code == 0 and "resumes after epoch 4" in resumed.output
    assert [e.epoch for e in reads.epochs(store, 2)] == [1, 2, 3, 4, 5, 6]


@pytest.mark.backends
def test_the_gpus_overlapped_tail_writes_what_the_inline_one_does(backend):
    """On a GPU each epoch's measurement, row and checkpoint are written by a thread beside the next
    epoch's training; $MFTCTL_OVERLAP_TAILS=1 takes that path here. Same rows, same files, same numbers."""
    import os

    for overlap in ("0", "1"):
        done = run_mftctl(
            "train",
            "--preset",
            "quick",
            *set_args(*TINY, "training.epochs=10"),
            env=dict(os.environ, MFTCTL_OVERLAP_TAILS=overlap),
        )
        assert done.returncode == 0, done.stderr[-2000:]
    store = open_store(backend)
    inline, overlapped = (reads.epochs(store, run) for run in (1, 2))
    assert [e.epoch for e in overlapped] == list(range(1, 11))
    fields = ("epoch", "train_loss", "test_loss", "n_clusters", "separation", "silhouette")
    assert [[getattr(e, f) for f in fields] for e in inline] == [[getattr(e, f) for f in fields] for e in overlapped]
    kept = [[(c.epoch, c.kind) for c in reads.checkpoints(store, run)] for run in (1, 2)]
    assert kept[0] == kept[1] and kept[1][-1] == (10, "full")
    assert all(layout.checkpoint_path(store, c).exists() for c in reads.checkpoints(store, 2))
    assert reads.get_run(store, 2).n_clusters == overlapped[-1].n_clusters
    logs = [(layout.run_dir(store, run) / "worker.log").read_text() for run in (1, 2)]
    assert "tail on a thread" not in logs[0] and "tail on a thread" in logs[1]  # the path it took
