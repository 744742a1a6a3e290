"""`mftctl sweep`: run a sweep file (locally or on Slurm), show one, list them."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
import typer.core

from ..errors import MftctlError
from ..terminal import safe
from .common import DbOption, Format, console, err_console, print_data, print_records, print_wide_or_fitted


class Executor(StrEnum):
    local = "local"
    slurm = "slurm"


class _DefaultRunGroup(typer.core.TyperGroup):
    """`mftctl sweep FILE` means `mftctl sweep run FILE`; `show` and `list` stay subcommands."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


sweep_app = typer.Typer(
    cls=_DefaultRunGroup,
    no_args_is_help=True,
    help="Many runs from one TOML grid file: parallel, resumable, summarised.\n\n"
    "Example: mftctl sweep examples/lr_batch.toml --jobs 2   |   mftctl sweep show 1",
)


@sweep_app.command("run")
def sweep_run(
    file: Annotated[Path | None, typer.Argument(help="The sweep file (TOML).", exists=True, dir_okay=False)] = None,
    jobs: Annotated[
        int | None, typer.Option(help="Workers at once (default: one per core; four per GPU). Slurm: array tasks.")
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Print the expanded cells and what would run; run nothing.")] = False,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed/--no-retry", help="Run failed, crashed and killed cells again.")
    ] = True,
    resume: Annotated[int | None, typer.Option(help="Resume sweep ID from its stored file text.")] = None,
    name: Annotated[str | None, typer.Option(help="Record the sweep under this name instead of the file's.")] = None,
    max_cells: Annotated[
        int, typer.Option(min=1, help="Refuse sweeps with more cells than this (a guard against typos).")
    ] = 10_000,
    executor: Annotated[
        Executor,
        typer.Option(help="local: a pool of workers here; slurm: a job array through submitit (PostgreSQL store)."),
    ] = Executor.local,
    wait: Annotated[bool, typer.Option(help="Slurm: follow the cells until they finish.")] = False,
    db: DbOption = None,
) -> None:
    """Run a sweep file: every cell validated first, then a pool of workers (or a Slurm job array). Running
    the same file again (same name) resumes: completed cells are skipped, failed/crashed/killed/unstarted ones
    run.

    Example: mftctl sweep examples/lr_batch.toml --jobs 2 --dry-run
    """
    from ..analysis.sweep_summary import summarize
    from ..render.views import sweep_plan_table, sweep_summary_view
    from ..sweeps.run import plan_run, run_local, submit

    if jobs is not None and jobs < 1:
        raise MftctlError(f"--jobs must be at least 1, not {jobs}")
    slurm = executor is Executor.slurm
    order = plan_run(db, file, resume, name=name, max_cells=max_cells, retry_failed=retry_failed, slurm=slurm)
    if dry_run and order.spec.search is not None:
        from ..render.search import search_plan_view
        from ..sweeps.search import trials_left

        sweep_id = order.target.sweep.id if order.target.sweep else None
        console.print(search_plan_view(order.spec, order.plans, trials_left(order.store, sweep_id, order.spec)))
        return
    if dry_run:
        console.print(sweep_plan_table(order.spec, order.plans))
        todo = sum(p.runs for p in order.plans)
        exists = f" (sweep {order.target.sweep.id} exists)" if order.target.sweep else ""
        console.print(f"{len(order.plans)} cells, {todo} to run{exists}")
        return
    outcome = submit(order, jobs, wait, console) if slurm else run_local(order, jobs, console)
    if slurm and outcome.slurm_job is None:
        console.print(
            f"sweep [bold]{outcome.sweep.id}[/] {safe(order.spec.name)}: nothing to run (all done or not retried)"
        )
    if not slurm or (wait and outcome.slurm_job is not None):
        console.print(sweep_summary_view(summarize(order.store, outcome.sweep), console.width))
    if outcome.result and outcome.result.interrupted:
        err_console.print(
            f"interrupted: running cells marked killed; `mftctl sweep --resume {outcome.sweep.id}` continues"
        )
        raise typer.Exit(130)


@sweep_app.command("show")
def sweep_show(
    sweep_id: Annotated[str, typer.Argument(help="The sweep's id or name (`mftctl sweep list`).", metavar="SWEEP")],
    format: Annotated[
        Format, typer.Option("--format", "-f", help="table, json or csv (one row per cell).")
    ] = Format.table,
    pivot: Annotated[
        str | None, typer.Option(help="Two varied keys ROWS,COLUMNS (short names work): one metric as a grid.")
    ] = None,
    metric: Annotated[
        str,
        typer.Option(
            help="With --pivot: test_loss, train_seconds, speedup, n_clusters, separation, silhouette, "
            "formed_epoch, count_agreement, drift, mass_cv."
        ),
    ] = "test_loss",
    wide: Annotated[
        bool, typer.Option("--wide", help="Every column, however wide the terminal (default: what fits).")
    ] = False,
    db: DbOption = None,
) -> None:
    """Summarise a sweep: success rate, fastest cells, lowest loss, best blobs, speed-up vs the reference,
    mean ± std over seeds. Cells are named c0, c1, ... with their varied values in short names; on a
    narrow terminal the columns read least are hidden (--wide shows them).

    Example: mftctl sweep show 1   |   mftctl sweep show lr_batch --pivot lr,batch --metric separation
    """
    from ..analysis.sweep_summary import PIVOT_METRICS, summarize
    from ..render.records import to_json
    from ..render.views import sweep_pivot_table, sweep_summary_view
    from ..store import open_settled, reads

    store = open_settled(db)
    summary = summarize(store, reads.sweep_by_ref(store, sweep_id))
    if pivot is not None:
        rows, columns = _pivot_keys(pivot, summary.varied)
        if metric not in PIVOT_METRICS:
            raise MftctlError(f"--metric {metric!r} is not one of {', '.join(PIVOT_METRICS)}")
        console.print(sweep_pivot_table(summary, rows, columns, metric))
        return
    if format is Format.json:
        print_data(to_json(summary.as_dict()))
    elif format is Format.csv:
        print_records(
            [{k: v for k, v in c.as_dict().items() if k not in ("runs", "statuses")} for c in summary.cells], format
        )
    else:
        print_wide_or_fitted(lambda width: sweep_summary_view(summary, width), wide)


def _pivot_keys(text: str, varied: list[str]) -> tuple[str, str]:
    """`lr,batch` -> the two varied dotted keys they name."""
    from ..short_names import LONG_NAMES, short

    names = [part.strip() for part in text.split(",")]
    choices = [k for k in varied if k != "seed"]
    if len(names) != 2:
        raise MftctlError(
            f"--pivot takes two keys ROWS,COLUMNS, e.g. --pivot {','.join(map(short, choices[:2])) or 'lr,batch'}"
        )
    keys = []
    for name in names:
        key = LONG_NAMES.get(name, name)
        match = [k for k in choices if k == key or k.rsplit(".", 1)[-1] == key]
        if len(match) != 1:
            raise MftctlError(
                f"--pivot {name!r} is not a key this sweep varies; it varies {', '.join(map(short, choices)) or 'none'}"
            )
        keys.append(match[0])
    return keys[0], keys[1]


@sweep_app.command("export-study")
def sweep_export_study(
    sweep_id: Annotated[
        str, typer.Argument(help="The search's sweep id or name (`mftctl sweep list`).", metavar="SWEEP")
    ],
    path: Annotated[Path, typer.Argument(help="A new SQLite file to write the Optuna study to.", dir_okay=False)],
    db: DbOption = None,
) -> None:
    """Write a search as an Optuna study (Optuna's own SQLite schema), to open in optuna-dashboard or
    Optuna's plots. A copy made now; the store stays the record.

    Example: mftctl sweep export-study 3 study.db && optuna-dashboard sqlite:///study.db
    """
    from ..store import open_settled, reads
    from ..sweeps.search_results import export_study

    store = open_settled(db)
    url = export_study(store, reads.sweep_by_ref(store, sweep_id), path)
    console.print(f"study written to {safe(url)}; open it with `optuna-dashboard {safe(url)}`")


@sweep_app.command("list")
def sweep_list(db: DbOption = None) -> None:
    """List the sweeps in the database with their runs by status.

    Example: mftctl sweep list
    """
    from ..render.views import sweeps_table
    from ..store import open_settled, reads

    store = open_settled(db)
    console.print(sweeps_table(reads.sweeps(store), reads.sweep_status_counts(store)))


def register(app: typer.Typer) -> None:
    app.add_typer(sweep_app, name="sweep")
