"""`mftctl stage2`: children planned from one parent or a sweep's parents, written once all are checked,
trained (one in the foreground, several in a pool, or all in the background), then summarised per
parent. The CLI parses its options, calls `run_stage2`, and renders the families it returns."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

from ..devices import default_jobs
from ..errors import MftctlError
from ..runs.launch import EarlyWorker, start_worker
from ..status import RunStatus
from ..store import open_settled, reads, writes
from ..store.tables import Epoch, Run
from .plan import plan_children, stage2_parents, write_children
from .summary import MethodSummary, summarize_children


@dataclass
class Stage2Request:
    """What the children are to be: the options of `mftctl stage2`, checked by plan.py."""

    epoch: int | None
    options: dict[str, Any]  # num_clusters, num_traces, mixture, control, decoder_init, decoder, b1
    samplers: list[str]
    hidden: int | None
    overrides: list[str]
    name: str | None

    @property
    def one_child(self) -> bool:
        return len(self.samplers) * self.options["num_traces"] == 1


@dataclass
class Family:
    """A parent and its children of this call, with every run's epochs and the per-method summary."""

    parent: Run
    children: list[Run]
    epochs: dict[int, list[Epoch]]
    summaries: list[MethodSummary]


@dataclass
class Stage2Outcome:
    parents: list[int]
    children: list[Run]
    detached: bool = False
    deleted: list[int] = field(default_factory=list)  # children deleted while they trained
    families: list[Family] = field(default_factory=list)


def run_stage2(
    db: str | None,
    request: Stage2Request,
    *,
    parent_id: int | None,
    sweep_id: int | None,
    detach: bool,
    jobs: int | None,
    console: Console,
) -> Stage2Outcome:
    """Ctrl-C while one child trains in the foreground is raised again, after the children are settled."""
    from ..runs.attached import run_attached
    from ..runs.pool import run_pool

    store = open_settled(db)
    if parent_id is not None:
        parents = [parent_id]
    elif sweep_id is not None:
        parents = stage2_parents(store, sweep_id)
    else:  # the CLI asks for one of them
        raise MftctlError("give a parent run, or --sweep SWEEP_ID")
    # One child, followed here: its worker imports torch while this process loads the parent and fits.
    early = EarlyWorker(store.location) if not detach and len(parents) == 1 and request.one_child else None
    with early or nullcontext():  # a refusal ends the early worker
        with console.status("fitting the mixture..."):
            plans = [
                plan
                for parent in parents
                for plan in plan_children(
                    store,
                    parent,
                    epoch=request.epoch,
                    stage2=request.options,
                    samplers=request.samplers,
                    hidden=request.hidden,
                    overrides=request.overrides,
                    name=request.name,
                )
            ]
        children = write_children(store, plans)  # only once every parent and sampler has been checked
    if early is not None and len(children) != 1:  # more traces asked for through --set
        early.cancel()
        early = None
    control = request.options["control"]
    sampled = ", " + ", ".join(request.samplers) if control == "gmm" else ""
    console.print(
        f"parent(s) {', '.join(map(str, parents))}: children {', '.join(str(c.id) for c in children)} "
        f"({control}{sampled}; {request.options['mixture']} mixture)"
    )
    outcome = Stage2Outcome(parents, children, detached=detach)
    if detach:
        for child in children:
            start_worker(store, child.id, detach=True)
        return outcome
    try:
        if len(children) == 1:
            run_attached(store, children[0].id, console, early)
        else:
            n_jobs = jobs or default_jobs(len(children), children[0].config["device"])
            run_pool(store, [c.id for c in children], jobs=n_jobs, console=console, label="stage 2")
    finally:
        # Ctrl-C: the children never started are not left queued. Unlike a sweep's cells, which the sweep
        # run again picks up, nothing would ever start them; killed, each continues with `train --resume`.
        for child in children:
            writes.finish_run(store, child.id, RunStatus.killed, "never started: the stage-2 command was stopped")
    kept = {run.id for run in reads.runs_by_id(store, parents)} | {
        c.id for c in children if reads.find_run(store, c.id) is not None
    }
    outcome.deleted = [c.id for c in children if c.id not in kept]
    for parent in parents:
        family = reads.runs_by_id(store, [parent, *(c.id for c in children if c.parent_id == parent and c.id in kept)])
        epochs = {run.id: reads.epochs(store, run.id) for run in family}
        summaries = summarize_children(epochs[parent], family[1:], epochs)
        outcome.families.append(Family(family[0], family[1:], epochs, summaries))
    return outcome
