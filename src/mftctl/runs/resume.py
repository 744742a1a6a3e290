"""Resuming: which checkpoint a crashed, killed or failed run continues from, and queueing it again."""

from __future__ import annotations

from ..checkpoints.files import sha256_of
from ..errors import MftctlError
from ..status import RESUMABLE, names
from ..store import layout, reads, writes
from ..store.engine import Store
from ..store.tables import Run


def last_good_checkpoint(store: Store, run: Run) -> tuple[int, list[str]]:
    """The newest full checkpoint whose file matches its recorded hash and before which every epoch is
    recorded (0 if none), and why newer ones were passed over."""
    recorded = {e.epoch for e in reads.epochs(store, run.id)}
    skipped = []
    for ckpt in reversed(reads.checkpoints(store, run.id)):
        path = layout.checkpoint_path(store, ckpt)
        if ckpt.kind != layout.FULL:  # the weights alone cannot resume a run
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


def queue_resume(store: Store, run_id: int) -> tuple[int, list[str]]:
    """Queue a crashed, killed or failed run to continue from its last good checkpoint: (that epoch, 0 for
    a fresh start; why newer checkpoints were passed over)."""
    run = reads.get_run(store, run_id)
    if run.status not in RESUMABLE:
        raise MftctlError(f"run {run_id} is {run.status}; only {names(RESUMABLE)} runs can be resumed")
    epoch, skipped = last_good_checkpoint(store, run)
    later = {e: kids for e, kids in reads.pinned_epochs(store, run_id).items() if e > epoch}
    if later:
        kids = sorted(k for ks in later.values() for k in ks)
        raise MftctlError(
            f"run {run_id} resumes from epoch {epoch}, which would drop the checkpoint(s) of epoch "
            f"{', '.join(map(str, sorted(later)))} that its children {', '.join(map(str, kids))} were made from; "
            "delete those children first (`mftctl rm`), or train a new run"
        )
    writes.prepare_resume(store, run_id, epoch)
    return epoch, skipped
