"""`mftctl stage2`: frozen encoders sampled from a finished run's blobs, decoder-only training."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Annotated

import typer

from .. import choices
from ..choices import choice_enum
from .common import DbOption, SetOption, console
from .runs import run_attached

MixtureKind = choice_enum("MixtureKind", choices.MixtureKind)
Control = choice_enum("Control", choices.Control)
DecoderInit = choice_enum("DecoderInit", choices.DecoderInit)
Sampler = choice_enum("Sampler", choices.Sampler)


def stage2(
    parent_id: Annotated[
        int | None, typer.Argument(help="The finished stage-1 run whose weight pairs are fitted.")
    ] = None,
    sweep: Annotated[int | None, typer.Option(help="Instead of one parent: every completed run of sweep ID.")] = None,
    epoch: Annotated[int | None, typer.Option(help="Parent checkpoint epoch (default: its last).")] = None,
    components: Annotated[
        int | None,
        typer.Option(
            "--components", "-k", help="Mixture components (default stage2.num_clusters, 3 in reference_3blob)."
        ),
    ] = None,
    hidden: Annotated[int | None, typer.Option(help="Hidden units h' of the children (default: the parent's).")] = None,
    traces: Annotated[int, typer.Option(help="Independent encoder samples per sampler, one child run each.")] = 1,
    sampler: Annotated[
        list[Sampler] | None,
        typer.Option(
            help="How --control gmm draws W1' (repeatable: children for each): iid entries; row: per-row outlier "
            "counts; row-sign: per-row blob composition, random row sign; shuffle: the parent's rows permuted."
        ),
    ] = None,
    mixture: Annotated[
        MixtureKind,
        typer.Option(
            help="pair: 2-D (encoder, decoder) mixture; encoder: 1-D on encoder entries, as the research code."
        ),
    ] = MixtureKind.pair,
    control: Annotated[
        Control,
        typer.Option(
            help="gmm: sample the mixture; gaussian: one matched-variance "
            "Gaussian (random features); parent: the parent's own encoder."
        ),
    ] = Control.gmm,
    decoder_init: Annotated[
        DecoderInit, typer.Option(help="xavier as stage 1, or the sampled decoder coordinate of each pair.")
    ] = DecoderInit.xavier,
    jobs: Annotated[int | None, typer.Option(help="Children trained at once (default: one per core).")] = None,
    set_: SetOption = None,
    name: Annotated[str | None, typer.Option(help="Name prefix of the children.")] = None,
    detach: Annotated[bool, typer.Option(help="Start every child in the background and return.")] = False,
    db: DbOption = None,
) -> None:
    """Sample frozen encoders from a finished run's blob statistics and train only their decoders.

    Each trace is a child run (its own epochs and checkpoints) recording its parent, the checkpoint
    epoch, the fitted mixture, the sampler and the sampling seed. Several children train in a pool.

    Example: mftctl stage2 3 --traces 3 --sampler iid --sampler row-sign --sampler shuffle   |
    mftctl stage2 --sweep 2 --traces 2 --sampler iid --sampler shuffle
    """
    from ..devices import default_jobs
    from ..errors import MftctlError
    from ..render.views import stage2_summary_table, stage2_table
    from ..runs.launch import EarlyWorker, start_worker
    from ..runs.pool import run_pool
    from ..stage2.plan import plan_children, stage2_parents, write_children
    from ..stage2.summary import summarize_children
    from ..status import RunStatus
    from ..store import open_settled, reads, writes

    if (parent_id is None) == (sweep is None):
        raise MftctlError("give a PARENT run id, or --sweep SWEEP_ID (one of them)")
    if jobs is not None and jobs < 1:
        raise MftctlError(f"--jobs must be at least 1, not {jobs}")
    if sampler and control is not Control.gmm:
        raise MftctlError(
            f"--sampler draws from the fitted mixture, which --control {control.value} does not use: it needs "
            "--control gmm (or drop --sampler)"
        )
    store = open_settled(db)
    parents = [parent_id] if parent_id is not None else stage2_parents(store, sweep)
    samplers = [s.value for s in sampler or [Sampler.iid]]
    options = {
        "num_clusters": components,
        "num_traces": traces,
        "mixture": mixture.value,
        "control": control.value,
        "decoder_init": decoder_init.value,
    }
    # One child, followed here: its worker imports torch while this process loads the parent and fits.
    early = EarlyWorker(store.location) if not detach and len(parents) * len(samplers) * traces == 1 else None
    with early or nullcontext():  # a refusal ends the early worker
        with console.status("fitting the mixture..."):
            plans = [
                plan
                for parent in parents
                for plan in plan_children(
                    store,
                    parent,
                    epoch=epoch,
                    stage2=options,
                    samplers=samplers,
                    hidden=hidden,
                    overrides=list(set_ or []),
                    name=name,
                )
            ]
        children = write_children(store, plans)  # only once every parent and sampler has been checked
    if early is not None and len(children) != 1:  # more traces asked for through --set
        early.cancel()
        early = None
    console.print(
        f"parent(s) {', '.join(map(str, parents))}: children {', '.join(str(c.id) for c in children)} "
        f"({control.value}{', ' + ', '.join(samplers) if control is Control.gmm else ''}; {mixture.value} mixture)"
    )
    if detach:
        for child in children:
            start_worker(store, child.id, detach=True)
        console.print("started in the background; follow with `mftctl list --where kind=stage2`")
        return
    try:
        if len(children) == 1:
            run_attached(store, children[0].id, early=early)
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
    deleted = [c.id for c in children if c.id not in kept]
    if deleted:
        console.print(f"children {', '.join(map(str, deleted))} were deleted while stage 2 ran")
    for parent in parents:
        family = reads.runs_by_id(store, [parent, *(c.id for c in children if c.parent_id == parent and c.id in kept)])
        epochs = {run.id: reads.epochs(store, run.id) for run in family}
        console.print(stage2_table(family[0], family[1:], epochs))
        summaries = summarize_children(epochs[parent], family[1:], epochs)
        console.print(stage2_summary_table(family[0], summaries))


def register(app: typer.Typer) -> None:
    app.command()(stage2)
