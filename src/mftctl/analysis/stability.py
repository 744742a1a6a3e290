"""Blob stability of stored runs (science/stability.measure_stability): each run's last blob report from
its epoch rows, its pairs from the checkpoint of that epoch, refused in one line when the runs cannot be
compared. Used by `mftctl stability`, `compare`, `sweep show` and the stability figure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import MftctlError
from ..store import reads
from ..store.engine import Store
from ..store.tables import Run


@dataclass
class RunsStability:
    runs: list[Run]
    epochs: list[int]  # the epoch each run's blob report is from
    reports: list[dict[str, Any]]  # those blob reports
    report: Any  # science.stability.StabilityReport
    clouds: list[Any] | None  # each run's pairs, (N, 2) numpy; None when a run kept no checkpoint

    def as_dict(self) -> dict[str, Any]:
        """The `--format json` record: the report (`runs` is their number), the run ids and the epochs measured."""
        return {"run_ids": [r.id for r in self.runs], "epochs": self.epochs, **self.report.as_dict(), "note": self.note}

    @property
    def note(self) -> str | None:
        """A word when the runs were measured at different epochs: blobs still forming in the shorter runs
        read as instability."""
        if len(set(self.epochs)) < 2:
            return None
        at = ", ".join(f"run {r.id}: {e}" for r, e in zip(self.runs, self.epochs, strict=True))
        return (
            f"measured at different epochs ({at}): blobs still forming in the shorter runs read as "
            "instability; compare runs trained alike"
        )


def _shape(run: Run) -> tuple[int, int]:
    config = run.config
    return config["data"]["d"], config["model"]["hidden_size"]


def last_blob_report(store: Store, run: Run) -> tuple[int, dict[str, Any]]:
    """The run's last epoch with a blob report, and the report; refused when there is none or it lacks the
    blob widths (measured before they were recorded)."""
    # an epoch's report may hold only condensation snapshots: a blob report is one with a blob count
    measured = [e for e in reads.epochs(store, run.id) if e.diagnostics_json and e.n_clusters is not None]
    if not measured:
        raise MftctlError(
            f"run {run.id} has no blob report ({run.status}, {run.epochs_done} epochs); a stability report needs "
            "runs trained with training.enable_diagnostics = true"
        )
    report = measured[-1].diagnostics or {}
    if "n_blobs" not in report or any(b.get("width") is None for b in report.get("blobs", [])):
        raise MftctlError(
            f"run {run.id}'s blob report predates blob widths; `mftctl reanalyse {run.id}` measures it again"
        )
    return measured[-1].epoch, report


def _pairs(store: Store, run: Run, epoch: int):
    from ..checkpoints.load import load_run_checkpoint

    if not any(c.epoch == epoch for c in reads.checkpoints(store, run.id)):
        return None
    return load_run_checkpoint(store, run, epoch).model().weight_pairs().numpy()


def runs_stability(store: Store, runs: list[Run], *, clouds: bool = True) -> RunsStability:
    """The stability report of these runs (at least two, of one shape, each with a blob report)."""
    from ..science.stability import measure_stability

    if len(runs) < 2:
        raise MftctlError(
            "a stability report needs at least two runs; give more run ids, or a sweep whose cells have several seeds"
        )
    shapes = {r.id: _shape(r) for r in runs}
    first = runs[0]
    for run in runs[1:]:
        if shapes[run.id] != shapes[first.id]:
            (d1, h1), (d2, h2) = shapes[first.id], shapes[run.id]
            raise MftctlError(
                f"runs {first.id} and {run.id} have different shapes (d×h {d1}×{h1} and {d2}×{h2}); "
                "a stability report compares runs of one shape"
            )
    # Each activation has its own symmetry (tanh3's blobs come in ± pairs, square's in mirror pairs):
    # blobs matched across two activations would be matched across two different questions.
    activations = {r.id: r.config.get("model", {}).get("activation") for r in runs}
    for run in runs[1:]:
        if activations[run.id] != activations[first.id]:
            raise MftctlError(
                f"runs {first.id} and {run.id} have different activations ({activations[first.id]} and "
                f"{activations[run.id]}), whose blobs have different symmetries; compare runs of one activation"
            )
    measured = [last_blob_report(store, r) for r in runs]
    epochs = [e for e, _ in measured]
    pairs = [_pairs(store, r, e) for r, (e, _) in zip(runs, measured, strict=True)] if clouds else None
    if pairs is not None and any(p is None for p in pairs):
        pairs = None  # one run kept no weights at that epoch: no cloud distance for any
    reports = [r for _, r in measured]
    return RunsStability(runs, epochs, reports, measure_stability(reports, pairs), pairs)
