"""`mftctl stage2`: frozen encoders sampled from a finished run's blobs, decoder-only training."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import choices
from ..choices import choice_enum
from .common import DbOption, SetOption, console, err_console, resolve_runs, run_arg

MixtureKind = choice_enum("MixtureKind", choices.MixtureKind)
Control = choice_enum("Control", choices.Control)
DecoderInit = choice_enum("DecoderInit", choices.DecoderInit)
Sampler = choice_enum("Sampler", choices.Sampler)
Stage2Decoder = choice_enum("Stage2Decoder", choices.Stage2Decoder)
Stage2Bias = choice_enum("Stage2Bias", choices.Stage2Bias)
SAMPLER_HELP = "; ".join(f"{name}: {traits.summary}" for name, traits in choices.SAMPLER_TRAITS.items())


def stage2(
    parent_id: Annotated[
        str | None, run_arg("The finished stage-1 run (id or name) whose weight pairs are fitted.")
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
        typer.Option(help=f"How --control gmm draws W1' (repeatable: children for each): {SAMPLER_HELP}."),
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
    decoder: Annotated[
        Stage2Decoder,
        typer.Option(
            help="train: the children's decoders trained by the optimiser; solve: solved exactly for each "
            "frozen encoder (one epoch, no optimiser noise)."
        ),
    ] = Stage2Decoder.train,
    b1: Annotated[
        Stage2Bias,
        typer.Option(
            "--b1",
            help="The children's encoder bias: parent (a kept row's own, else drawn from the parent's), zero, "
            "or auto (parent for --control parent, zero for the samplers).",
        ),
    ] = Stage2Bias.auto,
    jobs: Annotated[int | None, typer.Option(help="Children trained at once (default: one per core).")] = None,
    set_: SetOption = None,
    name: Annotated[str | None, typer.Option(help="Name prefix of the children.")] = None,
    detach: Annotated[bool, typer.Option(help="Start every child in the background and return.")] = False,
    db: DbOption = None,
) -> None:
    """Sample frozen encoders from a finished run's blob statistics and train only their decoders.

    Each trace is a child run (its own epochs and checkpoints) recording its parent, the checkpoint
    epoch, the fitted mixture, the sampler and the sampling seed. Several children train in a pool.

    Example: mftctl stage2 3 --traces 3 --sampler rewire --sampler code --sampler iid --decoder solve   |
    mftctl stage2 --sweep 2 --traces 2 --sampler iid --sampler shuffle
    """
    from ..errors import MftctlError
    from ..render.views import stage2_summary_table, stage2_table
    from ..stage2.run import Stage2Request, run_stage2

    if (parent_id is None) == (sweep is None):
        raise MftctlError("give a PARENT run id, or --sweep SWEEP_ID (one of them)")
    if jobs is not None and jobs < 1:
        raise MftctlError(f"--jobs must be at least 1, not {jobs}")
    if sampler and control is not Control.gmm:
        raise MftctlError(
            f"--sampler draws from the fitted mixture, which --control {control.value} does not use: it needs "
            "--control gmm (or drop --sampler)"
        )
    options = {
        "num_clusters": components,
        "num_traces": traces,
        "mixture": mixture.value,
        "control": control.value,
        "decoder_init": decoder_init.value,
        "decoder": decoder.value,
        "b1": b1.value,
    }
    samplers = [s.value for s in sampler or [Sampler.iid]]
    request = Stage2Request(epoch, options, samplers, hidden, list(set_ or []), name)
    parent = resolve_runs(db, [parent_id])[0] if parent_id is not None else None
    try:
        outcome = run_stage2(db, request, parent_id=parent, sweep_id=sweep, detach=detach, jobs=jobs, console=console)
    except KeyboardInterrupt:
        err_console.print("stage 2 stopped: its children marked killed (`mftctl train --resume ID` continues one)")
        raise typer.Exit(130) from None
    if outcome.detached:
        console.print("started in the background; follow with `mftctl list --where kind=stage2`")
        return
    if outcome.deleted:
        console.print(f"children {', '.join(map(str, outcome.deleted))} were deleted while stage 2 ran")
    for family in outcome.families:
        console.print(stage2_table(family.parent, family.children, family.epochs))
        console.print(stage2_summary_table(family.parent, family.summaries))


def register(app: typer.Typer) -> None:
    app.command()(stage2)
