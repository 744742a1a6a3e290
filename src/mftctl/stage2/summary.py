"""Stage 2 read back: each method's children of one parent, against the parent's test loss."""

from __future__ import annotations

from dataclasses import dataclass

from ..store import reads
from ..store.engine import Store
from ..store.tables import Run


def time_to_reach(epochs, target: float) -> tuple[int, float] | None:
    """(epoch, training seconds so far) of the first epoch whose test loss is at most target."""
    seconds = 0.0
    for e in epochs:
        seconds += e.train_seconds
        if e.test_loss <= target:
            return e.epoch, seconds
    return None


def child_method(run: Run) -> str:
    """What made a child's encoder: gmm/SAMPLER, gaussian or parent, marked where its encoder bias is not
    the default one (`+b1` for a sampler given the parent's, `-b1` for the parent's encoder without it)."""
    extra = run.extra
    control = extra.get("control", "-")
    method = f"gmm/{extra.get('sampler') or 'iid'}" if control == "gmm" else control
    default_bias = "parent" if control == "parent" else "zero"
    bias = extra.get("b1", default_bias)  # children of earlier releases record none: they had the default
    return method if bias == default_bias else f"{method} {'+' if bias == 'parent' else '-'}b1"


@dataclass
class MethodSummary:
    """A stage-2 method's children of one parent: test losses as mean ± std over traces, and how many
    reached the parent's test loss at the fitted checkpoint (and how fast, in training seconds)."""

    method: str
    traces: int
    completed: int
    final: float | None
    final_std: float | None
    best: float | None
    best_std: float | None
    parent_loss: float | None
    reached: int
    seconds_to_reach: float | None
    # The parent's own encoder with its decoder solved exactly: what an encoder of this parent can give
    # without any optimiser's noise (None for children planned before the exact decoder).
    ceiling: float | None = None
    decoder: str = "train"  # the children's decoder: trained, or solved exactly

    @property
    def gap_to_ceiling(self) -> float | None:
        """Mean final test loss over the ceiling, less 1 (0.22: 22% above the parent's encoder, solved)."""
        if self.final is None or not self.ceiling:
            return None
        return self.final / self.ceiling - 1

    @property
    def gap(self) -> float | None:
        """Mean final test loss over the parent's (0: as good as the learned encoder)."""
        return None if self.final is None or self.parent_loss is None else self.final - self.parent_loss


def summarize_children(parent_epochs: list, children: list[Run], child_epochs: dict[int, list]) -> list[MethodSummary]:
    """One MethodSummary per method and parent checkpoint, in the order they first appear; children of a
    checkpoint before the parent's last are marked `@ epoch E` (their target and ceiling are that
    checkpoint's)."""
    from ..stats import mean_std

    last = max((e.epoch for e in parent_epochs), default=None)
    by_method: dict[str, list[Run]] = {}
    for child in children:
        decoder = child.config.get("stage2", {}).get("decoder", "train")
        method = child_method(child) + (" (solved)" if decoder == "solve" else "")
        epoch = child.extra.get("parent_epoch")
        if epoch is not None and last is not None and epoch != last:
            method += f" @ epoch {epoch}"
        by_method.setdefault(method, []).append(child)
    at = {e.epoch: e.test_loss for e in parent_epochs}
    rows = []
    for method, runs in by_method.items():
        done = [r for r in runs if r.status == "completed"]
        target = at.get(runs[0].extra.get("parent_epoch"))
        reaches = [time_to_reach(child_epochs.get(r.id, []), target) for r in done] if target is not None else []
        reached = [x for x in reaches if x is not None]
        final, final_std = mean_std([r.last_test_loss for r in done])
        best, best_std = mean_std([r.best_test_loss for r in done])
        ceiling = (runs[0].extra.get("parent_solved") or {}).get("loss")
        rows.append(
            MethodSummary(
                method,
                len(runs),
                len(done),
                final,
                final_std,
                best,
                best_std,
                target,
                len(reached),
                mean_std([s for _, s in reached])[0],
                ceiling,
                runs[0].config.get("stage2", {}).get("decoder", "train"),
            )
        )
    return rows


def stored_summaries(store: Store, parent_epochs: list, children: list[Run]) -> list[MethodSummary]:
    """summarize_children over a parent's stage-2 children as the store has them (none: no summary)."""
    kids = [c for c in children if c.kind == "stage2"]
    return summarize_children(parent_epochs, kids, {c.id: reads.epochs(store, c.id) for c in kids}) if kids else []
