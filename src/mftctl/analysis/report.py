"""`mftctl show`: everything the store knows of one run, read in one place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import ExperimentConfig, config_from_json, diff_from_preset, flatten, without_retired
from ..stage2.summary import MethodSummary, stored_summaries
from ..store import open_settled, reads
from ..store.tables import Checkpoint, Epoch, Run
from ..terminal import fmt


@dataclass
class RunReport:
    run: Run
    epochs: list[Epoch]
    checkpoints: list[Checkpoint]
    children: list[Run]
    tags: list[str]
    stage2: list[MethodSummary]  # the stage-2 children summarised per method (none for most runs)

    @property
    def config(self) -> ExperimentConfig:
        return config_from_json(self.run.config_json)

    def config_rows(self, full: bool) -> tuple[str, list[tuple[str, Any]]]:
        """(title, rows): every key, or only what differs from the run's preset."""
        if full:
            return "config", list(flatten(without_retired(self.config.model_dump())).items())
        diff = diff_from_preset(self.config, self.run.preset)
        rows: list[tuple[str, Any]] = [(k, f"{run}  (preset: {preset})") for k, (preset, run) in diff.items()]
        return f"config: differences from {self.run.preset or 'reference_3blob'}" + ("" if rows else " (none)"), rows


def run_report(db: str | None, run_id: int) -> RunReport:
    store = open_settled(db)
    run = reads.get_run(store, run_id)
    epochs = reads.epochs(store, run_id)
    children = reads.children(store, run_id)
    stage2 = stored_summaries(store, epochs, children)
    tags = reads.tags_of(store, [run_id]).get(run_id, [])
    return RunReport(run, epochs, reads.checkpoints(store, run_id), children, tags, stage2)


def blob_headline(report: dict[str, Any]) -> str:
    """'3 blobs (formed) · separation 0.990 · silhouette 0.918' from a blob report."""
    from ..science.blobs import blob_state

    k, sep = report.get("n_blobs"), report.get("separation")
    blobs = f"{k} blob{'s' if k != 1 else ''} ({blob_state(k, sep)})"
    return f"{blobs} · separation {fmt(sep, 3)} · silhouette {fmt(report.get('silhouette'), 3)}"
