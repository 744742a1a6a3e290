"""`mftctl stage2`: frozen encoders sampled from a finished run's blobs, decoder-only training."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from .common import DbOption, SetOption, console
from .runs import run_attached


class MixtureKind(StrEnum):
    pair = "pair"
    encoder = "encoder"


class Control(StrEnum):
    gmm = "gmm"
    gaussian = "gaussian"
    parent = "parent"


class DecoderInit(StrEnum):
    xavier = "xavier"
    sampled = "sampled"


def stage2(
    parent_id: Annotated[int, typer.Argument(help="The finished stage-1 run whose weight pairs are fitted.")],
    epoch: Annotated[int | None, typer.Option(help="Parent checkpoint epoch (default: its last).")] = None,
    components: Annotated[
        int | None,
        typer.Option(
            "--components", "-k", help="Mixture components (default stage2.num_clusters, 3 in reference_3blob)."
        ),
    ] = None,
    hidden: Annotated[int | None, typer.Option(help="Hidden units h' of the children (default: the parent's).")] = None,
    traces: Annotated[int, typer.Option(help="Independent encoder samples, one child run each.")] = 1,
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
    set_: SetOption = None,
    name: Annotated[str | None, typer.Option(help="Name prefix of the children.")] = None,
    detach: Annotated[bool, typer.Option(help="Start every child in the background and return.")] = False,
    db: DbOption = None,
) -> None:
    """Sample frozen encoders from a finished run's blob mixture and train only their decoders.

    Each trace is a child run (its own worker, epochs and checkpoints) recording its parent, the
    checkpoint epoch, the fitted mixture and the sampling seed.

    Example: mftctl stage2 3 --traces 2   |   mftctl stage2 3 --control gaussian
    """
    from ..render import stage2_table
    from ..runner import start_worker
    from ..stage2 import plan_children
    from ..status import RunStatus
    from ..store import open_store, reads, writes
    from ..store.liveness import reconcile

    store = open_store(db, create=False)
    reconcile(store)
    with console.status("fitting the mixture..."):
        children = plan_children(
            store,
            parent_id,
            epoch=epoch,
            hidden=hidden,
            overrides=list(set_ or []),
            name=name,
            stage2={
                "num_clusters": components,
                "num_traces": traces,
                "mixture": mixture.value,
                "control": control.value,
                "decoder_init": decoder_init.value,
            },
        )
    console.print(
        f"parent {parent_id}: children {', '.join(str(c.id) for c in children)} "
        f"({control.value}, {mixture.value} mixture)"
    )
    if detach:
        for child in children:
            start_worker(store, child.id, detach=True)
        console.print(f"started in the background; follow with `mftctl list --where parent={parent_id}`")
        return
    try:
        for child in children:
            run_attached(store, child.id)
    finally:
        for child in children:  # Ctrl-C: the children never started are not left queued
            writes.finish_run(store, child.id, RunStatus.killed, "never started: the stage-2 command was stopped")
    family = reads.runs_by_id(store, [parent_id, *(c.id for c in children)])
    epochs = {run.id: reads.epochs(store, run.id) for run in family}
    console.print(stage2_table(family[0], family[1:], epochs))


def register(app: typer.Typer) -> None:
    app.command()(stage2)
