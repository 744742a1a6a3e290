"""Commands that look at weights: diagnose, condensation, plot, stability, reanalyse."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer

from .. import choices
from ..choices import choice_enum
from ..errors import MftctlError
from .common import DbOption, Format, console, err_console, print_data, resolve_runs, run_arg

FigureFormat = choice_enum("FigureFormat", choices.FigureFormat)


EpochOption = Annotated[int | None, typer.Option(help="Checkpoint epoch (default: the run's last).")]


def diagnose(
    run_id: Annotated[str, run_arg()],
    epoch: EpochOption = None,
    recompute: Annotated[bool, typer.Option(help="Ignore the cached analysis and compute it again.")] = False,
    format: Annotated[Format, typer.Option("--format", "-f", help="table or json.")] = Format.table,
    db: DbOption = None,
) -> None:
    """Blob analysis of a checkpoint: the blob measurement (the same numbers as `list`), each blob's mass,
    centre and valley depth, the GMM shape model with BIC over K, the off-path control and the reference
    losses. Kept in the database: a second call is a lookup.

    Example: mftctl diagnose 3 --epoch 10
    """
    from ..analysis.diagnose import diagnose_checkpoint
    from ..render.records import to_json
    from ..render.views import diagnosis_view
    from ..store import open_settled

    store = open_settled(db)
    with console.status("analysing weight pairs...") if format is Format.table else contextlib.nullcontext():
        result = diagnose_checkpoint(store, resolve_runs(db, [run_id])[0], epoch=epoch, recompute=recompute)
    if format is Format.table:
        console.print(diagnosis_view(result))
    else:
        print_data(to_json(result))


def plot(
    run_ids: Annotated[
        list[str] | None, run_arg("One run (id or name) for all its figures; several to overlay curves.")
    ] = None,
    epoch: EpochOption = None,
    format: Annotated[FigureFormat, typer.Option("--format", "-f", help="png, svg or pdf.")] = FigureFormat.png,
    out: Annotated[Path | None, typer.Option(help="Folder for the files (default: the run's folder).")] = None,
    animate: Annotated[bool, typer.Option(help="Also write the blob evolution as a GIF.")] = False,
    sweep: Annotated[
        int | None, typer.Option(help="Plot sweep ID's summary panels (and a heat map for 2 keys).")
    ] = None,
    db: DbOption = None,
) -> None:
    """Draw a run's figures: loss curves with reference lines, diagnostics over epochs, the weight-pair
    scatter with GMM ellipses beside the off-path control, and the blob evolution.

    Example: mftctl plot 3 --animate   |   mftctl plot 3 4 5  (overlaid curves)   |   mftctl plot --sweep 1
    """
    from ..store import open_settled, reads

    if bool(run_ids) == (sweep is not None):
        raise MftctlError("give run ids, or --sweep SWEEP_ID (one of them)")
    store = open_settled(db)
    # A run or sweep that is not there is said before matplotlib and torch are imported (seconds).
    chosen = resolve_runs(db, run_ids) if run_ids else []
    for run_id in chosen:
        reads.get_run(store, run_id)
    if sweep is not None:
        reads.get_sweep(store, sweep)
    from ..analysis.figures import plot_runs, plot_sweep_figures

    with console.status("drawing..."):
        if sweep is not None:
            paths = plot_sweep_figures(store, sweep, fmt=format.value, out=out)
        else:
            paths = plot_runs(store, chosen, epoch=epoch, fmt=format.value, out=out, animate=animate)
    for path in paths:
        print_data(str(path))


def reanalyse(
    run_ids: Annotated[list[str] | None, run_arg("Runs to measure again, by id or name.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every run in the database.")] = False,
    format: Annotated[Format, typer.Option("--format", "-f", help="table or json.")] = Format.table,
    db: DbOption = None,
) -> None:
    """Measure the blobs of stored runs again from their checkpoints, with the current measurement.

    Runs from the first release carry blob numbers from its sampled DBSCAN (marked † in `list`); this
    replaces them epoch by epoch. Epochs without a checkpoint keep their numbers and their mark.

    Example: mftctl reanalyse --all   |   mftctl reanalyse 3 4
    """
    from dataclasses import asdict

    from rich.progress import Progress

    from ..analysis.reanalyse import checkpoint_count, reanalyse_run, select_runs
    from ..render.records import to_json
    from ..render.views import reanalysis_table
    from ..store import open_settled

    store = open_settled(db)
    ids = select_runs(store, resolve_runs(db, run_ids or []), all_)
    results = []
    with Progress(console=err_console, transient=True, disable=format is not Format.table) as progress:
        task = progress.add_task("measuring checkpoints", total=checkpoint_count(store, ids))
        for run_id in ids:
            results.append(reanalyse_run(store, run_id, on_epoch=lambda: progress.advance(task)))
    if format is Format.table:
        console.print(reanalysis_table(results))
    else:
        print_data(to_json([asdict(r) for r in results]))


def stability(
    run_ids: Annotated[list[str] | None, run_arg("Two or more runs of one shape, by id or name.")] = None,
    sweep: Annotated[
        str | None, typer.Option(help="Every seeded cell of SWEEP (its id or name), over its completed seeds.")
    ] = None,
    cell: Annotated[
        str | None, typer.Option(help="With --sweep: one cell (c0, c1, ... as `sweep show` names).")
    ] = None,
    clouds: Annotated[
        bool, typer.Option(help="Also the pair-cloud distance (reads each run's last checkpoint).")
    ] = True,
    format: Annotated[Format, typer.Option("--format", "-f", help="table or json.")] = Format.table,
    db: DbOption = None,
) -> None:
    """Blob stability across runs: their blobs matched by position to one run's, each blob's centre, mass and
    width as mean ± std, how many runs agree on the count, a scale-free distance between the pair clouds,
    and a verdict (stable, shifting, split; docs/science.md).

    Example: mftctl stability 3 4 5 6   |   mftctl stability --sweep 2   |   mftctl stability --sweep 2 --cell c1
    """
    from ..analysis.stability import runs_stability
    from ..analysis.sweep_stability import sweep_stability
    from ..render.records import to_json
    from ..render.views import stability_cells_table, stability_view
    from ..store import open_settled, reads

    if bool(run_ids) == (sweep is not None):
        raise MftctlError("give run ids, or --sweep SWEEP_ID (one of them), e.g. `mftctl stability 3 4 5`")
    if cell is not None and sweep is None:
        raise MftctlError("--cell names a cell of a sweep; give --sweep SWEEP_ID too")
    if format is Format.csv:
        raise MftctlError("stability prints a table or json (--format table|json)")
    store = open_settled(db)
    with console.status("matching blobs...") if format is Format.table else contextlib.nullcontext():
        if sweep is None:
            results = [
                (
                    None,
                    runs_stability(
                        store, reads.runs_by_id(store, list(dict.fromkeys(resolve_runs(db, run_ids)))), clouds=clouds
                    ),
                )
            ]
        else:
            results = sweep_stability(store, reads.sweep_by_ref(store, sweep).id, cell=cell, clouds=clouds)
    if format is Format.json:
        if sweep is None:
            print_data(to_json(results[0][1].as_dict()))
        else:
            print_data(
                to_json(
                    [
                        {"cell": c.cell, "label": c.label, "values": c.values}
                        | (r.as_dict() if not isinstance(r, str) else {"error": r})
                        for c, r in results
                    ]
                )
            )
    elif sweep is None or cell is not None:
        console.print(stability_view(results[0][1], results[0][0]))
    else:
        console.print(stability_cells_table(sweep, results))


def condensation(
    run_id: Annotated[str, run_arg()],
    format: Annotated[Format, typer.Option("--format", "-f", help="table or json.")] = Format.table,
    db: DbOption = None,
) -> None:
    """Early condensation of a run's encoder: at each snapshot of its first steps, how many directions its
    rows (W1, b1) gather onto (w and −w apart), the share of rows in them, their effective rank, and
    their alignment with the all-ones input, against Zhou et al.'s bound 2p (docs/science.md).

    Example: mftctl train --preset quick --set diagnostics.condensation_every=10 && mftctl condensation 1
    """
    from ..analysis.condensation import condensation_report
    from ..render.records import to_json
    from ..render.views import condensation_view
    from ..store import open_settled, reads

    if format is Format.csv:
        raise MftctlError("condensation prints a table or json (--format table|json)")
    store = open_settled(db)
    report = condensation_report(store, reads.get_run(store, resolve_runs(db, [run_id])[0]))
    if format is Format.json:
        print_data(to_json(report.as_dict()))
    else:
        console.print(condensation_view(report))


def register(app: typer.Typer) -> None:
    app.command()(diagnose)
    app.command()(condensation)
    app.command()(plot)
    app.command()(stability)
    app.command()(reanalyse)
